"""The engine end to end: enrolment, steps in a real burst worker, waits with time moved
forward, branches, retries, pause / resume / stop."""

from __future__ import annotations

import frappe
import pytest
from frappe.utils import add_to_date, now_datetime

from conftest import run_scheduled
from factories import (
	end,
	enrol_and_run,
	events,
	late_sms_flow,
	make_contact,
	make_content,
	make_flow,
	make_user,
	participant,
	running_flow,
	step,
	time_passes,
	unique,
)

TICK = "marketing_flows.engine.running.runner.schedule_due_participants"


def test_steps_run_in_a_worker_not_in_the_request(worker):
	flow = running_flow(
		[
			step(
				"tag",
				"Update Participant",
				update_field="designation",
				update_value="Lead {{ contact.first_name }}",
				next_step="wait",
			),
			step("wait", "Wait", wait_amount=2, wait_unit="Days", next_step="end"),
			end(),
		]
	)
	contact = make_contact(first_name=unique("Ann"))
	assert flow.enroll([contact])["enrolled"] == 1
	p = participant(flow.name, contact)
	assert (p.status, p.current_step) == ("Active", "tag")
	assert not frappe.db.get_value("Contact", contact, "designation")  # nothing ran in the request

	worker()
	p = participant(flow.name, contact)
	assert p.status == "Waiting" and p.current_step == "wait"  # while waiting: the Wait step
	assert abs((p.next_run_at - add_to_date(now_datetime(), days=2)).total_seconds()) < 120
	assert (
		frappe.db.get_value("Contact", contact, "designation")
		== f"Lead {frappe.db.get_value('Contact', contact, 'first_name')}"
	)

	run_scheduled(TICK)  # not due yet: the tick finds nothing
	worker()
	assert participant(flow.name, contact).status == "Waiting"

	time_passes(flow.name)
	run_scheduled(TICK)
	worker()
	p = participant(flow.name, contact)
	assert p.status == "Completed" and p.ended_on and not p.active_key
	assert events(flow.name, contact) == [
		(None, "Enrolled"),
		("tag", "Step Executed"),
		("wait", "Step Executed"),
		("end", "Completed"),
	]
	steps = flow.get_figures()["steps"]  # per-step figures of the flow diagram
	assert steps["tag"] == {"Step Executed": 1} and steps["end"] == {"Completed": 1}


def test_condition_branches_on_contact_fields(worker):
	flow = running_flow(
		[
			step(
				"vip",
				"Condition",
				condition_type="Field",
				condition_filters='[["Contact", "designation", "=", "CEO"]]',
				yes_step="yes_end",
				no_step="no_end",
			),
			end("yes_end"),
			end("no_end"),
		]
	)
	ceo = make_contact(designation="CEO")
	clerk = make_contact(designation="Clerk")
	flow.enroll([ceo, clerk])
	worker()
	assert participant(flow.name, ceo).current_step == "yes_end"
	assert participant(flow.name, clerk).current_step == "no_end"
	assert ("vip", "Branch Yes") in events(flow.name, ceo)
	assert ("vip", "Branch No") in events(flow.name, clerk)


def test_create_activity_assigned_to_a_chosen_user(worker):
	activity = frappe.db.get_single_value("Marketing Flow Settings", "activity_doctype")
	if activity != "ToDo":
		pytest.skip(f"the activity doctype is {activity}: this test checks a ToDo's assignment")
	rep = make_user(["Sales User"] if frappe.db.exists("Role", "Sales User") else ["Blogger"], "rep")
	flow = running_flow(
		[
			step(
				"call",
				"Create Activity",
				activity_description="Call {{ contact.first_name }} about the offer",
				assign_to=rep,
				next_step="end",
			),
			end(),
		]
	)
	contact = make_contact(first_name=unique("Bob"))
	flow.enroll([contact])
	worker()
	todo = frappe.get_all(
		"ToDo",
		filters={"reference_type": "Contact", "reference_name": contact},
		fields=["allocated_to", "description"],
	)
	assert todo and todo[0].allocated_to == rep
	assert frappe.db.get_value("Contact", contact, "first_name") in todo[0].description
	assert participant(flow.name, contact).status == "Completed"


def test_add_to_email_group_and_enroll_in_another_flow(worker):
	group = frappe.get_doc({"doctype": "Email Group", "title": unique("Group")}).insert()
	target = running_flow(
		[
			step("w", "Wait", wait_amount=1, wait_unit="Days", next_step="e"),
			end("e"),
		]
	)
	flow = running_flow(
		[
			step("grp", "Add to Email Group", email_group=group.name, next_step="move"),
			step("move", "Enroll in Flow", target_flow=target.name, next_step="end"),
			end(),
		]
	)
	contact = make_contact()
	email = frappe.db.get_value("Contact", contact, "email_id")
	flow.enroll([contact])
	worker()
	assert frappe.db.exists("Email Group Member", {"email_group": group.name, "email": email})
	moved = participant(target.name, contact)
	assert moved and moved.enrolled_by == f"Flow {flow.name}"
	worker()  # the target flow's own job
	assert participant(target.name, contact).status == "Waiting"


