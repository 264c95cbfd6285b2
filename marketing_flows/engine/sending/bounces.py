"""The mailbox's answers: bounce notices and complaint reports about flow emails.

Once the SMTP server has accepted an email, what comes back arrives as mail: a bounce notice
(a DSN, RFC 3464, or one of the common non-standard notices) minutes or days later, or a
complaint (ARF, RFC 5965) when the recipient pressed "This is spam". They arrive in an incoming
Email Account (Frappe reads it; overrides/email_account.py hands each message here first), are
read with GNU Mailman's detectors (`flufl.bounce`) and matched to the flow email that caused
them by its Message-Id (quoted in the notice, or named in its References):

- a hard bounce marks the participant Bounced and blocks the address for marketing
  (blocklist.py: the Send Email step skips a blocked address);
- a soft bounce (mailbox full, greylisted...) sends the email again later, up to Frappe's
  email retry limit; after that it counts as hard;
- a complaint unsubscribes the person, as their own unsubscribe would (marketing only), blocks
  the address and is logged as Complained.

A notice about anything else is left to Frappe (it becomes a Communication, as before).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import Message
from email.parser import HeaderParser
from typing import Any

import frappe
from flufl.bounce import all_failures
from frappe import _
from frappe.email.doctype.email_queue.email_queue import get_email_retry_limit
from frappe.utils import now_datetime

from marketing_flows.engine import log
from marketing_flows.engine.measuring import tracking
from marketing_flows.engine.sending import blocklist, sender

PARTICIPANT = "Marketing Flow Participant"
SOFT_RETRY_MINUTES = 30  # a soft bounce: sent again after 30, 60, 120... minutes

_MESSAGE_ID = re.compile(r"message-id:\s*<([^<>\s]+)>", re.IGNORECASE)
_ANGLED = re.compile(r"<([^<>\s]+@[^<>\s]+)>")


@dataclass
class Report:
	"""What one notice says."""

	kind: str  # "bounce" or "complaint"
	message_ids: list[str]  # of the original email(s), without <>
	permanent: set[str] = field(default_factory=set)  # addresses that failed for good
	temporary: set[str] = field(default_factory=set)  # addresses that failed for now
	detail: str = ""


def read(msg: Message) -> Report | None:
	"""The report in `msg`, or None when it is neither a bounce notice nor a complaint."""
	if _is_complaint(msg):
		# what a notice says is an outsider's text: stored without markup, as a guest's
		return Report("complaint", _original_ids(msg), detail=tracking.plain_text(_feedback_detail(msg)))
	temporary, permanent = all_failures(msg)
	if not temporary and not permanent:
		return None
	report = Report(
		"bounce",
		_original_ids(msg),
		permanent={_address(a) for a in permanent},
		temporary={_address(a) for a in temporary},
		detail=tracking.plain_text(_diagnostic(msg)),
	)
	# a server that gave up after temporary failures (mailbox full: "failed", Status 4.2.2)
	# reports it as failed; the status says it may work later
	for address, status in _statuses(msg).items():
		if status.startswith("4") and address in report.permanent:
			report.permanent.discard(address)
			report.temporary.add(address)
	return report


def take(msg: Message) -> bool:
	"""Act on `msg` when it is a notice about a flow email (committed); False leaves it to
	Frappe. Never raises: a notice that can't be handled is kept as mail and logged."""
	try:
		report = read(msg)
		if report is None or not report.message_ids:
			return False
		handled = act(report)
		frappe.db.commit()
		return handled
	except Exception:
		frappe.db.rollback()
		frappe.log_error(title="Marketing Flows: could not read a bounce or complaint")
		return False


