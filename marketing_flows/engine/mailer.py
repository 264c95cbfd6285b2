"""Turn flow content into Email Queue rows, fast.

`frappe.sendmail` inlines CSS for every message (about 51 queued emails/s). Here the email
layout (Frappe's standard template, CSS inlined) is built once per content version and account,
with markers where the personal parts go; each participant costs a Jinja render, link
rewriting and a plain MIME build (Python's email package: Frappe's EMail class validates and
rebuilds headers per message, which profiling showed to be half the cost of a send). Rows are
inserted in bulk, in the runner's transaction, so the participant's advance and its email
commit together (exactly once). Frappe's Email Queue sends them as it sends any other email.
"""

from __future__ import annotations

import email.utils
import json
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from functools import lru_cache
from typing import Any

import frappe
from frappe.core.utils import html2text
from frappe.email.email_body import get_formatted_html

from marketing_flows.engine import render

MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024  # in all, per email (what most mail servers accept)
BODY_MARKER = "MFBODYc0ffee42MF"
SUBJECT_MARKER = "MFSUBJc0ffee42MF"


def sender_account(content_sender: str | None) -> Any:
	"""The Email Account that sends: the content's, the settings' default, or the site default."""
	name = content_sender or frappe.db.get_single_value("Marketing Flow Settings", "default_sender")
	if not name:
		name = frappe.db.get_value("Email Account", {"enable_outgoing": 1, "default_outgoing": 1})
	if not name:
		raise frappe.ValidationError("No outgoing Email Account: set a sender on the content or a default.")
	return frappe.get_cached_doc("Email Account", name)


@lru_cache(maxsize=64)
def _layout(content: str, version: int, account: str, site: str) -> str:
	"""Frappe's email template around markers, CSS inlined once (cache key: content version)."""
	acct = frappe.get_cached_doc("Email Account", account)
	return get_formatted_html(SUBJECT_MARKER, BODY_MARKER, email_account=acct, with_container=False)


def _domain() -> str:
	return frappe.local.site or "localhost"


def attachments_of(content: Any) -> list[str]:
	"""Names of the Files attached to the content, when it sends them (Frappe's Email Queue
	adds each file when it sends the email, so the queued row stays small). Raises when they
	weigh more than MAX_ATTACHMENT_BYTES in all."""
	if not content.get("attach_files"):
		return []
	files = frappe.get_all(
		"File",
		filters={"attached_to_doctype": content.doctype, "attached_to_name": content.name, "is_folder": 0},
		fields=["name", "file_size"],
		order_by="creation asc",
	)
	if sum(f.file_size or 0 for f in files) > MAX_ATTACHMENT_BYTES:
		raise frappe.ValidationError(
			frappe._("The files attached to {0} weigh more than {1} MB in all.").format(
				content.name, MAX_ATTACHMENT_BYTES // (1024 * 1024)
			)
		)
	return [f.name for f in files]


def build_mime(
	sender: str,
	recipient: str,
	subject: str,
	html: str,
	text: str,
	message_id: str,
	headers: dict | None,
	mixed: bool = False,
) -> str:
	"""multipart/alternative (text, then HTML), UTF-8, as Frappe's Email Queue stores it; inside
	a multipart/mixed when files will be attached (Frappe's Email Queue adds them at sending)."""
	msg = MIMEMultipart("mixed" if mixed else "alternative")
	msg["From"] = sender
	msg["To"] = recipient
	msg["Subject"] = Header(subject, "utf-8")
	msg["Date"] = email.utils.formatdate(localtime=True)
	msg["Message-Id"] = message_id
	msg["X-Frappe-Site"] = _domain()
	for key, value in (headers or {}).items():
		msg[key] = value
	body = MIMEMultipart("alternative") if mixed else msg
	body.attach(MIMEText(text, "plain", "utf-8"))
	body.attach(MIMEText(html, "html", "utf-8"))
	if mixed:
		msg.attach(body)
	return msg.as_string()


