"""Guest endpoints behind the links in flow emails: open pixel, click redirect, unsubscribe.

Anyone on the internet can call these, so nothing is done before the signature is checked, and
what is done afterwards ignores permissions on purpose (the signature is the permission). They
never answer with an error page of Frappe's and never write to the Error Log: a bad link gets a
plain 400 page, a participant that is gone a 404 page, the pixel always the pixel. Each is rate
limited per IP address. GET requests are rolled back by Frappe at the end, so each endpoint
commits its own work.

Unsubscribing is a person's act: mail gateways' link scanners open every link on arrival, so a
GET only shows a confirmation page; the page's button, and mail clients' RFC 8058 one-click
(a POST with `List-Unsubscribe=One-Click`), unsubscribe.
"""

from __future__ import annotations

import frappe
from frappe import _
from frappe.rate_limiter import rate_limit
from frappe.utils import cint, escape_html
from werkzeug.utils import redirect
from werkzeug.wrappers import Response

from marketing_flows.engine import links, tracking

# 1×1 transparent GIF
PIXEL = (
	b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
	b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
WINDOW_SECONDS = 60


def _limit() -> int:
	"""Requests per IP address and minute for each endpoint (site config
	`marketing_flows_guest_rate_limit`, default 120: a whole office behind one address)."""
	return cint(frappe.conf.get("marketing_flows_guest_rate_limit")) or 120


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


def _text(value) -> str | None:
	"""A query parameter as a plain string (a repeated or garbled one is no value)."""
	return value if isinstance(value, str) and value else None


def _request_facts() -> tuple[str | None, str | None]:
	request = getattr(frappe.local, "request", None)
	if not request:
		return None, None
	return request.method, request.headers.get("User-Agent")


@frappe.whitelist(allow_guest=True, methods=["GET", "HEAD"])
@rate_limit(limit=_limit, seconds=WINDOW_SECONDS)
def open(participant=None, step_id=None, sig=None) -> Response:
	"""Open pixel: logs "Opened" once per participant and step; always answers with the pixel."""
	participant, step_id, sig = _text(participant), _text(step_id), _text(sig)
	try:
		if participant and links.verify(sig, "open", participant, step_id):
			_fresh_transaction()
			method, agent = _request_facts()
			if (method or "").upper() == "HEAD" or (agent and tracking.SCANNER_AGENTS.search(agent)):
				tracking.record_scan(participant, step_id, None, "open by a scanner")
			else:
				tracking.record_open(participant, step_id)
			frappe.db.commit()
	except Exception:
		frappe.db.rollback()  # the pixel never fails the mail client
	return _pixel()


@frappe.whitelist(allow_guest=True, methods=["GET", "HEAD"])
@rate_limit(limit=_limit, seconds=WINDOW_SECONDS)
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
		return _invalid_link()
	_fresh_transaction()
	if not tracking.exists(participant):
		return _gone()
	method, agent = _request_facts()
	reason = tracking.scanner_reason(method, agent, participant, step_id)
	if reason:
		tracking.record_scan(participant, step_id, url, reason)
	else:
		tracking.record_click(participant, step_id, url)
	frappe.db.commit()
	return redirect(url, code=302)


@frappe.whitelist(allow_guest=True, methods=["GET", "POST"])
@rate_limit(limit=_limit, seconds=WINDOW_SECONDS)
def unsubscribe(participant=None, email=None, step_id=None, sig=None, **form) -> None:
	"""GET: a confirmation page whose button POSTs back. POST (the button, or a mail client's
	RFC 8058 one-click): unsubscribe from marketing."""
	participant, email, step_id, sig = _text(participant), _text(email), _text(step_id), _text(sig)
	if not (participant and email and links.verify(sig, "unsubscribe", participant, email, step_id)):
		return _invalid_link()
	_fresh_transaction()
	if not tracking.exists(participant):
		return _gone()
	if frappe.request.method != "POST":
		return _confirmation_page(participant, email, step_id, sig)
	tracking.unsubscribe(participant, email, step_id)
	frappe.db.commit()
	_page(
		_("Unsubscribed"),
		_("{0} will no longer receive our marketing emails.").format(escape_html(email)),
		200,
		"green",
	)


def _confirmation_page(participant: str, email: str, step_id: str | None, sig: str) -> None:
	fields = {"participant": participant, "email": email, "sig": sig}
	if step_id:
		fields["step_id"] = step_id
	hidden = "".join(
		f'<input type="hidden" name="{escape_html(k)}" value="{escape_html(v)}">' for k, v in fields.items()
	)
	action = "/api/method/marketing_flows.api.tracking.unsubscribe"
	message = (
		"<p>"
		+ _("Do you want to stop receiving marketing emails at {0}?").format(f"<b>{escape_html(email)}</b>")
		+ "</p>"
		+ f'<form method="post" action="{action}">{hidden}'
		+ f'<button type="submit" class="btn btn-primary btn-sm">{escape_html(_("Unsubscribe"))}</button>'
		+ "</form>"
		+ '<p class="text-muted small" style="margin-top:12px">'
		+ escape_html(_("Messages about your orders, invoices and support requests are not affected."))
		+ "</p>"
	)
	_page(_("Unsubscribe"), message, 200, "blue")
