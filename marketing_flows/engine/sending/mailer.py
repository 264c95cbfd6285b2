"""Turn flow content into Email Queue rows, fast.

`frappe.sendmail` inlines CSS for every message (about 51 queued emails/s). Here the email
layout (Frappe's standard template, CSS inlined) is built once per content version and account,
with markers where the personal parts go; each participant costs a Jinja render, link
rewriting and a plain MIME build (Python's email package: Frappe's EMail class validates and
rebuilds headers per message, which profiling showed to be half the cost of a send). Rows are
inserted in bulk, in the runner's transaction, so the participant's advance and its email
commit together (exactly once). The app's sender (sender.py) sends them once that commits; the
rows have priority 0, below Frappe's other mail, so Frappe's flush reaches that mail first.
"""

from __future__ import annotations

import email.utils
import json
import re
import secrets
from collections.abc import Callable
from email.charset import QP, Charset
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from functools import lru_cache
from typing import TYPE_CHECKING

import frappe
from frappe import _
from frappe.core.utils import html2text
from frappe.email.email_body import get_footer
from frappe.utils.data import scrub_urls

from marketing_flows.engine import bulk
from marketing_flows.engine.hosts import doctype_roles, owners
from marketing_flows.engine.names import NameBlock
from marketing_flows.engine.sending import render, sender

if TYPE_CHECKING:
	from frappe.email.doctype.email_account.email_account import EmailAccount

	from marketing_flows.engine.doctypes import MarketingFlowContent

PARTICIPANT = "Marketing Flow Participant"
MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024  # in all, per email (what most mail servers accept)
BODY_MARKER = "MFBODYc0ffee42MF"


def default_sender_name() -> str | None:
	"""The Email Account a content without its own Sender Account sends through: Marketing Flow
	Settings' Sender, else the site's default outgoing account (None: there is none yet)."""
	name = frappe.db.get_single_value("Marketing Flow Settings", "default_sender")
	if not name:
		name = frappe.db.get_value("Email Account", {"enable_outgoing": 1, "default_outgoing": 1})
	return name or None


def sender_problem(content_sender: str | None) -> str | None:
	"""Why a content with this Sender Account could not send now (no account at all, or one
	whose outgoing is off); None when it can. Content may be written before any account exists:
	a flow that would send it is refused at Run instead (validation.sender_errors)."""
	name = content_sender or default_sender_name()
	if not name:
		return _(
			"no sender: choose a Sender Account on the content, a Sender in Marketing Flow Settings, "
			"or make an Email Account the default outgoing one"
		)
	if not frappe.db.get_value("Email Account", name, "enable_outgoing"):
		return _("Email Account {0} can't send emails (outgoing is off)").format(name)
	return None


def sender_account(content_sender: str | None) -> EmailAccount:
	"""The Email Account that sends: the content's, the settings' default, or the site default."""
	name = content_sender or default_sender_name()
	if not name:
		raise frappe.ValidationError(
			_("No outgoing Email Account: set a sender on the content or a default.")
		)
	return frappe.get_cached_doc("Email Account", name)


def route_frappe_mail(sender: str, account: EmailAccount) -> None:
	"""Make Frappe's own mail (`frappe.sendmail`) from `sender` go through `account`. Frappe finds
	the account by the From address through a per-request cache (`frappe.local.
	outgoing_email_account`, its `cache_email_account`) that, once anything in the request or
	job looked up the default account, answers the default for every address it has not seen:
	the account is named for this From beforehand."""
	cache = getattr(frappe.local, "outgoing_email_account", None)
	if cache is None:
		cache = frappe.local.outgoing_email_account = {}
	cache[sender] = account


# --- From and Reply-To -----------------------------------------------------------------------
PERSONS_OWNER = "Person's Owner"


def owner_of(ctx_vars: dict) -> str | None:
	"""The user who looks after the person, read off rows the batch already holds (no query):
	their company's owner (an ERPNext Customer's account manager), else the person's own (a
	Lead's or CRM Lead's lead_owner); a record without an owner field (a Contact, a CRM
	Organization) is owned by the first user it is assigned to. Which field is whose owner:
	hosts/owners.py. No owner: None (the Sender Account sends)."""
	participant = ctx_vars.get("participant") or {}
	company_dt = participant.get("company_doctype") or doctype_roles.doctype_for("company")
	person_dt = participant.get("person_doctype") or "Contact"
	for doctype, row in ((company_dt, ctx_vars.get("company")), (person_dt, ctx_vars.get("person"))):
		if doctype and (user := owners.owner_in(doctype, row)):
			return user
	return None