def test_webhook_posts_rendered_json_with_an_idempotency_key(worker, http_receiver):
	flow = running_flow(
		[
			step(
				"hook",
				"Webhook",
				webhook_url=f"{http_receiver.url}/crm-hook",
				webhook_method="POST",
				webhook_body='{"name": "{{ contact.first_name }}", "flow": "{{ flow.name }}"}',
				next_step="end",
			),
			end(),
		]
	)
	contact = make_contact(first_name=unique("Cid"))
	flow.enroll([contact])
	worker()
	got = [r for r in http_receiver.received("/crm-hook") if r["json"] and r["json"].get("flow") == flow.name]
	assert len(got) == 1
	assert got[0]["json"]["name"] == frappe.db.get_value("Contact", contact, "first_name")
	assert got[0]["headers"]["idempotency-key"]
	assert participant(flow.name, contact).status == "Completed"


def hook_flow(url: str):
	"""A Running flow: Webhook to `url`, End."""
	return running_flow([step("hook", "Webhook", webhook_url=url, next_step="end"), end()])


def test_failing_webhook_is_retried_with_backoff_then_stalled_never_lost(worker, http_receiver, settings):
	settings.set("Marketing Flow Settings", max_attempts=2, retry_backoff_minutes=1)
	flow = hook_flow(f"{http_receiver.url}/down")
	contact = make_contact()
	flow.enroll([contact])
	http_receiver.fail_next(2, 503)
	worker()
	p = participant(flow.name, contact)
	assert (p.status, p.current_step, p.attempts) == ("Active", "hook", 1)
	assert "503" in p.last_error
	assert p.next_run_at > now_datetime()  # backoff: not retried at once
	assert ("hook", "Retry") in events(flow.name, contact)

	frappe.db.set_value(
		"Marketing Flow Participant", p.name, "next_run_at", add_to_date(now_datetime(), minutes=-1)
	)
	run_scheduled(TICK)
	worker()
	p = participant(flow.name, contact)
	assert (p.status, p.current_step, p.attempts) == ("Stalled", "hook", 2)
	assert "503" in p.last_error
	assert ("hook", "Error") in events(flow.name, contact)
	keys = {r["headers"]["idempotency-key"] for r in http_receiver.received("/down")[-2:]}
	assert len(keys) == 1  # the retry carried the same key


def test_sms_goes_through_sms_settings_gateway(worker, http_receiver, settings):
	settings.set(
		"SMS Settings",
		sms_gateway_url=f"{http_receiver.url}/sms",
		message_parameter="text",
		receiver_parameter="to",
		use_post=0,
		parameters=[],
	)
	content = make_content("SMS", body="Hi {{ contact.first_name }}, 20% off today")
	flow = running_flow(
		[
			step("sms", "Send SMS", content=content.name, next_step="end"),
			end(),
		]
	)
	number = "+1555" + frappe.generate_hash(length=6).translate(str.maketrans("abcdef", "123456"))
	contact = make_contact(first_name=unique("Dee"), mobile_no=number)
	no_phone = make_contact()
	flow.enroll([contact, no_phone])
	worker()
	sent = [r for r in http_receiver.received("/sms") if r["query"].get("to") == number]
	assert len(sent) == 1
	assert (
		sent[0]["query"]["text"]
		== f"Hi {frappe.db.get_value('Contact', contact, 'first_name')}, 20% off today"
	)
	assert participant(flow.name, contact).last_sent == content.name
	assert ("sms", "Step Skipped") in events(flow.name, no_phone)


def test_pause_freezes_resume_continues_stop_exits(worker):
	flow = running_flow(
		[
			step("w", "Wait", wait_amount=1, wait_unit="Hours", next_step="e"),
			end("e"),
		]
	)
	a, b = make_contact(), make_contact()
	flow.enroll([a])
	worker()
	flow.reload()
	flow.pause()
	time_passes(flow.name)
	assert flow.enroll([b])["enrolled"] == 1  # paused flows still enrol
	run_scheduled(TICK)
	worker()
	assert participant(flow.name, a).status == "Waiting"  # frozen
	assert participant(flow.name, b).current_step == "w" and participant(flow.name, b).status == "Active"
	flow.reload()
	flow.run()
	worker()
	assert participant(flow.name, a).status == "Completed"
	assert participant(flow.name, b).status == "Waiting"
	flow.reload()
	flow.stop()
	assert participant(flow.name, b).status == "Exited"
	assert participant(flow.name, b).exit_reason == "Flow stopped"
	flow.run()  # run again for new people: the stopped participation stays as it ended
	assert flow.status == "Running"
	assert participant(flow.name, b).status == "Exited"


