"""Steps added beside the first set: Remove from Email Group, Send SMS that exits when there is
no mobile number."""

from __future__ import annotations

import frappe

from factories import enrol_and_run, events, make_contact, participant, running_flow, step, unique


def test_remove_from_email_group(worker):
	group = frappe.get_doc({"doctype": "Email Group", "title": unique("Leads")}).insert()
	inside, outside = make_contact(), make_contact()
	email = frappe.db.get_value("Contact", inside, "email_id")
	frappe.get_doc({"doctype": "Email Group Member", "email_group": group.name, "email": email}).insert()
	flow = running_flow([step("out", "Remove from Email Group", email_group=group.name)])
	flow.enroll([inside, outside])
	worker()
	assert not frappe.db.exists("Email Group Member", {"email_group": group.name, "email": email})
	assert participant(flow.name, inside).status == "Completed"
	message = frappe.db.get_value(
		"Marketing Flow Log",
		{"participant": participant(flow.name, outside).name, "step_id": "out", "event": "Step Executed"},
		"message",
	)
	assert "was not in" in message


def test_remove_from_email_group_needs_the_group():
	import pytest

	from factories import make_flow

	with pytest.raises(frappe.ValidationError, match="Email Group is required"):
		make_flow(steps=[step("out", "Remove from Email Group")])


def test_send_sms_can_exit_the_flow_when_there_is_no_mobile_number(worker, settings, http_receiver):
	settings.set(
		"SMS Settings",
		sms_gateway_url=f"{http_receiver.url}/sms-exit",
		message_parameter="t",
		receiver_parameter="to",
	)
	sms = frappe.get_doc(
		{"doctype": "Marketing Flow Content", "content_name": unique("SMS"), "channel": "SMS", "body": "Hi"}
	).insert()
	steps = [
		step("sms", "Send SMS", content=sms.name, exit_if_no_mobile=1, next_step="tag"),
		step("tag", "Update Participant", update_field="designation", update_value="texted"),
	]
	flow = running_flow(steps)
	no_phone, p = enrol_and_run(flow, worker)
	assert (p.status, p.exit_reason) == ("Exited", "No mobile number")
	assert ("tag", "Step Executed") not in events(flow.name, no_phone)
	assert frappe.db.get_value("Contact", no_phone, "designation") != "texted"
