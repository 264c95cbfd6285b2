"""Participant state: the status sets, the transitions every module shares, and the runner's jobs.

A leaf of the engine: it knows the participant table and the log, nothing above them. Every
transition is a conditional write (`WHERE status IN ...`, `succeeded = 0`) that acts only on
the rows it really changed, so two processes racing on the same participant (a goal met twice,
a Stop while a batch completes someone) log and act once.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import frappe
from frappe.utils import cint, flt, now_datetime

from marketing_flows.engine import hosts, job_slots, log

PARTICIPANT = "Marketing Flow Participant"

# The one definition of each status set.
ACTIVE = ("Active", "Waiting", "Stalled")  # holds the one active participation per person and flow
DUE = ("Active", "Waiting")  # the runner may pick these up when next_run_at has come
CONVERTIBLE = ("Active", "Waiting", "Stalled", "Completed")  # can still meet the goal
ENDED = ("Completed", "Exited")
LIVE_FLOW_STATUSES = ("Running", "Paused")  # flows that take people in (a paused flow's wait)

RUNNER_JOB = "marketing_flows.engine.runner.process_due"
RUNNER_BUDGET_SECONDS = 240  # a runner job stops taking batches after this; RQ's timeout is larger


def active_key(flow: str, person: str) -> str:
	"""The value that the unique index on `active_key` holds while a participation is active."""
	return hashlib.sha1(f"{flow}\n{person}".encode()).hexdigest()


# --- runner jobs ---------------------------------------------------------------------------


def parallel_jobs() -> int:
	return max(1, cint(frappe.db.get_single_value("Marketing Flow Settings", "parallel_jobs")) or 2)


def runner_budget_seconds() -> float:
	"""How long one runner job takes batches before it hands over: RUNNER_BUDGET_SECONDS, or
	`marketing_flows_runner_budget_seconds` from the site config (RQ's timeout for the job is
	this plus two minutes)."""
	budget = flt(frappe.conf.get("marketing_flows_runner_budget_seconds"))
	return budget if budget > 0 else RUNNER_BUDGET_SECONDS


def runner_job_id(flow: str, slot: int) -> str:
	return f"marketing_flows:run:{flow}:{slot}"


def runner_job_ids(flow: str, slot: int) -> job_slots.Slot:
	"""A slot's two job ids (job_slots: a job whose budget is spent hands over to the other)."""
	first = runner_job_id(flow, slot)
	return first, f"{first}:next"


def enqueue_flow(flow: str, jobs: int | None = None) -> None:
	"""Process the flow's due participants in background jobs after this transaction commits.
	Several jobs share the work through SKIP LOCKED; one job per slot at a time."""
	job_slots.wake(
		[runner_job_ids(flow, slot) for slot in range(jobs or parallel_jobs())],
		lambda job_id: _enqueue_runner(flow, job_id),
	)


def hand_over(flow: str) -> None:
	"""Called by a runner job whose budget is spent while people are still due: its slot goes
	on at once in a job under the slot's other id. Called outside an RQ job (a benchmark's
	loop), it enqueues the flow's first slot, as the scheduler would."""
	slots = [runner_job_ids(flow, slot) for slot in range(parallel_jobs())]
	if not job_slots.hand_over(slots, lambda job_id: _enqueue_runner(flow, job_id)):
		enqueue_flow(flow, jobs=1)


def _enqueue_runner(flow: str, job_id: str) -> None:
	frappe.enqueue(
		RUNNER_JOB,
		queue="default",
		timeout=runner_budget_seconds() + 120,
		job_id=job_id,
		deduplicate=True,
		enqueue_after_commit=True,
		flow=flow,
	)


# --- transitions ---------------------------------------------------------------------------


def end_participants(
	flow: str, names: list[str], status: str, reason: str, from_statuses: tuple[str, ...] = ACTIVE
) -> int:
	"""End the given participations that are still in `from_statuses` with `status` and
	`reason`; logs "Exited" for those it changed only. Returns how many ended."""
	if not names:
		return 0
	p = frappe.qb.DocType(PARTICIPANT)
	ended = 0
	for start in range(0, len(names), 1000):
		chunk = names[start : start + 1000]
		rows = (
			frappe.qb.from_(p)
			.select(p.name, p.contact, p.current_step)
			.where((p.flow == flow) & p.name.isin(chunk) & p.status.isin(from_statuses))
			.for_update()
			.run(as_dict=True)
		)
		if not rows:
			continue
		now = now_datetime()
		(
			frappe.qb.update(p)
			.set(p.status, status)
			.set(p.exit_reason, reason[:140])
			.set(p.ended_on, now)
			.set(p.next_run_at, None)
			.set(p.active_key, None)
			.set(p.modified, now)
			.where(p.name.isin([r.name for r in rows]) & p.status.isin(from_statuses))
		).run()
		log.write_many([log.entry(flow, r.name, r.contact, r.current_step, "Exited", reason) for r in rows])
		ended += len(rows)
	return ended


def mark_successful(flow: str, participant: dict, criterion: str, now: datetime) -> bool:
	"""Mark a participant successful unless it already is; logs "Goal Met" only when this call
	made the change (a goal met twice, by the runner and by a hook's job, logs once)."""
	frappe.db.sql(
		"""UPDATE `tabMarketing Flow Participant`
		SET succeeded = 1, succeeded_on = %s, success_criterion = %s
		WHERE name = %s AND succeeded = 0""",
		(now, criterion[:140], participant["name"]),
	)
	changed = frappe.db._cursor.rowcount > 0
	if changed:
		participant.update({"succeeded": 1, "succeeded_on": now, "success_criterion": criterion[:140]})
		log.write(
			flow,
			participant["name"],
			participant.get("contact"),
			participant.get("current_step"),
			"Goal Met",
			criterion,
		)
	return changed


def note_conversions(flow: Any, leads: list[str]) -> dict[str, str]:
	"""Participants of `flow` (a flow of leads) whose lead among `leads` converted go on under
	the Contact it became: the participation is kept (one timeline, no second enrolment), its
	`contact` is filled and "Lead Converted" is logged once. Returns participant -> contact."""
	doctype = hosts.person_doctype(flow)
	p = frappe.qb.DocType(PARTICIPANT)
	rows = (
		frappe.qb.from_(p)
		.select(p.name, p.person, p.current_step)
		.where(
			(p.flow == flow.name)
			& (p.person_doctype == doctype)
			& p.person.isin(leads)
			& (p.contact.isnull() | (p.contact == ""))
		)
		.run(as_dict=True)
		if leads
		else []
	)
	contacts = hosts.converted_contacts(doctype, list({r.person for r in rows}))
	done: dict[str, str] = {}
	for r in rows:
		contact = contacts.get(r.person)
		if not contact:
			continue
		frappe.db.sql(
			"""UPDATE `tabMarketing Flow Participant` SET contact = %s
			WHERE name = %s AND IFNULL(contact, '') = ''""",
			(contact, r.name),
		)
		if frappe.db._cursor.rowcount > 0:
			done[r.name] = contact
			log.write(flow.name, r.name, contact, r.current_step, "Lead Converted", contact)
	return done