def test_participant_who_unsubscribes_exits_before_the_next_step(worker):
	flow = running_flow(
		[
			step("w", "Wait", wait_amount=1, wait_unit="Days", next_step="tag"),
			step("tag", "Update Participant", update_field="designation", update_value="x", next_step="e"),
			end("e"),
		]
	)
	contact = make_contact()
	flow.enroll([contact])
	worker()
	frappe.db.set_value("Contact", contact, "unsubscribed", 1)
	time_passes(flow.name)
	run_scheduled(TICK)
	worker()
	p = participant(flow.name, contact)
	assert (p.status, p.exit_reason) == ("Exited", "unsubscribed")
	assert not frappe.db.get_value("Contact", contact, "designation")


def test_enrolment_rejections_say_why():
	flow = make_flow(audience_filters='[["Contact", "designation", "=", "Buyer"]]', requires_consent=1)
	buyer = make_contact(designation="Buyer", mf_marketing_consent=1)
	other = make_contact(designation="Clerk", mf_marketing_consent=1)
	no_consent = make_contact(designation="Buyer")
	unsub = make_contact(designation="Buyer", mf_marketing_consent=1, unsubscribed=1)
	result = flow.enroll([buyer, other, no_consent, unsub, "no-such-contact", buyer])
	assert result["enrolled"] == 1
	assert result["not_enrolled"] == {
		other: "does not match the flow's audience filters",
		no_consent: "no marketing consent",
		unsub: "unsubscribed",
		"no-such-contact": "no such contact",
	}
	again = flow.enroll([buyer])
	assert again == {"enrolled": 0, "held_out": 0, "not_enrolled": {buyer: "already active in this flow"}}


def test_suppression_list_and_reenrolment_policy(worker):
	group = frappe.get_doc({"doctype": "Email Group", "title": unique("Suppress")}).insert()
	suppressed = make_contact()
	frappe.get_doc(
		{
			"doctype": "Email Group Member",
			"email_group": group.name,
			"email": frappe.db.get_value("Contact", suppressed, "email_id"),
		}
	).insert()
	flow = running_flow(
		[end("e")],
		suppression_lists=[{"list_type": "Email Group", "email_group": group.name}],
		reenrollment="After Previous Ends",
	)
	ok = make_contact()
	result = flow.enroll([suppressed, ok])
	assert result["not_enrolled"] == {suppressed: f"suppressed by {group.name}"}
	worker()
	assert participant(flow.name, ok).status == "Completed"
	assert flow.enroll([ok])["enrolled"] == 1  # ended, so may come again
	never = running_flow([end("e")], reenrollment="Never")
	never.enroll([ok])
	worker()
	assert never.enroll([ok])["not_enrolled"] == {ok: "already took part (re-enrolment: Never)"}


def test_sends_wait_for_the_sending_window(worker):
	from marketing_flows.engine.sending import window

	now = now_datetime()
	today = now.weekday()
	days = {f"send_on_{d}": int(i != today) for i, d in enumerate(window.WEEKDAYS)}  # closed today
	content = make_content("SMS", body="Hello")
	flow = running_flow(
		[
			step("sms", "Send SMS", content=content.name, next_step="end"),
			end(),
		],
		use_sending_window=1,
		window_start="09:00:00",
		window_end="17:00:00",
		**days,
	)
	contact, p = enrol_and_run(flow, worker, mobile_no="+15550001111")
	assert (p.status, p.current_step) == ("Waiting", "sms")
	assert p.next_run_at.date() == (now + frappe.utils.datetime.timedelta(days=1)).date()
	assert p.next_run_at.strftime("%H:%M") == "09:00"
	assert ("sms", "Step Skipped") in events(flow.name, contact)


def test_sending_window_must_make_sense():
	with pytest.raises(frappe.ValidationError, match="'From' must be before 'To'"):
		make_flow(use_sending_window=1, window_start="18:00:00", window_end="09:00:00")
	no_days = {
		f"send_on_{d}": 0
		for d in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
	}
	with pytest.raises(frappe.ValidationError, match="at least one weekday"):
		make_flow(use_sending_window=1, **no_days)


