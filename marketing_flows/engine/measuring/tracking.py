"""Tracking events: what happens when a recipient opens an email, clicks a link or
unsubscribes (the guest endpoints in api/tracking.py verify the signed link first).

What a guest sends (a user agent) and what a link carries (its URL) is stored without markup
(`plain_text`, `safe_url`): the desk renders log messages and Data fields as HTML. An event whose
participant row is locked by the runner can be recorded later by a job (`record_event`)."""

from __future__ import annotations

import re
from datetime import datetime

import frappe
from frappe import _
from frappe.utils import get_datetime, now_datetime

from marketing_flows.engine import log
from marketing_flows.engine.entering import watch
from marketing_flows.engine.hosts import doctype_roles, person_records
from marketing_flows.engine.measuring import actions
from marketing_flows.engine.running import participants
from marketing_flows.engine.running.participants import ACTIVE

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

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
# < > & could make markup (or an entity that decodes to it) wherever the desk renders the text as
# HTML: stored as look-alikes, so the text reads the same everywhere and is never markup
_MARKUP = str.maketrans({"<": "\u2039", ">": "\u203a", "&": "\uff06"})
_URL_UNSAFE = re.compile(r"[\x00-\x20\x7f<>\"'`\\]")


def plain_text(value: object, length: int | None = None) -> str:
	"""A guest's text (a user agent, ...) as plain text: no control characters, no markup."""
	text = _CONTROL.sub(" ", value if isinstance(value, str) else str(value or "")).strip()
	text = text.translate(_MARKUP)
	return text[:length] if length else text


def safe_url(url: str | None) -> str:
	"""The URL with the characters that could end an HTML attribute or start a tag (and spaces,
	control characters) percent-encoded, as browsers send them: same target, no markup."""
	return _URL_UNSAFE.sub(lambda m: f"%{ord(m.group()):02X}", url or "")


def scanner_reason(
	method: str | None, user_agent: str | None, participant_name: str, step_id: str | None
) -> str | None:
	"""Why this hit looks like a link scanner rather than a person (None when it does not)."""
	if (method or "").upper() == "HEAD":
		return "HEAD request"
	if user_agent and SCANNER_AGENTS.search(user_agent):
		return f"scanner user agent: {plain_text(user_agent, 100)}"
	delivered = _delivered_at(participant_name, step_id)
	if delivered and (now_datetime() - delivered).total_seconds() < SCANNER_SECONDS:
		return f"within {SCANNER_SECONDS} seconds of delivery"
	return None


