"""Exits that lead somewhere: people who leave a flow early (a Split's everyone else with no step,
Send SMS without a mobile number, a step that failed on its last try) go on to the flow's exit
flow and exit email group, after the batch commits, once, through the normal enrolment; those
who complete it, meet its goal, are stopped, removed or unsubscribed don't. A flow's "remove from
these flows" ends the other participations of the people it enrols. A stopped flow runs again
for new people, the earlier participations kept and counted."""

from __future__ import annotations

import frappe
import pytest

from conftest import run_scheduled
from factories import (
	enrol_and_run,
	events,
	make_contact,
	make_content,
	make_flow,
	participant,
	running_flow,
	simple_steps,
	step,
	time_passes,
	unique,
)
from marketing_flows.engine.measuring import figures
from marketing_flows.engine.running import moves
from receivers import free_port

BOARD_ONLY = [
	{
		"step_id": "split",
		"branch_label": "Board",
		"condition_type": "Field",
		"condition_filters": '[["department", "=", "Board"]]',
		"next_step": "tag",
	}
]
TICK = "marketing_flows.engine.running.runner.schedule_due_participants"
WON = '[["designation", "=", "Won"]]'


def tag(step_id: str = "tag", value: str = "tagged", **fields) -> dict:
	return step(step_id, "Update Participant", update_field="designation", update_value=value, **fields)


def split_flow(**values):
	"""A Running flow: a Split whose one branch (department Board) tags; everyone else leaves."""
	return running_flow([step("split", "Split"), tag()], branches=BOARD_ONLY, **values)


@pytest.fixture
def exit_flow():
	"""The flow early leavers go to: Running, a day's wait (they stay in it), then End."""
	return running_flow(simple_steps())


@pytest.fixture
def group():
	return frappe.get_doc({"doctype": "Email Group", "title": unique("Leavers")}).insert().name


def in_group(group: str, contact: str) -> bool:
	email = frappe.db.get_value("Contact", contact, "email_id")
	return bool(frappe.db.exists("Email Group Member", {"email_group": group, "email": email}))


def moved(p) -> list[tuple[str, str]]:
	"""(event, message) of what the participant's moves said on its timeline."""
	return [
		(r.event, r.message)
		for r in frappe.get_all(
			"Marketing Flow Log",
			filters={
				"participant": p.name,
				"event": ("in", ("Moved", "Step Skipped")),
				"step_id": ("is", "not set"),
			},
			fields=["event", "message"],
			order_by="name asc",
		)
	]


def exit_moves(p) -> list[frappe._dict]:
	return frappe.get_all(
		"Marketing Flow Outbox",
		filters={"participant": p.name, "step_id": ("in", moves.EXIT_KINDS)},
		fields=["step_id", "target", "status"],
		order_by="step_id asc",
	)


def assert_moved(p, contact: str, exit_flow, group: str) -> None:
	entered = participant(exit_flow.name, contact)
	assert entered and entered.status == "Waiting", entered
	assert entered.enrolled_by == f"Left {p.flow} early"
	assert in_group(group, contact)
	email = frappe.db.get_value("Contact", contact, "email_id")
	assert sorted(moved(p)) == [("Moved", f"Enrolled in {exit_flow.name}"), ("Moved", f"{email} in {group}")]
	assert [(m.step_id, m.status) for m in exit_moves(p)] == [
		(moves.EXIT_EMAIL_GROUP, "Confirmed"),
		(moves.EXIT_FLOW, "Confirmed"),
	]


def assert_not_moved(p, contact: str, exit_flow, group: str) -> None:
	assert participant(exit_flow.name, contact) is None
	assert not in_group(group, contact)
	assert moved(p) == [] and exit_moves(p) == []


# --- early exits lead somewhere ---------------------------------------------------------------


def test_a_splits_everyone_else_goes_to_the_exit_flow_and_email_group_once(worker, exit_flow, group):
	flow = split_flow(exit_flow=exit_flow.name, exit_email_group=group)
	contact, p = enrol_and_run(flow, worker)
	assert (p.status, p.exit_reason) == ("Exited", "No split branch matched")
	assert_moved(p, contact, exit_flow, group)
	assert ("split", "Exited") in events(flow.name, contact)  # the reason, where they left

	# done once: the moves are no longer pending, a second run or the scheduler's retry does nothing
	assert moves.run_pending([p.name]) == 0
	moves.retry()
	assert len(moved(p)) == 2
	assert frappe.db.count("Marketing Flow Participant", {"flow": exit_flow.name, "contact": contact}) == 1

	board = make_contact(department="Board")  # takes the branch: not an exit
	flow.enroll([board])
	worker()
	assert participant(flow.name, board).status == "Completed"
	assert_not_moved(participant(flow.name, board), board, exit_flow, group)


