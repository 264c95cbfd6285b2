"""Eligibility: may this person be in this flow at all? No longer at the company, audience
filters, unsubscribes, consent and suppression lists. Asked at enrolment and again by the runner
before every step (running/batch.py: a participant found ineligible exits with the reason)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import frappe
from frappe import _
from frappe.utils import cint

from marketing_flows.engine.hosts import person_records
from marketing_flows.engine.queries import filters, segments

if TYPE_CHECKING:
	from marketing_flows.engine.doctypes import MarketingFlow


# A Contact marked "No Longer at the Company" (a Check the app adds to Contact, install.py):
# nobody of a flow writes to them any more. Leads have no such field.
LEFT_COMPANY_FIELD = "mf_left_company"


def left_company_field(doctype: str) -> str | None:
	"""The person doctype's "No Longer at the Company" field, when it has one (Contact)."""
	return (
		LEFT_COMPANY_FIELD
		if doctype == "Contact" and frappe.get_meta(doctype).has_field(LEFT_COMPANY_FIELD)
		else None
	)


def consent_field() -> str | None:
	return frappe.db.get_single_value("Marketing Flow Settings", "consent_field") or None


def person_columns(doctype: str = "Contact") -> list[str]:
	"""Columns of the person (of `doctype`) that eligibility (and enrolment) read."""
	fields = person_records.person_fields(doctype)
	field = consent_field()
	if field and frappe.get_meta(doctype).has_field(field) and field not in fields:
		fields.append(field)
	if (left := left_company_field(doctype)) and left not in fields:
		fields.append(left)
	return fields


def problems(flow: MarketingFlow, people: list[str], rows: dict) -> dict[str, str]:
	"""person -> why it may not be in this flow (no longer at the company, audience filters,
	unsubscribed, consent, suppression). `rows` holds each person's row with `person_columns()`
	(or all its columns): no longer at the company is read there, no query."""
	why: dict[str, str] = {}
	if not people:
		return why
	person = flow.person_doctype
	if left := left_company_field(person):
		for name in people:
			if cint(rows[name].get(left)):
				why[name] = _("No longer at the company")
	audience = filters.parse(flow.audience_filters, _("Audience Filters"))
	if audience:
		matching = set(
			frappe.get_all(person, filters=[[person, "name", "in", people], *audience], pluck="name")
		)
		for name in people:
			if name not in matching and name not in why:
				why[name] = _("does not match the flow's audience filters")
	field = consent_field()
	unsubscribed = unsubscribed_emails([rows[c].email_id for c in people if rows[c].get("email_id")])
	by_record = person_records.unsubscribed_by_record(person, [c for c in people if c not in why])
	for name in people:
		if name in why:
			continue
		row = rows[name]
		if (
			cint(row.get("unsubscribed"))
			or name in by_record
			or (row.get("email_id") or "").lower() in unsubscribed
		):
			why[name] = _("unsubscribed")
		elif flow.requires_consent and not cint(row.get(field) if field else 0):
			why[name] = _("no marketing consent")
	for name, list_name in suppressed(flow, [c for c in people if c not in why], rows).items():
		why[name] = _("suppressed by {0}").format(list_name)
	return why


def unsubscribed_emails(emails: list[str]) -> set[str]:
	"""Emails with a global Email Unsubscribe (Frappe's own unsubscribe records)."""
	if not emails:
		return set()
	return {
		e.lower()
		for e in frappe.get_all(
			"Email Unsubscribe", filters={"email": ("in", emails), "global_unsubscribe": 1}, pluck="email"
		)
	}


def suppressed(flow: MarketingFlow, people: list[str], rows: dict) -> dict[str, str]:
	"""person -> the suppression list that holds it."""
	found: dict[str, str] = {}
	if not people or not flow.get("suppression_lists"):
		return found
	by_email: dict[str, list[str]] = {}
	for name in people:
		if rows[name].get("email_id"):
			by_email.setdefault(rows[name]["email_id"].lower(), []).append(name)
	for row in flow.suppression_lists:
		if row.list_type == "Email Group" and row.email_group and by_email:
			members = frappe.get_all(
				"Email Group Member",
				filters={"email_group": row.email_group, "email": ("in", list(by_email))},
				pluck="email",
			)
			for email in members:
				for name in by_email.get(email.lower(), []):
					found.setdefault(name, row.email_group)
		elif row.list_type == "Segment" and row.segment:
			segment = frappe.get_cached_doc("Marketing Segment", row.segment)
			for name in segments.members_among(segment, people):
				found.setdefault(name, row.segment)
	return found
