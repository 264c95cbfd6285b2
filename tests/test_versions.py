"""Flows that change while people are in them: versions, where the people at each step go
(moved, with their due time kept or the wait started anew, or left to drain the old version), the
refusal of an edit that would lose people, the differences in words and the figures per version.
With real workers."""

import json

import frappe
import pytest
from frappe.utils import add_to_date, get_datetime, now_datetime

from conftest import run_scheduled
from factories import end, make_contact, make_content, make_flow, make_user, participant, step, time_passes
from marketing_flows.engine.changing import versions

PARTICIPANT = "Marketing Flow Participant"
TICK = "marketing_flows.engine.running.runner.schedule_due_participants"


def people(n: int) -> list[str]:
	return [make_contact() for _ in range(n)]


def waiting_flow(steps, **values):
	"""A running flow with `steps`, first step a Wait: returns the flow."""
	flow = make_flow(steps=steps, **values)
	flow.run()
	return flow


def at(flow_name: str) -> dict:
	"""(status, current_step, flow_version) -> how many participants."""
	rows = frappe.db.sql(
		f"""SELECT status, current_step, flow_version, COUNT(*) FROM `tab{PARTICIPANT}`
		WHERE flow = %s GROUP BY status, current_step, flow_version""",
		flow_name,
	)
	return {(s, c, int(v)): int(n) for s, c, v, n in rows}


def publish(flow_name: str, steps: list[dict], plan: dict | None = None, **values):
	"""Pause the flow and save it with new steps (and a plan), as the designer does."""
	flow = frappe.get_doc("Marketing Flow", flow_name)
	if flow.status == "Running":
		flow.pause()
	flow.reload()
	flow.set("steps", steps)
	flow.update(values)
	flow.version_plan = json.dumps(plan) if plan is not None else None
	flow.save()
	return flow


def test_the_first_run_makes_version_1_and_new_people_start_the_live_version(worker):
	flow = make_flow(steps=[step("w1", "Wait", wait_amount=1, wait_unit="Days", next_step="end"), end()])
	assert flow.version == 0
	flow.run()
	flow.reload()
	assert flow.version == 1
	live = versions.live_version(flow.name)
	assert live.version == 1
	contact = make_contact()
	flow.enroll([contact])
	p = participant(flow.name, contact)
	assert p.flow_version == 1
	assert (
		frappe.db.get_value(
			"Marketing Flow Log", {"participant": p.name, "event": "Enrolled"}, "flow_version"
		)
		== 1
	)
	# a pause and a run again with nothing changed make no version
	flow.pause()
	flow.reload()
	flow.run()
	assert frappe.db.count("Marketing Flow Version", {"flow": flow.name}) == 1


@pytest.mark.parametrize("due", ["keep", "restart"])
def test_100_people_waiting_at_w1_move_to_w2_of_the_new_version(worker, due):
	flow = waiting_flow([step("W1", "Wait", wait_amount=3, wait_unit="Days", next_step="end"), end()])
	flow.enroll(people(100))
	worker()
	assert at(flow.name) == {("Waiting", "W1", 1): 100}
	due_before = frappe.db.sql(
		f"SELECT MIN(next_run_at), MAX(next_run_at) FROM `tab{PARTICIPANT}` WHERE flow = %s", flow.name
	)[0]
	assert get_datetime(due_before[0]) > add_to_date(now_datetime(), days=2)

	publish(
		flow.name,
		[step("W2", "Wait", wait_amount=1, wait_unit="Hours", next_step="end"), end()],
		{"W1": {"to": "W2", "due": due}},
	)
	flow.reload()
	assert flow.version == 2 and not flow.version_plan
	if due == "keep":
		assert at(flow.name) == {("Waiting", "W2", 2): 100}
		after = frappe.db.sql(
			f"SELECT MIN(next_run_at), MAX(next_run_at) FROM `tab{PARTICIPANT}` WHERE flow = %s", flow.name
		)[0]
		assert tuple(after) == tuple(due_before), "the due time was kept"
	else:
		assert at(flow.name) == {("Active", "W2", 2): 100}
		flow.run()
		worker()
		assert at(flow.name) == {("Waiting", "W2", 2): 100}
		soonest, latest = frappe.db.sql(
			f"SELECT MIN(next_run_at), MAX(next_run_at) FROM `tab{PARTICIPANT}` WHERE flow = %s", flow.name
		)[0]
		# the new wait of one hour started anew, not the old three days
		assert add_to_date(now_datetime(), minutes=50) < get_datetime(soonest)
		assert get_datetime(latest) < add_to_date(now_datetime(), minutes=61)
	moved = frappe.get_all(
		"Marketing Flow Log",
		filters={"flow": flow.name, "event": "Moved"},
		fields=["step_id", "message", "flow_version"],
	)
	assert len(moved) == 100
	assert moved[0].step_id == "W2" and moved[0].flow_version == 2 and "W1" in moved[0].message
	v2 = frappe.get_doc("Marketing Flow Version", {"flow": flow.name, "version": 2})
	assert v2.status == "Live" and v2.moved == 100 and v2.drained == 0
	assert "Step removed: W1 (Wait)" in v2.changes and "Step added: W2 (Wait)" in v2.changes
	assert (
		frappe.db.get_value("Marketing Flow Version", {"flow": flow.name, "version": 1}, "status")
		== "Retired"
	)
	# nobody is Stalled when the flow runs on
	flow.reload()
	if flow.status != "Running":
		flow.run()
	time_passes(flow.name)
	run_scheduled(TICK)
	worker()
	assert at(flow.name) == {("Completed", "end", 2): 100}