def test_send_sms_without_a_mobile_number_leads_to_the_exits(
	worker, settings, http_receiver, exit_flow, group
):
	settings.set(
		"SMS Settings",
		sms_gateway_url=f"{http_receiver.url}/sms-exits",
		message_parameter="t",
		receiver_parameter="to",
	)
	sms = make_content("SMS", body="Hi")
	flow = running_flow(
		[step("sms", "Send SMS", content=sms.name, exit_if_no_mobile=1, next_step="tag"), tag()],
		exit_flow=exit_flow.name,
		exit_email_group=group,
	)
	contact, p = enrol_and_run(flow, worker)
	assert (p.status, p.exit_reason) == ("Exited", "No mobile number")
	assert_moved(p, contact, exit_flow, group)


def test_a_step_that_failed_on_its_last_try_leads_to_the_exits(
	worker, settings, http_receiver, exit_flow, group
):
	settings.set("Marketing Flow Settings", max_attempts=1)
	flow = running_flow(
		[
			step("hook", "Webhook", webhook_url=f"http://127.0.0.1:{free_port()}/closed", next_step="tag"),
			tag(),
		],
		exit_flow=exit_flow.name,
		exit_email_group=group,
	)
	contact, p = enrol_and_run(flow, worker)
	assert p.status == "Stalled" and "ConnectionError" in p.last_error
	assert_moved(p, contact, exit_flow, group)


def test_a_wait_for_action_that_timed_out_with_no_step_leads_to_the_exits(worker, exit_flow, group):
	flow = running_flow(
		[
			step("w", "Wait for Action", action_clicked=1, wait_amount=1, wait_unit="Days", next_step="tag"),
			tag(),
		],
		exit_flow=exit_flow.name,
		exit_email_group=group,
	)
	contact, p = enrol_and_run(flow, worker)
	assert p.status == "Waiting"
	time_passes(flow.name)
	run_scheduled(TICK)
	worker()
	p = participant(flow.name, contact)
	assert (p.status, p.exit_reason) == ("Exited", "No action")
	assert_moved(p, contact, exit_flow, group)


# --- the end, a goal, a stop, a removal, an unsubscribe: nobody is moved ----------------------


def test_completed_goal_met_stopped_removed_and_unsubscribed_people_are_not_moved(worker, exit_flow, group):
	exits = {"exit_flow": exit_flow.name, "exit_email_group": group}

	done = running_flow([tag()], **exits)  # Completed: the end of the flow
	contact, p = enrol_and_run(done, worker)
	assert p.status == "Completed"
	assert_not_moved(p, contact, exit_flow, group)

	# the goal is met at "won", before the Split that would let them out early
	goal = running_flow(
		[tag("won", "Won", next_step="split"), step("split", "Split"), tag()],
		branches=BOARD_ONLY,
		success_criteria=[{"criterion_type": "Person Updated", "conditions": WON}],
		**exits,
	)
	contact, p = enrol_and_run(goal, worker)
	assert (p.status, p.exit_reason, p.succeeded) == ("Exited", "Goal met", 1)
	assert_not_moved(p, contact, exit_flow, group)

	# waiting before the Split: stopped, removed by hand, or unsubscribed meanwhile
	waiting = running_flow(
		[
			step("wait", "Wait", wait_amount=1, wait_unit="Days", next_step="split"),
			step("split", "Split"),
			tag(),
		],
		branches=BOARD_ONLY,
		**exits,
	)
	removed, unsubscribed = make_contact(), make_contact()
	waiting.enroll([removed, unsubscribed])
	worker()
	waiting.reload()
	waiting.remove_participants([participant(waiting.name, removed).name])
	frappe.db.set_value("Contact", unsubscribed, "unsubscribed", 1)
	time_passes(waiting.name)
	run_scheduled(TICK)
	worker()
	p = participant(waiting.name, unsubscribed)
	assert (p.status, p.exit_reason) == ("Exited", "unsubscribed")
	assert_not_moved(p, unsubscribed, exit_flow, group)
	p = participant(waiting.name, removed)
	assert p.status == "Exited" and p.exit_reason.startswith("Removed by")
	assert_not_moved(p, removed, exit_flow, group)

	stopped = running_flow(
		[
			step("wait", "Wait", wait_amount=1, wait_unit="Days", next_step="split"),
			step("split", "Split"),
			tag(),
		],
		branches=BOARD_ONLY,
		**exits,
	)
	contact, _p = enrol_and_run(stopped, worker)
	stopped.reload()
	stopped.stop()
	time_passes(stopped.name)
	run_scheduled(TICK)
	worker()
	p = participant(stopped.name, contact)
	assert (p.status, p.exit_reason) == ("Exited", "Flow stopped")
	assert_not_moved(p, contact, exit_flow, group)


