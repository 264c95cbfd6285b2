"""Edges of the engine: flows that enrol each other in a loop (refused at Run, stopped at run
time by the daily re-enrolment cap), the follow-ups of a met goal (success flow, Flow Goal
triggers) retried until done, and what a resume or a form save must not undo (an exit
committed meanwhile, an A/B winner decided meanwhile)."""

from __future__ import annotations

import json
import time

import frappe
import pytest
from frappe.utils import add_to_date, now_datetime

from conftest import run_bench, run_scheduled
from factories import (
	events,
	late_sms_flow,
	make_contact,
	make_flow,
	participant,
	running_flow,
	step,
	time_passes,
)
from marketing_flows.engine.entering import watch

COUNTER = "mf_edge_counter"  # an Int custom field on Contact that flows add to
RETRY_TICK = "marketing_flows.engine.measuring.goals.retry_follow_ups"  # the scheduler, every 5 minutes


@pytest.fixture(scope="session")
def counter_field(site) -> str:
	"""An Int custom field on Contact (kept: DDL commits anyway)."""
	from frappe.custom.doctype.custom_field.custom_field import create_custom_field

	if not frappe.get_meta("Contact").has_field(COUNTER):
		create_custom_field("Contact", {"fieldname": COUNTER, "fieldtype": "Int", "label": "MF Edge Counter"})
		frappe.db.commit()
		frappe.clear_cache(doctype="Contact")
	return COUNTER


def site_jobs_busy() -> bool:
	"""A job of this site queued or running (in any worker of the bench: the workers of other
	test sites take our jobs too)."""
	from frappe.utils.background_jobs import get_queues
	from rq.registry import StartedJobRegistry

	site = frappe.local.site
	for queue in get_queues():
		if any((job.kwargs or {}).get("site") == site for job in queue.get_jobs()):
			return True
		if any(j.startswith(f"{site}::") for j in StartedJobRegistry(queue=queue).get_job_ids()):
			return True
	return False


def drain(worker, timeout: float = 240) -> None:
	"""Run burst workers until no job of this site is queued or running anywhere: a chain of
	jobs (a runner's save queues a trigger job, which queues a runner) has come to its end."""
	deadline = time.monotonic() + timeout
	while True:
		worker()
		time.sleep(1)
		if not site_jobs_busy():
			time.sleep(1)
			if not site_jobs_busy():
				frappe.db.rollback()
				return
		assert time.monotonic() < deadline, "the site's jobs never came to an end"


def contact_update_flow(**values):
	"""A flow triggered by any update of a Contact that adds 1 to the Contact's counter, and
	takes people again after they leave."""
	values.setdefault("trigger_type", "Document Event")
	values.setdefault("trigger_doctype", "Contact")
	values.setdefault("trigger_event", "Update")
	values.setdefault("reenrollment", "After Previous Ends")
	return make_flow(
		steps=[step("count", "Update Participant")],
		updates=[{"step_id": "count", "target": "Person", "field": COUNTER, "action": "Add", "value": "1"}],
		**values,
	)


def participations(flow: str, contact: str) -> list:
	return frappe.get_all(
		"Marketing Flow Participant",
		filters={"flow": flow, "contact": contact},
		fields=["name", "status", "enrolled_by"],
		order_by="name asc",
	)


def messages(flow: str, contact: str, event: str) -> list[str]:
	return frappe.get_all(
		"Marketing Flow Log", filters={"flow": flow, "contact": contact, "event": event}, pluck="message"
	)


# --- 12. flows that enrol each other -----------------------------------------------------------


def test_flows_that_trigger_each_other_are_refused_at_run_with_their_names(counter_field):
	first = contact_update_flow()
	first.run()
	second = contact_update_flow()  # a draft in the loop is saved (the loop can't turn yet)
	with pytest.raises(frappe.ValidationError) as refused:
		second.run()
	assert "enrol each other in a loop" in str(refused.value)
	assert first.name in str(refused.value) and second.name in str(refused.value)
	assert frappe.db.get_value("Marketing Flow", second.name, "status") == "Draft"

	# a flow that takes everyone once ends the loop: nothing to refuse
	second.reload()
	second.reenrollment = "Never"
	second.save()
	second.run()
	assert second.status == "Running"