def act(report: Report) -> bool:
	"""Apply `report` to the flow emails it is about; False when it names none."""
	q = frappe.qb.DocType("Email Queue")
	r = frappe.qb.DocType("Email Queue Recipient")
	rows = (
		frappe.qb.from_(q)
		.join(r)
		.on((r.parent == q.name) & (r.parenttype == "Email Queue"))
		.select(q.name, q.reference_name, q.retry, q.status, r.recipient)
		.where(q.message_id.isin(report.message_ids) & (q.reference_doctype == PARTICIPANT))
		.run(as_dict=True)
	)
	if not rows:
		return False
	for row in rows:
		recipient = _address(row.recipient)
		if report.kind == "complaint":
			_complaint(row, recipient, report)
		elif recipient in report.permanent or (recipient not in report.temporary and report.permanent):
			_hard_bounce(row, recipient, report.detail)
		elif row.retry + 1 >= get_email_retry_limit():
			_hard_bounce(
				row, recipient, _("{0} (temporary failures, {1} tries)").format(report.detail, row.retry + 1)
			)
		else:
			_soft_bounce(row, report.detail)
	return True


def _participant(name: str) -> frappe._dict | None:
	return frappe.db.get_value(
		PARTICIPANT, name, ["name", "flow", "contact", "email_queue", "last_sent_status"], as_dict=True
	)


def _already_logged(participant_name: str, event: str, email_queue: str) -> bool:
	return bool(
		frappe.db.exists(
			"Marketing Flow Log",
			{"participant": participant_name, "event": event, "reference_name": email_queue},
		)
	)


def _log(p: frappe._dict, event: str, message: str, email_queue: str) -> None:
	step = log.email_steps({p.name: email_queue}).get(p.name)
	log.write(
		p.flow,
		p.name,
		p.contact,
		step,
		event,
		message,
		reference_doctype="Email Queue",
		reference_name=email_queue,
	)


def _hard_bounce(row: frappe._dict, recipient: str, detail: str) -> None:
	blocklist.block(recipient, "Hard Bounce", detail, row.name)
	frappe.db.set_value("Email Queue", row.name, "error", _("Bounced after delivery: {0}").format(detail))
	p = _participant(row.reference_name)
	if not p or _already_logged(p.name, "Bounced", row.name):
		return
	if p.email_queue == row.name and p.last_sent_status not in ("Opened", "Clicked"):
		frappe.db.set_value(PARTICIPANT, p.name, "last_sent_status", "Bounced", update_modified=False)
	_log(p, "Bounced", _("Hard bounce: {0}").format(detail), row.name)


def _soft_bounce(row: frappe._dict, detail: str) -> None:
	"""The mailbox can't take it now: the same email goes again later (its retry counted)."""
	wait = SOFT_RETRY_MINUTES * 2**row.retry
	frappe.db.set_value(
		"Email Queue",
		row.name,
		{
			"status": "Not Sent",
			"retry": row.retry + 1,
			"send_after": now_datetime() + timedelta(minutes=wait),
			"error": _("Soft bounce: {0}").format(detail),
		},
	)
	frappe.db.sql(
		"UPDATE `tabEmail Queue Recipient` SET status = 'Not Sent' WHERE parent = %s AND parenttype = 'Email Queue'",
		row.name,
	)
	p = _participant(row.reference_name)
	if p:
		if p.email_queue == row.name and p.last_sent_status == "Sent":
			frappe.db.set_value(PARTICIPANT, p.name, "last_sent_status", "Queued", update_modified=False)
		_log(
			p,
			"Retry",
			_("Soft bounce ({0}): the email is sent again in {1} minutes.").format(detail, wait),
			row.name,
		)
	sender.wake()


def _complaint(row: frappe._dict, recipient: str, report: Report) -> None:
	blocklist.block(recipient, "Complaint", report.detail, row.name)
	p = _participant(row.reference_name)
	if not p or _already_logged(p.name, "Complained", row.name):
		return
	_log(p, "Complained", _("Reported as spam: {0}").format(report.detail or recipient), row.name)
	step = log.email_steps({p.name: row.name}).get(p.name)
	tracking.unsubscribe(p.name, recipient, step)


