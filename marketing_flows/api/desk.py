"""Desk figures outside the flow form: the workspace's success-rate card and the flow list's
columns. Grouped queries on indexed columns (flow, status, succeeded), never row by row."""

from __future__ import annotations

import frappe
from frappe.query_builder.functions import Count, Sum

from marketing_flows.engine.measuring import figures


def _require_participant_read() -> None:
	frappe.has_permission("Marketing Flow Participant", "read", throw=True)


@frappe.whitelist()
def success_rate_card(filters: str | dict | None = None) -> dict:
	"""Number Card "Success Rate": successful / enrolled, over every flow the user may read."""
	_require_participant_read()
	p = frappe.qb.DocType("Marketing Flow Participant")
	enrolled, succeeded = (
		frappe.qb.from_(p).select(Count("*"), Sum(p.succeeded)).where(p.status != "Held Out").run()[0]
	)  # a control group's people are not enrolled
	rate = round(100.0 * int(succeeded or 0) / enrolled, 1) if enrolled else 0.0
	return {"value": rate, "fieldtype": "Percent"}


@frappe.whitelist()
def list_figures(flows: str | list | None = None) -> dict:
	"""flow -> {enrolled, active, succeeded, success_rate} for the rows the flow list shows
	(figures.list_figures: the same as the flow's Overview, for a page of flows at once)."""
	_require_participant_read()
	flows = frappe.parse_json(flows) if isinstance(flows, str) else flows
	if not flows:
		return {}
	readable = set(frappe.get_list("Marketing Flow", filters={"name": ("in", flows[:500])}, pluck="name"))
	if not readable:
		return {}
	return figures.list_figures(sorted(readable))
