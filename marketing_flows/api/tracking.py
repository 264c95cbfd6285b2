"""Guest endpoints behind the links in flow emails: open pixel, click redirect, unsubscribe.

Anyone on the internet can call these, so nothing is done before the signature is checked, and
what is done afterwards ignores permissions on purpose (the signature is the permission). They
never answer with an error page of Frappe's and never write to the Error Log: a bad link gets a
plain 400 page, a click for a participant that is gone a 404 page, the pixel always the pixel.
GET requests are rolled back by Frappe at the end, so each endpoint commits its own work.

Rate limits: a request whose signature is wrong counts against its IP address; a signed one
against its link (a mail provider's image proxy or one-click sender uses a few addresses for
millions of recipients: none of theirs is lost). A signed open or click over the limit still
gets its pixel or redirect (it was recorded by the first hits), only unrecorded.

A busy runner holds participant rows locked: the endpoints wait at most a second for a row
(`innodb_lock_wait_timeout` of their own transaction), then leave the recording to a job and
answer at once.

Unsubscribing is a person's act: mail gateways' link scanners open every link on arrival, so a
GET only shows a confirmation page; the page's button, and mail clients' RFC 8058 one-click
(a POST with `List-Unsubscribe=One-Click`), unsubscribe. It unsubscribes the signed address even
when the participant or its flow was deleted since. The page's form carries the session's CSRF
token, so a recipient logged in to the site can use it too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import frappe
from frappe import _
from frappe.sessions import get_csrf_token
from frappe.utils import cint, escape_html
from werkzeug.utils import redirect
from werkzeug.wrappers import Response

from marketing_flows.engine.entering import confirmation
from marketing_flows.engine.measuring import tracking
from marketing_flows.engine.sending import links

# 1×1 transparent GIF
PIXEL = (
	b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
	b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
WINDOW_SECONDS = 60
LOCK_WAIT_SECONDS = 1  # the most a guest waits for a participant row the runner holds


def _limit() -> int:
	"""Requests per minute for each endpoint, per IP address (unsigned requests) or per signed
	link (site config `marketing_flows_guest_rate_limit`, default 120: a whole office behind one
	address)."""
	return cint(frappe.conf.get("marketing_flows_guest_rate_limit")) or 120


def _within_limit(endpoint: str, identity: str | None) -> bool:
	"""Count this request for `identity` (a signed link, else the IP address); is it within the
	limit? The counter is Frappe's own (`rl:<method>:<identity>` in the site's cache). A cache
	that can't be reached limits nothing."""
	identity = identity or getattr(frappe.local, "request_ip", None) or "unknown"
	try:
		key = frappe.cache.make_key(f"rl:marketing_flows.api.tracking.{endpoint}:{identity}")
		count = frappe.cache.incrby(key, 1)
		if count == 1:
			frappe.cache.expire(key, WINDOW_SECONDS)
		return count <= _limit()
	except Exception:
		return True


def _too_many() -> None:
	_page(
		_("Too Many Requests"),
		_("You hit the rate limit because of too many requests. Please try after sometime."),
		429,
		"orange",
	)


@contextmanager
def _short_lock_waits() -> Iterator[None]:
	"""Within the block, a statement waits at most LOCK_WAIT_SECONDS (site config
	`marketing_flows_tracking_lock_wait`) for a row lock, then fails with QueryTimeoutError."""
	mariadb = frappe.db.db_type == "mariadb"
	if mariadb:
		seconds = cint(frappe.conf.get("marketing_flows_tracking_lock_wait")) or LOCK_WAIT_SECONDS
		frappe.db.sql(f"SET SESSION innodb_lock_wait_timeout = {max(1, seconds)}")
	try:
		yield
	finally:
		if mariadb:
			frappe.db.sql("SET SESSION innodb_lock_wait_timeout = DEFAULT")


def _record(kind: str, **event: str | None) -> None:
	"""Record a tracking event now and commit; when the rows it needs are locked (the runner is
	working on the participant), roll back and leave it to a background job. Never raises for a
	lock: the guest gets the answer at once either way."""
	try:
		with _short_lock_waits():
			tracking.record(kind, **event)
		frappe.db.commit()
	except (frappe.QueryTimeoutError, frappe.QueryDeadlockError):
		frappe.db.rollback()
		frappe.enqueue(
			"marketing_flows.engine.measuring.tracking.record_event",
			queue="short",
			kind=kind,
			**event,
		)


