"""Tracking events: what happens when a recipient opens an email, clicks a link or
unsubscribes (the guest endpoints in api/tracking.py verify the signed link first)."""

from __future__ import annotations

import frappe

from marketing_flows.engine import log, participants
from marketing_flows.engine.participants import ACTIVE

URL_LENGTH = 1000  # Marketing Flow Log.url is a Data field of length 1000
PARTICIPANT = "Marketing Flow Participant"


# --- events --------------------------------------------------------------------------------


def _lock_participant(participant: str) -> dict | None:
	"""The participant row, locked: two hits at once (mail proxy + client) can't both log."""
	p = frappe.qb.DocType(PARTICIPANT)
	rows = (
		frappe.qb.from_(p)
		.select(p.name, p.flow, p.contact, p.email, p.status, p.last_sent, p.last_sent_status)
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
			persons=[row.contact],
			emails=[],
			companies=[],
			enqueue_after_commit=True,
		)
	return new


def unsubscribe(participant: str, email: str | None, step_id: str | None = None) -> str | None:
	"""Global Email Unsubscribe for the email, Contact.unsubscribed = 1, log "Unsubscribed" and end
	every active participation of the contact (a global unsubscribe stops every flow).
	Returns the email unsubscribed."""
	row = _lock_participant(participant)
	email = (email or (row.email if row else None) or "").strip()
	if email and not frappe.db.exists("Email Unsubscribe", {"email": email, "global_unsubscribe": 1}):
		frappe.get_doc({"doctype": "Email Unsubscribe", "email": email, "global_unsubscribe": 1}).insert(
			ignore_permissions=True
		)
	if not row:
		return email
	if row.contact:
		frappe.db.set_value("Contact", row.contact, "unsubscribed", 1)
	if not frappe.db.exists("Marketing Flow Log", {"participant": participant, "event": "Unsubscribed"}):
		step_id = step_id or log.last_email_steps([participant]).get(participant)
		log.write(row.flow, participant, row.contact, step_id, "Unsubscribed", email)
	p = frappe.qb.DocType(PARTICIPANT)
	active = [(row.flow, participant)]
	if row.contact:
		active += (
			frappe.qb.from_(p)
			.select(p.flow, p.name)
			.where((p.contact == row.contact) & p.status.isin(ACTIVE) & (p.name != participant))
			.run()
		)
	by_flow: dict[str, list[str]] = {}
	for flow, name in active:
		by_flow.setdefault(flow, []).append(name)
	for flow, names in by_flow.items():
		participants.end_participants(flow, names, "Exited", "Unsubscribed")
	return email
