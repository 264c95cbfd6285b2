"""Run / pause / resume / stop of a flow, and pausing it on an error: the only code that changes a
flow's status (the runner pauses through `pause_on_error`)."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any, Literal, cast

import frappe
from frappe import _
from frappe.query_builder.functions import IfNull
from frappe.utils import get_datetime, now_datetime

from marketing_flows.engine import log
from marketing_flows.engine.changing import approval
from marketing_flows.engine.permissions import require_flow_operator
from marketing_flows.engine.running import participants, runner_jobs, validation
from marketing_flows.engine.running.participants import ACTIVE, DUE
from marketing_flows.engine.sending import outbox

if TYPE_CHECKING:
	from marketing_flows.engine.doctypes import MarketingFlow

SYNC_LIMIT = 2000  # more participants than this: stop / resume work in a background job


def _set_status(
	flow: MarketingFlow,
	status: Literal["Running", "Paused", "Stopped"],
	**values: Any,  # the flow's fields to set with it, of their own types
) -> None:
	flow.status = status
	for key, value in values.items():
		flow.set(key, value)
	flow.flags.status_change_allowed = True
	try:
		flow.save()
	finally:
		flow.flags.status_change_allowed = False


def run(flow: MarketingFlow) -> dict:
	"""Draft, Paused or Stopped (run again) → Running, after validating the whole flow."""
	require_flow_operator(flow)
	if flow.status == "Running":
		return {"status": flow.status}
	if flow.status == "Stopped":
		# Run again (SuperOffice: end the flow, then run it again) for new people: the earlier
		# participations stay as they ended ("Flow stopped") and count in the figures; whether
		# those people may come back is the re-enrolment policy's answer, as for anyone who left.
		ending = frappe.db.count("Marketing Flow Participant", {"flow": flow.name, "status": ("in", ACTIVE)})
		if ending:  # the stop's background job is still ending them
			frappe.throw(
				_("The flow is still being stopped ({0} people to go): run it again after.").format(ending)
			)
		flow.stopped_on = None  # not stopped any more; started_on stays the first start
	if not flow.steps:
		frappe.throw(_("Add at least one step before running the flow."))
	errors = validation.flow_errors(flow)
	if errors:
		frappe.throw("<br>".join(html.escape(e, quote=False) for e in errors), title=_("The flow can't run"))
	validation.check_flow_cycle(flow, refuse=True)  # before any participant is touched
	approval.require_approved(flow)  # Require Approval: the flow as it is now must be approved
	if flow.status == "Paused" and (flow.resume_policy or "Send Overdue") == "Skip Overdue":
		due = frappe.db.count(
			"Marketing Flow Participant", {"flow": flow.name, "status": ("in", participants.DUE)}
		)
		if due > SYNC_LIMIT:
			# Skip first, run after: the flow stays Paused until the overdue sends are skipped,
			# so that no runner job sends them late in the meantime.
			frappe.enqueue(
				"marketing_flows.engine.running.lifecycle.resume_in_background",
				queue="long",
				timeout=3600,
				job_id=f"marketing_flows:resume:{flow.name}",
				deduplicate=True,
				enqueue_after_commit=True,
				flow_name=flow.name,
				user=frappe.session.user,
			)
			return {"status": flow.status, "queued": due}
		skip_overdue_sends(flow)
	_set_status(flow, "Running", started_on=flow.started_on or now_datetime(), last_error=None)
	runner_jobs.enqueue_flow(flow.name)
	return {"status": flow.status}


def resume_in_background(flow_name: str, user: str) -> None:
	"""Skip Overdue on a large flow, then Running (see run)."""
	doc = frappe.get_doc("Marketing Flow", flow_name)
	if doc.status != "Paused":
		return
	skipped = skip_overdue_sends(doc)
	doc.reload()
	if doc.status == "Paused":
		_set_status(doc, "Running", started_on=doc.started_on or now_datetime(), last_error=None)
		runner_jobs.enqueue_flow(doc.name)
	frappe.publish_realtime(
		"marketing_flows_resumed", {"flow": flow_name, "skipped": skipped}, user=user, after_commit=True
	)


def pause(flow: MarketingFlow) -> dict:
	"""Running → Paused: everyone stays where they are; steps become editable."""
	require_flow_operator(flow)
	if flow.status != "Running":
		frappe.throw(_("Only a running flow can be paused (this one is {0}).").format(_(flow.status)))
	_set_status(flow, "Paused", paused_on=now_datetime())
	return {"status": flow.status}


def stop(flow: MarketingFlow) -> dict:
	"""Ends every active participation (exit reason "Flow stopped"); the flow can be run again.
	The flow is Stopped at once (no step runs, nobody is enrolled any more); a large flow's
	participations are ended by a background job with progress."""
	require_flow_operator(flow)
	if flow.status == "Stopped":
		return {"status": flow.status}
	_set_status(flow, "Stopped", stopped_on=now_datetime())
	# Committed before counting: an enrolment that holds the flow row (enrolment.current_status)
	# has committed by now, and the fresh snapshot after this commit sees its participants.
	frappe.db.commit()
	active = frappe.db.count("Marketing Flow Participant", {"flow": flow.name, "status": ("in", ACTIVE)})
	if active > SYNC_LIMIT:
		frappe.enqueue(
			"marketing_flows.engine.running.lifecycle.end_all_participations",
			queue="long",
			timeout=3600,
			job_id=f"marketing_flows:stop:{flow.name}",
			deduplicate=True,
			enqueue_after_commit=True,
			flow_name=flow.name,
		)
		return {"status": flow.status, "exited": 0, "queued": active}
	return {"status": flow.status, "exited": end_all_participations(flow.name, commit=False)}


def end_all_participations(flow_name: str, commit: bool = True) -> int:
	"""End every active participation of a stopped flow, in chunks (committed one by one in a
	background job, with progress)."""
	p = frappe.qb.DocType("Marketing Flow Participant")
	names = (
		frappe.qb.from_(p).select(p.name).where((p.flow == flow_name) & p.status.isin(ACTIVE)).run(pluck=True)
	)
	ended = 0
	for start in range(0, len(names), 1000):
		ended += participants.end_participants(
			flow_name, names[start : start + 1000], "Exited", _("Flow stopped")
		)
		if commit:
			frappe.db.commit()
			if len(names) > 1000:
				frappe.publish_progress(
					min(100, (start + 1000) * 100 / len(names)),
					title=_("Stopping {0}").format(flow_name),
					description=_("{0} of {1}").format(min(start + 1000, len(names)), len(names)),
				)
	return ended


def retry_stalled(flow: MarketingFlow) -> dict:
	"""Stalled participants (a step failed on every try) get a fresh set of tries, now. Only
	those still Stalled when this runs: one that exited meanwhile (removed, goal met) stays so."""
	require_flow_operator(flow)
	p = frappe.qb.DocType("Marketing Flow Participant")
	# a locking read sees the committed rows of now, not this request's older snapshot
	rows = (
		frappe.qb.from_(p)
		.select(p.name, p.contact, p.current_step)
		.where((p.flow == flow.name) & (p.status == "Stalled"))
		.for_update()
		.run(as_dict=True)
	)
	if rows:
		now = now_datetime()
		(
			frappe.qb.update(p)
			.set(p.status, "Active")
			.set(p.attempts, 0)
			.set(p.next_run_at, now)
			.set(p.modified, now)
			.where(p.name.isin([r.name for r in rows]) & (p.status == "Stalled"))
		).run()
		outbox.reset_tries([r.name for r in rows])
		log.write_many(
			[
				log.entry(
					flow.name,
					r.name,
					r.contact,
					r.current_step,
					"Retry",
					_("Retried by {0}").format(frappe.session.user),
				)
				for r in rows
			]
		)
		if flow.status == "Running":
			runner_jobs.enqueue_flow(flow.name)
	return {"retried": len(rows)}


def skip_overdue_sends(flow: MarketingFlow) -> int:
	"""On resume with "Skip Overdue": a send that fell due during the pause is skipped (logged)
	instead of going out late; people enrolled during the pause start normally. Due sends are
	participants at a send step (sending window, retry), or waiting at a Wait whose next step is
	a send. Set-based, in chunks committed one by one: fine for a 100 000-participant flow in a
	background job.

	Whatever happened to a participant while the flow was paused stands: each chunk is read
	again with a locking read (the rows as committed now, not as this request first saw them) and
	written only where the participant is still due at the same step, so an exit, a goal or a
	completion committed meanwhile is never turned back into Active."""
	if (flow.resume_policy or "Send Overdue") != "Skip Overdue" or not flow.get("paused_on"):
		return 0
	now = now_datetime()
	steps = {s.step_id: s for s in flow.steps}
	sends = [sid for sid, s in steps.items() if s.step_type in ("Send Email", "Send SMS")]
	waits = [sid for sid, s in steps.items() if s.step_type == "Wait" and s.next_step in sends]
	if not sends:
		return 0
	paused_on = get_datetime(flow.paused_on)
	p = frappe.qb.DocType("Marketing Flow Participant")
	at_send = p.status.isin(DUE) & p.current_step.isin(sends)
	after_wait = (p.status == "Waiting") & p.current_step.isin(waits) if waits else at_send
	overdue = (
		(at_send | after_wait)
		& (p.next_run_at >= paused_on)
		& (p.next_run_at <= now)
		& (p.enrolled_on < paused_on)
	)
	names = frappe.qb.from_(p).select(p.name).where((p.flow == flow.name) & overdue).run(pluck=True)
	skipped = 0
	for start in range(0, len(names), 1000):
		rows = (
			frappe.qb.from_(p)
			.select(p.name, p.contact, p.current_step)
			.where(p.name.isin(names[start : start + 1000]) & overdue)
			.for_update()
			.run(as_dict=True)
		)
		by_send: dict[str, list] = {}
		for r in rows:
			# at a send, or at a wait whose next step is one (`waits`)
			send = r.current_step if r.current_step in sends else cast(str, steps[r.current_step].next_step)
			by_send.setdefault(send, []).append(r)
		entries: list[tuple] = []
		for send_id, group in by_send.items():
			send = steps[send_id]
			update = frappe.qb.update(p).set(p.modified, now)
			if send.next_step:
				update = (
					update.set(p.status, "Active")
					.set(p.current_step, send.next_step)
					.set(p.next_run_at, now)
					.set(p.step_seq, IfNull(p.step_seq, 0) + 1)
				)
			else:
				update = (
					update.set(p.status, "Completed")
					.set(p.current_step, send.step_id)
					.set(p.next_run_at, None)
					.set(p.ended_on, now)
					.set(p.active_key, None)
				)
			# locked above; the conditions again so that nothing else is ever overwritten
			update.where(p.name.isin([r.name for r in group]) & overdue).run()
			entries.extend(
				log.entry(
					flow.name,
					r.name,
					r.contact,
					send.step_id,
					"Step Skipped",
					_("Overdue after pause (Skip Overdue)"),
				)
				for r in group
			)
		log.write_many(entries)
		frappe.db.commit()
		skipped += len(entries)
	return skipped


def pause_on_error(flow_name: str, error: str) -> None:
	"""Pause a running flow because of `error`, show it on the flow and notify its owner."""
	frappe.db.rollback()
	p = frappe.qb.DocType("Marketing Flow")
	now = now_datetime()
	(
		frappe.qb.update(p)
		.set(p.status, "Paused")
		.set(p.paused_on, now)
		.set(p.last_error, error)
		.set(p.modified, now)
		.where((p.name == flow_name) & (p.status == "Running"))
	).run()
	owner = frappe.db.get_value("Marketing Flow", flow_name, "owner")
	if owner and frappe.db.exists("User", owner) and owner != "Guest":
		frappe.get_doc(
			{
				"doctype": "Notification Log",
				"subject": _("Flow {0} was paused: {1}").format(flow_name, error)[:140],
				"email_content": error,
				"for_user": owner,
				"type": "Alert",
				"document_type": "Marketing Flow",
				"document_name": flow_name,
			}
		).insert(ignore_permissions=True)
	frappe.db.commit()
	frappe.cache.delete_value("marketing_flows:watched_doctypes")
