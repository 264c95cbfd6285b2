"""After install: doctypes, roles, settings, custom field, workspace and indexes exist."""

import frappe
import pytest

from marketing_flows.engine.hosts import doctype_roles

DOCTYPES = [
	"Marketing Flow",
	"Marketing Flow Step",
	"Marketing Flow Success Criterion",
	"Marketing Flow Suppression",
	"Marketing Flow Participant",
	"Marketing Flow Log",
	"Marketing Flow Content",
	"Marketing Segment",
	"Marketing Flow Settings",
	"Marketing Flow Branch",
	"Marketing Flow Update",
	"Marketing Flow Outbox",
]


@pytest.mark.parametrize("doctype", DOCTYPES)
def test_doctype_installed_in_module(doctype):
	meta = frappe.get_meta(doctype)
	assert meta.module == "Marketing Flows"
	if not meta.issingle:
		assert frappe.db.table_exists(doctype)


def test_roles_shipped_with_desk_access():
	for role in ("Flow Administrator", "Flow Content Editor"):
		assert frappe.db.get_value("Role", role, "desk_access") == 1


def test_settings_detect_the_installed_hosts():
	settings = frappe.get_single("Marketing Flow Settings")
	assert settings.person_doctype == "Contact"
	assert settings.appointment_doctype == "Event"
	expected = doctype_roles.detect()
	for role, doctype in expected.items():
		assert settings.get(f"{role}_doctype") == doctype, role
	# Frappe alone: ToDo is the activity; ERPNext / CRM / Helpdesk bring the others.
	if not frappe.db.exists("DocType", "CRM Task"):
		assert settings.activity_doctype == "ToDo"
	if frappe.db.exists("DocType", "Opportunity") and not frappe.db.exists("DocType", "CRM Deal"):
		assert settings.deal_doctype == "Opportunity"


def test_settings_reject_a_doctype_that_does_not_exist():
	settings = frappe.get_single("Marketing Flow Settings")
	settings.deal_doctype = "No Such Doctype"
	with pytest.raises(frappe.ValidationError):
		settings.save()


def test_consent_field_added_to_contact():
	assert frappe.get_meta("Contact").has_field("mf_marketing_consent")


def test_the_people_flows_enrol_get_a_time_zone_field():
	"""Contact, and the leads of the hosts installed (ERPNext's Lead, Frappe CRM's), offer the
	zones the engine accepts."""
	from marketing_flows.engine.hosts import time_zones

	for doctype in ("Contact", "Lead", "CRM Lead"):
		if not frappe.db.exists("DocType", doctype):
			continue
		field = frappe.get_meta(doctype).get_field("mf_time_zone")
		assert field and field.fieldtype == "Autocomplete", doctype
		assert field.options.split("\n") == time_zones.all_zones()


def test_contact_gets_a_no_longer_at_the_company_field_and_leads_do_not():
	"""A Contact who left their company leaves the flows (eligibility); leads have no company to
	leave."""
	field = frappe.get_meta("Contact").get_field("mf_left_company")
	assert field and field.fieldtype == "Check" and field.label == "No Longer at the Company"
	for doctype in ("Lead", "CRM Lead"):
		if frappe.db.exists("DocType", doctype):
			assert not frappe.get_meta(doctype).has_field("mf_left_company"), doctype


def test_workspace_visible():
	ws = frappe.get_doc("Workspace", "Marketing Flows")
	assert ws.public == 1
	assert {link.link_to for link in ws.links if link.type == "Link"} >= {
		"Marketing Flow",
		"Marketing Flow Content",
	}


def _indexes(table: str) -> dict[str, list[str]]:
	found: dict[str, list[str]] = {}
	for row in frappe.db.sql(f"SHOW INDEX FROM `tab{table}`", as_dict=True):
		found.setdefault(row.Key_name, []).append(row.Column_name)
	return found


def test_participant_indexes_for_due_rows_and_one_active_participation():
	idx = _indexes("Marketing Flow Participant")
	assert "status_next_run_at" not in idx  # no query without the flow: one index less to write per step
	assert idx["flow_status_next_run_at"] == ["flow", "status", "next_run_at"]
	assert idx["flow_person"] == ["flow", "person"]  # one participation per person (Contact or lead)
	assert "flow_contact" not in idx  # patch drop_flow_contact_index
	assert "active_key" in idx  # unique
	assert idx["flow_email"] == ["flow", "email"]  # the runner's same-address re-check


