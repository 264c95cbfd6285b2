"""The runner: finds due participants by index, claims them, runs their steps, advances and logs.

Steps never run in a web request: enrolment and the scheduler only enqueue `process_due` jobs.
A job claims a batch with SELECT ... FOR UPDATE SKIP LOCKED, runs each participant's steps up
to the next wait, and writes the advance, the log and the Email Queue rows in one transaction:
a killed worker rolls the whole batch back and its rows are claimed again; two workers never
get the same row. External calls (webhooks) carry an idempotency key for the rare replay.
"""

from __future__ import annotations

import time
import traceback
from datetime import datetime, timedelta
from typing import Any

import frappe
from frappe.utils import cint, now_datetime

from marketing_flows.engine import criteria, enrolment, hosts, log, window
from marketing_flows.engine.mailer import Mailer
from marketing_flows.engine.steps import handler_for
from marketing_flows.engine.steps.base import Outcome, StepContext

ACTIVE = ("Active", "Waiting", "Stalled")
DUE = ("Active", "Waiting")
JOB_BUDGET_SECONDS = 240  # a job yields before RQ's timeout; the next tick continues
MAX_HOPS = 100  # steps in one go for one participant (validation forbids loops without a Wait)


def _job_id(flow: str, slot: int) -> str:
	return f"marketing_flows:run:{frappe.local.site}:{flow}:{slot}"


def parallel_jobs() -> int:
	return max(1, cint(frappe.db.get_single_value("Marketing Flow Settings", "parallel_jobs")) or 2)


def enqueue_flow(flow: str, jobs: int | None = None) -> None:
	"""Process the flow's due participants in background jobs after this transaction commits.
	Several jobs share the work through SKIP LOCKED; one job per slot at a time."""
	for slot in range(jobs or parallel_jobs()):
		frappe.enqueue(
			"marketing_flows.engine.runner.process_due",
			queue="default",
			timeout=JOB_BUDGET_SECONDS + 120,
			job_id=_job_id(flow, slot),
			deduplicate=True,
			enqueue_after_commit=True,
			flow=flow,
		)


def schedule_due_participants() -> None:
	"""Scheduler tick (every minute): for each running flow with someone due, enqueue jobs.
	One indexed probe per running flow; nothing scans the participant table."""
	now = now_datetime()
	p = frappe.qb.DocType("Marketing Flow Participant")
	for flow in frappe.get_all("Marketing Flow", filters={"status": "Running"}, pluck="name"):
		due = (
			frappe.qb.from_(p)
			.select(p.name)
			.where((p.flow == flow) & p.status.isin(DUE) & (p.next_run_at <= now))
			.limit(1)
			.run()
		)
		if due:
			enqueue_flow(flow)


def claim_due_participants(flow: str, limit: int, now: datetime) -> list[str]:
	"""Lock up to `limit` due rows of `flow` that no other worker holds. The ORDER BY follows
	the index (flow, status, next_run_at): no filesort, so only the rows returned are read and
	locked, and a second worker gets the next ones instead of waiting or getting nothing."""
	return frappe.db.sql(
		"""SELECT name FROM `tabMarketing Flow Participant`
		WHERE flow = %s AND status IN ('Active', 'Waiting') AND next_run_at <= %s
		ORDER BY status, next_run_at
		LIMIT %s
		FOR UPDATE SKIP LOCKED""",
		(flow, now, limit),
		pluck=True,
	)


