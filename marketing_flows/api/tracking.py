"""Guest endpoints behind the links in flow emails: open pixel, click redirect, unsubscribe.

Anyone on the internet can call these, so nothing is done before the signature is checked, and
what is done afterwards ignores permissions on purpose (the signature is the permission). GET
requests are rolled back by Frappe at the end, so each endpoint commits its own work.
"""

from __future__ import annotations

import frappe
from frappe import _
from frappe.utils import escape_html
from werkzeug.utils import redirect
from werkzeug.wrappers import Response

from marketing_flows.engine import links, tracking

# 1×1 transparent GIF
PIXEL = (
	b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
	b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)


def _pixel() -> Response:
	response = Response(PIXEL, mimetype="image/gif")
	response.headers["Cache-Control"] = "no-cache, no-store, must-revalidate, max-age=0"
	return response


def _invalid_link() -> None:
	"""A plain 403 page: never a redirect, never a hint at which part was wrong."""
	frappe.respond_as_web_page(
		_("Invalid Link"),
		_("This link is invalid or has been altered. Please use the link exactly as it was in the email."),
		http_status_code=403,
	)


def _fresh_transaction() -> None:
	"""End the request's transaction so the next one reads after taking the participant's row
	lock: under REPEATABLE READ a snapshot from before the lock would miss the log row a
	concurrent hit (mail proxy + client) just committed, and log the event twice."""
	frappe.db.rollback()


def _log_error(title: str) -> None:
	"""Tracking must never break the recipient's experience: record the error and carry on."""
	frappe.db.rollback()
	try:
		frappe.log_error(title=title)
		frappe.db.commit()
	except Exception:
		frappe.db.rollback()


@frappe.whitelist(allow_guest=True, methods=["GET"])
def open(participant: str | None = None, step_id: str | None = None, sig: str | None = None) -> Response:
	"""Open pixel: logs "Opened" once per participant and step; always answers with the pixel."""
	try:
		if participant and links.verify(sig, "open", participant, step_id):
			_fresh_transaction()
			tracking.record_open(participant, step_id)
			frappe.db.commit()
	except Exception:
		_log_error("Marketing Flows: recording an open failed")
	return _pixel()


@frappe.whitelist(allow_guest=True, methods=["GET"])
def click(
	participant: str | None = None,
	step_id: str | None = None,
	url: str | None = None,
	sig: str | None = None,
) -> Response | None:
	"""Click: logs "Clicked", then redirects to the URL that was signed, and only to that."""
	if not (
		participant
		and url
		and url[:8].lower().startswith(("http://", "https://"))
		and links.verify(sig, "click", participant, step_id, url)
	):
		return _invalid_link()
	try:
		_fresh_transaction()
		tracking.record_click(participant, step_id, url)
		frappe.db.commit()
	except Exception:
		_log_error("Marketing Flows: recording a click failed")
	return redirect(url, code=302)


@frappe.whitelist(allow_guest=True, methods=["GET", "POST"])
def unsubscribe(
	participant: str | None = None,
	email: str | None = None,
	step_id: str | None = None,
	sig: str | None = None,
) -> None:
	"""Unsubscribe (GET from the link, POST from mail clients' one-click List-Unsubscribe)."""
	if not (participant and email and links.verify(sig, "unsubscribe", participant, email, step_id)):
		return _invalid_link()
	try:
		_fresh_transaction()
		tracking.unsubscribe(participant, email, step_id)
		frappe.db.commit()
	except Exception:
		_log_error("Marketing Flows: unsubscribe failed")
		frappe.respond_as_web_page(
			_("Something went wrong"),
			_("We could not unsubscribe you just now. Please try the link again later."),
			http_status_code=500,
		)
		return
	frappe.respond_as_web_page(
		_("Unsubscribed"),
		_("{0} will no longer receive our marketing emails.").format(escape_html(email)),
		indicator_color="green",
	)