def test_removing_a_step_with_people_without_saying_where_they_go_is_refused_with_the_count(worker):
	flow = waiting_flow([step("W1", "Wait", wait_amount=3, wait_unit="Days", next_step="end"), end()])
	flow.enroll(people(3))
	worker()
	with pytest.raises(frappe.ValidationError, match="3 people are at step W1"):
		publish(flow.name, [step("W2", "Wait", wait_amount=1, wait_unit="Hours", next_step="end"), end()])
	frappe.db.rollback()
	flow.reload()
	assert [s.step_id for s in flow.steps] == ["W1", "end"] and flow.version == 1
	assert at(flow.name) == {("Waiting", "W1", 1): 3}
	# a plan naming a step the new version doesn't have is refused too
	with pytest.raises(frappe.ValidationError, match="not a step of the new version"):
		publish(
			flow.name,
			[step("W2", "Wait", wait_amount=1, wait_unit="Hours", next_step="end"), end()],
			{"W1": {"to": "nowhere"}},
		)


def test_people_left_to_drain_finish_the_old_path_while_new_people_take_the_new_one(worker, content):
	new_mail = make_content("Email", subject="New mail", sender=content.sender)
	flow = waiting_flow(
		[
			step("W1", "Wait", wait_amount=1, wait_unit="Days", next_step="old_mail"),
			step("old_mail", "Send Email", content=content.name, next_step="end"),
			end(),
		]
	)
	flow.enroll(people(100))
	worker()
	assert at(flow.name) == {("Waiting", "W1", 1): 100}
	publish(
		flow.name,
		[step("new_mail", "Send Email", content=new_mail.name, next_step="end"), end()],
		{"W1": {"drain": 1}},
	)
	flow.reload()
	assert flow.version == 2
	assert at(flow.name) == {("Waiting", "W1", 1): 100}, "the drainers stay on version 1"
	assert (
		frappe.db.get_value("Marketing Flow Version", {"flow": flow.name, "version": 1}, "status")
		== "Draining"
	)
	flow.run()
	newcomer = make_contact()
	flow.enroll([newcomer])
	time_passes(flow.name)
	run_scheduled(TICK)
	worker()
	states = at(flow.name)
	assert states == {("Completed", "end", 1): 100, ("Completed", "end", 2): 1}
	sent = frappe.db.sql(
		"""SELECT step_id, flow_version, COUNT(*) FROM `tabMarketing Flow Log`
		WHERE flow = %s AND event = 'Email Sent' GROUP BY step_id, flow_version""",
		flow.name,
	)
	assert {(s, int(v)): int(n) for s, v, n in sent} == {("old_mail", 1): 100, ("new_mail", 2): 1}
	assert not frappe.db.count(PARTICIPANT, {"flow": flow.name, "status": "Stalled"})
	# the figures per version, and for all
	v1 = flow.get_all_figures(version=1)
	v2 = flow.get_all_figures(version=2)
	every = flow.get_all_figures()
	assert v1["steps"]["old_mail"]["Email Sent"] == 100 and "new_mail" not in v1["steps"]
	assert v2["steps"]["new_mail"]["Email Sent"] == 1 and "old_mail" not in v2["steps"]
	assert v1["enrolled"] == 100 and v2["enrolled"] == 1 and every["enrolled"] == 101
	assert every["emails_sent"] == 101
	listed = {v["version"]: v for v in flow.get_versions()}
	assert listed[1]["status"] == "Retired" and listed[1]["people"] == 0
	assert listed[2]["status"] == "Live" and listed[2]["drained"] == 100


