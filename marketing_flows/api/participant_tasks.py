"""Desk endpoints behind the Participants tab's tasks (engine/running/participant_tasks.py):
add the chosen participants to another flow, remove them from this flow, add them to an email
group. The chosen ones are `participants` (the ticked rows' names) or, with none, the tab's list
as `filters` ({status, step, search}) show it. Each works on the stored flow and checks the
caller there: enrolling and removing are a Flow Administrator's."""

from __future__ import annotations

from typing import TYPE_CHECKING

import frappe

from marketing_flows.engine.running import participant_tasks

if TYPE_CHECKING:
	from marketing_flows.engine.doctypes import MarketingFlow


def _flow(flow: str) -> MarketingFlow:
	"""The stored flow, readable by the caller (the task then checks its own right)."""
	doc = frappe.get_doc("Marketing Flow", flow)
	doc.check_permission("read")
	return doc


@frappe.whitelist(methods=["POST"])
def add_to_another_flow(
	flow: str,
	target_flow: str | None = None,
	participants: list[str] | str | None = None,
	filters: dict | str | None = None,
) -> dict:
	return participant_tasks.start(
		_flow(flow), "add_to_flow", participants, filters, {"target_flow": target_flow or ""}
	)


@frappe.whitelist(methods=["POST"])
def remove_from_flow(
	flow: str, participants: list[str] | str | None = None, filters: dict | str | None = None
) -> dict:
	return participant_tasks.start(_flow(flow), "remove", participants, filters)


@frappe.whitelist(methods=["POST"])
def add_to_email_group(
	flow: str,
	email_group: str | None = None,
	participants: list[str] | str | None = None,
	filters: dict | str | None = None,
) -> dict:
	return participant_tasks.start(
		_flow(flow), "add_to_email_group", participants, filters, {"email_group": email_group or ""}
	)