def active_users() -> dict[str, tuple[str, str]]:
	"""user -> (full name, email) of every enabled desk user with an email: one query, kept per
	batch (Mailer), so owners cost nothing per email."""
	rows = frappe.get_all(
		"User",
		filters={"enabled": 1, "user_type": "System User", "email": ("is", "set")},
		fields=["name", "full_name", "email"],
	)
	return {r.name: (r.full_name or r.name, r.email) for r in rows}


def from_and_reply_to(
	content: MarketingFlowContent, account: EmailAccount, owner: tuple[str, str] | None
) -> tuple[str, str | None]:
	"""The From and Reply-To headers of one email, as Frappe's own EMail makes them
	(frappe/email/email_body.py: replace_sender, replace_sender_name).

	From = Email Account: the account's name and address. From = Person's Owner with an owner
	(enabled user with an email): "Owner Name <owner@...>", sent through the Sender Account (its
	SMTP login; the envelope sender stays the account's address, sender.py). When the account
	has "Always use this email address as sender address", the address is the account's: "Owner
	Name <account@...>" and replies go to the owner (Frappe keeps the original sender as
	Reply-To then); "Always use this name as sender name" puts the account's name instead of the
	owner's. No owner, or a disabled one: the account as with From = Email Account.
	Reply-To: the content's when set; else the owner when the From address isn't theirs; else
	none (replies go to From)."""
	reply_to = (content.get("reply_to") or "").strip() or None
	if content.get("sender_type") != PERSONS_OWNER or not owner:
		return email.utils.formataddr((account.name, account.email_id)), reply_to
	name, address = owner
	if frappe.utils.cint(account.get("always_use_account_email_id_as_sender")):
		reply_to = reply_to or address
		address = account.email_id
	if frappe.utils.cint(account.get("always_use_account_name_as_sender_name")):
		name = account.name
	return email.utils.formataddr((name, address)), reply_to


# A light layout: Frappe's standard email template carries its whole email.css inlined into
# every element (about 12 KB per message, stored again in every Email Queue row); this one is a
# few hundred bytes of inline styles around the content and the account's footer.
LAYOUT = (
	'<html><head><meta name="viewport" content="width=device-width"></head>\n'
	'<body><div style="max-width:600px;margin:0 auto;padding:16px;'
	'font:14px/1.5 Helvetica,Arial,sans-serif;color:#1f272e">\n'
	+ BODY_MARKER
	+ "\n{footer}</div></body></html>\n"
)
FOOTER = '<div style="margin-top:24px;font-size:12px;color:#8d99a6">{0}</div>\n'


@lru_cache(maxsize=64)
def _layout(content: str, version: int, account: str, site: str) -> str:
	"""The email layout around markers, with the account's footer (cache key: content version)."""
	acct = frappe.get_cached_doc("Email Account", account)
	# Frappe's footer (the account's signature, the sender address, the standard footer) without
	# its comments and empty wrappers; none of Frappe's per-recipient placeholders applies to
	# these rows (no Communication, no Frappe read tracker: the flow's own links track them).
	footer = _SPACE.sub("\n", _COMMENT.sub("", scrub_urls(get_footer(acct)))).strip()
	if not html2text(footer).strip():
		footer = ""
	return LAYOUT.replace("{footer}", FOOTER.format(footer) if footer else "")


_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_SPACE = re.compile(r"\s*\n\s*")
_IMG = re.compile(r"<img\b[^>]*>", re.IGNORECASE)


def _domain() -> str:
	return frappe.local.site or "localhost"


def attachments_of(content: MarketingFlowContent) -> list[str]:
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
	msg = MIMEMultipart("mixed" if mixed else "alternative", boundary=f"mf-{secrets.token_hex(6)}")
	msg["From"] = sender
	msg["To"] = recipient
	msg["Subject"] = Header(subject, "utf-8")  # type: ignore[assignment]  # email takes a Header too
	msg["Date"] = email.utils.formatdate(localtime=True)
	msg["Message-Id"] = message_id
	for key, value in (headers or {}).items():
		msg[key] = value
	body = MIMEMultipart("alternative", boundary=f"mf-{secrets.token_hex(6)}") if mixed else msg
	if mixed:
		del body["MIME-Version"]  # said once, in the message's header
	body.attach(_text_part(text, "plain"))
	body.attach(_text_part(html, "html"))
	if mixed:
		msg.attach(body)
	return msg.as_string()


_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP  # quoted-printable, as Frappe's own emails: base64 would add a third
MAX_7BIT_LINE = 998  # RFC 5322


