"""Delivery status: Frappe's Email Queue outcome (Sent, Error) passed on to participants, and
bounces / failures logged. Apart from the links (links.py) and the recipients' events
(tracking.py): this reads the queue, nothing a recipient does."""

from __future__ import annotations

import re

import frappe
from frappe.utils import add_to_date, cint, get_datetime, now_datetime

from marketing_flows.engine import log

PARTICIPANT = "Marketing Flow Participant"

# last_sent_status values from which a delivery report may move the participant on
_UNREPORTED = (None, "", "Queued", "Sent")


# --- delivery ------------------------------------------------------------------------------

# SMTP rejected the recipient itself (5xx on RCPT), as opposed to a connection/auth failure
_BOUNCE = re.compile(
	r"SMTPRecipientsRefused|Recipient address rejected|User unknown|mailbox unavailable|"
	r"no such user|does not exist|\b55[0-4][ -]|\b5\.[1-7]\.\d+\b",
	re.IGNORECASE,
)


def delivery_status(queue_status: str | None, error: str | None) -> str | None:
	"""Email Queue outcome -> participant last_sent_status (None: not decided yet).

	Frappe's queue statuses: Not Sent, Sending, Partially Sent (retrying), Sent, Error (gave up
	after the retry limit). v15 records no bounces after delivery, so "Bounced" means SMTP refused
	the recipient; any other final error is "Failed"."""
	if queue_status == "Sent":
		return "Sent"
	if queue_status == "Error":
		return "Bounced" if error and _BOUNCE.search(error) else "Failed"
	return None


def sync_delivery_status(email_queue_names: list[str]) -> dict[str, str]:
	"""Copy the outcome of the given Email Queue rows onto the participants whose `email_queue`
	points at them; log "Bounced" (or "Error" for other failures). Opened / Clicked are never
	downgraded, and a second run changes nothing. Returns participant -> new status."""
	names = [n for n in dict.fromkeys(email_queue_names or []) if n]
	if not names:
		return {}
	q = frappe.qb.DocType("Email Queue")
	outcome: dict[str, tuple[str, str | None]] = {}
	referenced: list[str] = []  # participants named by the queue rows (the Send Email step sets it)
	unreferenced: list[str] = []
	for name, status, error, ref_doctype, ref_name in (
		frappe.qb.from_(q)
		.select(q.name, q.status, q.error, q.reference_doctype, q.reference_name)
		.where(q.name.isin(names))
		.run()
	):
		if mapped := delivery_status(status, error):
			outcome[name] = (mapped, error)
			if ref_doctype == PARTICIPANT and ref_name:
				referenced.append(ref_name)
			else:
				unreferenced.append(name)
	if not outcome:
		return {}
	p = frappe.qb.DocType(PARTICIPANT)
	fields = (p.name, p.flow, p.contact, p.email_queue, p.last_sent_status)
	rows = []
	if referenced:  # by primary key; `email_queue` must still point here (no newer email since)
		rows += (
			frappe.qb.from_(p)
			.select(*fields)
			.where(p.name.isin(referenced) & p.email_queue.isin(list(outcome)))
			.for_update()
			.run(as_dict=True)
		)
	if unreferenced:  # rows queued by other code: found by `email_queue` itself
		seen = {r.name for r in rows}
		found = (
			frappe.qb.from_(p)
			.select(*fields)
			.where(p.email_queue.isin(unreferenced))
			.for_update()
			.run(as_dict=True)
		)
		rows += [r for r in found if r.name not in seen]
	changed: dict[str, str] = {}
	for row in rows:
		new, _error = outcome[row.email_queue]
		current = row.last_sent_status or None
		if new == current:
			continue
		# Sent may follow a failure (the queue was retried); failures only follow Queued / Sent.
		if current not in _UNREPORTED and not (new == "Sent" and current in ("Failed", "Bounced")):
			continue
		changed[row.name] = new
	if not changed:
		return {}
	for status in set(changed.values()):
		(
			frappe.qb.update(p)
			.set(p.last_sent_status, status)
			.where(p.name.isin([n for n, s in changed.items() if s == status]))
		).run()
	failed = [r for r in rows if changed.get(r.name) in ("Bounced", "Failed")]
	if failed:
		steps = log.email_steps({r.name: r.email_queue for r in failed})
		entries = []
		for r in failed:
			error = (outcome[r.email_queue][1] or "").strip().splitlines()
			message = error[-1] if error else ""
			bounced = changed[r.name] == "Bounced"
			entries.append(
				log.entry(
					r.flow,
					r.name,
					r.contact,
					steps.get(r.name),
					"Bounced" if bounced else "Error",
					message if bounced else f"Email not sent: {message}",
					reference_doctype="Email Queue",
					reference_name=r.email_queue,
				)
			)
		log.write_many(entries)
	return changed


SYNC_CURSOR = "marketing_flows:delivery_sync_since"


def sync_recent_deliveries() -> dict[str, str]:
	"""Scheduler (every 5 minutes): Email Queue rows of flow emails that changed since the last
	run pass their outcome (Sent / Failed / Bounced) on to their participants."""
	now = now_datetime()
	since = frappe.cache.get_value(SYNC_CURSOR) or add_to_date(now, hours=-1)
	names = frappe.get_all(
		"Email Queue",
		filters={
			"reference_doctype": PARTICIPANT,
			"modified": (">=", get_datetime(since)),
			"status": ("in", ["Sent", "Error", "Partially Errored"]),
		},
		pluck="name",
	)
	changed = sync_delivery_status(names)
	frappe.db.commit()
	frappe.cache.set_value(SYNC_CURSOR, str(add_to_date(now, minutes=-1)))
	return changed


# --- retention -----------------------------------------------------------------------------

SETTINGS = "Marketing Flow Settings"
PURGE_CHUNK = 1000


def keep_sent_emails_days() -> int:
	"""Marketing Flow Settings' `keep_sent_emails_days`; its default while nobody saved it."""
	value = frappe.db.sql(
		"SELECT value FROM `tabSingles` WHERE doctype = %s AND field = 'keep_sent_emails_days'", SETTINGS
	)
	if not value or value[0][0] in (None, ""):
		return cint(frappe.get_meta(SETTINGS).get_field("keep_sent_emails_days").default)
	return cint(value[0][0])


def purge_sent_emails() -> int:
	"""Scheduler (daily): flow emails that were sent more than `keep_sent_emails_days` ago leave
	the Email Queue (a message is kilobytes; a large flow queues millions). Their outcome is
	passed on to the participants first; the log's "Email Sent" entries stay, with everything
	the reports count. Emails not sent (queued, retrying, failed) are kept. Returns how many
	rows were removed."""
	days = keep_sent_emails_days()
	if days <= 0:
		return 0
	cutoff = add_to_date(now_datetime(), days=-days)
	q = frappe.qb.DocType("Email Queue")
	r = frappe.qb.DocType("Email Queue Recipient")
	removed = 0
	while True:
		names = (
			frappe.qb.from_(q)
			.select(q.name)
			.where((q.status == "Sent") & (q.modified < cutoff) & (q.reference_doctype == PARTICIPANT))
			.limit(PURGE_CHUNK)
			.run(pluck=True)
		)
		if not names:
			break
		sync_delivery_status(names)
		frappe.qb.from_(r).delete().where((r.parenttype == "Email Queue") & r.parent.isin(names)).run()
		frappe.qb.from_(q).delete().where(q.name.isin(names)).run()
		frappe.db.commit()
		removed += len(names)
	return removed
