"""Steps that change records: Update Participant with several fields, Create Request, Create
Sale, Run Server Script; and Send Email with the content's attached files."""

from __future__ import annotations

import frappe
import pytest
from frappe.utils import add_days, getdate, today

from conftest import flush_email_queue
from factories import (
	attach_file,
	enrol_and_run,
	events,
	make_contact,
	make_content,
	make_doctype,
	make_flow,
	make_user,
	participant,
	running_flow,
	step,
	unique,
)


@pytest.fixture(scope="module")
def contact_fields():
	"""Two custom fields on Contact, as a site would add them: a score and a next-call date."""
	from frappe.custom.doctype.custom_field.custom_field import create_custom_fields

	create_custom_fields(
		{
			"Contact": [
				{
					"fieldname": "mf_score",
					"fieldtype": "Int",
					"label": "Score",
					"insert_after": "designation",
				},
				{
					"fieldname": "mf_next_call",
					"fieldtype": "Date",
					"label": "Next Call",
					"insert_after": "mf_score",
				},
			]
		}
	)
	frappe.db.commit()


def test_update_participant_changes_several_fields_in_one_save(worker, contact_fields):
	steps = [step("update", "Update Participant")]
	updates = [
		{
			"step_id": "update",
			"field": "designation",
			"action": "Set",
			"value": "{{ contact.first_name }} (nurtured)",
		},
		{"step_id": "update", "field": "mf_score", "action": "Add", "value": "5"},
		{"step_id": "update", "field": "mf_next_call", "action": "Add Days", "value": "3"},
		{"step_id": "update", "field": "is_primary_contact", "action": "Check"},
		{"step_id": "update", "field": "department", "action": "Clear"},
	]
	flow = running_flow(steps, updates=updates)
	first = unique("Ann")
	contact = make_contact(first_name=first, mf_score=10, department="Sales")
	modified_before = frappe.db.get_value("Contact", contact, "modified")
	flow.enroll([contact])
	worker()
	row = frappe.db.get_value(
		"Contact",
		contact,
		["designation", "mf_score", "mf_next_call", "is_primary_contact", "department", "modified"],
		as_dict=True,
	)
	assert row.designation == f"{first} (nurtured)"
	assert row.mf_score == 15
	assert getdate(row.mf_next_call) == getdate(add_days(today(), 3))
	assert row.is_primary_contact == 1
	assert not row.department
	assert row.modified > modified_before
	assert participant(flow.name, contact).status == "Completed"


@pytest.mark.parametrize(
	"update, message",
	[
		({"field": "designation", "action": "Add", "value": "1"}, "'Add' can't be used on 'designation'"),
		({"field": "no_such_field", "action": "Set", "value": "x"}, "Contact has no field 'no_such_field'"),
		(
			{"field": "mf_score", "action": "Subtract", "value": "many"},
			"'Subtract' needs a number, not 'many'",
		),
		({"field": "designation", "action": "Set", "value": "{{ broken"}, "the value's Jinja is invalid"),
	],
)
def test_update_participant_rows_are_validated_at_save(contact_fields, update, message):
	with pytest.raises(frappe.ValidationError, match=message):
		make_flow(
			steps=[step("update", "Update Participant")],
			updates=[{"step_id": "update", **update}],
		)


def test_update_participant_needs_a_field():
	with pytest.raises(frappe.ValidationError, match="choose the field to update"):
		make_flow(steps=[step("update", "Update Participant")])


@pytest.fixture
def host_doctypes(settings):
	"""A request doctype and a deal doctype shaped like Issue and Opportunity (the site has
	neither: Frappe alone), mapped in Marketing Flow Settings for the test."""
	ticket = make_doctype(
		"MF Steps Ticket",
		[
			{"fieldname": "subject", "fieldtype": "Data", "label": "Subject"},
			{"fieldname": "raised_by", "fieldtype": "Data", "options": "Email", "label": "Raised By"},
			{"fieldname": "contact", "fieldtype": "Link", "options": "Contact", "label": "Contact"},
			{"fieldname": "issue_type", "fieldtype": "Data", "label": "Issue Type"},
			{"fieldname": "priority", "fieldtype": "Data", "label": "Priority"},
			{"fieldname": "description", "fieldtype": "Text", "label": "Description"},
		],
	)
	deal = make_doctype(
		"MF Steps Deal",
		[
			{"fieldname": "title", "fieldtype": "Data", "label": "Title"},
			{"fieldname": "contact_person", "fieldtype": "Link", "options": "Contact", "label": "Contact"},
			{"fieldname": "contact_email", "fieldtype": "Data", "options": "Email", "label": "Email"},
			{"fieldname": "opportunity_type", "fieldtype": "Data", "label": "Type"},
			{"fieldname": "opportunity_owner", "fieldtype": "Link", "options": "User", "label": "Owner"},
		],
	)
	settings.set("Marketing Flow Settings", issue_doctype=ticket, deal_doctype=deal)
	return ticket, deal


