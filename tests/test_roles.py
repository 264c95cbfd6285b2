"""Every role stays in its room (issue 20, items 1, 2, 3, 5, 6): what a Flow Administrator or a
Flow Content Editor tries, with Frappe's own entry points, and what they get."""

from __future__ import annotations

import json

import frappe
import pytest
from frappe.handler import run_doc_method

from factories import (
	enrol_and_run,
	make_contact,
	make_flow,
	make_user,
	running_flow,
	step,
	unique,
)


@pytest.fixture
def as_user():
	"""Call `as_user(user)` to act as that user for the rest of the test."""
	yield lambda user: frappe.set_user(user)
	frappe.set_user("Administrator")


@pytest.fixture(scope="module")
def people():
	users = frappe._dict(
		admin=make_user(["Flow Administrator", "Sales User"], "roles-admin"),
		bare_admin=make_user(["Flow Administrator"], "roles-bare"),
		editor=make_user(["Flow Content Editor"], "roles-editor"),
		scripter=make_user(["Blogger"], "roles-scripter"),
	)
	frappe.db.commit()
	return users


def doc_method(doc: dict, method: str, **args):
	"""Call a whitelisted doc method as the desk does (`run_doc_method` with the client's
	document), so Frappe's own checks run."""
	frappe.local.response = frappe._dict(docs=[])
	frappe.local.request = frappe._dict(method="POST")  # the desk POSTs
	try:
		run_doc_method(method=method, docs=json.dumps(doc, default=str), args=json.dumps(args))
	finally:
		del frappe.local.request
	return frappe.local.response.get("message")


# --- 1. Settings are a System Manager's ----------------------------------------------------


def test_a_flow_administrator_reads_settings_but_cannot_change_them(people, as_user):
	as_user(people.admin)
	settings = frappe.get_doc("Marketing Flow Settings")  # reading is allowed
	settings.parallel_jobs = 9
	settings.webhook_allowed_hosts = "169.254.169.254"
	with pytest.raises(frappe.PermissionError):
		settings.save()
	with pytest.raises(frappe.PermissionError):
		doc_method(settings.as_dict(), "detect_doctypes")


@pytest.mark.parametrize("role, doctype", [("company", "User"), ("person", "Role"), ("deal", "DocType")])
def test_a_role_can_only_be_played_by_a_doctype_fit_for_it(role, doctype, settings):
	with pytest.raises(frappe.ValidationError, match="can't play"):
		settings.set("Marketing Flow Settings", **{f"{role}_doctype": doctype})
	assert frappe.db.get_single_value("Marketing Flow Settings", f"{role}_doctype") != doctype


# --- 2. Update Participant writes only what its author could write --------------------------


@pytest.fixture(scope="module")
def contact_fields():
	"""Fields of Contact a flow must not write: a password, a read-only one, one above
	permlevel 0, and a hidden one it may write but must not print."""
	made = []
	for field in (
		{"fieldname": "mf_t_secret", "fieldtype": "Password", "label": "MF Secret"},
		{"fieldname": "mf_t_locked", "fieldtype": "Data", "label": "MF Locked", "read_only": 1},
		{"fieldname": "mf_t_level", "fieldtype": "Data", "label": "MF Level", "permlevel": 1},
		{"fieldname": "mf_t_hidden", "fieldtype": "Data", "label": "MF Hidden", "hidden": 1},
	):
		if not frappe.db.exists("Custom Field", f"Contact-{field['fieldname']}"):
			made.append(
				frappe.get_doc(
					{"doctype": "Custom Field", "dt": "Contact", "insert_after": "designation", **field}
				)
				.insert(ignore_permissions=True)
				.name
			)
	frappe.db.commit()
	frappe.clear_cache(doctype="Contact")
	yield
	for name in made:
		frappe.delete_doc("Custom Field", name, ignore_permissions=True)
	frappe.db.commit()
	frappe.clear_cache(doctype="Contact")


def update_flow(field: str, value: str = "x"):
	return make_flow(steps=[step("set", "Update Participant", update_field=field, update_value=value)])


@pytest.mark.parametrize(
	"field, why",
	[
		("mf_t_secret", "a password"),
		("user", "a password or a link to a user"),
		("mf_t_locked", "read-only"),
		("mf_t_level", "may not edit this field"),
		("email_ids", "a table"),
	],
)
def test_update_participant_refuses_fields_its_author_could_not_write(
	field, why, contact_fields, people, as_user
):
	as_user(people.admin)
	with pytest.raises(frappe.ValidationError, match=why):
		update_flow(field)
	update_flow("designation")  # an ordinary field saves