# --- the exit flow's own rules ---------------------------------------------------------------


def test_the_exit_flows_rules_apply_and_a_refusal_is_logged(worker, exit_flow):
	flow = split_flow(exit_flow=exit_flow.name)
	already = make_contact()
	exit_flow.enroll([already])
	flow.enroll([already])
	worker()
	p = participant(flow.name, already)
	assert p.exit_reason == "No split branch matched"
	assert frappe.db.count("Marketing Flow Participant", {"flow": exit_flow.name, "contact": already}) == 1
	assert moved(p) == [("Step Skipped", f"Not enrolled in {exit_flow.name}: already active in this flow")]
	assert [m.status for m in exit_moves(p)] == ["Confirmed"]  # a refusal is an outcome, not a failure

	exit_flow.reload()
	exit_flow.pause()
	contact, p = enrol_and_run(flow, worker)
	assert participant(exit_flow.name, contact) is None
	assert moved(p) == [("Step Skipped", f"Not enrolled in {exit_flow.name}: the flow is Paused")]


def test_exits_are_validated():
	flow = make_flow()
	flow.exit_flow = flow.name
	with pytest.raises(frappe.ValidationError, match="can't be enrolled in the same flow"):
		flow.save()
	flow.reload()
	flow.append("remove_from_flows", {"flow": flow.name})
	with pytest.raises(frappe.ValidationError, match="can't remove the people it enrols from itself"):
		flow.save()


# --- when enrolled here, remove from these flows ---------------------------------------------


def test_enrolment_removes_the_person_from_the_flows_named(worker):
	first = running_flow(simple_steps())
	other = running_flow(simple_steps())
	contact, bystander = make_contact(), make_contact()
	first.enroll([contact, bystander])
	other.enroll([contact])
	worker()
	assert participant(first.name, contact).status == "Waiting"
	second = running_flow(simple_steps(), remove_from_flows=[{"flow": first.name}])
	second.enroll([contact])
	p = participant(first.name, contact)
	assert (p.status, p.exit_reason) == ("Exited", f"Enrolled in flow {second.name}")
	assert ("wait", "Exited") in events(first.name, contact)
	assert participant(first.name, bystander).status == "Waiting"
	assert participant(other.name, contact).status == "Waiting"  # not named
	assert participant(second.name, contact).status == "Active"


# --- run again ---------------------------------------------------------------------------------


@pytest.mark.parametrize("policy", ["Never", "After Previous Ends"])
def test_a_stopped_flow_runs_again_for_new_people_keeping_the_earlier_ones(worker, policy):
	flow = running_flow(simple_steps(), reenrollment=policy)
	before = make_contact()
	flow.enroll([before])
	worker()
	flow.reload()
	flow.stop()
	flow.reload()
	started_on, stopped_on = flow.started_on, flow.stopped_on
	assert stopped_on

	assert flow.run()["status"] == "Running"
	flow.reload()
	assert (flow.status, flow.started_on, flow.stopped_on) == ("Running", started_on, None)
	new = make_contact()
	result = flow.enroll([new, before])
	worker()
	assert participant(flow.name, new).status == "Waiting"
	ended = frappe.get_all(
		"Marketing Flow Participant",
		filters={"flow": flow.name, "contact": before},
		fields=["status", "exit_reason"],
		order_by="name asc",
	)
	assert ended[0] == {"status": "Exited", "exit_reason": "Flow stopped"}  # kept as it ended
	if policy == "Never":
		assert result["not_enrolled"] == {before: "already took part (re-enrolment: Never)"}
		assert len(ended) == 1
	else:
		assert result["enrolled"] == 2
		assert [r.status for r in ended] == ["Exited", "Waiting"]
	counted = figures.flow_figures(flow.name)
	assert counted["enrolled"] == len(ended) + 1 and counted["exited"] == 1