def test_create_request_and_sale_for_the_participant(worker, host_doctypes):
	ticket, deal = host_doctypes
	rep = make_user(["Sales User"], "rep")
	steps = [
		step(
			"request",
			"Create Request",
			record_title="Call back {{ contact.first_name }}",
			record_type="Callback",
			record_priority="High",
			next_step="sale",
		),
		step(
			"sale",
			"Create Sale",
			record_title="Upsell for {{ contact.first_name }}",
			record_type="Sales",
			record_owner=rep,
			followup_todo=1,
			followup_days=2,
			next_step="wait",
		),
		step("wait", "Wait", wait_amount=5, wait_unit="Days"),
	]
	flow = running_flow(
		steps,
		success_criteria=[{"criterion_type": "Deal Created", "label": "Deal made"}],
		on_success="Continue",
	)
	first = unique("Bo")
	contact = make_contact(first_name=first)
	email = frappe.db.get_value("Contact", contact, "email_id")
	flow.enroll([contact])
	worker()
	request = frappe.get_all(ticket, filters={"contact": contact}, fields=["*"])
	assert len(request) == 1
	assert (request[0].subject, request[0].raised_by, request[0].issue_type, request[0].priority) == (
		f"Call back {first}",
		email,
		"Callback",
		"High",
	)
	sale = frappe.get_all(deal, filters={"contact_person": contact}, fields=["*"])
	assert len(sale) == 1
	assert (sale[0].title, sale[0].opportunity_owner, sale[0].opportunity_type) == (
		f"Upsell for {first}",
		rep,
		"Sales",
	)
	todo = frappe.get_all(
		"ToDo", filters={"reference_type": deal, "reference_name": sale[0].name}, fields=["*"]
	)
	assert len(todo) == 1 and todo[0].allocated_to == rep
	assert getdate(todo[0].date) == getdate(add_days(today(), 2))
	p = participant(flow.name, contact)
	assert (p.succeeded, p.success_criterion) == (1, "Deal made")  # as if a rep had made the sale
	assert ("wait", "Step Executed") in events(flow.name, contact)


def test_create_request_says_when_the_site_has_no_request_doctype(settings):
	settings.set("Marketing Flow Settings", issue_doctype=None)
	with pytest.raises(frappe.ValidationError, match="this site has no Issue doctype"):
		make_flow(steps=[step("r", "Create Request", record_title="Hi")])


@pytest.fixture
def server_scripts():
	"""Server Scripts need `server_script_enabled` in the bench's common_site_config.json (as
	on any bench: `bench set-config -g server_script_enabled 1`); put back after the test."""
	import os

	from frappe.installer import update_site_config

	common = os.path.join(frappe.local.sites_path, "common_site_config.json")
	before = frappe.get_common_site_config().get("server_script_enabled")
	update_site_config("server_script_enabled", 1, site_config_path=common)
	scripts = {}
	for key, body in {
		"ok": "frappe.get_doc({'doctype': 'ToDo', 'description': 'scripted for ' + frappe.form_dict.contact}).insert(ignore_permissions=True)\nfrappe.response['message'] = {'score': 42}",
		"fails": "frappe.throw('the CRM said no')",
		"commits": "frappe.db.commit()",
	}.items():
		scripts[key] = frappe.get_doc(
			{
				"doctype": "Server Script",
				"name": unique(f"MF Script {key}"),
				"script_type": "API",
				"api_method": unique(f"mf_script_{key}").lower(),
				"script": body,
			}
		).insert()
	frappe.db.commit()
	yield scripts
	update_site_config("server_script_enabled", before or 0, site_config_path=common)