# --- reading notices -------------------------------------------------------------------------


def _address(value: bytes | str | None) -> str:
	if isinstance(value, bytes):
		value = value.decode("utf-8", "replace")
	return (value or "").strip().strip("<>").lower()


def _is_complaint(msg: Message) -> bool:
	if msg.get_content_type() == "multipart/report" and (
		# a plain value: report-type is never RFC 2231-encoded (a tuple)
		(msg.get_param("report-type") or "").lower() == "feedback-report"  # type: ignore[union-attr]
	):
		return True
	return any(part.get_content_type() == "message/feedback-report" for part in msg.walk())


def _original_ids(msg: Message) -> list[str]:
	"""Message-Ids the notice names: of the original it quotes (message/rfc822,
	text/rfc822-headers, or quoted as text), and of its References / In-Reply-To."""
	ids: list[str] = []
	for part in msg.walk():
		kind = part.get_content_type()
		if kind == "message/rfc822":
			for inner in part.get_payload() or []:
				if isinstance(inner, Message) and inner.get("Message-ID"):
					ids += _ANGLED.findall(inner["Message-ID"]) or [inner["Message-ID"].strip()]
		elif kind in ("text/rfc822-headers", "message/rfc822-headers"):
			headers = HeaderParser().parsestr(_text(part))
			if headers.get("Message-ID"):
				ids += _ANGLED.findall(headers["Message-ID"])
		elif part.get_content_maintype() == "text":
			ids += _MESSAGE_ID.findall(_text(part))
	for header in ("In-Reply-To", "References"):
		ids += _ANGLED.findall(msg.get(header) or "")
	own = _ANGLED.findall(msg.get("Message-ID") or "")
	return [i for i in dict.fromkeys(i.strip().lower() for i in ids) if i and i not in own]


def _text(part: Message) -> str:
	payload = part.get_payload(decode=True)  # bytes, or None for a multipart
	if not isinstance(payload, bytes):
		payload = part.get_payload()
		return payload if isinstance(payload, str) else ""
	return payload.decode(part.get_content_charset() or "utf-8", "replace")


def _delivery_blocks(msg: Message) -> list[Message]:
	return [
		block
		for part in msg.walk()
		if part.get_content_type() == "message/delivery-status"
		for block in part.get_payload() or []
		if isinstance(block, Message)
	]


def _statuses(msg: Message) -> dict[str, str]:
	"""Final recipient -> Status of each recipient block of a DSN."""
	out = {}
	for block in _delivery_blocks(msg):
		recipient = block.get("Final-Recipient") or block.get("Original-Recipient") or ""
		if block.get("Status") and recipient:
			out[_address(recipient.split(";", 1)[-1])] = block["Status"].strip()
	return out


def _diagnostic(msg: Message) -> str:
	"""The server's words: Status and Diagnostic-Code of a DSN, else the notice's first lines."""
	for block in _delivery_blocks(msg):
		if block.get("Diagnostic-Code") or block.get("Status"):
			code = " ".join((block.get("Diagnostic-Code") or "").split())
			return f"{block.get('Status') or ''} {code}".strip()[:500]
	for part in msg.walk():
		if part.get_content_type() == "text/plain":
			lines = [line.strip() for line in _text(part).splitlines() if line.strip()]
			return " ".join(lines[:3])[:500]
	return ""


def _feedback_detail(msg: Message) -> str:
	for part in msg.walk():
		if part.get_content_type() == "message/feedback-report":
			payload: Any = part.get_payload()  # a str, or the list of its parts (Messages)
			text = payload if isinstance(payload, str) else "".join(p.as_string() for p in payload or [])
			fields = HeaderParser().parsestr(text)
			kind = fields.get("Feedback-Type") or "abuse"
			agent = fields.get("User-Agent") or ""
			return f"{kind} {agent}".strip()
	return "abuse"
