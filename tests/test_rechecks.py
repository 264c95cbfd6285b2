"""Re-checks before a step (SuperOffice's): two people with one address in a flow get one email
between them, the first enrolled, and the other walks on without it (until the first leaves); a
Contact marked "No Longer at the Company" leaves the flow before its next step and is not
enrolled. Real worker, real SMTP sink; the timelines say why."""

from __future__ import annotations

import frappe
import pytest

from conftest import run_scheduled
from factories import make_contact, make_content, participant, running_flow, step, time_passes, unique
from marketing_flows.engine.running import dry_run

TICK = "marketing_flows.engine.running.runner.schedule_due_participants"


def tick(worker) -> None:
	"""One scheduler tick of the runner, run by a real worker."""
	run_scheduled(TICK)
	worker()


def two_mails(sink, name: str):
	"""A running flow: an email, a day's wait, a second email."""
	content = make_content(
		"Email",
		sender=sink.account,
		subject="Hello {{ contact.first_name }}",
		body="<p>Hello {{ contact.first_name }}.</p>",
	)
	return running_flow(
		[
			step("mail", "Send Email", content=content.name, next_step="wait"),
			step("wait", "Wait", wait_amount=1, wait_unit="Days", next_step="again"),
			step("again", "Send Email", content=content.name),
		],
		flow_name=unique(name),
	)


def timeline(flow, participant_name: str) -> list[tuple[str, str, str]]:
	"""(step, event, message) of a participation, as the Participants tab shows it."""
	return [
		(row["step_id"], row["event"], row["message"] or "")
		for row in flow.get_timeline(participant=participant_name)
	]


def test_one_address_gets_the_flows_emails_once_the_first_enrolled(worker, sink):
	flow = two_mails(sink, "Shared address")
	address = f"{unique('family')}@example.com".lower()
	kim = make_contact(first_name=unique("Kim"), email_id=address)
	sam = make_contact(first_name=unique("Sam"), email_id=address.upper())  # the same, in capitals
	other = make_contact(first_name=unique("Ola"))
	flow.enroll([kim])
	flow.enroll([sam, other])
	worker()

	got = sink.to(address)
	assert [m["Subject"] for m in got] == [f"Hello {frappe.db.get_value('Contact', kim, 'first_name')}"]
	assert len(sink.to(frappe.db.get_value("Contact", other, "email_id"))) == 1  # others as usual
	first, second = participant(flow.name, kim), participant(flow.name, sam)
	assert (first.status, first.current_step) == ("Waiting", "wait")
	# the second walks on without the email: skipped, with the first named
	assert (second.status, second.current_step) == ("Waiting", "wait")
	kim_name = frappe.db.get_value("Contact", kim, "full_name")
	who = kim_name if kim_name == kim else f"{kim_name} ({kim})"  # a Contact is often named so
	assert ("mail", "Step Skipped", f"Same address already active in this flow: {who}") in timeline(
		flow, second.name
	)
	assert "Email Sent" not in [event for _s, event, _m in timeline(flow, second.name)]
	# Test Flow shows it too for a third person at that address: no email, the path goes on
	third = make_contact(first_name=unique("Alex"), email_id=address)
	[tried] = dry_run.simulate(flow, [third])
	assert tried["enrolled"] and tried["emails"] == []
	assert ("mail", "Step Skipped", f"Same address already active in this flow: {who}") in [
		(e["step_id"], e["event"], e["message"]) for e in tried["timeline"]
	]

	# the first leaves: the next email reaches the second
	flow.remove_participants([first.name])
	time_passes(flow.name)
	frappe.db.commit()
	tick(worker)
	got = sink.to(address)
	assert [m["Subject"] for m in got][1:] == [f"Hello {frappe.db.get_value('Contact', sam, 'first_name')}"]
	second = participant(flow.name, sam)
	assert second.status == "Completed"
	assert ("again", "Email Sent") in [(s, e) for s, e, _m in timeline(flow, second.name)]


def test_a_contact_no_longer_at_the_company_leaves_before_the_next_email(worker, sink):
	flow = two_mails(sink, "Left company")
	contact = make_contact(first_name=unique("Lee"))
	address = frappe.db.get_value("Contact", contact, "email_id")
	flow.enroll([contact])
	worker()
	p = participant(flow.name, contact)
	assert p.status == "Waiting" and len(sink.to(address)) == 1

	# a sales rep marks them as gone, on the Contact form
	doc = frappe.get_doc("Contact", contact)
	doc.mf_left_company = 1
	doc.save()
	time_passes(flow.name)
	frappe.db.commit()
	tick(worker)
	p = participant(flow.name, contact)
	assert (p.status, p.exit_reason) == ("Exited", "No longer at the company")
	assert (p.current_step, "Exited", "No longer at the company") in timeline(flow, p.name)
	assert len(sink.to(address)) == 1  # the second email never went

	# nor are they enrolled again, in this flow or another; the dry run says why too
	again = running_flow(
		[step("w", "Wait", wait_amount=1, wait_unit="Days")], reenrollment="After Previous Ends"
	)
	result = again.enroll([contact])
	assert result["enrolled"] == 0 and result["not_enrolled"] == {contact: "No longer at the company"}
	[tried] = dry_run.simulate(again, [contact])
	assert (tried["enrolled"], tried["reason"]) == (False, "No longer at the company")


def test_the_field_is_on_contact_only():
	assert frappe.get_meta("Contact").get_field("mf_left_company").label == "No Longer at the Company"
	for lead in ("Lead", "CRM Lead"):
		if frappe.db.exists("DocType", lead):
			assert not frappe.get_meta(lead).has_field("mf_left_company")


def questions() -> int:
	"""Statements this database session has run (MariaDB's own count; this one included)."""
	return int(frappe.db.sql("SHOW SESSION STATUS LIKE 'Questions'")[0][1])


@pytest.mark.parametrize("rows", [1, 200])
def test_the_same_address_check_is_one_query_per_batch(rows, sink):
	"""The batch reads the addresses of all its participants at once (by the (flow, email) index),
	whatever their number; asking for each participant then costs nothing."""
	from marketing_flows.engine.running.batch import Batch

	flow = two_mails(sink, "Query count")
	contacts = [make_contact(first_name=unique("Q")) for _ in range(rows)]
	flow.enroll(contacts)
	people = frappe.get_all(
		"Marketing Flow Participant", filters={"flow": flow.name, "contact": ("in", contacts)}, fields=["*"]
	)
	assert len(people) == rows
	batch = Batch(flow, frappe.get_cached_doc("Marketing Flow Settings"), frappe.utils.now_datetime())
	before = questions()
	batch.find_shared_addresses(people)
	assert questions() - before == 2  # the query, and the count itself
	before = questions()
	assert all(batch.same_address_holder(p) is None for p in people)
	assert questions() - before == 1  # only the count
