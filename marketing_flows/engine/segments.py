"""Marketing Segments: dynamic lists of contacts, by filters or by a flow outcome (from the log)."""

from __future__ import annotations

from typing import Any

import frappe
from frappe import _
from frappe.email.doctype.email_group.email_group import add_subscribers

from marketing_flows.engine import filters, hosts

OUTCOME_EVENTS = {
	"Step Processed": ("Step Executed", "Email Sent", "SMS Sent", "Branch Yes", "Branch No"),
	"Clicked": ("Clicked",),
	"Bounced": ("Bounced",),
	"Goal Met": ("Goal Met",),
}


def _query_filters(segment: Any) -> list:
	return (
		filters.parse(segment.filters, _("Segment filters"))
		if segment.segment_type == "Contact Filters"
		else []
	)


def members_among(segment: Any, contacts: list[str]) -> set[str]:
	"""Which of `contacts` are in the segment now."""
	if not contacts:
		return set()
	return set(_members(segment, contacts))


def contacts(segment: Any, limit: int | None = None) -> list[str]:
	return _members(segment, None, limit)


def _members(segment: Any, among: list[str] | None, limit: int | None = None) -> list[str]:
	person = hosts.person_doctype()
	if segment.segment_type == "Contact Filters":
		conds = list(_query_filters(segment))
		if among is not None:
			conds.append([person, "name", "in", among])
		return frappe.get_all(person, filters=conds, pluck="name", limit=limit or 0, order_by="name asc")
	if segment.outcome in ("Stalled", "Blocked"):
		p = {"flow": segment.flow}
		p["status"] = "Stalled" if segment.outcome == "Stalled" else "Exited"
		if segment.step_id:
			p["current_step"] = segment.step_id
		if among is not None:
			p["contact"] = ("in", among)
		return list(
			dict.fromkeys(
				frappe.get_all("Marketing Flow Participant", filters=p, pluck="contact", limit=limit or 0)
			)
		)
	conds: dict = {"flow": segment.flow, "event": ("in", OUTCOME_EVENTS[segment.outcome])}
	if segment.step_id and segment.outcome != "Goal Met":
		conds["step_id"] = segment.step_id
	if among is not None:
		conds["contact"] = ("in", among)
	return frappe.get_all(
		"Marketing Flow Log", filters=conds, pluck="contact", distinct=True, limit=limit or 0
	)


def export_to_email_group(segment: Any, email_group: str) -> dict:
	"""Add the segment's contacts' emails to an Email Group (existing members are kept)."""
	person = hosts.person_doctype()
	names = contacts(segment)
	emails = (
		[e for e in frappe.get_all(person, filters={"name": ("in", names)}, pluck="email_id") if e]
		if names
		else []
	)
	existing = set(frappe.get_all("Email Group Member", filters={"email_group": email_group}, pluck="email"))
	new = [e for e in emails if e not in existing]
	if new:
		add_subscribers(email_group, new)
	return {"added": len(new), "total": len(emails)}
