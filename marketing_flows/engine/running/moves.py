"""Moving people on after a participation, through one path: what follows a met goal (the success
flow, the flows the goal triggers: goals.py names them) and where an early exit leads (the flow's
exit flow and exit email group: `exit_targets`; the batch says which exits are early).

A move is a row of the outbox (channel "Goal Follow-up", its kind in `step_id`, where to in
`target`), written in the transaction that decided it: it stands or falls with the goal or the
exit, so it is never lost. It is done after that transaction commits (`run_pending`), the row
marked done in the transaction of the move itself, so it is never done twice; one that fails is
tried again by the scheduler (`retry`) with the runner's backoff, and after the last try it is
given up with an Error Log and an Error on the participant's timeline. A refusal (the exit flow
is not running, the person is already in it, unsubscribed) is an outcome, not a failure: an
early exit's move, done or refused, is said on the participant's timeline."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import frappe
from frappe import _
from frappe.utils import add_to_date, cint, now_datetime

from marketing_flows.engine import bulk, log
from marketing_flows.engine.entering import eligibility, enrolment
from marketing_flows.engine.hosts import doctype_roles, person_records
from marketing_flows.engine.running.participants import LIVE_FLOW_STATUSES
from marketing_flows.engine.sending import blocklist
from marketing_flows.engine.steps.person_changes import add_to_email_group

if TYPE_CHECKING:
	from marketing_flows.engine.doctypes import MarketingFlow, ParticipantRow

OUTBOX = "Marketing Flow Outbox"
FOLLOW_UP = "Goal Follow-up"  # the outbox channel of every move (named after the first kind)
PENDING, DONE, GIVEN_UP = "Calling", "Confirmed", "Failed"  # the outbox statuses, for moves
# what a move is (the outbox row's step_id)
SUCCESS_FLOW, GOAL_TRIGGER = "Success Flow", "Flow Goal"
EXIT_FLOW, EXIT_EMAIL_GROUP = "Exit Flow", "Exit Email Group"
EXIT_KINDS = (EXIT_FLOW, EXIT_EMAIL_GROUP)
FIRST_TRY_GRACE_MINUTES = 2  # a move not tried yet is left to the job that recorded it
PARTICIPANT_FIELDS = ["name", "person_doctype", "person", "contact", "email", "current_step", "flow_version"]
COLUMNS = (
	"name",
	"flow",
	"participant",
	"step_id",
	"channel",
	"target",
	"status",
	"attempts",
	"unknown_outcomes",
	"creation",
	"modified",
	"owner",
	"modified_by",
	"docstatus",
)


def exit_targets(flow: MarketingFlow) -> list[tuple[str, str]]:
	"""(kind, target) of where the flow's early leavers go: its exit flow, its exit email group."""
	targets: list[tuple[str, str]] = []
	if exit_flow := flow.get("exit_flow"):
		targets.append((EXIT_FLOW, exit_flow))
	if exit_group := flow.get("exit_email_group"):
		targets.append((EXIT_EMAIL_GROUP, exit_group))
	return targets


def move_key(participant_name: str, kind: str, target: str) -> str:
	"""The outbox row's name: one move of a kind to a target per participation (a second record
	of it is dropped). A goal's follow-ups keep the key they always had."""
	if kind in EXIT_KINDS:
		return "exit-" + hashlib.sha1(f"{participant_name}\n{kind}\n{target}".encode()).hexdigest()[:32]
	return "goal-" + hashlib.sha1(f"{participant_name}\n{target}".encode()).hexdigest()[:32]