def _pixel() -> Response:
	response = Response(PIXEL, mimetype="image/gif")
	response.headers["Cache-Control"] = "no-cache, no-store, must-revalidate, max-age=0"
	return response


def _page(title: str, message: str, status: int, color: str | None = None) -> None:
	frappe.respond_as_web_page(title, message, http_status_code=status, indicator_color=color)


def _invalid_link() -> None:
	"""A plain 400 page: never a redirect, never a hint at which part was wrong."""
	_page(
		_("Invalid Link"),
		_("This link is invalid or has been altered. Please use the link exactly as it was in the email."),
		400,
		"red",
	)


def _gone() -> None:
	_page(_("Link Expired"), _("This link is no longer valid."), 404, "orange")


def _fresh_transaction() -> None:
	"""End the request's transaction so the next one reads after taking the participant's row
	lock: under REPEATABLE READ a snapshot from before the lock would miss the log row a
	concurrent hit (mail proxy + client) just committed, and log the event twice."""
	frappe.db.rollback()


def _text(value: object) -> str | None:
	"""A query parameter as a plain string (a repeated or garbled one is no value)."""
	return value if isinstance(value, str) and value else None


def _request_facts() -> tuple[str | None, str | None]:
	request = getattr(frappe.local, "request", None)
	if not request:
		return None, None
	return request.method, request.headers.get("User-Agent")


# The guest endpoints' parameters are left unannotated on purpose: Frappe checks a whitelisted
# function's annotations on every request, and a repeated or garbled parameter must get the
# plain pages above (through `_text`), not Frappe's validation error.
@frappe.whitelist(allow_guest=True, methods=["GET", "HEAD"])
def open(participant=None, step_id=None, sig=None) -> Response:
	"""Open pixel: logs "Opened" once per participant and step; always answers with the pixel."""
	participant, step_id, sig = _text(participant), _text(step_id), _text(sig)
	try:
		signed = bool(participant and links.verify(sig, "open", participant, step_id))
		if _within_limit("open", f"sig:{sig}" if signed else None) and signed:
			_fresh_transaction()
			method, agent = _request_facts()
			if (method or "").upper() == "HEAD" or (agent and tracking.SCANNER_AGENTS.search(agent)):
				_record("scan", participant_name=participant, step_id=step_id, reason="open by a scanner")
			else:
				_record("open", participant_name=participant, step_id=step_id)
	except Exception:
		frappe.db.rollback()  # the pixel never fails the mail client
	return _pixel()


@frappe.whitelist(allow_guest=True, methods=["GET", "HEAD"])
def click(participant=None, step_id=None, url=None, sig=None) -> Response | None:
	"""Click: logs "Clicked" (or "Scanned" for a link scanner), then redirects to the URL that was
	signed, and only to that."""
	participant, step_id, url, sig = _text(participant), _text(step_id), _text(url), _text(sig)
	if not (
		participant
		and url
		and url[:8].lower().startswith(("http://", "https://"))
		and links.verify(sig, "click", participant, step_id, url)
	):
		if not _within_limit("click", None):
			_too_many()
		else:
			_invalid_link()
		return None
	if not _within_limit("click", f"sig:{sig}"):
		return redirect(url, code=302)  # a replayed link: its click was recorded by the first hits
	_fresh_transaction()
	if not tracking.exists(participant):
		_gone()
		return None
	try:
		method, agent = _request_facts()
		reason = tracking.scanner_reason(method, agent, participant, step_id)
		if reason:
			_record("scan", participant_name=participant, step_id=step_id, url=url, reason=reason)
		else:
			_record("click", participant_name=participant, step_id=step_id, url=url)
	except Exception:
		frappe.db.rollback()  # the reader reaches the page whatever happened to the record
		frappe.logger("marketing_flows").exception("a click could not be recorded")
	return redirect(url, code=302)