def test_the_designers_proposal_counts_people_per_step_and_proposes_the_same_step(worker):
	flow = waiting_flow(
		[
			step("W1", "Wait", wait_amount=3, wait_unit="Days", next_step="W2"),
			step("W2", "Wait", wait_amount=1, wait_unit="Days", next_step="end"),
			end(),
		]
	)
	flow.enroll(people(4))
	worker()
	flow.pause()
	flow.reload()
	flow.steps[0].wait_amount = 5
	proposal = flow.migration_proposal()
	assert proposal["steps"] == [
		{
			"step_id": "W1",
			"label": "",
			"step_type": "Wait",
			"people": 4,
			"removed": False,
			"changed": True,
			"wait_changed": True,
			"proposed": "W1",
		}
	]
	assert not proposal["needs_plan"]
	assert any("Wait Amount: 3 → 5" in c for c in proposal["changes"])
	# unsaved: nothing was written
	assert (
		frappe.db.get_value("Marketing Flow Step", {"parent": flow.name, "step_id": "W1"}, "wait_amount") == 3
	)
	flow.save()  # no plan: people stay at W1 of version 2 with their due time
	assert at(flow.name) == {("Waiting", "W1", 2): 4}


def test_differences_between_versions_in_words_and_content_changes_make_a_version(worker, content):
	flow = waiting_flow(
		[step("mail", "Send Email", content=content.name, next_step="end", label="Welcome"), end()]
	)
	flow.pause()
	content.reload()
	content.subject = "A better subject"
	content.save()
	flow.reload()
	flow.run()  # the content changed: going live again makes version 2
	flow.reload()
	assert flow.version == 2
	words = flow.version_differences(1, 2)
	assert words == [
		f"Step mail (Welcome): content {content.name}: subject Welcome {{{{ contact.first_name }}}}! → A better subject"
	]
	contact = make_contact()
	flow.enroll([contact])
	worker()
	message = frappe.db.get_value("Marketing Flow Log", {"flow": flow.name, "event": "Email Sent"}, "message")
	assert f"{content.name} v2" in message, message  # the log names the content version sent
	# to the flow as it is now
	flow.pause()
	flow.reload()
	flow.steps[0].label = "Hello"
	assert flow.version_differences(2) == []  # works on the stored flow: unsaved edits are not "now"
	flow.steps[0].label = "Hello"  # (the call reloaded the flow)
	flow.save()
	assert flow.version_differences(2) == ["Step mail (Hello): Label: Welcome → Hello"]
	assert len(flow.version_differences(1)) == 2  # the subject and the label


def test_a_content_editor_sees_versions_but_cant_ask_for_a_migration_proposal(worker):
	flow = waiting_flow([step("W1", "Wait", wait_amount=3, wait_unit="Days", next_step="end"), end()])
	editor = make_user(["Flow Content Editor"])
	frappe.set_user(editor)
	try:
		doc = frappe.get_doc("Marketing Flow", flow.name)
		assert [v["version"] for v in doc.get_versions()] == [1]
		with pytest.raises(frappe.PermissionError):
			doc.migration_proposal()
		with pytest.raises(frappe.PermissionError):
			frappe.get_doc("Marketing Flow Version", {"flow": flow.name}).save()
	finally:
		frappe.set_user("Administrator")


def test_values_sent_by_the_designer_in_their_own_format_are_no_change(worker):
	"""A time sent as "9:0:0.5" and stored as 09:00:00, a number sent as "3": the same definition."""
	flow = waiting_flow(
		[step("W1", "Wait", wait_amount=3, wait_unit="Days", next_step="end"), end()],
		use_sending_window=1,
		window_start="09:00:00",
		window_end="17:00:00",
		send_on_monday=1,
	)
	flow.enroll(people(1))
	worker()
	flow.pause()
	flow.reload()
	flow.window_start = "9:0:0.5"
	flow.steps[0].wait_amount = "3"
	assert flow.migration_proposal()["changes"] == []
	flow.reload()
	flow.window_start = "9:0:0.5"
	flow.save()
	assert frappe.db.count("Marketing Flow Version", {"flow": flow.name}) == 1
