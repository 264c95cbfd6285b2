"""Goals: acting on a met goal. The questions (does this person meet the criteria?) are in
criteria.py; here a met goal marks the participant successful, stops it or lets it go on
(`on_success`), moves it to the success flow and enrols it in flows triggered by this goal.

Whoever fulfils the goal (the flow itself, a rep in the desk, the API, an import) ends up here:
the runner before every step, and `evaluate_changes` after a watched document changed.

A control group's people ("Held Out", entering/holdout.py) meet goals by the same criteria and
are marked the same way, but nothing follows: no success flow, no goal-triggered flow, no exit
(their status stays "Held Out"). The runner never visits them: `evaluate_changes` is how their
goals are seen, as everyone's between two steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import frappe
from frappe import _
from frappe.utils import now_datetime

from marketing_flows.engine.entering import enrolment
from marketing_flows.engine.hosts import doctype_roles
from marketing_flows.engine.measuring import actions
from marketing_flows.engine.queries import criteria
from marketing_flows.engine.running import moves, participants
from marketing_flows.engine.running.participants import CONVERTIBLE, HELD_OUT, LIVE_FLOW_STATUSES

if TYPE_CHECKING:
	from marketing_flows.engine.doctypes import MarketingFlow, ParticipantRow

# A met goal's follow-ups (the success flow, the flows triggered by the goal) are moves
# (running/moves.py): recorded in the transaction that marks the goal, done after it commits, and
# retried by the scheduler (retry_follow_ups) until they are, or until the tries are used up.


def stops_on_success(flow: MarketingFlow) -> bool:
	return (flow.on_success or "Stop") == "Stop"


def mark(flow: MarketingFlow, participant: ParticipantRow, criterion: str, now: datetime) -> bool:
	"""Mark one participant successful; True when this call made it so (not already marked).
	Its follow-ups are recorded in the same transaction: a goal never stands without them. A
	held-out participant's goal is marked only: a control group gets nothing from the flow."""
	changed = participants.mark_successful(flow.name, participant, criterion, now)
	if changed and not is_held_out(participant):
		record_follow_ups(flow, participant["name"], now)
	return changed


def is_held_out(participant: ParticipantRow) -> bool:
	return participant.get("status") == HELD_OUT


def follow_up_targets(flow: MarketingFlow) -> list[tuple[str, str]]:
	"""(kind, flow) of what follows this flow's goal: its success flow, and the live flows its
	goal triggers. Asked once per batch (kept on the flow document's flags)."""
	cached = flow.flags.get("goal_follow_ups")
	if cached is None:
		cached = [(moves.SUCCESS_FLOW, flow.success_flow)] if flow.get("success_flow") else []
		cached += [(moves.GOAL_TRIGGER, name) for name in goal_triggered_flows(flow.name)]
		flow.flags.goal_follow_ups = cached
	return cached


def goal_triggered_flows(flow_name: str) -> list[str]:
	"""Live flows whose trigger is `flow_name`'s goal."""
	return frappe.get_all(
		"Marketing Flow",
		filters={
			"status": ("in", LIVE_FLOW_STATUSES),
			"trigger_type": "Flow Goal",
			"trigger_flow": flow_name,
		},
		pluck="name",
		order_by="name asc",
	)


def record_follow_ups(flow: MarketingFlow, participant_name: str, now: datetime) -> None:
	moves.record(flow.name, [participant_name], follow_up_targets(flow), now)


def after_success(flow: MarketingFlow, succeeded: Sequence[ParticipantRow]) -> None:
	"""What follows a goal: the success flow, and the flows triggered by this flow's goal; run
	after the goal was committed, in a transaction of its own that the caller commits.
	`succeeded` are participant rows. A follow-up that fails is left pending: the scheduler
	tries it again (retry_follow_ups). Never raises."""
	if not succeeded:
		return
	try:
		moves.run_pending([p["name"] for p in succeeded])
	except Exception:
		frappe.db.rollback()
		frappe.log_error(
			title=f"Marketing flow {flow.name}: acting on met goals failed (retried later)",
			reference_doctype="Marketing Flow",
			reference_name=flow.name,
		)


def retry_follow_ups() -> int:
	"""Scheduler: the pending follow-ups of met goals, and every other pending move (moves.retry).
	Returns how many were done."""
	return moves.retry()


def enrol_in_goal_triggered_flows(flow_name: str, succeeded: Sequence[ParticipantRow]) -> dict[str, dict]:
	"""Enrol people who met `flow_name`'s goal in every live flow triggered by that goal."""
	results: dict[str, dict] = {}
	if not succeeded:
		return results
	for name in goal_triggered_flows(flow_name):
		flow = frappe.get_doc("Marketing Flow", name)
		people = enrolment.names_for(flow, succeeded)
		results[name] = enrolment.enroll(flow, people, source=f"Goal met in {flow_name}").as_dict()
	return results


def evaluate_changes(flows: list[str], persons: list[str], emails: list[str], companies: list[str]) -> int:
	"""Background job after watched documents changed: participants of `flows` that these
	documents name are evaluated; the successful are marked, and stop or go on per on_success.
	One participant whose evaluation fails is logged and skipped, the others go on."""
	now = now_datetime()
	conditions = []
	if persons:
		conditions.append(["person", "in", persons])
		conditions.append(["contact", "in", persons])
	if emails:
		conditions.append(["email", "in", emails])
	if companies:
		conditions.append(["company", "in", companies])
	if not conditions:
		return 0
	total = 0
	for flow_name in flows:
		if not frappe.db.exists("Marketing Flow", flow_name):
			continue
		flow = frappe.get_doc("Marketing Flow", flow_name)
		if flow.status not in LIVE_FLOW_STATUSES:
			continue
		if persons and doctype_roles.is_lead(flow.person_doctype):
			participants.note_conversions(flow, persons)
		actions.check_waiting(flow, persons, emails)  # a Wait for Action for a web form or the record
		if not flow.success_criteria:
			continue
		rows = frappe.get_all(
			"Marketing Flow Participant",
			filters={"flow": flow_name, "succeeded": 0, "status": ("in", CONVERTIBLE)},
			or_filters=conditions,
			fields=["*"],
		)
		try:
			met = criteria.newly_successful(flow, rows)
		except Exception:
			frappe.db.rollback()
			frappe.log_error(title=f"Marketing Flows: goals of {flow_name} could not be evaluated")
			continue
		succeeded = []  # those a follow-up may act on: not the held out
		for p in rows:
			if p.name not in met or not mark(flow, p, met[p.name], now):
				continue
			total += 1
			if is_held_out(p):
				continue
			succeeded.append(p)
			if stops_on_success(flow) and p.status != "Completed":
				participants.end_participants(flow.name, [p.name], "Exited", _("Goal met"))
		frappe.db.commit()  # the goals stand, whatever their follow-ups do
		after_success(flow, succeeded)
		frappe.db.commit()
	return total
