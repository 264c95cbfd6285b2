"""Tracking links: signed open / click / unsubscribe URLs, and rewriting an email's links.

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
from frappe.utils.verified_command import get_secret

API = "/api/method/marketing_flows.api.tracking."
SIGNATURE_LENGTH = 32  # hex characters of HMAC-SHA256: 128 bits, short enough for many links

# an <a> or <area> tag up to and including `href=`, then the value in "", '' or bare
_HREF = re.compile(
	r"""(<(?:a|area)\b[^>]*?\shref\s*=\s*)(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+))""",
	re.IGNORECASE,
)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


# --- signing -------------------------------------------------------------------------------


def _secret() -> bytes:
	key = getattr(frappe.local, "_mf_tracking_secret", None)
	if key is None:
		key = frappe.local._mf_tracking_secret = get_secret().encode()
	return key


def sign(action: str, *values: str | None) -> str:
	"""HMAC of the action and its values, joined by \\x1f (which `verify` refuses inside a value,
	so no two value lists share a message)."""
	message = "\x1f".join((action, *(v or "" for v in values))).encode()
	return hmac.new(_secret(), message, hashlib.sha256).hexdigest()[:SIGNATURE_LENGTH]


def verify(signature: str | None, action: str, *values: str | None) -> bool:
	"""Is `signature` the signature of these values? False (never an error) for anything else:
	a missing, garbled or non-ASCII signature, values that are not strings."""
	if not signature or not isinstance(signature, str) or len(signature) != SIGNATURE_LENGTH:
		return False
	if not all(v is None or isinstance(v, str) for v in values) or any(v and "\x1f" in v for v in values):
		return False
	try:
		return hmac.compare_digest(signature.encode("utf-8"), sign(action, *values).encode())
	except (TypeError, ValueError, UnicodeError):
		return False


def _base_url() -> str:
	return get_url().rstrip("/") + API


# --- links ---------------------------------------------------------------------------------


def click_url(participant_name: str, step_id: str, url: str, base: str | None = None) -> str:
	params = {"participant": participant_name, "step_id": step_id, "url": url}
	params["sig"] = sign("click", participant_name, step_id, url)
	return f"{base or _base_url()}click?{urlencode(params)}"


def open_url(participant_name: str, step_id: str, base: str | None = None) -> str:
	params = {
		"participant": participant_name,
		"step_id": step_id,
		"sig": sign("open", participant_name, step_id),
	}
	return f"{base or _base_url()}open?{urlencode(params)}"


def unsubscribe_url(participant_name: str, email: str, step_id: str | None = None) -> str:
	"""Signed link that unsubscribes `email` globally and ends `participant`'s participation.
	`step_id` (optional) attributes the unsubscribe to the email step that carried the link."""
	params = {"participant": participant_name, "email": email}
	if step_id:
		params["step_id"] = step_id
	params["sig"] = sign("unsubscribe", participant_name, email, step_id)
	return f"{_base_url()}unsubscribe?{urlencode(params)}"


def _is_untracked(url: str) -> bool:
	"""Our own tracking links, and unsubscribe links (an unsubscribe is not a click)."""
	lowered = url.lower()
	return API in url or ("/api/method/" in lowered and "unsubscribe" in lowered)


def prepare_html(
	html: str,
	participant_name: str,
	flow_name: str,
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
			return f'{match.group(1)}"{escape(click_url(participant_name, step_id, url, base), quote=True)}"'

		html = _HREF.sub(rewrite, html)
	if track_opens:
		pixel = (
			f'<img src="{escape(open_url(participant_name, step_id, base), quote=True)}" width="1" height="1" '
			'alt="" style="border:0">'
		)
		ends = list(_BODY_END.finditer(html))
		if ends:
			at = ends[-1].start()
			html = html[:at] + pixel + html[at:]
		else:
			html += pixel
	return html