def test_update_participant_needs_write_access_to_the_person(people, as_user):
	as_user(people.bare_admin)  # a Flow Administrator who may not edit Contacts
	with pytest.raises(frappe.ValidationError, match="may not edit Contact"):
		update_flow("designation")


def test_a_field_changed_behind_the_form_is_refused_at_run_time(worker, contact_fields):
	flow = running_flow([step("set", "Update Participant", update_field="designation", update_value="x")])
	step_row = frappe.db.get_value("Marketing Flow Step", {"parent": flow.name, "step_id": "set"})
	frappe.db.set_value(
		"Marketing Flow Step", step_row, "update_field", "mf_t_secret"
	)  # not through the form
	frappe.clear_document_cache("Marketing Flow", flow.name)
	contact, p = enrol_and_run(flow, worker)
	assert p.status != "Completed" and "can't be set by this flow" in (p.last_error or "")
	assert not frappe.get_doc("Contact", contact).get_password("mf_t_secret", raise_exception=False)


def test_the_log_never_shows_a_value_written_to_a_hidden_field(worker, contact_fields):
	flow = running_flow(
		[
			step(
				"set",
				"Update Participant",
				update_field="mf_t_hidden",
				update_value="hush-{{ contact.first_name }}",
			)
		]
	)
	contact = make_contact()
	flow.enroll([contact])
	worker()
	assert frappe.db.get_value("Contact", contact, "mf_t_hidden").startswith("hush-")
	messages = frappe.get_all(
		"Marketing Flow Log", filters={"flow": flow.name, "step_id": "set"}, pluck="message"
	)
	assert messages and not any("hush-" in (m or "") for m in messages)


# --- 3. Run Server Script runs as a chosen user ---------------------------------------------


@pytest.fixture
def script():
	import os

	from frappe.installer import update_site_config

	common = os.path.join(frappe.local.sites_path, "common_site_config.json")
	before = frappe.get_common_site_config().get("server_script_enabled")
	update_site_config("server_script_enabled", 1, site_config_path=common)
	doc = frappe.get_doc(
		{
			"doctype": "Server Script",
			"name": unique("MF Roles script"),
			"script_type": "API",
			"api_method": unique("mf_roles_script").lower(),
			"script": "frappe.response['message'] = {'as': frappe.session.user}",
		}
	).insert()
	frappe.db.commit()
	yield doc
	update_site_config("server_script_enabled", before or 0, site_config_path=common)


def script_step(script_name: str, run_as: str | None) -> dict:
	return step("script", "Run Server Script", server_script=script_name, run_as=run_as)


def test_only_a_system_manager_picks_the_script_and_its_user(script, people, as_user):
	as_user(people.admin)
	with pytest.raises(frappe.PermissionError, match="only a System Manager"):
		make_flow(steps=[script_step(script.name, people.scripter)])
	as_user("Administrator")
	flow = make_flow(steps=[script_step(script.name, people.scripter)])
	frappe.db.commit()
	as_user(people.admin)
	flow = frappe.get_doc("Marketing Flow", flow.name)
	flow.description = "a Flow Administrator may still edit the rest"
	flow.save()
	flow.steps[0].run_as = people.admin
	with pytest.raises(frappe.PermissionError, match="only a System Manager"):
		flow.save()


def test_a_script_never_runs_as_administrator(script):
	with pytest.raises(frappe.ValidationError, match="can't run as Administrator"):
		make_flow(steps=[script_step(script.name, "Administrator")])
	with pytest.raises(frappe.ValidationError, match="Run As is required"):
		make_flow(steps=[script_step(script.name, None)])


def test_the_script_runs_as_its_user_and_is_recorded_in_the_outbox(worker, script, people):
	flow = running_flow([script_step(script.name, people.scripter)])
	contact, p = enrol_and_run(flow, worker)
	assert p.status == "Completed"
	message = frappe.db.get_value(
		"Marketing Flow Log",
		{"participant": p.name, "step_id": "script", "event": "Step Executed"},
		"message",
	)
	assert people.scripter in message
	assert (
		frappe.db.get_value(
			"Marketing Flow Outbox", {"participant": p.name, "channel": "Server Script"}, "status"
		)
		== "Confirmed"
	)


def test_a_script_disabled_after_the_flow_was_saved_does_not_run(worker, script, people):
	flow = running_flow([script_step(script.name, people.scripter)])
	frappe.db.set_value("Server Script", script.name, "disabled", 1)
	contact, p = enrol_and_run(flow, worker)
	logged = frappe.db.get_value(
		"Marketing Flow Log",
		{"participant": p.name, "step_id": "script", "event": ("!=", "Completed")},
		["event", "message"],
		as_dict=True,
	)
	assert logged.event == "Error" and "disabled" in logged.message
	assert not frappe.db.exists("Marketing Flow Outbox", {"participant": p.name})