def test_success_flows_and_goal_triggers_that_loop_are_refused(counter_field):
	source = make_flow(
		reenrollment="After Previous Ends",
		success_criteria=[
			{"criterion_type": "Person Updated", "conditions": '[["Contact", "designation", "=", "Won"]]'}
		],
	)
	source.run()
	# triggered by the source's goal, and moving its own successful people back to the source
	follower = make_flow(
		reenrollment="After Previous Ends",
		trigger_type="Flow Goal",
		trigger_flow=source.name,
		success_flow=source.name,
		success_criteria=[
			{"criterion_type": "Person Updated", "conditions": '[["Contact", "designation", "=", "Won"]]'}
		],
	)
	with pytest.raises(frappe.ValidationError, match="enrol each other in a loop") as refused:
		follower.run()
	assert f"{follower.name} → {source.name} → {follower.name}" in str(refused.value)

	# a running flow can't be edited into the loop either
	other = make_flow(reenrollment="After Previous Ends", trigger_type="Flow Goal", trigger_flow=source.name)
	other.run()
	other.reload()
	other.success_flow = source.name
	with pytest.raises(frappe.ValidationError, match="enrol each other in a loop"):
		other.save()


def test_a_loop_the_check_could_not_see_stops_at_the_daily_reenrolment_cap(counter_field, worker):
	first = contact_update_flow()
	first.run()
	second = make_flow(
		steps=[step("count", "Update Participant")],
		updates=[{"step_id": "count", "target": "Person", "field": COUNTER, "action": "Add", "value": "1"}],
		reenrollment="After Previous Ends",
	)
	second.run()
	# made a loop behind the check's back (as flows saved before it existed)
	frappe.db.set_value(
		"Marketing Flow",
		second.name,
		{"trigger_type": "Document Event", "trigger_doctype": "Contact", "trigger_event": "Update"},
	)
	watch.flows_changed()
	contact = make_contact()
	first.enroll([contact])
	drain(worker)  # before the cap, this never ended

	# first and re-enrolled three times in each flow; then the next enrolment is refused
	assert len(participations(first.name, contact)) == 4
	assert len(participations(second.name, contact)) == 4
	assert frappe.db.get_value("Contact", contact, COUNTER) == 8
	refusals = messages(first.name, contact, "Error")
	assert len(refusals) == 1
	assert "may be re-enrolled at most 3 times a day" in refusals[0]
	assert f"Contact {contact}" in refusals[0]  # what proposed the person


# --- 13. the follow-ups of a met goal ----------------------------------------------------------

WON = '[["Contact", "designation", "=", "Won"]]'


def test_a_success_flow_enrolment_that_fails_is_retried_after_the_goal_stands(worker):
	target = running_flow(None)
	source = running_flow(
		None,
		success_flow=target.name,
		success_criteria=[{"criterion_type": "Person Updated", "conditions": WON}],
	)
	contact = make_contact()
	source.enroll([contact])
	drain(worker)
	frappe.db.set_value("Marketing Flow", target.name, "audience_filters", "[not json")  # broken
	frappe.db.commit()

	doc = frappe.get_doc("Contact", contact)
	doc.designation = "Won"  # a sales rep's edit fulfils the goal
	doc.save()
	drain(worker)

	p = participant(source.name, contact)
	assert (p.succeeded, p.status, p.exit_reason) == (1, "Exited", "Goal met")  # the goal stands
	assert participant(target.name, contact) is None  # its follow-up failed, and waits

	frappe.db.set_value("Marketing Flow", target.name, "audience_filters", None)  # mended
	frappe.db.sql(  # the backoff has passed
		"""update `tabMarketing Flow Outbox` set modified = %s where participant = %s""",
		(add_to_date(now_datetime(), hours=-1), p.name),
	)
	run_scheduled(RETRY_TICK)
	drain(worker)
	moved = participant(target.name, contact)
	assert moved and moved.enrolled_by == f"Goal of {source.name}"
	assert events(target.name, contact)[0] == (None, "Enrolled")

	run_scheduled(RETRY_TICK)  # done once: never again
	drain(worker)
	assert len(participations(target.name, contact)) == 1


def test_a_goal_triggered_enrolment_that_keeps_failing_is_given_up_with_an_error(worker, settings):
	settings.set("Marketing Flow Settings", max_attempts=2)
	source = running_flow(
		[
			step(
				"win", "Update Participant", update_field="designation", update_value="Won", next_step="wait"
			),
			step("wait", "Wait", wait_amount=1, wait_unit="Days"),
		],
		success_criteria=[{"criterion_type": "Person Updated", "conditions": WON}],
	)
	follower = running_flow(None, trigger_type="Flow Goal", trigger_flow=source.name)
	frappe.db.set_value("Marketing Flow", follower.name, "audience_filters", "[not json")
	contact = make_contact()
	source.enroll([contact])
	drain(worker)  # the flow's own step meets the goal
	p = participant(source.name, contact)
	assert (p.succeeded, p.status) == (1, "Exited")
	assert participant(follower.name, contact) is None
	assert not messages(source.name, contact, "Error")  # one failed try: not given up yet

	frappe.db.sql(
		"""update `tabMarketing Flow Outbox` set modified = %s where participant = %s""",
		(add_to_date(now_datetime(), hours=-1), p.name),
	)
	run_scheduled(RETRY_TICK)
	drain(worker)
	given_up = messages(source.name, contact, "Error")
	assert len(given_up) == 1
	assert f"Not enrolled in {follower.name} after its goal was met, after 2 tries" in given_up[0]
	assert frappe.db.exists(
		"Error Log",
		{"reference_doctype": "Marketing Flow Participant", "reference_name": p.name},
	)
	assert participant(follower.name, contact) is None