def process_due(flow: str) -> int:
	"""Background job: claim and run batches of due participants until none is left or the
	time budget is spent (then it enqueues a follow-up). Returns how many it processed."""
	started = time.monotonic()
	# READ COMMITTED: the claim then locks only the rows it returns, not the gaps between index
	# entries; under REPEATABLE READ those gap locks block another worker's UPDATE of its own
	# rows' (status, next_run_at) and the workers run one after the other.
	frappe.db.commit()
	frappe.db.sql("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
	settings = frappe.get_cached_doc("Marketing Flow Settings")
	batch_size = cint(settings.batch_size) or 200
	done = 0
	while time.monotonic() - started < JOB_BUDGET_SECONDS:
		flow_doc = frappe.get_doc("Marketing Flow", flow)
		if flow_doc.status != "Running":
			break
		now = now_datetime()
		names = claim_due_participants(flow, batch_size, now)
		if not names:
			frappe.db.rollback()
			return done
		Batch(flow_doc, settings, now).run(names)
		frappe.db.commit()
		done += len(names)
	else:
		enqueue_flow(flow, jobs=1)
	return done


class Batch:
	"""One claimed batch of participants of one flow, processed in one transaction."""

	def __init__(self, flow: Any, settings: Any, now: datetime) -> None:
		self.flow = flow
		self.settings = settings
		self.now = now
		self.steps = {s.step_id: s for s in flow.steps}
		self.mailer = Mailer()
		self.logs: list[tuple] = []
		self.pending: dict[str, dict] = {}  # participant -> values, written once per batch
		self._contents: dict[str, Any] = {}
		self._companies: dict[str, dict | None] = {}
		self.max_attempts = cint(settings.max_attempts) or 5
		self.backoff = cint(settings.retry_backoff_minutes) or 5

	# -- caches for steps -----------------------------------------------------------------
	def content(self, name: str) -> Any:
		if name not in self._contents:
			self._contents[name] = frappe.get_doc("Marketing Flow Content", name)
		return self._contents[name]

	def company(self, participant: dict) -> dict | None:
		key = participant.get("company")
		if not key or not participant.get("company_doctype"):
			return None
		if key not in self._companies:
			self._companies[key] = frappe.db.get_value(participant["company_doctype"], key, "*", as_dict=True)
		return self._companies[key]

	# -- the batch ------------------------------------------------------------------------
	def run(self, names: list[str]) -> None:
		participants = frappe.get_all("Marketing Flow Participant", filters={"name": ("in", names)}, fields=["*"])
		person = hosts.doctype_for("person") or "Contact"
		contacts = {
			c.name: c
			for c in frappe.get_all(person, filters={"name": ("in", [p.contact for p in participants])}, fields=["*"])
		}
		# Goals first: a participant who met the goal is marked before anything else happens.
		succeeded = criteria.newly_successful(self.flow, participants)
		blocked = self.recheck(participants, contacts)
		for p in participants:
			if p.name in succeeded:
				p.update(criteria.mark_successful(self.flow, p, succeeded[p.name], self.now))
				if (self.flow.on_success or "Stop") == "Stop":
					self.end(p, "Exited", "Goal met")
					continue
			if p.name in blocked:
				self.end(p, "Exited", blocked[p.name])
				continue
			contact = contacts.get(p.contact)
			if contact is None:
				self.end(p, "Exited", "Contact deleted")
				continue
			self.advance(p, contact)
		self.write_updates()
		self.mailer.flush()
		log.write_many(self.logs)
		criteria.after_success(self.flow, [p.contact for p in participants if p.name in succeeded])

	def recheck(self, participants: list, contacts: dict) -> dict[str, str]:
		"""participant -> why it may not go on (filters, unsubscribed, consent, suppression)."""
		consent_field = frappe.db.get_single_value("Marketing Flow Settings", "consent_field")
		names = [p.contact for p in participants if p.contact in contacts]
		why = enrolment.eligibility_problems(self.flow, names, contacts, consent_field)
		return {p.name: why[p.contact] for p in participants if p.contact in why}

	def advance(self, p: Any, contact: dict) -> None:
		"""Run steps for one participant until a wait, the end, or an error."""
		step_id = p.current_step
		for _hop in range(MAX_HOPS):
			step = self.steps.get(step_id)
			if step is None:
				self.fail(p, step_id, f"Step '{step_id}' no longer exists in the flow")
				return
			handler = handler_for(step.step_type)
			if handler.channel and not window.is_open(self.flow, self.now):
				opens = window.next_open(self.flow, self.now)
				self.update(p, {"status": "Waiting", "current_step": step_id, "next_run_at": opens})
				self.logs.append(self.entry(p, step_id, "Step Skipped", f"Outside the sending window until {opens:%Y-%m-%d %H:%M}"))
				return
			ctx = StepContext(self.flow, step, p, contact, self.now, self)
			if handler.writes:  # a failing step must leave nothing behind
				frappe.db.savepoint("mf_step")
			queued_before = len(self.mailer.queue_rows)
			try:
				outcome: Outcome = handler.execute(ctx)
			except Exception as e:
				if handler.writes:
					frappe.db.rollback(save_point="mf_step")
				del self.mailer.queue_rows[queued_before:], self.mailer.recipient_rows[queued_before:]
				self.retry_or_stall(p, step_id, e)
				return
			ref = outcome.reference or (None, None)
			self.logs.append(self.entry(p, step_id, outcome.event, outcome.message, *ref))
			if outcome.updates:  # kept even if a later step of this go fails
				self.update(p, outcome.updates)
				p.update(outcome.updates)
			if outcome.next_step is None:
				self.update(
					p,
					{"status": "Completed", "current_step": step_id, "next_run_at": None,
					 "ended_on": self.now, "active_key": None, "attempts": 0},
				)
				if outcome.event != "Completed":
					self.logs.append(self.entry(p, step_id, "Completed", ""))
				return
			step_id = outcome.next_step
			if outcome.run_at and outcome.run_at > self.now:
				self.update(
					p, {"status": "Waiting", "current_step": step_id, "next_run_at": outcome.run_at, "attempts": 0}
				)
				return
		self.update(p, {"status": "Active", "current_step": step_id, "next_run_at": self.now, "attempts": 0})

	def retry_or_stall(self, p: Any, step_id: str, error: Exception) -> None:
		"""The failed step is tried again with exponential backoff (earlier steps of this go keep
		their effects); after the last try the participant is Stalled."""
		attempts = cint(p.attempts) + 1
		message = f"{type(error).__name__}: {error}"[:1000]
		if attempts >= self.max_attempts:
			self.fail(p, step_id, message, attempts=attempts)
			frappe.log_error(title=f"Marketing flow {self.flow.name}: step {step_id} failed", message=traceback.format_exc())
			return
		delay = timedelta(minutes=self.backoff * 2 ** (attempts - 1))
		self.update(
			p,
			{"status": "Active", "current_step": step_id, "next_run_at": self.now + delay,
			 "attempts": attempts, "last_error": message},
		)
		self.logs.append(self.entry(p, step_id, "Retry", f"Try {attempts} of {self.max_attempts} failed: {message}; next try in {delay}"))

	def fail(self, p: Any, step_id: str, message: str, attempts: int | None = None) -> None:
		values = {"status": "Stalled", "current_step": step_id, "next_run_at": None, "last_error": message}
		if attempts is not None:
			values["attempts"] = attempts
		self.update(p, values)
		self.logs.append(self.entry(p, step_id, "Error", message))

	def end(self, p: Any, status: str, reason: str) -> None:
		self.update(p, {"status": status, "exit_reason": reason, "next_run_at": None, "ended_on": self.now, "active_key": None})
		self.logs.append(self.entry(p, p.current_step, "Exited", reason))

	def update(self, p: Any, values: dict) -> None:
		self.pending.setdefault(p.name, {}).update(values)

	def write_updates(self) -> None:
		"""One UPDATE per set of columns for the whole batch (CASE per column), instead of one
		per participant."""
		groups: dict[tuple, list[tuple[str, dict]]] = {}
		for name, values in self.pending.items():
			groups.setdefault(tuple(sorted(values)), []).append((name, values))
		for columns, rows in groups.items():
			sets, params = [], []
			for column in (*columns, "modified"):
				if column == "modified":
					sets.append("`modified` = %s")
					params.append(self.now)
					continue
				distinct = {repr(v[column]) for _n, v in rows}
				if len(distinct) == 1:  # the same value for everyone: no CASE needed
					sets.append(f"`{column}` = %s")
					params.append(rows[0][1][column])
				else:
					sets.append(f"`{column}` = CASE `name` " + "WHEN %s THEN %s " * len(rows) + "END")
					for name, v in rows:
						params.extend((name, v[column]))
			names = [name for name, _v in rows]
			params.extend(names)
			frappe.db.sql(
				f"UPDATE `tabMarketing Flow Participant` SET {', '.join(sets)} "
				f"WHERE `name` IN ({', '.join(['%s'] * len(names))})",
				params,
			)
		self.pending = {}

	def entry(self, p: Any, step_id: str | None, event: str, message: str = "", ref_dt=None, ref_name=None) -> tuple:
		return log.entry(self.flow.name, p.name, p.contact, step_id, event, message, None, ref_dt, ref_name)


def apply_resume_policy(flow: Any) -> None:
	"""On resume with "Skip Overdue": a send that fell due during the pause is skipped (logged)
	instead of going out late; people enrolled during the pause start normally."""
	if (flow.resume_policy or "Send Overdue") != "Skip Overdue" or not flow.get("paused_on"):
		return
	now = now_datetime()
	sends = {s.step_id: s for s in flow.steps if s.step_type in ("Send Email", "Send SMS")}
	if not sends:
		return
	rows = frappe.get_all(
		"Marketing Flow Participant",
		filters={
			"flow": flow.name,
			"status": ("in", DUE),
			"current_step": ("in", list(sends)),
			"next_run_at": ("between", [flow.paused_on, now]),
			"enrolled_on": ("<", flow.paused_on),
		},
		fields=["name", "contact", "current_step"],
	)
	entries = []
	for r in rows:
		step = sends[r.current_step]
		frappe.db.set_value(
			"Marketing Flow Participant", r.name, {"current_step": step.next_step, "next_run_at": now}, update_modified=False
		)
		entries.append(log.entry(flow.name, r.name, r.contact, step.step_id, "Step Skipped", "Overdue after pause (Skip Overdue)"))
	log.write_many(entries)


def end_participants(flow: str, names: list[str], status: str, reason: str) -> int:
	"""End the given active participations with `status` and `reason`; returns how many ended."""
	if not names:
		return 0
	p = frappe.qb.DocType("Marketing Flow Participant")
	rows = (
		frappe.qb.from_(p)
		.select(p.name, p.contact, p.current_step)
		.where((p.flow == flow) & p.name.isin(names) & p.status.isin(ACTIVE))
		.run(as_dict=True)
	)
	if not rows:
		return 0
	now = now_datetime()
	(
		frappe.qb.update(p)
		.set(p.status, status)
		.set(p.exit_reason, reason)
		.set(p.ended_on, now)
		.set(p.next_run_at, None)
		.set(p.active_key, None)
		.set(p.modified, now)
		.where(p.name.isin([r.name for r in rows]))
	).run()
	log.write_many([log.entry(flow, r.name, r.contact, r.current_step, "Exited", reason) for r in rows])
	return len(rows)