class Mailer:
	"""Collects the Email Queue rows of one batch and writes them in two INSERTs."""

	def __init__(self, keep_rendered: bool = False) -> None:
		self.keep_rendered = keep_rendered  # a dry run shows what would be sent
		self.rendered: list[dict] = []
		self.queue_rows: list[tuple] = []
		self.recipient_rows: list[tuple] = []
		self._accounts: dict[str | None, Any] = {}  # content sender -> Email Account, once per batch
		self._attachments: dict[str, str | None] = {}  # content -> Email Queue `attachments` JSON

	def queue(
		self,
		content: Any,
		ctx_vars: dict,
		recipient: str,
		participant: str,
		body_filter=None,
		headers: dict[str, str] | None = None,
	) -> str:
		"""Render `content` for one recipient and stage its Email Queue row; returns its name."""
		if content.sender not in self._accounts:
			self._accounts[content.sender] = sender_account(content.sender)
		account = self._accounts[content.sender]
		subject = render.render(content.subject, ctx_vars).strip() or "[No Subject]"
		body = render.render(content.body, ctx_vars, html=True)
		if self.keep_rendered:
			self.rendered.append(
				{"participant": participant, "to": recipient, "subject": subject, "body": body}
			)
		if body_filter:
			body = body_filter(body)
		layout = _layout(content.name, content.version or 0, account.name, frappe.local.site)
		html = layout.replace(BODY_MARKER, body).replace(SUBJECT_MARKER, frappe.utils.escape_html(subject))
		sender = email.utils.formataddr((account.name, account.email_id))
		message_id = email.utils.make_msgid(domain=_domain())
		if content.name not in self._attachments:
			files = attachments_of(content)
			self._attachments[content.name] = json.dumps([{"fid": f} for f in files]) if files else None
		attachments = self._attachments[content.name]
		message = build_mime(
			sender, recipient, subject, html, html2text(body), message_id, headers, mixed=bool(attachments)
		)
		name = frappe.generate_hash(length=10)
		now = frappe.utils.now_datetime()
		user = frappe.session.user
		self.queue_rows.append(
			(
				name,
				sender,
				message,
				"Not Sent",
				"Marketing Flow Participant",
				participant,
				1,
				message_id.strip("<>"),
				account.name,
				0,
				0,
				attachments,
				now,
				now,
				user,
				user,
			)
		)
		self.recipient_rows.append(
			(
				frappe.generate_hash(length=10),
				name,
				"Email Queue",
				"recipients",
				1,
				recipient,
				"Not Sent",
				now,
				now,
				user,
				user,
			)
		)
		return name

	def flush(self, max_bytes: int = 8 * 1024 * 1024) -> int:
		"""Insert the staged rows (same transaction as the participants' advance)."""
		count = insert_rows(self.queue_rows, self.recipient_rows, max_bytes)
		self.queue_rows, self.recipient_rows = [], []
		return count


def insert_rows(
	queue_rows: list[tuple], recipient_rows: list[tuple], max_bytes: int = 8 * 1024 * 1024
) -> int:
	"""Email Queue rows and their recipients, in INSERTs of at most `max_bytes` of messages
	each, so that none exceeds MariaDB's max_allowed_packet."""
	start = 0
	while start < len(queue_rows):
		size, end = 0, start
		while end < len(queue_rows) and (end == start or size + len(queue_rows[end][2]) < max_bytes):
			size += len(queue_rows[end][2]) + 512
			end += 1
		frappe.db.bulk_insert("Email Queue", QUEUE_COLUMNS, queue_rows[start:end])
		frappe.db.bulk_insert("Email Queue Recipient", RECIPIENT_COLUMNS, recipient_rows[start:end])
		start = end
	return len(queue_rows)


QUEUE_COLUMNS = (
	"name",
	"sender",
	"message",
	"status",
	"reference_doctype",
	"reference_name",
	"priority",
	"message_id",
	"email_account",
	"add_unsubscribe_link",
	"expose_recipients",
	"attachments",
	"creation",
	"modified",
	"owner",
	"modified_by",
)
RECIPIENT_COLUMNS = (
	"name",
	"parent",
	"parenttype",
	"parentfield",
	"idx",
	"recipient",
	"status",
	"creation",
	"modified",
	"owner",
	"modified_by",
)