def _text_part(text: str, subtype: str) -> MIMEText:
	"""ASCII text with short lines goes as it is (7bit: nothing to encode, nothing added);
	anything else quoted-printable in UTF-8."""
	if text.isascii() and all(len(line) <= MAX_7BIT_LINE for line in text.splitlines()):
		part = MIMEText(text, subtype, "us-ascii")
	else:
		part = MIMEText(text, subtype, _UTF8_QP)  # type: ignore[arg-type]  # a Charset works as a name does
	del part["MIME-Version"]  # said once, in the message's header
	return part


class Mailer:
	"""Collects the Email Queue rows of one batch and writes them in two INSERTs."""

	def __init__(self, keep_rendered: bool = False) -> None:
		self.keep_rendered = keep_rendered  # a dry run shows what would be sent
		self.rendered: list[dict] = []
		self.queue_rows: list[tuple] = []
		self.recipient_rows: list[tuple] = []
		self._accounts: dict[str | None, EmailAccount] = {}  # content sender -> Email Account, once per batch
		self._names = NameBlock()  # the batch's rows side by side in the primary key
		self._attachments: dict[str, str | None] = {}  # content -> Email Queue `attachments` JSON
		self._users: dict[str, tuple[str, str]] | None = None  # owners' names and addresses, per batch

	def owner(self, content: MarketingFlowContent, ctx_vars: dict) -> tuple[str, str] | None:
		"""(name, email) of the person's owner when the content is From = Person's Owner and the
		owner is an enabled user with an email; None otherwise (the Sender Account sends)."""
		if content.get("sender_type") != PERSONS_OWNER:
			return None
		user = owner_of(ctx_vars)
		if not user:
			return None
		if self._users is None:
			self._users = active_users()
		return self._users.get(user)

	def queue(
		self,
		content: MarketingFlowContent,
		ctx_vars: dict,
		recipient: str,
		participant_name: str,
		body_filter: Callable[[str], str] | None = None,
		headers: dict[str, str] | None = None,
		subject_prefix: str = "",
	) -> str:
		"""Render `content` for one recipient and stage its Email Queue row; returns its name.
		(A test send, test_send.py, takes the staged message and writes no row.)"""
		if content.sender not in self._accounts:
			self._accounts[content.sender] = sender_account(content.sender)
		account = self._accounts[content.sender]
		subject = subject_prefix + (render.render(content.subject, ctx_vars).strip() or "[No Subject]")
		body = render.render(content.body, ctx_vars, html=True)
		if self.keep_rendered:
			self.rendered.append(
				{"participant": participant_name, "to": recipient, "subject": subject, "body": body}
			)
		if body_filter:
			body = body_filter(body)
		layout = _layout(content.name, content.version or 0, account.name, frappe.local.site)
		html = layout.replace(BODY_MARKER, body)
		from_address, reply_to = from_and_reply_to(content, account, self.owner(content, ctx_vars))
		if reply_to:
			headers = {**(headers or {}), "Reply-To": reply_to}
		name = self._names.next()
		message_id = f"<{name}@{_domain()}>"  # the row's name is unique: so is this
		# the plain-text part: images show nothing there (html2text would write their URLs out)
		text = html2text(_IMG.sub("", body))
		if content.name not in self._attachments:
			files = attachments_of(content)
			self._attachments[content.name] = json.dumps([{"fid": f} for f in files]) if files else None
		attachments = self._attachments[content.name]
		message = build_mime(
			from_address, recipient, subject, html, text, message_id, headers, mixed=bool(attachments)
		)
		now = frappe.utils.now_datetime()
		user = frappe.session.user
		self.queue_rows.append(
			(
				name,
				from_address,
				message,
				"Not Sent",
				PARTICIPANT,
				participant_name,
				0,  # priority: below Frappe's own mail (1)
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
				self._names.next(),
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
		bulk.insert("Email Queue", QUEUE_COLUMNS, queue_rows[start:end])
		bulk.insert("Email Queue Recipient", RECIPIENT_COLUMNS, recipient_rows[start:end])
		start = end
	if queue_rows:
		sender.wake()  # the rows leave as soon as this transaction commits
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


# How much of MariaDB's max_allowed_packet one Email Queue INSERT may use.
PACKET_SHARE = 0.5


def packet_budget() -> int:
	cached = getattr(frappe.local, "_mf_packet_budget", None)
	if cached is None:
		allowed = frappe.db.sql("SELECT @@max_allowed_packet")[0][0]
		cached = frappe.local._mf_packet_budget = int(int(allowed) * PACKET_SHARE)
	return cached