@frappe.whitelist(allow_guest=True, methods=["GET", "POST"])
def unsubscribe(participant=None, email=None, step_id=None, sig=None, **form) -> None:
	"""GET: a confirmation page whose button POSTs back. POST (the button, or a mail client's
	RFC 8058 one-click): unsubscribe the signed address from marketing, even when the participant
	is gone."""
	participant, email, step_id, sig = _text(participant), _text(email), _text(step_id), _text(sig)
	if not (participant and email and links.verify(sig, "unsubscribe", participant, email, step_id)):
		if not _within_limit("unsubscribe", None):
			_too_many()
		else:
			_invalid_link()
		return
	post = frappe.request.method == "POST"
	# a POST is counted apart from the GETs of the same link (link scanners GET every link)
	if not _within_limit("unsubscribe", f"{'post' if post else 'sig'}:{sig}"):
		_too_many()
		return
	_fresh_transaction()
	if not post:
		_confirmation_page(participant, email, step_id, sig)
		return
	_record("unsubscribe", participant_name=participant, email=email, step_id=step_id)
	_page(
		_("Unsubscribed"),
		_("{0} will no longer receive our marketing emails.").format(escape_html(email)),
		200,
		"green",
	)


def _confirmation_page(participant_name: str, email: str, step_id: str | None, sig: str) -> None:
	fields = {"participant": participant_name, "email": email, "sig": sig}
	if step_id:
		fields["step_id"] = step_id
	_button_page(
		_("Unsubscribe"),
		_("Do you want to stop receiving marketing emails at {0}?").format(f"<b>{escape_html(email)}</b>"),
		"unsubscribe",
		fields,
		_("Unsubscribe"),
		_("Messages about your orders, invoices and support requests are not affected."),
	)


def _button_page(title: str, question: str, endpoint: str, fields: dict, button: str, note: str = "") -> None:
	"""A page asking `question` whose button POSTs `fields` back to `endpoint`."""
	if frappe.session.user != "Guest":
		# Frappe refuses a POST of a logged-in session without its CSRF token (auth.py)
		fields = {**fields, "csrf_token": get_csrf_token()}
	hidden = "".join(
		f'<input type="hidden" name="{escape_html(k)}" value="{escape_html(v)}">' for k, v in fields.items()
	)
	action = f"/api/method/marketing_flows.api.tracking.{endpoint}"
	message = (
		f"<p>{question}</p>"
		+ f'<form method="post" action="{action}">{hidden}'
		+ f'<button type="submit" class="btn btn-primary btn-sm">{escape_html(button)}</button>'
		+ "</form>"
		+ (f'<p class="text-muted small" style="margin-top:12px">{escape_html(note)}</p>' if note else "")
	)
	_page(title, message, 200, "blue")


@frappe.whitelist(allow_guest=True, methods=["GET", "POST"])
def confirm(c=None, sig=None, **form) -> None:
	"""Double opt-in (engine/entering/confirmation.py). GET: a page whose button POSTs back (link scanners
	GET every link); POST: the address is confirmed, and its owner enters the flows that wait."""
	c, sig = _text(c), _text(sig)
	email = frappe.db.get_value(confirmation.DOCTYPE, c, "email_address") if c else None
	if not (email and links.verify(sig, confirmation.ACTION, c, email)):
		if not _within_limit("confirm", None):
			_too_many()
		else:
			_invalid_link()
		return
	post = frappe.request.method == "POST"
	if not _within_limit("confirm", f"{'post' if post else 'sig'}:{sig}"):
		_too_many()
		return
	if not post:
		_button_page(
			_("Confirm your email address"),
			_("Do you want to receive our emails at {0}?").format(f"<b>{escape_html(email)}</b>"),
			"confirm",
			{"c": c, "sig": sig},
			_("Yes, confirm"),
		)
		return
	user_agent = _request_facts()[1]
	confirmation.confirm(c, getattr(frappe.local, "request_ip", None), user_agent)
	frappe.db.commit()
	_page(
		_("Thank you"),
		_("{0} is confirmed: you will hear from us soon.").format(escape_html(email)),
		200,
		"green",
	)
