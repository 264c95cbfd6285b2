"""Actions that end a Wait for Action early (steps/wait_for_action.py): what a waiting step
listens to, and the release when the person does it.

The sources call in: a click (tracking.py), a reply to a flow email (replies.py), and a save
that may have made a web form submission or a record matching the step's conditions
(goals.evaluate_changes, after the watched save; watch.py watches the doctypes for it). A
release logs "Action Taken" with the action in words and makes the participant due now, so the
runner's next tick (every minute) takes it on the action's branch; the step itself decides
action or timeout from the log (`wait_log`).

The cost at the source stays small: the participant row by its name (a click, a reply), or a
person's waiting participations of one flow by an index (person, contact, email); no scan.

The first action wins: a participant is released only while it waits at the step with its
timeout still ahead (`next_run_at` later than now), read under its row lock; the release sets
`next_run_at` to now, so a later action (or one after the timeout) changes nothing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeAlias

import frappe
from frappe import _
from frappe.utils import get_datetime, now_datetime

from marketing_flows.engine import log
from marketing_flows.engine.queries import criteria, filters

if TYPE_CHECKING:
	from marketing_flows.engine.doctypes import MarketingFlow, MarketingFlowStep, ParticipantRow

	# a Wait for Action step: the flow's row, or its STEP_FIELDS read from the database
	StepRow: TypeAlias = MarketingFlowStep | frappe._dict

PARTICIPANT = "Marketing Flow Participant"
WAIT_FOR_ACTION = "Wait for Action"
# the actions a step may wait for, in the order they are looked at
CLICKED, REPLIED, WEB_FORM, RECORD = "clicked", "replied", "web_form", "record"
ACTION_TAKEN, TIMED_OUT = "Action Taken", "Action Timed Out"  # log events
ACTION_BRANCH, TIMEOUT_BRANCH = "action", "timeout"  # the log's branch of each way out
WAIT_STARTS = ("Step Executed", "Moved")  # log events that start a wait at the step
STEP_FIELDS = (
	"step_id",
	"step_type",
	"action_clicked",
	"action_url",
	"action_replied",
	"action_web_form",
	"action_filters",
)


# --- what a step waits for -----------------------------------------------------------------


def chosen(step: StepRow) -> list[str]:
	"""The actions a Wait for Action step (a row, a document or a dict) waits for."""
	found = []
	if step.get("action_clicked"):
		found.append(CLICKED)
	if step.get("action_replied"):
		found.append(REPLIED)
	if step.get("action_web_form"):
		found.append(WEB_FORM)
	if step.get("action_filters"):
		found.append(RECORD)
	return found


def listens(step: StepRow, action: str, detail: str = "") -> bool:
	"""Does the step wait for this action? `detail`: the clicked URL (the step may want one that
	contains its `action_url`), the submitted web form."""
	if step.get("step_type") != WAIT_FOR_ACTION:
		return False
	if action == CLICKED:
		url = step.get("action_url")
		return bool(step.get("action_clicked")) and (not url or url in (detail or ""))
	if action == REPLIED:
		return bool(step.get("action_replied"))
	if action == WEB_FORM:
		return bool(step.get("action_web_form")) and step.get("action_web_form") == detail
	if action == RECORD:
		return bool(step.get("action_filters"))
	return False


def describe(step: StepRow) -> str:
	"""What the step waits for, in words (the log, the validation's messages)."""
	words = {
		CLICKED: _("a click on a link containing '{0}'").format(step.get("action_url"))
		if step.get("action_url")
		else _("a click"),
		REPLIED: _("a reply"),
		WEB_FORM: _("web form {0}").format(step.get("action_web_form")),
		RECORD: _("the record matching the conditions"),
	}
	return _(" or ").join(words[a] for a in chosen(step))


def taken_message(action: str, detail: str = "") -> str:
	"""The action in words, for the log's "Action Taken"."""
	if action == CLICKED:
		return _("Clicked {0}").format(detail) if detail else _("Clicked a link")
	if action == REPLIED:
		return _("Replied: {0}").format(detail) if detail else _("Replied")
	if action == WEB_FORM:
		return _("Submitted web form {0}").format(detail)
	return _("The record matches the conditions")


# --- state actions: a web form submitted, the record matching ---------------------------------


def record_matches(person_doctype: str, step: StepRow, people: list[str]) -> set[str]:
	"""Those of `people` (of the flow's person doctype) whose record matches the step's
	`action_filters` now (as a goal's Person Updated criterion asks)."""
	if not people or not step.get("action_filters"):
		return set()
	conds = filters.parse(step.get("action_filters"), _("Action Filters"))
	return set(
		frappe.get_all(
			person_doctype,
			filters=[[person_doctype, "name", "in", people], *conds],
			pluck="name",
		)
	)


def form_submitted(person_doctype: str, step: StepRow, participant: ParticipantRow, since: datetime) -> bool:
	"""Did the person submit the step's web form since `since` (a record of the form's doctype
	that names them, made since then: what a Web Form Submitted condition asks)?"""
	form = step.get("action_web_form")
	doctype = frappe.get_cached_value("Web Form", form, "doc_type") if form else None
	if not doctype:
		return False
	who = criteria.Person.of(participant)
	who.since = since
	return criteria.names_person(doctype, who, person_doctype)


def state_action(
	person_doctype: str, step: StepRow, participant: ParticipantRow, since: datetime | None
) -> tuple[str, str] | None:
	"""(action, detail) of a state the step waits for that holds now: the web form submitted
	since `since` (the wait's start), the record matching the conditions; None when neither."""
	if step.get("action_web_form") and since is not None:
		if form_submitted(person_doctype, step, participant, since):
			return WEB_FORM, step.get("action_web_form")
	if step.get("action_filters") and participant.get("person"):
		if participant["person"] in record_matches(person_doctype, step, [participant["person"]]):
			return RECORD, ""
	return None


# --- the log of a wait ---------------------------------------------------------------------


def wait_log(
	participant_name: str, step_id: str, pending: Sequence[tuple[str | None, str, datetime]] = ()
) -> tuple[datetime | None, str | None]:
	"""(when the participant's current wait at the step started, the message of the first
	"Action Taken" logged since), each None when unknown / none. `pending`: (step_id, event,
	time) of this go's entries not written yet (a dry run), looked at first. Reads the last log
	rows of the participant at the step (index participant, event)."""
	taken: str | None = None
	for sid, event, when in reversed(pending):
		if sid != step_id:
			continue
		if event == ACTION_TAKEN:
			taken = ""
		elif event in WAIT_STARTS:
			return when, taken
	lg = frappe.qb.DocType("Marketing Flow Log")
	rows = (
		frappe.qb.from_(lg)
		.select(lg.event, lg.message, lg.creation)
		.where(
			(lg.participant == participant_name)
			& (lg.step_id == step_id)
			& lg.event.isin([ACTION_TAKEN, *WAIT_STARTS])
		)
		.orderby(lg.name, order=frappe.qb.desc)
		.limit(20)
		.run(as_dict=True)
	)
	for row in rows:  # newest first: the last action before the start is the first one taken
		if row.event == ACTION_TAKEN:
			taken = row.message or ""
		else:
			return get_datetime(row.creation), taken
	return None, taken


# --- the release ---------------------------------------------------------------------------


def release(participant_name: str, action: str, detail: str = "", url: str | None = None) -> bool:
	"""The person behind `participant_name` took `action`: when that participation waits at a
	Wait for Action that waits for it, its timeout still ahead, log "Action Taken" and make it
	due now. True when released. Locks the participant's row (the caller's transaction)."""
	p = frappe.qb.DocType(PARTICIPANT)
	rows = (
		frappe.qb.from_(p)
		.select(p.name, p.flow, p.contact, p.status, p.current_step, p.next_run_at, p.flow_version)
		.where(p.name == participant_name)
		.for_update()
		.run(as_dict=True)
	)
	row = rows[0] if rows else None
	if not row or row.status != "Waiting" or not row.current_step or not row.next_run_at:
		return False
	now = now_datetime()
	if get_datetime(row.next_run_at) <= now:
		return False  # released already (the first action won), or the timeout has come
	step = frappe.db.get_value(
		"Marketing Flow Step",
		{"parent": row.flow, "parenttype": "Marketing Flow", "step_id": row.current_step},
		list(STEP_FIELDS),
		as_dict=True,
	)
	if not step or not listens(step, action, detail):
		return False
	log.write(
		row.flow,
		row.name,
		row.contact,
		row.current_step,
		ACTION_TAKEN,
		taken_message(action, detail),
		url=url,
		branch=ACTION_BRANCH,
		version=row.flow_version or None,
	)
	(
		frappe.qb.update(p)
		.set(p.next_run_at, now)
		.where((p.name == row.name) & (p.status == "Waiting") & (p.current_step == row.current_step))
	).run()
	return True


def release_after_click(participant_name: str, url: str) -> bool:
	"""A click on a link of one of the participation's emails (tracking.record_click)."""
	return release(participant_name, CLICKED, url, url=url)


def check_waiting(flow: MarketingFlow, persons: list[str], emails: list[str]) -> int:
	"""After saves that named these people (goals.evaluate_changes): release those of `flow`
	who wait at a Wait for Action for a web form or for their record to match, when that
	happened; committed, so that the releases stand whatever the goals' evaluation does next.
	Returns how many were released. Never raises: goal evaluation goes on."""
	steps = {
		s.step_id: s
		for s in flow.steps
		if s.step_type == WAIT_FOR_ACTION and (s.get("action_web_form") or s.get("action_filters"))
	}
	if not steps or not (persons or emails):
		return 0
	released = 0
	try:
		waiting = _waiting(flow.name, list(steps), persons, emails)
	except Exception:
		frappe.log_error(title=f"Marketing Flows: waits for an action in {flow.name} could not be checked")
		return 0
	for row in waiting:
		frappe.db.savepoint("mf_action")
		try:
			since, _taken = wait_log(row.name, row.current_step)
			found = state_action(flow.person_doctype, steps[row.current_step], row, since)
			if found and release(row.name, found[0], found[1]):
				released += 1
		except Exception:
			frappe.db.rollback(save_point="mf_action")
			frappe.log_error(
				title=f"Marketing Flows: the wait for an action of {row.name} could not be checked",
				reference_doctype=PARTICIPANT,
				reference_name=row.name,
			)
	if released:
		frappe.db.commit()
	return released


def _waiting(flow_name: str, step_ids: list[str], persons: list[str], emails: list[str]) -> list:
	"""Participants of the flow waiting at one of `step_ids` whose person, contact or email is
	given: one query per index (flow, person), contact, email."""
	p = frappe.qb.DocType(PARTICIPANT)
	at_step = (p.flow == flow_name) & (p.status == "Waiting") & p.current_step.isin(step_ids)
	found: dict[str, Any] = {}
	for where in (
		p.person.isin(persons) if persons else None,
		p.contact.isin(persons) if persons else None,
		p.email.isin(emails) if emails else None,
	):
		if where is None:
			continue
		for row in (
			frappe.qb.from_(p)
			.select(p.name, p.person, p.contact, p.email, p.company, p.current_step, p.enrolled_on)
			.where(at_step & where)
			.run(as_dict=True)
		):
			found[row.name] = row
	return list(found.values())


# --- what the watch of saves must watch ------------------------------------------------------


def watched_doctypes(flows: dict[str, str | None]) -> list[tuple[str, str]]:
	"""(doctype, flow) for the live `flows` (name -> person doctype) whose Wait for Action
	steps wait for a web form (its doctype) or for the record (the person doctype): saves of
	these doctypes queue goals.evaluate_changes, which calls `check_waiting`."""
	if not flows:
		return []
	rows = frappe.get_all(
		"Marketing Flow Step",
		filters={"parenttype": "Marketing Flow", "parent": ("in", list(flows)), "step_type": WAIT_FOR_ACTION},
		fields=["parent", "action_web_form", "action_filters"],
	)
	found: list[tuple[str, str]] = []
	for row in rows:
		if row.action_filters:
			found.append((flows.get(row.parent) or "Contact", row.parent))
		if row.action_web_form:
			doctype = frappe.get_cached_value("Web Form", row.action_web_form, "doc_type")
			if doctype:
				found.append((doctype, row.parent))
	return found
