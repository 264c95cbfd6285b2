"""Run / pause / stop of a flow: the only way its status changes."""

from __future__ import annotations

import html
from typing import Any

import frappe
from frappe import _
from frappe.utils import now_datetime

from marketing_flows.engine import validation
from marketing_flows.engine.permissions import require_flow_operator

ACTIVE_STATUSES = ("Active", "Waiting", "Stalled")


def _set_status(flow: Any, status: str, **values: Any) -> None:
	flow.status = status
	for key, value in values.items():
		flow.set(key, value)
	flow.flags.status_change_allowed = True
	try:
		flow.save()
	finally:
		flow.flags.status_change_allowed = False


def run(flow: Any) -> dict:
	"""Draft or Paused → Running, after validating the whole flow."""
	require_flow_operator(flow)
	if flow.status == "Running":
		return {"status": flow.status}
	if flow.status == "Stopped":
		frappe.throw(_("A stopped flow can't be run again: duplicate it to start a new one."))
	if not flow.steps:
		frappe.throw(_("Add at least one step before running the flow."))
	errors = validation.flow_errors(flow)
	if errors:
		frappe.throw("<br>".join(html.escape(e, quote=False) for e in errors), title=_("The flow can't run"))
	resuming = flow.status == "Paused"
	_set_status(flow, "Running", started_on=flow.started_on or now_datetime())
	from marketing_flows.engine import runner

	if resuming:
		runner.apply_resume_policy(flow)
	runner.enqueue_flow(flow.name)
	return {"status": flow.status}


def pause(flow: Any) -> dict:
	"""Running → Paused: everyone stays where they are; steps become editable."""
	require_flow_operator(flow)
	if flow.status != "Running":
		frappe.throw(_("Only a running flow can be paused (this one is {0}).").format(_(flow.status)))
	_set_status(flow, "Paused", paused_on=now_datetime())
	return {"status": flow.status}


def stop(flow: Any) -> dict:
	"""Ends every active participation (exit reason "Flow stopped"). A stopped flow stays stopped."""
	require_flow_operator(flow)
	if flow.status == "Stopped":
		return {"status": flow.status}
	_set_status(flow, "Stopped", stopped_on=now_datetime())
	from marketing_flows.engine import runner

	p = frappe.qb.DocType("Marketing Flow Participant")
	active = (
		frappe.qb.from_(p).select(p.name).where((p.flow == flow.name) & p.status.isin(ACTIVE_STATUSES)).run(pluck=True)
	)
	exited = runner.end_participants(flow.name, active, "Exited", "Flow stopped")
	return {"status": flow.status, "exited": exited}


def retry_stalled(flow: Any) -> dict:
	"""Stalled participants (a step failed on every try) get a fresh set of tries, now."""
	require_flow_operator(flow)
	from marketing_flows.engine import log, runner

	rows = frappe.get_all(
		"Marketing Flow Participant",
		filters={"flow": flow.name, "status": "Stalled"},
		fields=["name", "contact", "current_step"],
	)
	if rows:
		p = frappe.qb.DocType("Marketing Flow Participant")
		now = now_datetime()
		(
			frappe.qb.update(p)
			.set(p.status, "Active")
			.set(p.attempts, 0)
			.set(p.next_run_at, now)
			.set(p.modified, now)
			.where((p.flow == flow.name) & (p.status == "Stalled"))
		).run()
		log.write_many(
			[log.entry(flow.name, r.name, r.contact, r.current_step, "Retry", "Retried by " + frappe.session.user) for r in rows]
		)
		if flow.status == "Running":
			runner.enqueue_flow(flow.name)
	return {"retried": len(rows)}
