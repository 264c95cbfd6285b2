"""Marketing Flow Log: append-only events, written in bulk by the runner."""

from __future__ import annotations

from typing import TYPE_CHECKING

import frappe
from frappe.utils import now_datetime

if TYPE_CHECKING:
	from pypika.queries import Table
	from pypika.terms import Criterion

	from marketing_flows.engine.doctypes import ParticipantRow

FIELDS = (
	"flow",
	"participant",
	"contact",
	"step_id",
	"event",
	"message",
	"url",
	"reference_doctype",
	"reference_name",
	"branch",
	"flow_version",
	"creation",
	"modified",
	"owner",
	"modified_by",
)


def entry(
	flow_name: str,
	participant_name: str | None,
	contact: str | None,
	step_id: str | None,
	event: str,
	message: str = "",
	url: str | None = None,
	reference_doctype: str | None = None,
	reference_name: str | None = None,
	branch: str | None = None,
	version: int | None = None,
) -> tuple:
	"""One event as a row of FIELDS; `version` is the flow version the participant walks (0
	where the caller doesn't know it: the event then counts for the flow, not a version)."""
	now = now_datetime()
	user = frappe.session.user if frappe.session else "Administrator"
	return (
		flow_name,
		participant_name,
		contact,
		step_id,
		event,
		(message or "")[:2000],
		url,
		reference_doctype,
		reference_name,
		branch,
		version or 0,
		now,
		now,
		user,
		user,
	)


SEQUENCE = "`marketing_flow_log_id_seq`"  # Frappe's sequence for the autoincrement name
CHUNK = 2000


def write_many(entries: list[tuple]) -> None:
	"""One INSERT per 2000 events; names come from the doctype's sequence, as Frappe's own
	autoincrement naming does for a single insert."""
	columns = ", ".join(f"`{f}`" for f in ("name", *FIELDS))
	row = "(NEXTVAL(" + SEQUENCE + "), " + ", ".join(["%s"] * len(FIELDS)) + ")"
	for start in range(0, len(entries), CHUNK):
		chunk = entries[start : start + CHUNK]
		frappe.db.sql(
			f"INSERT INTO `tabMarketing Flow Log` ({columns}) VALUES {', '.join([row] * len(chunk))}",
			[value for entry in chunk for value in entry],
		)


def write(
	flow_name: str,
	participant_name: str | None,
	contact: str | None,
	step_id: str | None,
	event: str,
	message: str = "",
	url: str | None = None,
	reference_doctype: str | None = None,
	reference_name: str | None = None,
	branch: str | None = None,
	version: int | None = None,
) -> None:
	"""One event, written at once (see `entry`)."""
	write_many(
		[
			entry(
				flow_name,
				participant_name,
				contact,
				step_id,
				event,
				message,
				url,
				reference_doctype,
				reference_name,
				branch,
				version,
			)
		]
	)


def last_email_steps(participants: list[str]) -> dict[str, str]:
	"""participant -> step_id of its latest "Email Sent" log (by the (participant, event) index)."""
	if not participants:
		return {}
	rows = frappe.db.sql(
		"""select l.participant, l.step_id from `tabMarketing Flow Log` l
		join (select participant, max(name) as name from `tabMarketing Flow Log`
			where participant in %(p)s and event = 'Email Sent' group by participant) last
		on last.name = l.name""",
		{"p": participants},
	)
	return dict(rows)


def email_steps(queues: dict[str, str]) -> dict[str, str]:
	"""participant -> step_id of the "Email Sent" log that queued the given Email Queue row,
	else of the participant's latest "Email Sent"."""
	lg = frappe.qb.DocType("Marketing Flow Log")
	found = {}
	for participant, queue, step_id in (
		frappe.qb.from_(lg)
		.select(lg.participant, lg.reference_name, lg.step_id)
		.where(
			lg.participant.isin(list(queues))
			& (lg.event == "Email Sent")
			& (lg.reference_doctype == "Email Queue")
			& lg.reference_name.isin(list(set(queues.values())))
		)
		.run()
	):
		if queues.get(participant) == queue:
			found[participant] = step_id
	missing = [p for p in queues if p not in found]
	return {**last_email_steps(missing), **found}


def of_person(lg: Table, participant: ParticipantRow) -> Criterion:
	"""The condition on the log (`lg`, a qb table) that selects the entries of this
	participant's person across all their participations: by `contact` (index contact, event,
	creation) for a Contact; for a lead, by the participations of that lead, plus the Contact it
	converted to."""
	contact = participant.get("contact")
	if (participant.get("person_doctype") or "Contact") == "Contact" or not participant.get("person"):
		return lg.contact == (contact or participant.get("person") or "")
	names = frappe.get_all(
		"Marketing Flow Participant",
		filters={"person_doctype": participant["person_doctype"], "person": participant["person"]},
		pluck="name",
	)
	condition = lg.participant.isin(names or [participant["name"]])
	return (condition | (lg.contact == contact)) if contact else condition
