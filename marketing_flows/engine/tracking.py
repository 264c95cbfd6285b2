"""Tracking events: what happens when a recipient opens an email, clicks a link or
unsubscribes (the guest endpoints in api/tracking.py verify the signed link first)."""

from __future__ import annotations

import re

import frappe
from frappe import _
from frappe.utils import get_datetime, now_datetime

from marketing_flows.engine import hosts, log, participants
from marketing_flows.engine.participants import ACTIVE

URL_LENGTH = 1000  # Marketing Flow Log.url is a Data field of length 1000
PARTICIPANT = "Marketing Flow Participant"

# Link scanners of mail gateways open every link of an email on arrival: their hits are logged
# as "Scanned", never as a click (no Link Clicked goal, no Clicked status).
SCANNER_AGENTS = re.compile(
	r"safe ?links|mimecast|barracuda|proofpoint|fireeye|trendmicro|symantec|forcepoint|"
	r"sophos|cisco|ironport|messagelabs|microsoft office|ms-office|bot\b|crawler|spider|"
	r"python-requests|curl/|wget/|go-http-client|java/|okhttp|headlesschrome",
	re.IGNORECASE,
)
SCANNER_SECONDS = 10  # a "click" this soon after delivery is a scanner, not a reader


def scanner_reason(
	method: str | None, user_agent: str | None, participant: str, step_id: str | None
) -> str | None:
	"""Why this hit looks like a link scanner rather than a person (None when it does not)."""
	if (method or "").upper() == "HEAD":
		return "HEAD request"
	if user_agent and SCANNER_AGENTS.search(user_agent):
		return f"scanner user agent: {user_agent[:100]}"
	delivered = _delivered_at(participant, step_id)
	if delivered and (now_datetime() - delivered).total_seconds() < SCANNER_SECONDS:
		return f"within {SCANNER_SECONDS} seconds of delivery"
	return None


def _delivered_at(participant: str, step_id: str | None):
	"""When the email of this step reached the SMTP server (its Email Queue row turned Sent)."""
	lg = frappe.qb.DocType("Marketing Flow Log")
	query = (
		frappe.qb.from_(lg)
		.select(lg.reference_name)
		.where(
			(lg.participant == participant)
			& (lg.event == "Email Sent")
			& (lg.reference_doctype == "Email Queue")
		)
		.orderby(lg.name, order=frappe.qb.desc)
		.limit(1)
	)
	if step_id:
		query = query.where(lg.step_id == step_id)
	queue = query.run(pluck=True)
	if not queue:
		return None
	row = frappe.db.get_value("Email Queue", queue[0], ["status", "modified"], as_dict=True)
	return get_datetime(row.modified) if row and row.status == "Sent" else None


def exists(participant: str | None) -> bool:
	return bool(participant) and bool(frappe.db.exists(PARTICIPANT, participant))


def record_scan(participant: str, step_id: str | None, url: str | None, reason: str) -> bool:
	"""Log "Scanned" once per participant, step and URL; changes nothing else."""
	step_id = step_id or None
	row = _lock_participant(participant)
	short = (url or "")[:URL_LENGTH] or None
	if not row or _logged(participant, "Scanned", step_id, short):
		return False
	log.write(row.flow, participant, row.contact, step_id, "Scanned", reason, url=short)
	return True


# --- events --------------------------------------------------------------------------------


def _lock_participant(participant: str) -> dict | None:
	"""The participant row, locked: two hits at once (mail proxy + client) can't both log."""
	p = frappe.qb.DocType(PARTICIPANT)
	rows = (
		frappe.qb.from_(p)
		.select(
			p.name,
			p.flow,
			p.person_doctype,
			p.person,
			p.contact,
			p.email,
			p.status,
			p.last_sent,
			p.last_sent_status,
		)
		.where(p.name == participant)
		.for_update()
		.run(as_dict=True)
	)
	return rows[0] if rows else None


def _logged(participant: str, event: str, step_id: str | None, url: str | None = None) -> bool:
	"""Is there such a log row already? Goes by the (participant, event) index."""
	lg = frappe.qb.DocType("Marketing Flow Log")
	query = (
		frappe.qb.from_(lg)
		.select(lg.name)
		.where((lg.participant == participant) & (lg.event == event))
		.where(lg.step_id.isnull() if step_id is None else lg.step_id == step_id)
		.limit(1)
	)
	if url is not None:
		query = query.where(lg.url == url)
	return bool(query.run())


