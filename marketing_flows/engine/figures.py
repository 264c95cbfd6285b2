"""Key figures of a flow, from the participant table (one grouped query)."""

from __future__ import annotations

from typing import Any

import frappe
from frappe.query_builder.functions import Count, Sum

from marketing_flows.engine import variants


def flow_figures(flow: str) -> dict:
	p = frappe.qb.DocType("Marketing Flow Participant")
	rows = (
		frappe.qb.from_(p)
		.select(p.status, Count("*"), Sum(p.succeeded), Sum(p.sent_marketing_email))
		.where(p.flow == flow)
		.groupby(p.status)
		.run()
	)
	by_status = {status: int(n) for status, n, _s, _e in rows}
	enrolled = sum(by_status.values())
	succeeded = sum(int(s or 0) for _st, _n, s, _e in rows)
	emailed = sum(int(e or 0) for _st, _n, _s, e in rows)
	succeeded_emailed = (
		frappe.db.count(
			"Marketing Flow Participant", {"flow": flow, "succeeded": 1, "sent_marketing_email": 1}
		)
		if succeeded
		else 0
	)
	return {
		"enrolled": enrolled,
		"active": by_status.get("Active", 0) + by_status.get("Waiting", 0),
		"waiting": by_status.get("Waiting", 0),
		"completed": by_status.get("Completed", 0),
		"exited": by_status.get("Exited", 0),
		"stalled": by_status.get("Stalled", 0),
		"succeeded": succeeded,
		"sent_marketing_email": emailed,
		"success_rate": round(100.0 * succeeded / enrolled, 1) if enrolled else 0.0,
		"goal_conversion_rate": round(100.0 * succeeded_emailed / emailed, 1) if emailed else 0.0,
	}


def step_figures(flow: str) -> dict[str, dict[str, int]]:
	"""step_id -> event -> count, from the log (index: flow, step_id, event)."""
	log = frappe.qb.DocType("Marketing Flow Log")
	rows = (
		frappe.qb.from_(log)
		.select(log.step_id, log.event, Count("*"))
		.where(log.flow == flow)
		.groupby(log.step_id, log.event)
		.run()
	)
	out: dict[str, dict[str, int]] = {}
	for step_id, event, count in rows:
		out.setdefault(step_id or "", {})[event] = int(count)
	return out


def branch_figures(flow: str) -> dict[str, dict[str, int]]:
	"""step_id -> branch (or variant) key -> participants who took it (Split, A/B Test)."""
	log = frappe.qb.DocType("Marketing Flow Log")
	rows = (
		frappe.qb.from_(log)
		.select(log.step_id, log.branch, Count("*"))
		.where((log.flow == flow) & (log.event == "Step Executed") & log.branch.isnotnull())
		.groupby(log.step_id, log.branch)
		.run()
	)
	out: dict[str, dict[str, int]] = {}
	for step_id, branch, count in rows:
		out.setdefault(step_id, {})[branch] = int(count)
	return out


def variant_figures(flow: Any) -> dict[str, dict[str, dict]]:
	"""A/B Test step_id -> variant key -> assigned, sent, opened, clicked, succeeded and rates."""
	return {
		step.step_id: variants.figures(flow.name, step.step_id)
		for step in flow.steps
		if step.step_type == "A/B Test"
	}
