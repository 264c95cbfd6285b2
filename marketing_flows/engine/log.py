"""Marketing Flow Log: append-only events, written in bulk by the runner."""

from __future__ import annotations

import frappe
from frappe.utils import now_datetime

FIELDS = (
	"flow", "participant", "contact", "step_id", "event", "message", "url",
	"reference_doctype", "reference_name", "creation", "modified", "owner", "modified_by",
)


def entry(
	flow: str,
	participant: str | None,
	contact: str | None,
	step_id: str | None,
	event: str,
	message: str = "",
	url: str | None = None,
	reference_doctype: str | None = None,
	reference_name: str | None = None,
) -> tuple:
	now = now_datetime()
	user = frappe.session.user if frappe.session else "Administrator"
	return (
		flow, participant, contact, step_id, event, (message or "")[:2000], url,
		reference_doctype, reference_name, now, now, user, user,
	)


def write_many(entries: list[tuple]) -> None:
	"""One INSERT for many events (names come from the autoincrement key)."""
	if entries:
		frappe.db.bulk_insert("Marketing Flow Log", FIELDS, entries, ignore_duplicates=False)


def write(*args, **kwargs) -> None:
	write_many([entry(*args, **kwargs)])