def test_log_index_for_step_statistics():
	idx = _indexes("Marketing Flow Log")
	assert idx["flow_step_event"] == ["flow", "step_id", "event"]
	assert idx["contact_event_creation"] == ["contact", "event", "creation"]  # Emailed Recently


def _explain_last_query() -> list[dict]:
	query = frappe.db.last_query
	if isinstance(query, bytes):
		query = query.decode()
	return frappe.db.sql(f"EXPLAIN {query}", as_dict=True)


def test_the_runners_claim_and_the_ticks_probe_use_the_index():
	"""The runner's own claim query and the tick's own probe (not copies of them) are index
	ranges on (flow, status, next_run_at): no table scan, no filesort."""
	from frappe.utils import now_datetime

	from marketing_flows.engine.running import runner

	runner.claim_due_participants("x", 100, now_datetime())
	plan = _explain_last_query()
	assert plan[0].key == "flow_status_next_run_at", plan
	assert plan[0].type == "range" and "filesort" not in (plan[0].Extra or ""), plan

	runner.has_due_participants("x", now_datetime())
	plan = _explain_last_query()
	assert plan[0].key == "flow_status_next_run_at", plan
	assert plan[0].type == "range", plan


def test_the_person_patch_fills_participants_made_by_the_previous_version():
	"""Rows as the previous version wrote them (a contact, no person) get person_doctype and
	person; nothing else changes."""
	from factories import make_contact, make_flow
	from marketing_flows.patches.v1_0 import fill_participant_person

	flow = make_flow()
	flow.run()
	contact = make_contact()
	flow.enroll([contact])
	name = frappe.db.get_value("Marketing Flow Participant", {"flow": flow.name}, "name")
	before = frappe.db.get_value(
		"Marketing Flow Participant", name, ["status", "email", "current_step"], as_dict=True
	)
	frappe.db.sql(
		"UPDATE `tabMarketing Flow Participant` SET person_doctype = NULL, person = NULL WHERE name = %s",
		name,
	)
	frappe.db.sql("UPDATE `tabMarketing Flow` SET person_doctype = NULL WHERE name = %s", flow.name)
	fill_participant_person.execute()
	row = frappe.db.get_value("Marketing Flow Participant", name, "*", as_dict=True)
	assert (row.person_doctype, row.person, row.contact) == ("Contact", contact, contact)
	assert (row.status, row.email, row.current_step) == (before.status, before.email, before.current_step)
	assert frappe.db.get_value("Marketing Flow", flow.name, "person_doctype") == "Contact"


def test_enrolment_names_the_person_and_a_flow_of_other_people_is_refused():
	from factories import make_contact, make_flow

	flow = make_flow()
	assert flow.person_doctype == "Contact"
	flow.run()
	contact = make_contact()
	flow.enroll([contact])
	row = frappe.db.get_value(
		"Marketing Flow Participant", {"flow": flow.name}, ["person_doctype", "person"], as_dict=True
	)
	assert (row.person_doctype, row.person) == ("Contact", contact)
	with pytest.raises(frappe.ValidationError, match="can't be a flow's people"):
		make_flow(person_doctype="ToDo")


def test_frappe_crm_gets_the_form_scripts_of_its_lead_and_deal_pages():
	"""Where Frappe CRM is installed: a CRM Form Script per page (its own mechanism for custom
	actions), enabled on the form view; uninstalling the app removes them. What they do on CRM's
	pages is tested in a browser: tests/test_crm_pages.py."""
	if "crm" not in frappe.get_installed_apps():
		pytest.skip("Frappe CRM is not installed on this site")
	from marketing_flows.integrations import frappe_crm

	for doctype in ("CRM Lead", "CRM Deal"):
		name = frappe_crm.FORM_SCRIPT.format(doctype=doctype)
		script = frappe.db.get_value(
			"CRM Form Script", name, ["dt", "view", "enabled", "script"], as_dict=True
		)
		assert (script.dt, script.view, script.enabled) == (doctype, "Form", 1)
		assert script.script == frappe_crm.SCRIPT % {
			"doctype": frappe.as_json(doctype)
		}  # as migrate wrote it
	names = [frappe_crm.FORM_SCRIPT.format(doctype=doctype) for doctype in frappe_crm.DOCTYPES]
	frappe_crm.remove_form_scripts()  # what uninstalling the app does
	assert not any(frappe.db.exists("CRM Form Script", name) for name in names)
	frappe_crm.install_form_scripts()
	assert all(frappe.db.exists("CRM Form Script", name) for name in names)