def test_stalled_participants_can_be_retried(worker, http_receiver, settings):
	settings.set("Marketing Flow Settings", max_attempts=1)
	flow = hook_flow(f"{http_receiver.url}/flaky")
	contact = make_contact()
	flow.enroll([contact])
	http_receiver.fail_next(1, 502)
	worker()
	assert participant(flow.name, contact).status == "Stalled"
	assert flow.retry_stalled() == {"retried": 1}
	worker()
	assert participant(flow.name, contact).status == "Completed"


def test_conditions_on_engagement_group_segment_and_recent_email(worker):
	from marketing_flows.engine import log

	group = frappe.get_doc({"doctype": "Email Group", "title": unique("VIPs")}).insert()
	segment = frappe.get_doc(
		{
			"doctype": "Marketing Segment",
			"segment_name": unique("Seg"),
			"segment_type": "Contact Filters",
			"filters": '[["Contact", "designation", "=", "Segmented"]]',
		}
	).insert()

	def branch(condition: dict) -> dict:
		return running_flow(
			[
				step("w", "Wait", wait_amount=1, wait_unit="Days", next_step="c"),
				step("c", "Condition", **condition, yes_step="yes", no_step="no"),
				end("yes"),
				end("no"),
			]
		)

	clicked = branch({"condition_type": "Clicked", "condition_days": 7})
	in_group = branch({"condition_type": "In Email Group", "email_group": group.name})
	in_segment = branch({"condition_type": "In Segment", "segment": segment.name})
	recent = branch({"condition_type": "Emailed Recently", "condition_days": 3})
	hit, miss = make_contact(designation="Segmented"), make_contact()
	frappe.get_doc(
		{
			"doctype": "Email Group Member",
			"email_group": group.name,
			"email": frappe.db.get_value("Contact", hit, "email_id"),
		}
	).insert()
	for flow in (clicked, in_group, in_segment, recent):
		flow.enroll([hit, miss])
	worker()
	for flow, event in ((clicked, "Clicked"), (recent, "Email Sent")):
		p = participant(flow.name, hit)
		log.write(flow.name, p.name, hit, "earlier", event, "")
	for flow in (clicked, in_group, in_segment, recent):
		time_passes(flow.name)
	run_scheduled(TICK)
	worker()
	for flow in (clicked, in_group, in_segment, recent):
		assert participant(flow.name, hit).current_step == "yes", flow.name
		assert participant(flow.name, miss).current_step == "no", flow.name


def test_resume_with_skip_overdue_skips_sends_that_fell_due_during_the_pause(worker):
	flow = late_sms_flow(resume_policy="Skip Overdue")
	early = make_contact(mobile_no="+15550002222")
	flow.enroll([early])
	worker()
	flow.reload()
	flow.pause()
	# move the clock: enrolled an hour ago, paused ten minutes ago, the SMS fell due a minute ago
	frappe.db.set_value("Marketing Flow", flow.name, "paused_on", add_to_date(now_datetime(), minutes=-10))
	frappe.db.set_value(
		"Marketing Flow Participant",
		participant(flow.name, early).name,
		"enrolled_on",
		add_to_date(now_datetime(), hours=-1),
	)
	time_passes(flow.name)
	late = make_contact(mobile_no="+15550003333")
	flow.enroll([late])  # enrolled during the pause: starts normally
	flow.reload()
	flow.run()
	worker()
	p = participant(flow.name, early)
	assert p.status == "Completed" and not p.last_sent
	assert ("sms", "Step Skipped") in events(flow.name, early)
	assert participant(flow.name, late).status == "Waiting"  # its own first wait


def test_a_participant_name_that_clashes_is_drawn_again_not_reported_as_already_active(monkeypatch):
	"""Participant names are random: a new name equal to an existing participant's (another
	flow's here) must not drop the person as "already active in this flow"."""
	from marketing_flows.engine.entering import enrolment

	other_flow = make_flow()
	taken_by = make_contact()
	other_flow.enroll([taken_by])
	taken = participant(other_flow.name, taken_by).name
	flow = make_flow()
	first, second, already = make_contact(), make_contact(), make_contact()
	flow.enroll([already])
	draws = iter([taken, taken, "mf-fresh-0001", "mf-fresh-0002"])
	monkeypatch.setattr(enrolment, "new_participant_name", lambda: next(draws))

	result = flow.enroll([first, second, already])

	assert result == {"enrolled": 2, "held_out": 0, "not_enrolled": {already: "already active in this flow"}}
	mine = {participant(flow.name, c).name for c in (first, second)}
	assert mine == {"mf-fresh-0001", "mf-fresh-0002"}
	assert participant(other_flow.name, taken_by).name == taken  # the other participant is untouched
	assert events(flow.name, first) == [(None, "Enrolled")]
