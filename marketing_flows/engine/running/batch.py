"""A batch of claimed participants of one flow, run in one transaction: re-check, run steps up to
the next wait, advance, log, and write everything at once (participants, log, Email Queue rows).

The whole batch is checked once before its first step (goal met, still in the audience, not
unsubscribed or suppressed, person not deleted), and a participant again after each step that
may change goals (`StepType.may_change_goals`); the flow's own status is looked at again at
most every FLOW_STATUS_RECHECK_SECONDS. A participant whose step, goal or eligibility check
fails is retried or Stalled on its own; a setting that fails for everyone pauses the flow.
Calls to the outside world go through the outbox (sending/outbox.py), whose records survive a
rollback, so a confirmed call is never made again."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import frappe
import pymysql
from frappe import _
from frappe.utils import cint, get_time

from marketing_flows.engine import log
from marketing_flows.engine.entering import eligibility
from marketing_flows.engine.hosts import doctype_roles, person_records, time_zones
from marketing_flows.engine.measuring import goals
from marketing_flows.engine.queries import criteria
from marketing_flows.engine.running import lifecycle, moves, participants
from marketing_flows.engine.sending import mailer, render, send_times, throttle
from marketing_flows.engine.sending.mailer import Mailer, insert_rows
from marketing_flows.engine.sending.outbox import OutsideCallFailed
from marketing_flows.engine.steps import handler_for, wait_for_action
from marketing_flows.engine.steps.base import Outcome, StepContext

if TYPE_CHECKING:
	from marketing_flows.engine.doctypes import (
		MarketingFlow,
		MarketingFlowContent,
		MarketingFlowSettings,
		MarketingFlowStep,
		ParticipantRow,
		PersonRow,
	)

MAX_HOPS = 50  # steps in one go for one participant (no step runs twice in one go anyway)
# the steps that mail the person's address: one participant per address gets them (same_address)
TO_ADDRESS_STEPS = ("Send Email",)
ENDED = ("Completed", "Exited", "Stalled")  # a participant the batch ended holds no address
FLOW_STATUS_RECHECK_SECONDS = 0.5  # a Pause or Stop during a batch is seen within this time


class FlowSettingError(Exception):
	"""A setting of the flow fails for every participant (e.g. a filter on a deleted field)."""


class Batch:
	"""One claimed batch of participants of one flow, processed in one transaction."""

	def __init__(
		self,
		flow: MarketingFlow,
		settings: MarketingFlowSettings,
		now: datetime,
		deadline: float | None = None,
		dry_run: bool = False,
	) -> None:
		self.flow = flow
		self.dry_run = dry_run  # nothing leaves the process: no outside call, no counter, no write
		self.outside_calls: list[dict[str, str]] = []
		self.settings = settings
		self.now = now
		self.deadline = deadline
		self.steps = {s.step_id: s for s in flow.steps}
		self.mailer = Mailer(keep_rendered=dry_run)
		self.logs: list[tuple] = []
		# participant -> its entries of self.logs, for conditions
		self._events: dict[str, list[tuple[str | None, str, datetime]]] = {}
		# participant -> field values (of the fields' own types), written once per batch
		self.pending: dict[str, PersonRow] = {}
		self.processed = 0
		self.flow_halted = False
		self.succeeded_people: list[ParticipantRow] = []
		# participants ended for who they are now (unsubscribed, suppressed, out of the audience,
		# deleted: eligibility_problems): they leave, but are not moved on (end)
		self.ineligible: set[str] = set()
		# participants that left early (end, fail): moved on to the flow's exit flow and exit email
		# group, recorded with the batch's writes and done after its commit (moves.py)
		self.left_early: list[str] = []
		self.errors: dict[str, str] = {}  # participant -> why a batch-wide check failed for it
		self._contents: dict[str, MarketingFlowContent] = {}
		self._companies: dict[str, PersonRow | None] = {}  # company -> its record as a row
		self.memo: dict[str, Any] = {}  # per-batch answers a step type keeps for itself
		self.emails: list[str] = []  # the addresses of the batch's participants
		# address -> the flow's Active / Waiting participants with it, first enrolled first
		# (same_address_holder); None until read, once per batch
		self._at_address: dict[str, list[frappe._dict]] | None = None
		self._flow_checked_at = time.monotonic()
		self.max_attempts = cint(settings.max_attempts) or 5
		self.backoff = cint(settings.retry_backoff_minutes) or 5
		self.sends = throttle.HourlySends(cint(settings.max_sends_per_hour))
		self.cap = throttle.FrequencyCap(
			cint(settings.get("max_emails_per_person_per_day")),
			cint(settings.get("max_emails_per_person_per_week")),
		)
		# the clocks: the flow's, and each person's where the flow's times are in theirs
		self.rules = send_times.SendRules(flow, settings)
		self.flow_clock = send_times.flow_clock(flow, settings, self.rules)
		self.zones: dict[str, time_zones.PersonZone] = {}  # person -> zone, when it matters
		self._clocks: dict[str, send_times.Clock] = {}
		self.local_time_matters = time_zones.uses_person_zones(flow) and (
			self.rules.any
			or bool(self.cap.limits["day"])
			or (flow.get("trigger_type") == "Date Field" and bool(flow.get("trigger_date_time")))
			or any(_uses_local_days(step) for step in flow.steps)
		)

	# -- caches for steps -----------------------------------------------------------------
	def content(self, name: str) -> MarketingFlowContent:
		if name not in self._contents:
			self._contents[name] = frappe.get_doc("Marketing Flow Content", name)
		return self._contents[name]

	def company(self, participant: ParticipantRow) -> PersonRow | None:
		key = participant.get("company")
		if not key or not participant.get("company_doctype"):
			return None
		if key not in self._companies:
			self._companies[key] = frappe.db.get_value(participant["company_doctype"], key, "*", as_dict=True)
		return self._companies[key]

	def clock_for(self, participant: ParticipantRow) -> send_times.Clock:
		"""The participant's person's clock: their time zone where the flow's times are in the
		person's and it matters to the flow, else the flow's."""
		zone = self.zones.get(participant.person)
		if zone is None:
			return self.flow_clock
		if participant.person not in self._clocks:
			self._clocks[participant.person] = send_times.Clock(
				zone, self.rules, self.flow_clock.site_zone_name
			)
		return self._clocks[participant.person]

	def events_of(self, participant_name: str) -> list[tuple[str | None, str, datetime]]:
		"""(step_id, event, time) of this batch's log entries not written yet: conditions see
		what happened earlier in the same go."""
		return self._events.get(participant_name, [])

	def add_log(
		self,
		p: ParticipantRow,
		step_id: str | None,
		event: str,
		message: str = "",
		ref_dt: str | None = None,
		ref_name: str | None = None,
		branch: str | None = None,
	) -> None:
		self.logs.append(
			log.entry(
				self.flow.name,
				p.name,
				p.contact,
				step_id,
				event,
				message,
				None,
				ref_dt,
				ref_name,
				branch,
				p.get("flow_version") or None,
			)
		)
		self._events.setdefault(p.name, []).append((step_id, event, self.now))

	# -- the batch ------------------------------------------------------------------------
	def run(self, names: list[str]) -> None:
		rows: list[ParticipantRow] = frappe.get_all(
			"Marketing Flow Participant", filters={"name": ("in", names)}, fields=["*"]
		)
		order = {name: i for i, name in enumerate(names)}
		rows.sort(key=lambda r: order[r.name])
		self.emails = [p.email for p in rows if p.email]
		self.find_shared_addresses(rows)
		people = self.person_rows([p.person for p in rows])
		self.note_conversions(rows, people)
		self.find_zones(people)
		try:
			met = self.per_participant(rows, lambda part: criteria.newly_successful(self.flow, part), "goal")
			blocked = self.per_participant(
				rows,
				lambda part: self.eligibility_problems(part, people),
				"eligibility",
			)
		except FlowSettingError as e:
			self.halt_flow(str(e))
			self.write()
			return
		for p in rows:
			if self.out_of_time():
				break  # the rest stay due, untouched: the next job takes them
			self.processed += 1
			if p.name in self.errors:
				self.fail(p, p.current_step, self.errors[p.name])
				continue
			if p.name in met and self.act_on_goal(p, met[p.name]):
				continue
			if p.name in blocked:
				self.end(p, "Exited", blocked[p.name])
				continue
			person = people.get(p.person)
			if person is None:
				self.end(p, "Exited", _("{0} deleted").format(_(p.person_doctype or "Contact")))
				continue
			self.note_zone(p)
			if self.not_started_yet(p):
				continue
			self.advance(p, person)
			if self.flow_halted:
				break
		self.write()

	def per_participant(
		self,
		rows: list[ParticipantRow],
		check: Callable[[list[ParticipantRow]], dict[str, str]],
		what: str,
	) -> dict[str, str]:
		"""Run a batch-wide check; when it raises, run it per participant so that only those it
		fails for are affected (collected in self.errors). Everyone failing the same way is a
		setting problem of the flow: FlowSettingError."""
		rows = [p for p in rows if p.name not in self.errors]
		if not rows:
			return {}
		frappe.db.savepoint("mf_check")
		try:
			return check(rows)
		except Exception as batch_error:
			frappe.db.rollback(save_point="mf_check")
			found: dict[str, str] = {}
			failures: dict[str, str] = {}
			for p in rows:
				frappe.db.savepoint("mf_check")
				try:
					found.update(check([p]))
				except Exception as e:
					frappe.db.rollback(save_point="mf_check")
					failures[p.name] = f"{what}: {type(e).__name__}: {e}"[:1000]
			if len(failures) == len(rows) and (len(rows) > 1 or _is_setting_error(batch_error)):
				raise FlowSettingError(
					f"{what}: {type(batch_error).__name__}: {batch_error}"[:1000]
				) from batch_error
			self.errors.update(failures)
			return found

	def find_zones(self, people: dict[str, PersonRow]) -> None:
		"""Each person's time zone, for the batch's people, when the flow's times depend on it."""
		if self.local_time_matters:
			self.zones.update(time_zones.zones_for(self.flow, people))

	def note_zone(self, p: ParticipantRow) -> None:
		"""Keep on the participant the time zone the flow uses for its person, and where it was
		found; the timeline says so once, when it is the person's own (or a country's several
		zones made the flow's stand in)."""
		zone = self.zones.get(p.person)
		if zone is None or (p.get("time_zone") == zone.zone and p.get("time_zone_source") == zone.source):
			return
		self.update(p, {"time_zone": zone.zone, "time_zone_source": zone.source})
		p.time_zone, p.time_zone_source = zone.zone, zone.source
		if zone.source in (time_zones.PERSON, time_zones.ADDRESS, time_zones.COUNTRY) or zone.note:
			self.add_log(p, p.current_step, "Time Zone", _("Time zone {0}").format(zone.describe()))

	def not_started_yet(self, p: ParticipantRow) -> bool:
		"""A Date Field flow with a time of day starts each person at that time on their clock
		(the first such moment after the daily job enrolled them): until then they wait at the
		first step, which has not run."""
		at = self.flow.get("trigger_date_time")
		if not at or self.flow.get("trigger_type") != "Date Field" or cint(p.get("step_seq")):
			return False
		clock = self.clock_for(p)
		start = clock.at_time_of_day(p.enrolled_on or self.now, get_time(at), working_day=False)
		if start <= self.now:
			p.status = "Active"  # its time has come: the first step runs now, a Wait too
			return False
		self.update(p, {"status": "Waiting", "next_run_at": start})
		if p.status != "Waiting":
			p.status = "Waiting"
			self.add_log(
				p,
				p.current_step,
				"Step Skipped",
				_("Waiting for {0} in {1}: the flow starts at this time of day").format(
					f"{clock.local(start):%Y-%m-%d %H:%M}", clock.zone_name
				),
			)
		return True

	def person_rows(self, names: list[str]) -> dict[str, PersonRow]:
		return person_records.person_rows(self.flow.person_doctype, names)

	def note_conversions(self, rows: list[ParticipantRow], people: dict[str, PersonRow]) -> None:
		"""A lead that converted goes on under its Contact (participants.note_conversions): a
		safety net for conversions no watched save reported."""
		doctype = self.flow.person_doctype
		if not doctype_roles.is_lead(doctype):
			return
		leads = [
			p.person
			for p in rows
			if not p.contact and p.person in people and person_records.is_converted(doctype, people[p.person])
		]
		if leads:
			found = participants.note_conversions(self.flow, leads)
			for p in rows:
				p.contact = found.get(p.name) or p.contact

	def eligibility_problems(
		self, rows: list[ParticipantRow], people: dict[str, PersonRow]
	) -> dict[str, str]:
		present = [p.person for p in rows if p.person in people]
		why = eligibility.problems(self.flow, present, people)
		found = {p.name: why[p.person] for p in rows if p.person in why}
		self.ineligible.update(found)
		self.ineligible.update(p.name for p in rows if p.person not in people)
		return found

	def recheck(self, p: ParticipantRow) -> PersonRow | None:
		"""Before a step that follows one which may have changed things in this go (a save of
		the person, a record created, an outside call): goal not met, still eligible. Returns
		the person's fresh row, or None when the participant must not go on."""
		fresh = self.person_rows([p.person])
		if p.person not in fresh:
			self.end(p, "Exited", _("{0} deleted").format(_(p.person_doctype or "Contact")))
			return None
		try:
			met = criteria.newly_successful(self.flow, [p]) if not p.get("succeeded") else {}
			if p.name in met and self.act_on_goal(p, met[p.name]):
				return None
			why = self.eligibility_problems([p], fresh)
		except Exception as e:
			self.fail(p, p.current_step, f"recheck: {type(e).__name__}: {e}"[:1000])
			return None
		if p.name in why:
			self.end(p, "Exited", why[p.name])
			return None
		return fresh[p.person]

	def find_shared_addresses(self, rows: list[ParticipantRow]) -> None:
		"""The flow's Active and Waiting participants that have the addresses of these rows, by
		address (case-insensitive), first enrolled first: one query per batch by the (flow,
		email) index, and only for a flow that sends email."""
		self._at_address = {}
		emails = list({e.strip().lower() for e in (p.get("email") for p in rows) if e and e.strip()})
		if not emails or not any(s.step_type in TO_ADDRESS_STEPS for s in self.flow.steps):
			return
		t = frappe.qb.DocType("Marketing Flow Participant")
		found: list[frappe._dict] = (
			frappe.qb.from_(t)
			.select(t.name, t.email, t.enrolled_on, t.full_name, t.person)
			.where((t.flow == self.flow.name) & t.email.isin(emails) & t.status.isin(participants.DUE))
			.run(as_dict=True)
		)  # the column's collation compares addresses ignoring case
		for row in sorted(found, key=lambda r: (r.enrolled_on or self.now, r.name)):
			self._at_address.setdefault((row.email or "").strip().lower(), []).append(row)

	def same_address_holder(self, p: ParticipantRow) -> frappe._dict | None:
		"""SuperOffice's "same address already active" re-check, before a step that mails the
		person: another Active or Waiting participant of this flow with the same address, enrolled
		earlier, holds it, and only that one gets the flow's emails (None: this one may).

		The step is skipped, not the flow: the participant goes on walking it (as SuperOffice's
		does) because the rest of the flow (conditions, record updates, tasks, SMS) is about the
		person, not the address, and should the holder leave, the next email reaches this one."""
		email = (p.get("email") or "").strip().lower()
		if not email:
			return None
		if self._at_address is None:  # a dry run walks a participant without run()
			self.find_shared_addresses([p])
		assert self._at_address is not None
		mine = (p.get("enrolled_on") or self.now, p.name)
		for other in self._at_address.get(email, ()):
			if other.name == p.name or (other.enrolled_on or self.now, other.name) > mine:
				return None  # this one was enrolled first among those still here
			if other.name in self.ineligible or self.pending.get(other.name, {}).get("status") in ENDED:
				continue  # leaves (or left) the flow in this batch
			return other
		return None

	def recheck_before_step(self, p: ParticipantRow, step: MarketingFlowStep) -> Outcome | None:
		"""Re-checks of this participant before this step that skip the step (the participant
		goes on after it): the same address already active in this flow under another person
		(same_address_holder). None: the step runs."""
		if step.step_type not in TO_ADDRESS_STEPS:
			return None
		holder = self.same_address_holder(p)
		if holder is None:
			return None
		who = holder.full_name or holder.person or holder.name
		if holder.full_name and holder.person and holder.person != holder.full_name:
			who = f"{holder.full_name} ({holder.person})"
		return Outcome(
			step.next_step,
			event="Step Skipped",
			message=_("Same address already active in this flow: {0}").format(who),
		)

	def flow_still_running(self) -> bool:
		if self.dry_run:
			return True
		if time.monotonic() - self._flow_checked_at < FLOW_STATUS_RECHECK_SECONDS:
			return True
		self._flow_checked_at = time.monotonic()
		status = frappe.db.get_value("Marketing Flow", self.flow.name, "status")
		if status != "Running":
			self.flow_halted = True
			return False
		return True

	def out_of_time(self) -> bool:
		"""The job's budget is spent (after at least one participant: every job gets on)."""
		return self.deadline is not None and self.processed > 0 and time.monotonic() >= self.deadline

	def act_on_goal(self, p: ParticipantRow, criterion: str) -> bool:
		"""Mark the participant successful (before its next action); True when it stops here."""
		if goals.mark(self.flow, p, criterion, self.now):
			self.succeeded_people.append(p)
		if goals.stops_on_success(self.flow) and p.status != "Completed":
			self.end(p, "Exited", _("Goal met"), early=False)
			return True
		return False

	def advance(self, p: ParticipantRow, person: PersonRow) -> None:
		"""Run steps for one participant until a wait, the end, or an error. A step reached
		again in the same go is a loop that took no time: the participant is Stalled."""
		step_id = p.current_step
		visited: set[str] = set()
		recheck = False
		current = self.steps.get(step_id)
		if current is not None and current.step_type == "Wait" and p.status == "Waiting":
			# the wait is over: go on after it (`current_step` was the Wait while waiting). Not
			# `visited`: a loop back to it in this go (wait, remind, wait) waits anew.
			if not current.next_step:
				self.complete(p, step_id)
				return
			step_id = current.next_step
		elif (
			current is not None
			and current.step_type == wait_for_action.WAIT_FOR_ACTION
			and p.status == "Waiting"
		):
			# the wait for an action is over (taken, or timed out): go on down that branch. Not
			# `visited`: a loop back to it in this go waits for the action anew.
			following = self.action_wait_over(p, current, person)
			if following is None:
				return
			step_id = following
		for _hop in range(MAX_HOPS):
			step = self.steps.get(step_id)
			if step is None:
				self.fail(p, step_id, _("Step '{0}' no longer exists in the flow").format(step_id))
				return
			if step_id in visited:
				self.fail(
					p, step_id, _("Loop without waiting: step '{0}' would run twice at once").format(step_id)
				)
				return
			visited.add(step_id)
			if not self.flow_still_running():
				self.park(p, step_id)  # paused or stopped meanwhile: it waits here, not yet run
				return
			if recheck:
				fresh = self.recheck(p)
				if fresh is None:
					return
				person = fresh
			handler = handler_for(step.step_type)
			skipped = self.recheck_before_step(p, step)
			if skipped is None and handler.channel and not self.may_send(p, step_id, handler.channel):
				return
			ctx = StepContext(self.flow, step, p, person, self.now, self)
			if handler.writes:  # a failing step must leave nothing behind
				frappe.db.savepoint("mf_step")
			queued_before = len(self.mailer.queue_rows)
			try:
				outcome: Outcome = skipped or handler.execute(ctx)
			except Exception as e:
				if handler.writes:
					frappe.db.rollback(save_point="mf_step")
				del self.mailer.queue_rows[queued_before:], self.mailer.recipient_rows[queued_before:]
				self.retry_or_stall(p, step_id, e)
				return
			if handler.channel and outcome.event in ("Email Sent", "SMS Sent") and not self.dry_run:
				self.sends.count(1)
			ref_dt, ref_name = outcome.reference or (None, None)
			self.add_log(p, step_id, outcome.event, outcome.message, ref_dt, ref_name, branch=outcome.branch)
			p.step_seq = cint(p.step_seq) + 1
			self.update(p, {"step_seq": p.step_seq, "attempts": 0, "last_error": None, **outcome.updates})
			p.update(outcome.updates)
			p.attempts = 0
			p.current_step = step_id
			if outcome.exit_reason:
				self.end(p, "Exited", outcome.exit_reason)
				return
			if outcome.run_at and outcome.run_at > self.now:
				self.update(p, {"status": "Waiting", "current_step": step_id, "next_run_at": outcome.run_at})
				p.status = "Waiting"
				return
			if outcome.next_step is None:
				self.complete(p, step_id, logged=outcome.event == "Completed")
				return
			step_id = outcome.next_step
			recheck = handler.may_change_goals
		self.fail(p, step_id, _("More than {0} steps in one go without a wait").format(MAX_HOPS))

	def action_wait_over(self, p: ParticipantRow, step: MarketingFlowStep, person: PersonRow) -> str | None:
		"""A Wait for Action is due (steps/wait_for_action.py decides: the action's branch or the
		timeout's): log the timeout, end the flow there or out of it; returns the step to go on
		with (None: the participant's go ends here)."""
		over = wait_for_action.wait_over(StepContext(self.flow, step, p, person, self.now, self))
		if over.event:
			self.add_log(p, step.step_id, over.event, over.message, branch=over.branch)
		if over.exit_reason:
			self.end(p, "Exited", over.exit_reason)
			return None
		if not over.next_step:
			self.complete(p, step.step_id)
			return None
		return over.next_step

	def park(self, p: ParticipantRow, step_id: str) -> None:
		self.update(p, {"status": "Active", "current_step": step_id, "next_run_at": self.now})

	def may_send(self, p: ParticipantRow, step_id: str, channel: str) -> bool:
		"""Sending window, quiet hours and holidays on the person's clock (or the flow's), the
		hourly sending limit and the frequency cap per person: when one says not now, the
		participant waits at the send step (logged why) and sends later."""
		clock = self.clock_for(p)
		opens, why = clock.next_send(self.now, channel)
		if why:
			reason = why
		elif not self.dry_run and not self.sends.allows(1):
			opens = self.sends.next_hour(self.now)
			reason = _("Deferred by the hourly sending limit until {0}").format(f"{opens:%Y-%m-%d %H:%M}")
		elif capped := self.capped_until(p, channel):
			opens, _why = clock.next_send(capped, channel)
			reason = _("Deferred by the frequency cap until {0} ({1})").format(
				f"{clock.local(opens):%Y-%m-%d %H:%M}", clock.zone_name
			)
		else:
			return True
		self.update(p, {"status": "Waiting", "current_step": step_id, "next_run_at": opens})
		self.add_log(p, step_id, "Step Skipped", reason)
		return False

	def capped_until(self, p: ParticipantRow, channel: str) -> datetime | None:
		"""When the frequency cap lets this person get an email (None: now). Asked only when the
		window and the hourly limit allow the send: it costs a query of the person's log."""
		if channel != "Email" or not self.cap.active:
			return None
		pending = [when for _s, event, when in self.events_of(p.name) if event == "Email Sent"]
		return self.cap.next_allowed(p, self.now, pending, self.clock_for(p))

	def complete(self, p: ParticipantRow, step_id: str, logged: bool = False) -> None:
		"""A step with nothing after it (or an End) ends the flow there."""
		self.update(
			p,
			{
				"status": "Completed",
				"current_step": step_id,
				"next_run_at": None,
				"ended_on": self.now,
				"active_key": None,
				"attempts": 0,
			},
		)
		if not logged:
			self.add_log(p, step_id, "Completed", "")

	def retry_or_stall(self, p: ParticipantRow, step_id: str, error: Exception) -> None:
		"""The failed step is tried again with exponential backoff (earlier steps of this go keep
		their effects); after the last try the participant is Stalled. Outside calls count their
		tries in the outbox, which a rollback can't undo."""
		attempts = cint(p.attempts) + 1
		final = False
		if isinstance(error, OutsideCallFailed):
			attempts = max(attempts, error.attempts)
			final = error.final
		elif isinstance(error, render.RenderError):
			final = True  # the same template and data fail the same way: no use trying again
		message = f"{type(error).__name__}: {error}"[:1000]
		if final or attempts >= self.max_attempts:
			self.fail(p, step_id, message, attempts=attempts, early=True)
			frappe.log_error(
				title=f"Marketing flow {self.flow.name}: step {step_id} failed",
				message=traceback.format_exc(),
				reference_doctype="Marketing Flow Participant",
				reference_name=p.name,
			)
			return
		delay = timedelta(minutes=self.backoff * 2 ** (attempts - 1))
		self.update(
			p,
			{
				"status": "Active",
				"current_step": step_id,
				"next_run_at": self.now + delay,
				"attempts": attempts,
				"last_error": message,
			},
		)
		self.add_log(
			p,
			step_id,
			"Retry",
			_("Try {0} of {1} failed: {2}; next try in {3}").format(
				attempts, self.max_attempts, message, delay
			),
		)

	def fail(
		self,
		p: ParticipantRow,
		step_id: str | None,
		message: str,
		attempts: int | None = None,
		early: bool = False,
	) -> None:
		"""The participant is Stalled with `message`. `early`: a step that failed on its last try
		(retry_or_stall), which moves the participant on as an early exit does (end); a check
		that failed or a broken step graph does not: the flow's owner mends it and retries."""
		values: dict[str, Any] = {
			"status": "Stalled",
			"current_step": step_id,
			"next_run_at": None,
			"last_error": message,
		}
		if attempts is not None:
			values["attempts"] = attempts
		self.update(p, values)
		self.add_log(p, step_id, "Error", message)
		if early:
			self.left_early.append(p.name)

	def end(self, p: ParticipantRow, status: str, reason: str, early: bool = True) -> None:
		"""The participant leaves the flow with `reason`. An early exit, the flow's own way out (a
		step's Outcome with an exit reason: a Split's everyone else with no step, Send SMS without
		a number, a Wait for Action that timed out), moves it on to the flow's exit flow and exit
		email group (moves.py) after the batch commits; a goal met (`early=False`) or a person
		found ineligible or deleted by the batch (eligibility_problems) does not."""
		self.update(
			p,
			{
				"status": status,
				"exit_reason": reason[:140],
				"next_run_at": None,
				"ended_on": self.now,
				"active_key": None,
			},
		)
		self.add_log(p, p.current_step, "Exited", reason)
		if early and status == "Exited" and p.name not in self.ineligible:
			self.left_early.append(p.name)

	def halt_flow(self, error: str) -> None:
		"""A setting fails for every participant: pause the flow with the error shown on it and
		tell its owner, instead of failing every minute. Nobody of the batch moves."""
		self.flow_halted = True
		self.pending = {}
		self.logs, self._events = [], {}
		self.left_early = []
		lifecycle.pause_on_error(self.flow.name, error)

	def update(self, p: ParticipantRow, values: dict[str, Any]) -> None:  # fields of their own types
		self.pending.setdefault(p.name, {}).update(values)

	def write(self) -> None:
		"""The batch's writes: participants, Email Queue rows, log, in bulk. When the bulk write
		fails, each participant's writes are tried on their own, and a participant whose writes
		fail (e.g. a value too long for its column) is Stalled alone."""
		pending, queue, recipients, logs = (
			self.pending,
			self.mailer.queue_rows,
			self.mailer.recipient_rows,
			self.logs,
		)
		self.pending, self.mailer.queue_rows, self.mailer.recipient_rows, self.logs = {}, [], [], []
		self._events = {}
		frappe.db.savepoint("mf_write")
		try:
			participants.write_updates(pending, self.now)
			insert_rows(queue, recipients, mailer.packet_budget())
			log.write_many(logs)
			moves.record_exits(self.flow, self.left_early, self.now)
			return
		except Exception:
			frappe.db.rollback(save_point="mf_write")
		names = list(dict.fromkeys([*pending, *(q[5] for q in queue), *(e[1] for e in logs)]))
		for name in names:
			mine = [i for i, q in enumerate(queue) if q[5] == name]
			frappe.db.savepoint("mf_write")
			try:
				participants.write_updates({name: pending[name]} if name in pending else {}, self.now)
				insert_rows([queue[i] for i in mine], [recipients[i] for i in mine], mailer.packet_budget())
				log.write_many([e for e in logs if e[1] == name])
				moves.record_exits(self.flow, [name] if name in self.left_early else [], self.now)
			except Exception as e:
				frappe.db.rollback(save_point="mf_write")
				message = f"{type(e).__name__}: {e}"[:1000]
				participants.write_updates(
					{name: {"status": "Stalled", "next_run_at": None, "last_error": message}}, self.now
				)
				contact = next((entry[2] for entry in logs if entry[1] == name), None)
				log.write_many([log.entry(self.flow.name, name, contact, None, "Error", message)])

	def after_commit(self) -> None:
		"""The moves of this batch's participants (moves.py): what follows the goals met (success
		flow, goal-triggered flows) and where the early exits lead (exit flow, exit email group),
		in a transaction of its own: a failure there can't undo the batch, and leaves the moves
		pending for the scheduler."""
		moving = [p.name for p in self.succeeded_people] + self.left_early
		if not moving:
			return
		try:
			moves.run_pending(list(dict.fromkeys(moving)))
			frappe.db.commit()
		except Exception:
			frappe.db.rollback()
			frappe.log_error(
				title=f"Marketing flow {self.flow.name}: moving people on failed (retried later)"
			)


def _is_setting_error(error: Exception) -> bool:
	"""Errors that come from the flow's settings rather than from one participant's data: a
	filter on a field that is gone, invalid filters JSON."""
	if isinstance(error, frappe.ValidationError):
		return True
	if isinstance(error, pymysql.err.OperationalError | pymysql.err.ProgrammingError):
		return error.args and error.args[0] in (1054, 1146, 1064)  # unknown column / table, syntax
	return False


def _uses_local_days(step: MarketingFlowStep) -> bool:
	"""A wait whose end is a wall-clock matter: in days or weeks, at a time of day, on a date."""
	if step.step_type == wait_for_action.WAIT_FOR_ACTION:
		return wait_for_action.timeout_of(step)[1] in ("Days", "Weeks")  # its timeout
	if step.step_type != "Wait":
		return False
	return bool(
		step.get("wait_at_time")
		or step.get("wait_working_day")
		or step.get("use_sending_window")
		or step.get("wait_date_field")
		or (step.get("wait_amount") and (step.get("wait_unit") or "Days") in ("Days", "Weeks"))
	)