def _is_last_sent(row: dict, step_id: str | None) -> bool:
	"""Does this step's email match the participant's last sent email? An open of an older email
	must not relabel the newer one. Unknown (no last_sent, step gone) counts as yes."""
	if not row.last_sent or not step_id:
		return True
	content = frappe.db.get_value(
		"Marketing Flow Step",
		{"parent": row.flow, "parenttype": "Marketing Flow", "step_id": step_id},
		"content",
	)
	return not content or content == row.last_sent


def _set_status(participant: str, status: str) -> None:
	frappe.db.set_value(PARTICIPANT, participant, "last_sent_status", status, update_modified=False)


def record_open(participant: str, step_id: str | None) -> bool:
	"""Log "Opened" once per participant and step; returns whether it was new."""
	step_id = step_id or None
	row = _lock_participant(participant)
	if not row or _logged(participant, "Opened", step_id):
		return False
	log.write(row.flow, participant, row.contact, step_id, "Opened")
	if row.last_sent_status != "Clicked" and _is_last_sent(row, step_id):
		_set_status(participant, "Opened")
	return True


def record_click(participant: str, step_id: str | None, url: str) -> bool:
	"""Log "Clicked" with the URL, once per participant, step and URL (a replayed link can't flood
	the log). A click proves the email was opened (images may be blocked), so it logs that too."""
	step_id = step_id or None
	row = _lock_participant(participant)
	if not row:
		return False
	entries = []
	if not _logged(participant, "Opened", step_id):
		entries.append(log.entry(row.flow, participant, row.contact, step_id, "Opened"))
	# the log's `url` holds 1000 characters: the full URL goes in the message when longer
	short = url[:URL_LENGTH]
	new = not _logged(participant, "Clicked", step_id, short)
	if new:
		message = url if len(url) > URL_LENGTH else ""
		entries.append(log.entry(row.flow, participant, row.contact, step_id, "Clicked", message, url=short))
	if entries:
		log.write_many(entries)
	if row.last_sent_status != "Clicked" and _is_last_sent(row, step_id):
		_set_status(participant, "Clicked")
	if new:  # a Link Clicked goal may now be met, even after the flow was completed
		frappe.enqueue(
			"marketing_flows.engine.goals.evaluate_changes",
			flows=[row.flow],
			persons=[n for n in (row.person, row.contact) if n],
			emails=[],
			companies=[],
			enqueue_after_commit=True,
		)
	return new


def unsubscribe(participant: str, email: str | None, step_id: str | None = None) -> str | None:
	"""The person's own act, scoped to marketing: the person's `unsubscribed` flag (a Contact's,
	an ERPNext Lead's; for a doctype without one, an Email Unsubscribe of that record only), the
	email's Email Group memberships, and every active participation of the person (and of the
	Contact a lead became) end ("Unsubscribed"). No global Email Unsubscribe: invoices, password
	resets and support replies still reach them. Idempotent; returns the email unsubscribed."""
	row = _lock_participant(participant)
	email = (email or (row.email if row else None) or "").strip()
	if email:
		member = frappe.qb.DocType("Email Group Member")
		frappe.qb.update(member).set(member.unsubscribed, 1).where(member.email == email).run()
	if not row:
		return email
	hosts.mark_unsubscribed(row.person_doctype or "Contact", row.person or row.contact, email)
	if row.contact and row.contact != row.person:
		hosts.mark_unsubscribed("Contact", row.contact, email)
	if not frappe.db.exists("Marketing Flow Log", {"participant": participant, "event": "Unsubscribed"}):
		step_id = step_id or log.last_email_steps([participant]).get(participant)
		log.write(row.flow, participant, row.contact, step_id, "Unsubscribed", email)
	p = frappe.qb.DocType(PARTICIPANT)
	active = [(row.flow, participant)]
	same_person = (p.person_doctype == (row.person_doctype or "Contact")) & (p.person == row.person)
	if row.contact:
		same_person = same_person | (p.contact == row.contact)
	if row.person or row.contact:
		active += (
			frappe.qb.from_(p)
			.select(p.flow, p.name)
			.where(same_person & p.status.isin(ACTIVE) & (p.name != participant))
			.run()
		)
	by_flow: dict[str, list[str]] = {}
	for flow, name in active:
		by_flow.setdefault(flow, []).append(name)
	for flow, names in by_flow.items():
		participants.end_participants(flow, names, "Exited", _("Unsubscribed"))
	return email
