"""Goals: acting on a met goal. The questions (does this person meet the criteria?) are in
criteria.py; here a met goal marks the participant successful, stops it or lets it go on
(`on_success`), moves it to the success flow and enrols it in flows triggered by this goal.

Whoever fulfils the goal (the flow itself, a rep in the desk, the API, an import) ends up here:
the runner before every step, and `evaluate_changes` after a watched document changed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import frappe
from frappe import _
from frappe.utils import add_to_date, cint, now_datetime

from marketing_flows.engine import log
from marketing_flows.engine.entering import enrolment
from marketing_flows.engine.hosts import doctype_roles
from marketing_flows.engine.measuring import actions
from marketing_flows.engine.queries import criteria
from marketing_flows.engine.running import participants
from marketing_flows.engine.running.participants import CONVERTIBLE, LIVE_FLOW_STATUSES

if TYPE_CHECKING:
	from marketing_flows.engine.doctypes import MarketingFlow, ParticipantRow

# A met goal's follow-ups (the success flow, the flows triggered by the goal) are rows of the
# outbox, written in the transaction that marks the goal: done after it commits, and retried
# by the scheduler (retry_follow_ups) until they are, or until the tries are used up.
OUTBOX = "Marketing Flow Outbox"
FOLLOW_UP = "Goal Follow-up"  # the outbox channel
PENDING, DONE, GIVEN_UP = "Calling", "Confirmed", "Failed"  # the outbox statuses, for follow-ups
SUCCESS_FLOW, GOAL_TRIGGER = "Success Flow", "Flow Goal"  # what a follow-up is (its step_id)
FIRST_TRY_GRACE_MINUTES = 2  # a follow-up not tried yet is left to the job that met the goal


def stops_on_success(flow: MarketingFlow) -> bool:
	return (flow.on_success or "Stop") == "Stop"


def mark(flow: MarketingFlow, participant: ParticipantRow, criterion: str, now: datetime) -> bool:
	"""Mark one participant successful; True when this call made it so (not already marked).
	Its follow-ups are recorded in the same transaction: a goal never stands without them."""
	changed = participants.mark_successful(flow.name, participant, criterion, now)
	if changed:
		record_follow_ups(flow, participant["name"], now)
	return changed


def follow_up_targets(flow: MarketingFlow) -> list[tuple[str, str]]:
	"""(kind, flow) of what follows this flow's goal: its success flow, and the live flows its
	goal triggers. Asked once per batch (kept on the flow document's flags)."""
	cached = flow.flags.get("goal_follow_ups")
	if cached is None:
		cached = [(SUCCESS_FLOW, flow.success_flow)] if flow.get("success_flow") else []
		cached += [(GOAL_TRIGGER, name) for name in goal_triggered_flows(flow.name)]
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


def follow_up_key(participant_name: str, target: str) -> str:
	return "goal-" + hashlib.sha1(f"{participant_name}\n{target}".encode()).hexdigest()[:32]


def record_follow_ups(flow: MarketingFlow, participant_name: str, now: datetime) -> None:
	targets = follow_up_targets(flow)
	if not targets:
		return
	user = frappe.session.user if getattr(frappe.local, "session", None) else "Administrator"
	frappe.db.sql(
		f"""INSERT IGNORE INTO `tab{OUTBOX}` (name, flow, participant, step_id, channel, target, status,
			attempts, unknown_outcomes, creation, modified, owner, modified_by, docstatus)
		VALUES {", ".join(["(%s, %s, %s, %s, %s, %s, %s, 0, 0, %s, %s, %s, %s, 0)"] * len(targets))}""",
		[
			value
			for kind, target in targets
			for value in (
				follow_up_key(participant_name, target),
				flow.name,
				participant_name,
				kind,
				FOLLOW_UP,
				target[:140],
				PENDING,
				now,
				now,
				user,
				user,
			)
		],
	)


def after_success(flow: MarketingFlow, succeeded: Sequence[ParticipantRow]) -> None:
	"""What follows a goal: the success flow, and the flows triggered by this flow's goal; run
	after the goal was committed, in a transaction of its own that the caller commits.
	`succeeded` are participant rows. A follow-up that fails is left pending: the scheduler
	tries it again (retry_follow_ups). Never raises."""
	if not succeeded:
		return
	o = frappe.qb.DocType(OUTBOX)
	try:
		keys = (
			frappe.qb.from_(o)
			.select(o.name)
			.where(
				o.participant.isin([p["name"] for p in succeeded])
				& (o.channel == FOLLOW_UP)
				& (o.status == PENDING)
			)
			.run(pluck=True)
		)
		run_follow_ups(keys)
	except Exception:
		frappe.db.rollback()
		frappe.log_error(
			title=f"Marketing flow {flow.name}: acting on met goals failed (retried later)",
			reference_doctype="Marketing Flow",
			reference_name=flow.name,
		)


def run_follow_ups(keys: list[str], skip_locked: bool = False) -> int:
	"""Do the pending follow-ups `keys` (outbox rows), each marked done in the transaction of
	its enrolment; those that fail count a try, and after the last an Error Log and an Error on
	the participant's timeline. Returns how many were done. The caller commits."""
	if not keys:
		return 0
	o = frappe.qb.DocType(OUTBOX)
	query = (
		frappe.qb.from_(o)
		.select(o.name, o.flow, o.participant, o.step_id, o.target, o.attempts)
		.where(o.name.isin(keys) & (o.channel == FOLLOW_UP) & (o.status == PENDING))
		.orderby(o.name)
	)
	rows = (query.for_update(skip_locked=True) if skip_locked else query.for_update()).run(as_dict=True)
	if not rows:
		return 0
	people = {
		p.name: p
		for p in frappe.get_all(
			"Marketing Flow Participant",
			filters={"name": ("in", list({r.participant for r in rows}))},
			fields=["name", "person_doctype", "person", "contact", "current_step"],
		)
	}
	groups: dict[tuple, list] = {}
	for r in rows:
		groups.setdefault((r.flow, r.step_id, r.target), []).append(r)
	done = 0
	for (source, kind, target), group in groups.items():
		frappe.db.savepoint("mf_follow_up")
		try:
			_enrol(source, kind, target, [people[r.participant] for r in group if r.participant in people])
			_finish(group, DONE)
			done += len(group)
			continue
		except Exception:
			frappe.db.rollback(save_point="mf_follow_up")
		for r in group:  # one by one: one person's failure must not hold the others up
			frappe.db.savepoint("mf_follow_up")
			try:
				_enrol(source, kind, target, [people[r.participant]] if r.participant in people else [])
				_finish([r], DONE)
				done += 1
			except Exception as e:
				frappe.db.rollback(save_point="mf_follow_up")
				_failed(r, people.get(r.participant), e)
	return done


def _enrol(source: str, kind: str, target: str, succeeded: Sequence[ParticipantRow]) -> None:
	"""One follow-up for these participants of `source`: nothing when the target flow is gone,
	stopped, or no longer triggered by the goal (refusals are outcomes, not failures)."""
	if not succeeded or not frappe.db.exists("Marketing Flow", target):
		return
	flow: MarketingFlow = frappe.get_doc("Marketing Flow", target)
	if kind == SUCCESS_FLOW:
		if flow.status in ("Running", "Paused", "Draft"):
			enrolment.enroll(
				flow, enrolment.names_for(flow, succeeded), source=_("Goal of {0}").format(source)
			)
	elif (
		flow.status in LIVE_FLOW_STATUSES and flow.trigger_type == "Flow Goal" and flow.trigger_flow == source
	):
		enrolment.enroll(flow, enrolment.names_for(flow, succeeded), source=f"Goal met in {source}")


def _finish(rows: list, status: str, error: str | None = None) -> None:
	o = frappe.qb.DocType(OUTBOX)
	query = frappe.qb.update(o).set(o.status, status).set(o.modified, now_datetime())
	if error is not None:
		query = query.set(o.last_error, error[:1000])
	query.where(o.name.isin([r.name for r in rows])).run()


def _failed(row: frappe._dict, participant: frappe._dict | None, error: Exception) -> None:
	"""A try failed: counted; after the last, given up with an Error Log and an Error event."""
	settings = frappe.get_cached_doc("Marketing Flow Settings")
	attempts = cint(row.attempts) + 1
	message = f"{type(error).__name__}: {error}"[:1000]
	o = frappe.qb.DocType(OUTBOX)
	if attempts < (cint(settings.max_attempts) or 5):
		(
			frappe.qb.update(o)
			.set(o.attempts, attempts)
			.set(o.last_error, message)
			.set(o.modified, now_datetime())
			.where(o.name == row.name)
		).run()
		return
	(
		frappe.qb.update(o)
		.set(o.attempts, attempts)
		.set(o.status, GIVEN_UP)
		.set(o.last_error, message)
		.set(o.modified, now_datetime())
		.where(o.name == row.name)
	).run()
	text = _("Not enrolled in {0} after its goal was met, after {1} tries: {2}").format(
		row.target, attempts, message
	)
	frappe.log_error(
		title=f"Marketing flow {row.flow}: {row.step_id} {row.target} failed for {row.participant}",
		message=text,
		reference_doctype="Marketing Flow Participant",
		reference_name=row.participant,
	)
	log.write(
		row.flow,
		row.participant,
		participant.get("contact") if participant else None,
		participant.get("current_step") if participant else None,
		"Error",
		text,
	)


def retry_follow_ups() -> int:
	"""Scheduler: follow-ups of met goals still pending (their job failed, or died) are tried
	again with the runner's backoff (Marketing Flow Settings: retry backoff, max attempts).
	Returns how many were done."""
	settings = frappe.get_cached_doc("Marketing Flow Settings")
	backoff = cint(settings.retry_backoff_minutes) or 5
	now = now_datetime()
	o = frappe.qb.DocType(OUTBOX)
	rows = (
		frappe.qb.from_(o)
		.select(o.name, o.attempts, o.modified)
		.where((o.channel == FOLLOW_UP) & (o.status == PENDING))
		.orderby(o.modified)
		.limit(1000)
		.run(as_dict=True)
	)
	due = [
		r.name
		for r in rows
		if add_to_date(
			r.modified,
			minutes=backoff * 2 ** (cint(r.attempts) - 1) if cint(r.attempts) else FIRST_TRY_GRACE_MINUTES,
		)
		<= now
	]
	done = 0
	for start in range(0, len(due), 100):
		done += run_follow_ups(due[start : start + 100], skip_locked=True)
		frappe.db.commit()
	return done


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
		succeeded = []
		for p in rows:
			if p.name not in met or not mark(flow, p, met[p.name], now):
				continue
			succeeded.append(p)
			if stops_on_success(flow) and p.status != "Completed":
				participants.end_participants(flow.name, [p.name], "Exited", _("Goal met"))
		frappe.db.commit()  # the goals stand, whatever their follow-ups do
		after_success(flow, succeeded)
		frappe.db.commit()
		total += len(succeeded)
	return total