def _delivered_at(participant_name: str, step_id: str | None) -> datetime | None:
	"""When the email of this step reached the SMTP server (its Email Queue row turned Sent)."""
	lg = frappe.qb.DocType("Marketing Flow Log")
	query = (
		frappe.qb.from_(lg)
		.select(lg.reference_name)
		.where(
			(lg.participant == participant_name)
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


def exists(participant_name: str | None) -> bool:
	return bool(participant_name) and bool(frappe.db.exists(PARTICIPANT, participant_name))


def record_scan(participant_name: str, step_id: str | None, url: str | None, reason: str) -> bool:
	"""Log "Scanned" once per participant, step and URL; changes nothing else."""
	step_id = step_id or None
	row = _lock_participant(participant_name)
	short = safe_url(url)[:URL_LENGTH] or None
	if not row or _logged(participant_name, "Scanned", step_id, short):
		return False
	log.write(row.flow, participant_name, row.contact, step_id, "Scanned", plain_text(reason), url=short)
	return True


# --- events --------------------------------------------------------------------------------


def _lock_participant(participant_name: str) -> frappe._dict | None:
	"""The participant row, locked: two hits at once (mail proxy + client) can't both log."""
	p = frappe.qb.DocType(PARTICIPANT)
	rows = (
		frappe.qb.from_(p)
		.select(
			p.name,
			p.flow,
			p.flow_version,
			p.person_doctype,
			p.person,
			p.contact,
			p.email,
			p.status,
			p.last_sent,
			p.last_sent_status,
		)
		.where(p.name == participant_name)
		.for_update()
		.run(as_dict=True)
	)
	return rows[0] if rows else None


def _logged(participant_name: str, event: str, step_id: str | None, url: str | None = None) -> bool:
	"""Is there such a log row already? Goes by the (participant, event) index."""
	lg = frappe.qb.DocType("Marketing Flow Log")
	query = (
		frappe.qb.from_(lg)
		.select(lg.name)
		.where((lg.participant == participant_name) & (lg.event == event))
		.where(lg.step_id.isnull() if step_id is None else lg.step_id == step_id)
		.limit(1)
	)
	if url is not None:
		query = query.where(lg.url == url)
	return bool(query.run())


def _is_last_sent(row: frappe._dict, step_id: str | None) -> bool:
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


def _engaged(participant_name: str, status: str | None = None) -> None:
	"""The person opened or clicked now: `last_engaged_on` (a revenue window may start there,
	engine/measuring/revenue.py), and the last email's status when it moves; one UPDATE of the
	row locked already."""
	values: dict[str, object] = {"last_engaged_on": now_datetime()}
	if status:
		values["last_sent_status"] = status
	frappe.db.set_value(PARTICIPANT, participant_name, values, update_modified=False)


def record_open(participant_name: str, step_id: str | None) -> bool:
	"""Log "Opened" once per participant and step (every open is the latest engagement);
	returns whether it was new."""
	step_id = step_id or None
	row = _lock_participant(participant_name)
	if not row:
		return False
	if _logged(participant_name, "Opened", step_id):
		_engaged(participant_name)
		return False
	log.write(row.flow, participant_name, row.contact, step_id, "Opened", version=row.flow_version)
	moves = row.last_sent_status != "Clicked" and _is_last_sent(row, step_id)
	_engaged(participant_name, "Opened" if moves else None)
	return True


def record_click(participant_name: str, step_id: str | None, url: str) -> bool:
	"""Log "Clicked" with the URL, once per participant, step and URL (a replayed link can't flood
	the log). A click proves the email was opened (images may be blocked), so it logs that too.
	A new click also proposes the person to the flows triggered by clicks in this flow's emails
	(Link Clicked; `url` is the link's real target, the one signed in the email)."""
	step_id = step_id or None
	row = _lock_participant(participant_name)
	if not row:
		return False
	entries = []
	if not _logged(participant_name, "Opened", step_id):
		entries.append(
			log.entry(row.flow, participant_name, row.contact, step_id, "Opened", version=row.flow_version)
		)
	# the log's `url` holds 1000 characters: the full URL goes in the message when longer
	url = safe_url(url)
	short = url[:URL_LENGTH]
	new = not _logged(participant_name, "Clicked", step_id, short)
	if new:
		message = url if len(url) > URL_LENGTH else ""
		entries.append(
			log.entry(
				row.flow,
				participant_name,
				row.contact,
				step_id,
				"Clicked",
				message,
				url=short,
				version=row.flow_version,
			)
		)
	if entries:
		log.write_many(entries)
	moves = row.last_sent_status != "Clicked" and _is_last_sent(row, step_id)
	_engaged(participant_name, "Clicked" if moves else None)
	actions.release_after_click(participant_name, url)  # a Wait for Action for a click goes on
	if new:  # flows triggered by a click in this flow's emails: enrolled by a job after commit
		watch.propose_click(row.flow, participant_name, url)
	if new:  # a Link Clicked goal may now be met, even after the flow was completed
		frappe.enqueue(
			"marketing_flows.engine.measuring.goals.evaluate_changes",
			flows=[row.flow],
			persons=[n for n in (row.person, row.contact) if n],
			emails=[],
			companies=[],
			enqueue_after_commit=True,
		)
	return new


def unsubscribe(participant_name: str | None, email: str | None, step_id: str | None = None) -> str | None:
	"""The person's own act, scoped to marketing: the person's `unsubscribed` flag (a Contact's,
	an ERPNext Lead's; for a doctype without one, an Email Unsubscribe of that record only), the
	email's Email Group memberships, and every active participation of the person (and of the
	Contact a lead became) end ("Unsubscribed"). No global Email Unsubscribe: invoices, password
	resets and support replies still reach them. Idempotent; returns the email unsubscribed.

	The signed address is unsubscribed whatever happened since the email left: the participant
	(or its whole flow) may have been deleted. Every person of the person doctypes with that
	address is marked, and every active participation sent to it ends."""
	row = _lock_participant(participant_name) if participant_name else None
	email = (email or (row.email if row else None) or "").strip()
	if email:
		member = frappe.qb.DocType("Email Group Member")
		frappe.qb.update(member).set(member.unsubscribed, 1).where(member.email == email).run()
	people = set(_people_with_email(email)) if email else set()
	if row:
		people.add((row.person_doctype or "Contact", row.person or row.contact))
		if row.contact and row.contact != row.person:
			people.add(("Contact", row.contact))
	for doctype, name in sorted(people, key=lambda p: (p[0], p[1] or "")):
		person_records.mark_unsubscribed(doctype, name, email)
	if (
		row
		and participant_name  # always, with a row
		and not frappe.db.exists(
			"Marketing Flow Log", {"participant": participant_name, "event": "Unsubscribed"}
		)
	):
		step_id = step_id or log.last_email_steps([participant_name]).get(participant_name)
		log.write(row.flow, participant_name, row.contact, step_id, "Unsubscribed", plain_text(email))
	p = frappe.qb.DocType(PARTICIPANT)
	active: list[tuple[str, str]] = [(row.flow, participant_name)] if row and participant_name else []
	same_person = None
	if row and row.person:
		same_person = (p.person_doctype == (row.person_doctype or "Contact")) & (p.person == row.person)
	if row and row.contact:
		by_contact = p.contact == row.contact
		same_person = by_contact if same_person is None else same_person | by_contact
	if email:
		by_email = p.email == email
		same_person = by_email if same_person is None else same_person | by_email
	if same_person is not None:
		active += (
			frappe.qb.from_(p)
			.select(p.flow, p.name)
			.where(same_person & p.status.isin(ACTIVE) & (p.name != (participant_name or "")))
			.run()
		)
	by_flow: dict[str, list[str]] = {}
	for flow_name, name in active:
		by_flow.setdefault(flow_name, []).append(name)
	for flow_name, names in by_flow.items():
		participants.end_participants(flow_name, names, "Exited", _("Unsubscribed"))
	return email


def _people_with_email(email: str) -> list[tuple[str, str]]:
	"""(doctype, name) of the people (Contacts by any of their addresses, leads by their own
	field) that have this email address."""
	found: list[tuple[str, str]] = []
	for doctype in doctype_roles.person_doctypes():
		meta = frappe.get_meta(doctype)
		names: set[str] = set()
		if doctype == "Contact":
			names.update(
				frappe.get_all(
					"Contact Email", filters={"email_id": email, "parenttype": "Contact"}, pluck="parent"
				)
			)
		field = doctype_roles.person_type(doctype).email
		if field and meta.has_field(field):
			names.update(frappe.get_all(doctype, filters={field: email}, pluck="name"))
		found += [(doctype, name) for name in sorted(names)]
	return found


# --- recording later -----------------------------------------------------------------------

KINDS = ("open", "click", "scan", "unsubscribe")


def record(
	kind: str,
	participant_name: str | None,
	step_id: str | None = None,
	url: str | None = None,
	reason: str | None = "",
	email: str | None = None,
) -> None:
	"""Record a tracking event of `kind` (open, click, scan by a link scanner, unsubscribe)."""
	if kind == "unsubscribe":
		unsubscribe(participant_name, email, step_id)
	elif not participant_name:
		return  # an open, a click or a scan of no participant: nothing to record
	elif kind == "open":
		record_open(participant_name, step_id)
	elif kind == "click":
		record_click(participant_name, step_id, url or "")
	elif kind == "scan":
		record_scan(participant_name, step_id, url, reason or "")


def record_event(kind: str, **kwargs: str | None) -> None:
	"""Background job: an event the guest endpoint could not record at once (the participant's
	row was locked by the runner). Waits for the lock as any job does; Frappe retries the job on
	a lock timeout or deadlock."""
	if kind in KINDS:
		record(kind, **kwargs)
