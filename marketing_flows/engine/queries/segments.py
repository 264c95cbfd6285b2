"""Marketing Segments: dynamic lists of people (Contacts or leads: the segment's
`person_doctype`), by filters or by a flow outcome (from the log)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import frappe
from frappe import _
from frappe.email.doctype.email_group.email_group import add_subscribers

from marketing_flows.engine.hosts import doctype_roles, person_records
from marketing_flows.engine.permissions import readable
from marketing_flows.engine.queries import filters

if TYPE_CHECKING:
	from marketing_flows.engine.doctypes import MarketingSegment

MAX_EXPORT = 100_000  # people one export adds to an Email Group

OUTCOME_EVENTS = {
	"Step Processed": (
		"Step Executed",
		"Email Sent",
		"SMS Sent",
		"Branch Yes",
		"Branch No",
		"Notified",
		"Owner Assigned",
	),
	"Clicked": ("Clicked",),
	"Bounced": ("Bounced",),
	"Goal Met": ("Goal Met",),
}


def _query_filters(segment: MarketingSegment) -> list:
	return (
		filters.parse(segment.filters, _("Segment filters"))
		if segment.segment_type == "Contact Filters"
		else []
	)


def members_among(segment: MarketingSegment, contacts: list[str]) -> set[str]:
	"""Which of `contacts` are in the segment now."""
	if not contacts:
		return set()
	return set(_members(segment, contacts))


def contacts(segment: MarketingSegment, limit: int | None = None) -> list[str]:
	return _members(segment, None, limit)


def person_doctype(segment: MarketingSegment) -> str:
	"""Whom the segment lists: its own person doctype, or for a flow outcome the flow's people."""
	if segment.segment_type == "Flow Outcome" and segment.get("flow"):
		return frappe.get_cached_value("Marketing Flow", segment.flow, "person_doctype") or "Contact"
	return doctype_roles.person_doctype(segment)


def _members(segment: MarketingSegment, among: list[str] | None, limit: int | None = None) -> list[str]:
	person = person_doctype(segment)
	if segment.segment_type == "Contact Filters":
		conds = list(_query_filters(segment))
		if among is not None:
			conds.append([person, "name", "in", among])
		return frappe.get_all(person, filters=conds, pluck="name", limit=limit or 0, order_by="name asc")
	if segment.outcome in ("Stalled", "Blocked"):
		p: dict[str, str | tuple[str, list[str]] | None] = {"flow": segment.flow}
		p["status"] = "Stalled" if segment.outcome == "Stalled" else "Exited"
		if segment.step_id:
			p["current_step"] = segment.step_id
		if among is not None:
			p["person"] = ("in", among)
		return list(
			dict.fromkeys(
				frappe.get_all("Marketing Flow Participant", filters=p, pluck="person", limit=limit or 0)
			)
		)
	lg = frappe.qb.DocType("Marketing Flow Log")
	part = frappe.qb.DocType("Marketing Flow Participant")
	query = (
		frappe.qb.from_(lg)
		.join(part)
		.on(part.name == lg.participant)
		.select(part.person)
		.distinct()
		.where((lg.flow == segment.flow) & lg.event.isin(OUTCOME_EVENTS[segment.outcome]))
	)
	if segment.step_id and segment.outcome != "Goal Met":
		query = query.where(lg.step_id == segment.step_id)
	if among is not None:
		query = query.where(part.person.isin(among))
	if limit:
		query = query.limit(limit)
	return query.run(pluck=True)


def export_to_email_group(segment: MarketingSegment, email_group: str) -> dict:
	"""Add the emails of the segment's people that the current user may read to an Email Group
	(existing members are kept). A segment of more than MAX_EXPORT people is refused: an export
	is a list for a newsletter, not a copy of the database."""
	person = person_doctype(segment)
	names = contacts(segment, limit=MAX_EXPORT + 1)
	if len(names) > MAX_EXPORT:
		frappe.throw(
			_("This segment has more than {0} people: narrow it before exporting it.").format(
				f"{MAX_EXPORT:,}"
			),
			title=_("Segment too large"),
		)
	visible = readable(person, names)
	names = [n for n in names if n in visible]
	emails = [
		r.get("email_id")
		for r in person_records.person_rows(person, names, person_records.person_fields(person)).values()
		if r.get("email_id")
	]
	existing = set(frappe.get_all("Email Group Member", filters={"email_group": email_group}, pluck="email"))
	new = [e for e in emails if e not in existing]
	if new:
		add_subscribers(email_group, new)
	return {"added": len(new), "total": len(emails)}
