"""The criterion types not covered by test_criteria: Appointment Created, Web Form Submitted,
Link Clicked (also after the flow was completed)."""

from __future__ import annotations

import frappe
import pytest

from factories import end, enrol_and_run, make_contact, participant, running_flow, step, unique


def waiting_flow(criteria: list[dict], **values):
	return running_flow(
		[
			step("w", "Wait", wait_amount=2, wait_unit="Days", next_step="e"),
			end("e"),
		],
		success_criteria=criteria,
		**values,
	)


def test_appointment_created_with_the_person_as_participant(worker):
	appointment = frappe.db.get_single_value("Marketing Flow Settings", "appointment_doctype")
	if appointment != "Event":
		pytest.skip(f"the appointment doctype is {appointment}: this test books an Event")
	flow = waiting_flow([{"criterion_type": "Appointment Created", "label": "Meeting booked"}])
	contact, other = make_contact(), make_contact()
	flow.enroll([contact, other])
	worker()
	event = frappe.get_doc(
		{
			"doctype": "Event",
			"subject": "Demo",
			"starts_on": frappe.utils.now_datetime(),
			"event_type": "Public",
		}
	)
	event.append("event_participants", {"reference_doctype": "Contact", "reference_docname": contact})
	event.insert()
	worker()
	assert participant(flow.name, contact).success_criterion == "Meeting booked"
	assert participant(flow.name, other).succeeded == 0


def test_web_form_submitted(worker):
	doctype = "MF Criteria Form Entry"
	if not frappe.db.exists("DocType", doctype):
		frappe.get_doc(
			{
				"doctype": "DocType",
				"name": doctype,
				"module": "Custom",
				"custom": 1,
				"autoname": "hash",
				"fields": [{"fieldname": "email", "fieldtype": "Data", "options": "Email", "label": "Email"}],
				"permissions": [
					{"role": "System Manager", "read": 1, "write": 1, "create": 1},
					{"role": "Guest", "read": 1, "create": 1},
				],
			}
		).insert()
	form = frappe.get_doc(
		{
			"doctype": "Web Form",
			"title": unique("Demo Request"),
			"route": unique("demo-request").lower(),
			"doc_type": doctype,
			"module": "Custom",
			"published": 1,
			"anonymous": 1,
			"login_required": 0,
			"web_form_fields": [
				{"fieldname": "email", "fieldtype": "Data", "options": "Email", "label": "Email"}
			],
		}
	).insert()
	flow = waiting_flow(
		[{"criterion_type": "Web Form Submitted", "web_form": form.name, "label": "Asked for a demo"}]
	)
	contact = make_contact()
	flow.enroll([contact])
	worker()
	from frappe.website.doctype.web_form.web_form import accept

	frappe.set_user("Guest")
	try:
		accept(
			form.name,
			frappe.as_json(
				{"doctype": doctype, "email": frappe.db.get_value("Contact", contact, "email_id")}
			),
		)
	finally:
		frappe.set_user("Administrator")
	worker()
	assert participant(flow.name, contact).success_criterion == "Asked for a demo"


def test_link_clicked_even_after_completion(worker):
	from marketing_flows.engine.measuring import tracking

	flow = running_flow(
		[end("e")],
		success_criteria=[
			{"criterion_type": "Link Clicked", "url_pattern": "/pricing", "label": "Saw pricing"}
		],
	)
	contact, p = enrol_and_run(flow, worker)
	assert p.status == "Completed"
	tracking.record_click(p.name, "e", "https://example.com/blog")
	worker()
	assert participant(flow.name, contact).succeeded == 0  # not the pattern
	tracking.record_click(p.name, "e", "https://example.com/pricing?plan=pro")
	worker()
	p = participant(flow.name, contact)
	assert p.succeeded == 1 and p.success_criterion == "Saw pricing" and p.status == "Completed"