def test_run_server_script_gets_the_participant_and_its_errors_do_not_stall(worker, server_scripts):
	runner_user = make_user(["Blogger"], "script-runner")
	steps = [
		step(
			"script",
			"Run Server Script",
			server_script=server_scripts["ok"].name,
			run_as=runner_user,
			next_step="bad",
		),
		step(
			"bad",
			"Run Server Script",
			server_script=server_scripts["fails"].name,
			run_as=runner_user,
			next_step="commit",
		),
		step(
			"commit",
			"Run Server Script",
			server_script=server_scripts["commits"].name,
			run_as=runner_user,
			next_step="tag",
		),
		step("tag", "Update Participant", update_field="designation", update_value="after scripts"),
	]
	flow = running_flow(steps)
	contact, p = enrol_and_run(flow, worker)
	assert frappe.db.exists("ToDo", {"description": ("like", f"%scripted for {contact}%")})
	assert p.status == "Completed"  # the failing script held nothing up
	assert frappe.db.get_value("Contact", contact, "designation") == "after scripts"
	logged = {
		r.step_id: r
		for r in frappe.get_all(
			"Marketing Flow Log", filters={"participant": p.name}, fields=["step_id", "event", "message"]
		)
		if r.step_id in ("script", "bad", "commit")
	}
	assert logged["script"].event == "Step Executed" and '"score": 42' in logged["script"].message
	assert logged["bad"].event == "Error" and "the CRM said no" in logged["bad"].message
	assert logged["commit"].event == "Error"  # a script can't commit the runner's batch


def test_run_server_script_says_when_server_scripts_are_off():
	if frappe.get_common_site_config().get("server_script_enabled"):
		pytest.skip("server scripts are enabled on this bench")
	with pytest.raises(frappe.ValidationError, match="server_script_enabled"):
		make_flow(steps=[step("s", "Run Server Script")])


def test_run_server_script_must_be_an_api_script(server_scripts):
	event_script = frappe.get_doc(
		{
			"doctype": "Server Script",
			"name": unique("MF Script event"),
			"script_type": "Scheduler Event",
			"event_frequency": "Daily",
			"script": "pass",
		}
	).insert()
	with pytest.raises(frappe.ValidationError, match="is not a Server Script of type API"):
		make_flow(steps=[step("s", "Run Server Script", server_script=event_script.name)])


def test_send_email_carries_the_contents_attached_files(worker, smtp):
	content = make_content("Email", subject="Your price list", sender=smtp.account)
	attach_file(content, "prices.txt", b"widget: 10 EUR\n")
	content.attach_files = 1
	content.save()
	flow = running_flow([step("mail", "Send Email", content=content.name)])
	contact = make_contact()
	email = frappe.db.get_value("Contact", contact, "email_id")
	flow.enroll([contact])
	worker()
	queued = participant(flow.name, contact).email_queue
	assert b"widget" not in (frappe.db.get_value("Email Queue", queued, "message") or "").encode()
	flush_email_queue()
	worker()
	(msg,) = smtp.to(email)
	files = {part.get_filename(): part.get_content() for part in msg.iter_attachments()}
	assert files == {"prices.txt": "widget: 10 EUR\n"}
	assert "Your price list" == msg["Subject"]
	assert smtp.html(msg)  # the body is still there beside the file


def test_attached_files_over_25_mb_are_refused_with_a_clear_message(smtp):
	content = make_content("Email", subject="Big", sender=smtp.account)
	big = attach_file(content, "big.bin", b"x")
	frappe.db.set_value("File", big.name, "file_size", 26 * 1024 * 1024)
	content.attach_files = 1
	with pytest.raises(frappe.ValidationError, match="weigh more than 25 MB in all"):
		content.save()


def test_a_dry_run_says_which_request_it_would_create_and_creates_none(host_doctypes):
	ticket, _deal = host_doctypes
	flow = make_flow(steps=[step("request", "Create Request", record_title="Call {{ contact.first_name }}")])
	first = unique("Di")
	contact = make_contact(first_name=first)
	frappe.db.commit()
	before = frappe.db.count(ticket)
	(result,) = flow.test_flow(contacts=[contact])
	messages = [e["message"] for e in result["timeline"] if e["event"] == "Step Executed"]
	assert messages == [f"would create {ticket} 'Call {first}'"]
	assert frappe.db.count(ticket) == before
