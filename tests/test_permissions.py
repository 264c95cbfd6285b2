"""The role matrix of the spec, enforced through Frappe's own permission checks for real users."""

import frappe
import pytest

from factories import make_contact, make_content, make_flow, make_user

ADMIN = "Flow Administrator"
EDITOR = "Flow Content Editor"


@pytest.fixture(scope="module")
def users():
	made = {
		"admin": make_user([ADMIN], "flowadmin"),
		"editor": make_user([EDITOR], "floweditor"),
		"nobody": make_user(["Blogger"], "nobody"),
	}
	frappe.db.commit()
	return made


def can(user, doctype, ptype, doc=None):
	return bool(frappe.has_permission(doctype, ptype, doc=doc, user=user))


READ_DOCTYPES = [
	"Marketing Flow",
	"Marketing Flow Participant",
	"Marketing Flow Log",
	"Marketing Flow Content",
	"Marketing Segment",
]


@pytest.mark.parametrize("doctype", READ_DOCTYPES)
def test_both_roles_see_flows_participants_reports(users, doctype):
	assert can(users["admin"], doctype, "read")
	assert can(users["editor"], doctype, "read")
	assert can(users["admin"], doctype, "report")
	assert can(users["editor"], doctype, "report")


@pytest.mark.parametrize("doctype", READ_DOCTYPES + ["Marketing Flow Settings"])
def test_users_without_either_role_see_nothing(users, doctype):
	assert not can(users["nobody"], doctype, "read")
	frappe.set_user(users["nobody"])
	with pytest.raises(frappe.PermissionError):
		frappe.get_list(doctype)


def test_content_create_edit_both_roles_delete_admin_only(users):
	for key in ("admin", "editor"):
		assert can(users[key], "Marketing Flow Content", "create")
		assert can(users[key], "Marketing Flow Content", "write")
	assert can(users["admin"], "Marketing Flow Content", "delete")
	assert not can(users["editor"], "Marketing Flow Content", "delete")


def test_editor_creates_and_edits_content_but_cannot_delete_it(users):
	frappe.set_user(users["editor"])
	content = make_content("SMS", body="Hi {{ contact.first_name }}")
	content.body = "Hello {{ contact.first_name }}"
	content.save()
	with pytest.raises(frappe.PermissionError):
		frappe.delete_doc("Marketing Flow Content", content.name)
	frappe.set_user(users["admin"])
	frappe.delete_doc("Marketing Flow Content", content.name)
	assert not frappe.db.exists("Marketing Flow Content", content.name)


def test_flows_created_and_edited_by_admin_only(users):
	assert can(users["admin"], "Marketing Flow", "create")
	assert can(users["admin"], "Marketing Flow", "write")
	assert not can(users["editor"], "Marketing Flow", "create")
	assert not can(users["editor"], "Marketing Flow", "write")
	frappe.set_user(users["editor"])
	with pytest.raises(frappe.PermissionError):
		make_flow()
	frappe.set_user(users["admin"])
	flow = make_flow()
	flow.description = "edited by a flow administrator"
	flow.save()


@pytest.mark.parametrize("action", ["run", "pause", "stop"])
def test_editor_cannot_run_pause_stop(users, action):
	flow = make_flow()
	frappe.set_user(users["editor"])
	flow = frappe.get_doc("Marketing Flow", flow.name)
	with pytest.raises(frappe.PermissionError):
		getattr(flow, action)()


def test_editor_cannot_enrol_or_remove(users):
	flow = make_flow()
	contact = make_contact()
	frappe.set_user(users["editor"])
	flow = frappe.get_doc("Marketing Flow", flow.name)
	with pytest.raises(frappe.PermissionError):
		flow.enroll([contact])
	with pytest.raises(frappe.PermissionError):
		flow.remove_participants(["x"])
	assert not frappe.db.exists("Marketing Flow Participant", {"flow": flow.name})


def test_admin_runs_pauses_resumes_stops_and_enrols(users):
	frappe.set_user(users["admin"])
	flow = make_flow()
	contact = make_contact()
	assert flow.run()["status"] == "Running"
	assert flow.enroll([contact])["enrolled"] == 1
	assert flow.pause()["status"] == "Paused"
	assert flow.run()["status"] == "Running"
	result = flow.stop()
	assert result["status"] == "Stopped" and result["exited"] == 1
	assert (
		frappe.db.get_value("Marketing Flow Participant", {"flow": flow.name}, "exit_reason")
		== "Flow stopped"
	)


def test_admin_deletes_flows_editor_cannot(users):
	assert can(users["admin"], "Marketing Flow", "delete")
	assert not can(users["editor"], "Marketing Flow", "delete")


def test_participants_are_never_created_by_hand(users):
	"""Not even by a Flow Administrator (no create permission), nor by code that skips
	permissions (the controller refuses): participants come from enrolment only."""
	flow = make_flow()
	contact = make_contact()
	frappe.set_user(users["admin"])
	assert not can(users["admin"], "Marketing Flow Participant", "create")
	with pytest.raises(frappe.PermissionError):
		frappe.get_doc(
			{"doctype": "Marketing Flow Participant", "flow": flow.name, "contact": contact}
		).insert()
	frappe.set_user("Administrator")
	with pytest.raises(frappe.ValidationError, match="Enrol"):
		frappe.get_doc(
			{"doctype": "Marketing Flow Participant", "flow": flow.name, "contact": contact}
		).insert(ignore_permissions=True)


def test_system_manager_can_do_everything():
	sm = make_user(["System Manager"], "sysman")
	for doctype in READ_DOCTYPES:
		assert can(sm, doctype, "read")
	assert can(sm, "Marketing Flow", "delete") and can(sm, "Marketing Flow Content", "delete")
	frappe.set_user(sm)
	flow = make_flow()
	assert flow.run()["status"] == "Running"