def record(
	flow_name: str, participant_names: Sequence[str], targets: Sequence[tuple[str, str]], now: datetime
) -> None:
	"""Record the moves `targets` ((kind, target) each) of these participants of `flow_name`,
	pending, in the caller's transaction; a move already recorded stays as it is."""
	if not participant_names or not targets:
		return
	user = frappe.session.user if getattr(frappe.local, "session", None) else "Administrator"
	bulk.insert(
		OUTBOX,
		COLUMNS,
		[
			(
				move_key(name, kind, target),
				flow_name,
				name,
				kind,
				FOLLOW_UP,
				target[:140],
				PENDING,
				0,
				0,
				now,
				now,
				user,
				user,
				0,
			)
			for name in participant_names
			for kind, target in targets
		],
		ignore_duplicates=True,
	)


def record_exits(flow: MarketingFlow, participant_names: Sequence[str], now: datetime) -> None:
	"""Record where these participants, who left `flow` early, go (exit_targets)."""
	record(flow.name, participant_names, exit_targets(flow), now)


def run_pending(participant_names: Sequence[str]) -> int:
	"""Do the pending moves of these participants, after the transaction that recorded them
	committed. The caller commits; on an error it rolls back and the moves stay pending (the
	scheduler's `retry` takes them). Returns how many were done."""
	if not participant_names:
		return 0
	o = frappe.qb.DocType(OUTBOX)
	keys = (
		frappe.qb.from_(o)
		.select(o.name)
		.where(o.participant.isin(list(participant_names)) & (o.channel == FOLLOW_UP) & (o.status == PENDING))
		.run(pluck=True)
	)
	return run_moves(keys)


def run_moves(keys: list[str], skip_locked: bool = False) -> int:
	"""Do the pending moves `keys` (outbox rows), each marked done in the transaction of its
	move; those that fail count a try, and after the last an Error Log and an Error on the
	participant's timeline. Returns how many were done. The caller commits."""
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
			fields=PARTICIPANT_FIELDS,
		)
	}
	groups: dict[tuple, list] = {}
	for r in rows:
		groups.setdefault((r.flow, r.step_id, r.target), []).append(r)
	done = 0
	for (source, kind, target), group in groups.items():
		frappe.db.savepoint("mf_move")
		try:
			_move(source, kind, target, [people[r.participant] for r in group if r.participant in people])
			_finish(group, DONE)
			done += len(group)
			continue
		except Exception:
			frappe.db.rollback(save_point="mf_move")
		for r in group:  # one by one: one person's failure must not hold the others up
			frappe.db.savepoint("mf_move")
			try:
				_move(source, kind, target, [people[r.participant]] if r.participant in people else [])
				_finish([r], DONE)
				done += 1
			except Exception as e:
				frappe.db.rollback(save_point="mf_move")
				_failed(r, people.get(r.participant), e)
	return done


def _move(source: str, kind: str, target: str, moving: Sequence[ParticipantRow]) -> None:
	"""One move of these participants of `source` to `target`."""
	if not moving:
		return
	if kind == EXIT_FLOW:
		_to_exit_flow(source, target, moving)
	elif kind == EXIT_EMAIL_GROUP:
		_to_email_group(source, target, moving)
	else:
		_after_goal(source, kind, target, moving)


def _after_goal(source: str, kind: str, target: str, succeeded: Sequence[ParticipantRow]) -> None:
	"""A met goal's follow-up: nothing when the target flow is gone, stopped, or no longer
	triggered by the goal (refusals are outcomes, not failures)."""
	if not frappe.db.exists("Marketing Flow", target):
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