# --- 5. Doc methods work on the stored flow -------------------------------------------------


def test_a_forged_unsaved_flow_is_refused(people, as_user):
	forged = {
		"doctype": "Marketing Flow",
		"flow_name": unique("Forged"),
		"__islocal": 1,
		"steps": [{"doctype": "Marketing Flow Step", "step_id": "end", "step_type": "End"}],
	}
	as_user(people.admin)
	with pytest.raises(frappe.ValidationError, match="Save the Marketing Flow first"):
		doc_method(forged, "test_flow", contacts=json.dumps([make_contact()]))


def test_the_dry_run_follows_the_stored_steps_not_the_ones_sent(people, as_user):
	flow = make_flow()
	contact = make_contact()
	frappe.db.commit()
	forged = flow.as_dict()
	forged["steps"] = [
		{
			"doctype": "Marketing Flow Step",
			"step_id": "forged",
			"step_type": "Update Participant",
			"update_field": "designation",
			"update_value": "forged",
		}
	]
	as_user(people.admin)
	result = doc_method(forged, "test_flow", contacts=json.dumps([contact]))
	steps = {e.get("step_id") for r in result for e in r.get("timeline") or []}
	assert "forged" not in steps and steps & {s.step_id for s in flow.steps}


def test_a_content_editor_cannot_dry_run_a_flow(people, as_user):
	flow = make_flow()
	contact = make_contact()
	frappe.db.commit()
	as_user(people.editor)
	with pytest.raises(frappe.PermissionError):
		doc_method(flow.as_dict(), "test_flow", contacts=json.dumps([contact]))


def test_positions_are_saved_on_the_stored_flow_only(people, as_user):
	mine, other = make_flow(), make_flow()
	frappe.db.commit()
	forged = mine.as_dict()
	forged["steps"] = [s.as_dict() for s in other.steps]  # another flow's step rows
	as_user(people.admin)
	doc_method(forged, "save_positions", positions=json.dumps({s.step_id: [777, 777] for s in other.steps}))
	as_user("Administrator")
	assert all(frappe.db.get_value("Marketing Flow Step", s.name, "position_x") != 777 for s in other.steps)


# --- 6. Segments export only what the caller may read, with a bound --------------------------


@pytest.fixture
def exporter():
	"""A user who may write Email Groups but read only one Contact."""
	user = make_user(["Flow Content Editor", "Newsletter Manager", "Sales User"], "roles-exporter")
	visible = make_contact()
	frappe.get_doc(
		{"doctype": "User Permission", "user": user, "allow": "Contact", "for_value": visible}
	).insert(ignore_permissions=True)
	group = frappe.get_doc({"doctype": "Email Group", "title": unique("Roles group")}).insert()
	frappe.db.commit()
	return frappe._dict(user=user, visible=visible, group=group.name)


def all_contacts_segment() -> str:
	return (
		frappe.get_doc(
			{
				"doctype": "Marketing Segment",
				"segment_name": unique("Everyone"),
				"segment_type": "Contact Filters",
				"filters": "[]",
			}
		)
		.insert()
		.name
	)


def test_a_segment_exports_only_the_people_its_caller_may_read(exporter, as_user):
	segment = all_contacts_segment()
	hidden = make_contact()
	frappe.db.commit()
	as_user(exporter.user)
	result = frappe.get_doc("Marketing Segment", segment).export_to_email_group(exporter.group)
	as_user("Administrator")
	members = set(
		frappe.get_all("Email Group Member", filters={"email_group": exporter.group}, pluck="email")
	)
	visible_email = frappe.db.get_value("Contact", exporter.visible, "email_id")
	hidden_email = frappe.db.get_value("Contact", hidden, "email_id")
	assert visible_email in members and hidden_email not in members
	assert result["total"] == len(members)


def test_a_segment_too_large_to_export_is_refused(exporter, monkeypatch):
	from marketing_flows.engine.queries import segments

	monkeypatch.setattr(segments, "MAX_EXPORT", 1)
	make_contact()
	make_contact()
	segment = all_contacts_segment()
	with pytest.raises(frappe.ValidationError, match="narrow it"):
		frappe.get_doc("Marketing Segment", segment).export_to_email_group(exporter.group)
	assert not frappe.get_all("Email Group Member", filters={"email_group": exporter.group})