# --- 14. what a resume or a form save must not undo ---------------------------------------------


def test_resume_keeps_an_exit_committed_while_the_flow_was_paused(worker):
	flow = late_sms_flow(resume_policy="Skip Overdue")
	contact = make_contact(mobile_no="+15550004444")
	flow.enroll([contact])
	drain(worker)
	flow.reload()
	flow.pause()
	frappe.db.set_value("Marketing Flow", flow.name, "paused_on", add_to_date(now_datetime(), minutes=-10))
	name = participant(flow.name, contact).name
	frappe.db.set_value(
		"Marketing Flow Participant", name, "enrolled_on", add_to_date(now_datetime(), hours=-1)
	)
	time_passes(flow.name)  # the SMS fell due during the pause
	frappe.db.commit()

	# the marketer's Resume request has read the flow when, in another process, the goal is met
	flow = frappe.get_doc("Marketing Flow", flow.name)
	assert participant(flow.name, contact).status == "Waiting"
	run_bench(
		"execute",
		"marketing_flows.engine.running.participants.end_participants",
		"--kwargs",
		json.dumps({"flow_name": flow.name, "names": [name], "status": "Exited", "reason": "Goal met"}),
	)
	flow.run()
	frappe.db.commit()

	p = participant(flow.name, contact)
	assert (p.status, p.exit_reason, p.next_run_at) == ("Exited", "Goal met", None)
	assert ("sms", "Step Skipped") not in events(flow.name, contact)


def test_a_form_saved_from_an_old_copy_keeps_the_ab_winner(worker):
	steps = [
		# one person: no significant lead, so the fallback decides at the end of the test period
		step("ab", "A/B Test", ab_auto_winner=1, ab_test_days=1, ab_fallback="First Variant"),
		step("a", "Wait", wait_amount=3, wait_unit="Days"),
		step("b", "Wait", wait_amount=3, wait_unit="Days"),
	]
	branches = [
		{"step_id": "ab", "branch_label": "A", "percentage": 50, "next_step": "a"},
		{"step_id": "ab", "branch_label": "B", "percentage": 50, "next_step": "b"},
	]
	flow = running_flow(steps, branches=branches)
	flow.enroll([make_contact()])
	drain(worker)
	frappe.db.sql(  # the test period is over
		"""update `tabMarketing Flow Log` set creation = creation - interval 2 day
		where flow = %s and step_id = 'ab'""",
		flow.name,
	)
	frappe.db.commit()
	stale = frappe.get_doc("Marketing Flow", flow.name)  # the form, opened before the decision
	flow.enroll([make_contact()])
	drain(worker)  # the next participant at the A/B step decides the winner
	winner = frappe.db.get_value("Marketing Flow Step", {"parent": flow.name, "step_id": "ab"}, "ab_winner")
	assert winner

	stale.description = "Edited in the form"
	stale.save()
	frappe.db.commit()
	ab_step = frappe.db.get_value(
		"Marketing Flow Step",
		{"parent": flow.name, "step_id": "ab"},
		["ab_winner", "ab_decision"],
		as_dict=True,
	)
	assert ab_step.ab_winner == winner and ab_step.ab_decision
	assert frappe.db.get_value("Marketing Flow", flow.name, "description") == "Edited in the form"


def test_a_reminder_loop_wait_send_wait_waits_again_instead_of_stalling(worker, content):
	"""Wait → Send Email → back to the same Wait: the loop waits, so it is allowed, and after the
	first wait the person gets the email and waits again (the Wait reached again is no loop
	without waiting)."""
	flow = running_flow(
		[
			step("W", "Wait", wait_amount=2, wait_unit="Days", next_step="remind"),
			step("remind", "Send Email", content=content.name, next_step="W"),
		]
	)
	contact = make_contact()
	flow.enroll([contact])
	worker()
	assert participant(flow.name, contact).status == "Waiting"
	time_passes(flow.name)
	run_scheduled("marketing_flows.engine.running.runner.schedule_due_participants")
	worker()
	p = participant(flow.name, contact)
	assert (p.status, p.current_step) == ("Waiting", "W"), p.last_error
	assert p.next_run_at > add_to_date(now_datetime(), days=1)
	assert [e for s, e in events(flow.name, contact) if e == "Email Sent"] == ["Email Sent"]