def _to_exit_flow(source: str, target: str, moving: Sequence[ParticipantRow]) -> None:
	"""Enrol early leavers of `source` in its exit flow, when that flow is running, through the
	normal enrolment (filters, suppression, consent, one participation, re-enrolment policy)."""
	why: dict[str, str] = {}  # participant -> why not
	if not frappe.db.exists("Marketing Flow", target):
		why = {p.name: _("no such {0}").format(_("Marketing Flow")) for p in moving}
	else:
		flow: MarketingFlow = frappe.get_doc("Marketing Flow", target)
		if flow.status != "Running":
			why = {p.name: _("the flow is {0}").format(_(flow.status)) for p in moving}
		else:
			names = {p.name: enrolment.names_for(flow, [p]) for p in moving}
			result = enrolment.enroll(
				flow,
				[n[0] for n in names.values() if n],
				source=_("Left {0} early").format(source),
			)
			for p in moving:
				if not names[p.name]:
					why[p.name] = _("it enrols {0}, and this person is not one").format(
						_(doctype_roles.person_doctype(flow))
					)
				elif names[p.name][0] in result.not_enrolled:
					why[p.name] = result.not_enrolled[names[p.name][0]]
				elif names[p.name][0] in result.held_out:  # the exit flow's control group
					why[p.name] = result.held_out[names[p.name][0]]
	_tell(
		source,
		moving,
		{
			p.name: _("Not enrolled in {0}: {1}").format(target, why[p.name])
			if p.name in why
			else _("Enrolled in {0}").format(target)
			for p in moving
		},
		done={p.name for p in moving if p.name not in why},
	)


def _to_email_group(source: str, group: str, moving: Sequence[ParticipantRow]) -> None:
	"""Add early leavers of `source` to its exit email group (as the Add to Email Group step
	does), unless they have no address, their person is gone, or they unsubscribed or are
	blocked."""
	why: dict[str, str] = {}
	by_doctype: dict[str, list[str]] = {}
	for p in moving:
		by_doctype.setdefault(p.get("person_doctype") or "Contact", []).append(p.person)
	present: set[tuple[str, str]] = set()
	unsubscribed: set[tuple[str, str]] = set()
	for doctype, names in by_doctype.items():
		rows = person_records.person_rows(doctype, names, person_records.person_fields(doctype))
		present.update((doctype, name) for name in rows)
		unsubscribed.update(
			(doctype, name)
			for name in [
				*(n for n, row in rows.items() if cint(row.get("unsubscribed"))),
				*person_records.unsubscribed_by_record(doctype, list(rows)),
			]
		)
	emails: list[str] = [email for p in moving if (email := p.get("email"))]
	opted_out = eligibility.unsubscribed_emails(emails)
	blocked = blocklist.blocked(emails)
	for p in moving:
		key = (p.get("person_doctype") or "Contact", p.person)
		email = (p.get("email") or "").strip()
		if key not in present:
			why[p.name] = _("{0} deleted").format(_(key[0]))
		elif not email:
			why[p.name] = _("No email address")
		elif key in unsubscribed or email.lower() in opted_out:
			why[p.name] = _("unsubscribed")
		elif email.lower() in blocked:
			why[p.name] = _("Address blocked ({0} is in Marketing Blocked Address)").format(email)
		else:
			add_to_email_group(group, email)
	_tell(
		source,
		moving,
		{
			p.name: _("Not added to email group {0}: {1}").format(group, why[p.name])
			if p.name in why
			else _("{0} in {1}").format(p.email, group)
			for p in moving
		},
		done={p.name for p in moving if p.name not in why},
	)


def _tell(source: str, moving: Sequence[ParticipantRow], messages: dict[str, str], done: set[str]) -> None:
	"""An early exit's move on the participant's timeline: "Moved" when done, "Step Skipped"
	with the reason when refused (no step: the step where they left has its "Exited")."""
	log.write_many(
		[
			log.entry(
				source,
				p.name,
				p.get("contact"),
				None,
				"Moved" if p.name in done else "Step Skipped",
				messages[p.name],
				version=cint(p.get("flow_version")) or None,
			)
			for p in moving
		]
	)


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
	if row.step_id in EXIT_KINDS:
		text = _("Not moved on to {0} after leaving the flow early, after {1} tries: {2}").format(
			row.target, attempts, message
		)
	else:
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


def retry() -> int:
	"""Scheduler: moves still pending (their job failed, or died) are tried again with the
	runner's backoff (Marketing Flow Settings: retry backoff, max attempts). Returns how many
	were done."""
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
		done += run_moves(due[start : start + 100], skip_locked=True)
		frappe.db.commit()
	return done
