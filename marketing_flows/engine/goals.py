"""Goals: acting on a met goal. The questions (does this person meet the criteria?) are in
criteria.py; here a met goal marks the participant successful, stops it or lets it go on
(`on_success`), moves it to the success flow and enrols it in flows triggered by this goal.

Whoever fulfils the goal (the flow itself, a rep in the desk, the API, an import) ends up here:
the runner before every step, and `evaluate_changes` after a watched document changed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import frappe
from frappe import _
from frappe.utils import now_datetime

from marketing_flows.engine import criteria, enrolment, hosts, participants
from marketing_flows.engine.participants import CONVERTIBLE, LIVE_FLOW_STATUSES


def stops_on_success(flow: Any) -> bool:
	return (flow.on_success or "Stop") == "Stop"


def mark(flow: Any, participant: dict, criterion: str, now: datetime) -> bool:
	"""Mark one participant successful; True when this call made it so (not already marked)."""
	return participants.mark_successful(flow.name, participant, criterion, now)


def after_success(flow: Any, succeeded: list[Any]) -> None:
	"""What follows a goal: the success flow, and the flows triggered by this flow's goal.
	`succeeded` are participant rows (person_doctype, person, contact)."""
	if not succeeded:
		return
	if flow.success_flow:
		target = frappe.get_doc("Marketing Flow", flow.success_flow)
		if target.status in ("Running", "Paused", "Draft"):
			enrolment.enroll(
				target, enrolment.names_for(target, succeeded), source=_("Goal of {0}").format(flow.name)
			)
	enrol_in_goal_triggered_flows(flow.name, succeeded)


def enrol_in_goal_triggered_flows(flow_name: str, succeeded: list[Any]) -> dict[str, dict]:
	"""Enrol people who met `flow_name`'s goal in every live flow triggered by that goal."""
	results: dict[str, dict] = {}
	if not succeeded:
		return results
	for name in frappe.get_all(
		"Marketing Flow",
		filters={
			"status": ("in", LIVE_FLOW_STATUSES),
			"trigger_type": "Flow Goal",
			"trigger_flow": flow_name,
		},
		pluck="name",
		order_by="name asc",
	):
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
		if persons and hosts.is_lead(hosts.person_doctype(flow)):
			participants.note_conversions(flow, persons)
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
		succeeded = []
		for p in rows:
			if p.name not in met or not mark(flow, p, met[p.name], now):
				continue
			succeeded.append(p)
			if stops_on_success(flow) and p.status != "Completed":
				participants.end_participants(flow.name, [p.name], "Exited", _("Goal met"))
		after_success(flow, succeeded)
		total += len(succeeded)
	return total
