"""Tracking: signed open / click / unsubscribe links, and what happens when they are hit.

Links are signed with an HMAC keyed by the site's secret (Frappe's `verified_command.get_secret`:
`secret` from site config, else the encryption key), over the decoded values (so a mail client
that re-encodes the query string does not break them) and the action (so a signature for one
endpoint is worthless on another). The click endpoint redirects only to the URL that was signed:
no open redirect.

`prepare_html` runs once per recipient, so it is a single compiled-regex pass, no HTML parser.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from html import escape, unescape
from urllib.parse import urlencode

import frappe
from frappe.utils import get_url

from marketing_flows.engine import log

API = "/api/method/marketing_flows.api.tracking."
SIGNATURE_LENGTH = 32  # hex characters of HMAC-SHA256: 128 bits, short enough for many links
URL_LENGTH = 1000  # Marketing Flow Log.url is a Data field of length 1000
PARTICIPANT = "Marketing Flow Participant"

# an <a> or <area> tag up to and including `href=`, then the value in "", '' or bare
_HREF = re.compile(
	r"""(<(?:a|area)\b[^>]*?\shref\s*=\s*)(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+))""",
	re.IGNORECASE,
)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)

# last_sent_status values from which a delivery report may move the participant on
_UNREPORTED = (None, "", "Queued", "Sent")


# --- signing -------------------------------------------------------------------------------


def _secret() -> bytes:
	key = getattr(frappe.local, "_mf_tracking_secret", None)
	if key is None:
		from frappe.utils.verified_command import get_secret

		key = frappe.local._mf_tracking_secret = get_secret().encode()
	return key


def sign(action: str, *values: str | None) -> str:
	"""HMAC of the action and its values, joined by \\x1f (which `verify` refuses inside a value,
	so no two value lists share a message)."""
	message = "\x1f".join((action, *(v or "" for v in values))).encode()
	return hmac.new(_secret(), message, hashlib.sha256).hexdigest()[:SIGNATURE_LENGTH]


def verify(signature: str | None, action: str, *values: str | None) -> bool:
	if not signature or not isinstance(signature, str):
		return False
	if any(v and "\x1f" in v for v in values):
		return False
	return hmac.compare_digest(signature, sign(action, *values))


def _base_url() -> str:
	return get_url().rstrip("/") + API


# --- links ---------------------------------------------------------------------------------


def click_url(participant: str, step_id: str, url: str, base: str | None = None) -> str:
	params = {"participant": participant, "step_id": step_id, "url": url}
	params["sig"] = sign("click", participant, step_id, url)
	return f"{base or _base_url()}click?{urlencode(params)}"


def open_url(participant: str, step_id: str, base: str | None = None) -> str:
	params = {"participant": participant, "step_id": step_id, "sig": sign("open", participant, step_id)}
	return f"{base or _base_url()}open?{urlencode(params)}"


def unsubscribe_url(participant: str, email: str, step_id: str | None = None) -> str:
	"""Signed link that unsubscribes `email` globally and ends `participant`'s participation.
	`step_id` (optional) attributes the unsubscribe to the email step that carried the link."""
	params = {"participant": participant, "email": email}
	if step_id:
		params["step_id"] = step_id
	params["sig"] = sign("unsubscribe", participant, email, step_id)
	return f"{_base_url()}unsubscribe?{urlencode(params)}"


def _is_untracked(url: str) -> bool:
	"""Our own tracking links, and unsubscribe links (an unsubscribe is not a click)."""
	lowered = url.lower()
	return API in url or ("/api/method/" in lowered and "unsubscribe" in lowered)


def prepare_html(
	html: str,
	participant: str,
	flow: str,
	step_id: str,
	track_opens: bool = True,
	track_clicks: bool = True,
) -> str:
	"""Rewrite http(s) links of <a>/<area> to signed click links and append an open pixel.

	mailto:, tel:, anchors and relative links are left alone. `flow` is not put in the links: the
	participant determines it, and fewer parameters mean shorter, harder-to-forge links.
	"""
	if not html or not (track_opens or track_clicks):
		return html
	base = _base_url()
	if track_clicks:

		def rewrite(match: re.Match) -> str:
			raw = match.group(2)
			if raw is None:
				raw = match.group(3) if match.group(3) is not None else match.group(4)
			url = unescape(raw).strip() if "&" in raw else raw.strip()
			if not url[:8].lower().startswith(("http://", "https://")) or _is_untracked(url):
				return match.group(0)
			return f'{match.group(1)}"{escape(click_url(participant, step_id, url, base), quote=True)}"'

		html = _HREF.sub(rewrite, html)
	if track_opens:
		pixel = (
			f'<img src="{escape(open_url(participant, step_id, base), quote=True)}" width="1" height="1" '
			'alt="" border="0" style="height:1px !important;width:1px !important;border:0;margin:0;padding:0">'
		)
		ends = list(_BODY_END.finditer(html))
		if ends:
			at = ends[-1].start()
			html = html[:at] + pixel + html[at:]
		else:
			html += pixel
	return html


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
			"marketing_flows.engine.criteria.evaluate_changes",
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
	from marketing_flows.engine import runner

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
		step_id = step_id or last_email_steps([participant]).get(participant)
		log.write(row.flow, participant, row.contact, step_id, "Unsubscribed", email)
	p = frappe.qb.DocType(PARTICIPANT)
	active = [(row.flow, participant)]
	if row.contact:
		active += (
			frappe.qb.from_(p)
			.select(p.flow, p.name)
			.where((p.contact == row.contact) & p.status.isin(runner.ACTIVE) & (p.name != participant))
			.run()
		)
	by_flow: dict[str, list[str]] = {}
	for flow, name in active:
		by_flow.setdefault(flow, []).append(name)
	for flow, names in by_flow.items():
		runner.end_participants(flow, names, "Exited", "Unsubscribed")
	return email


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
		steps = email_steps({r.name: r.email_queue for r in failed})
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
	from frappe.utils import add_to_date, get_datetime, now_datetime

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
