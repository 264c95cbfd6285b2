"""Tracking links: signed open / click / unsubscribe URLs, and rewriting an email's links.

Links are signed with an HMAC keyed by the site's secret (Frappe's `verified_command.get_secret`:
`secret` from site config, else the encryption key), over the decoded values (so a mail client
that re-encodes the query string does not break them) and the action (so a signature for one
endpoint is worthless on another). The click endpoint redirects only to the URL that was signed:
no open redirect.

Campaign tags: when the flow adds them (`add_utm_tags`, on by default), the links' targets get
utm_source / utm_medium / utm_campaign / utm_content (the step, and the A/B variant whose path
the step is on) before they are signed, so the click lands on the tagged URL and web analytics
show the flow. A target that has any utm_ parameter already keeps its own.

`prepare_html` runs once per recipient, so it is a single compiled-regex pass, no HTML parser;
the tags are built once per step and batch (`campaign_tags`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Sequence
from html import escape, unescape
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urlsplit

import frappe
from frappe.utils import cint, get_url
from frappe.utils.verified_command import get_secret

from marketing_flows.engine.running import graph

if TYPE_CHECKING:
	from marketing_flows.engine.doctypes import MarketingFlow

API = "/api/method/marketing_flows.api.tracking."
SIGNATURE_LENGTH = 32  # hex characters of HMAC-SHA256: 128 bits, short enough for many links

# an <a> or <area> tag up to and including `href=`, then the value in "", '' or bare
_HREF = re.compile(
	r"""(<(?:a|area)\b[^>]*?\shref\s*=\s*)(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+))""",
	re.IGNORECASE,
)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)
_HAS_UTM = re.compile(r"[?&]utm_", re.IGNORECASE)
AB_TEST = "A/B Test"


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


_URL_SAFE = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~"
_QUOTED = {b: chr(b) if b in _URL_SAFE else "+" if b == 0x20 else f"%{b:02X}" for b in range(256)}


def _quote(value: str) -> str:
	"""A query value exactly as `urlencode` writes it (`quote_plus`, nothing safe), in one
	C-level pass instead of a Python call per byte: it runs for every link of every email."""
	return value.encode().decode("latin-1").translate(_QUOTED)


def click_url(participant_name: str, step_id: str, url: str, base: str | None = None) -> str:
	return _click_links(participant_name, step_id, base or _base_url())(url)


def _click_links(participant_name: str, step_id: str, base: str) -> Callable[[str], str]:
	"""url -> its signed click link for this participant and step: the part of the link and of
	the signature that all the links of one email share is built once."""
	prefix = f"{base}click?participant={_quote(participant_name)}&step_id={_quote(step_id)}&url="
	shared = hmac.new(_secret(), f"click\x1f{participant_name}\x1f{step_id}\x1f".encode(), hashlib.sha256)

	def link(url: str) -> str:
		mac = shared.copy()  # = sign("click", participant_name, step_id, url)
		mac.update(url.encode())
		return f"{prefix}{_quote(url)}&sig={mac.hexdigest()[:SIGNATURE_LENGTH]}"

	return link


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


# --- campaign tags (UTM) -------------------------------------------------------------------


def campaign_tags(flow: MarketingFlow, step_id: str, medium: str = "email") -> str | None:
	"""The utm_* query string that the links of `step_id` get, or None when the flow adds none.
	Empty fields fall back to "marketing_flows", `medium` and the flow's name; utm_content is the
	step, "step-variant" on an A/B variant's path. Built once per step and batch."""
	if flow.get("add_utm_tags") is not None and not cint(flow.get("add_utm_tags")):
		return None
	variant = variant_of(flow.get("steps") or [], flow.get("branches") or [], step_id)
	tags = {
		"utm_source": (flow.get("utm_source") or "").strip() or "marketing_flows",
		"utm_medium": (flow.get("utm_medium") or "").strip() or medium,
		"utm_campaign": (flow.get("utm_campaign") or "").strip() or flow.get("flow_name") or flow.name,
		"utm_content": f"{step_id}-{variant}" if variant else step_id,
	}
	return urlencode(tags, quote_via=quote)


def variant_of(steps: Sequence[Any], branches: Sequence[Any], step_id: str) -> str | None:
	"""The key of the A/B Test variant whose path `step_id` is on: every way from the start to
	the step goes through that variant (steps after the variants join again belong to none).
	Of nested tests, the nearest variant. Steps and branches: rows or dicts (graph.py)."""
	index = graph.by_id(steps)
	start = graph.start_step(steps)
	if start is None or step_id not in index:
		return None
	found: list[tuple[int, str]] = []
	for branch in branches:
		test = index.get(_get(branch, "step_id"))
		key, target = _get(branch, "branch_key"), _get(branch, "next_step")
		if not (test is not None and _get(test, "step_type") == AB_TEST and key and target):
			continue
		others = [b for b in branches if b is not branch]
		if _reaches(index, _get(start, "step_id"), step_id, others):
			continue  # another way leads there
		distance = _distance(index, target, step_id, branches)
		if distance is not None:
			found.append((distance, key))
	return min(found)[1] if found else None


def _get(row: Any, key: str) -> Any:  # a step or branch: a row or a dict, as in graph.py
	return row.get(key) if isinstance(row, dict) else getattr(row, key, None)


def _reaches(index: dict[str, Any], start: str, goal: str, branches: Sequence[Any]) -> bool:
	seen: set[str] = set()
	todo = [start]
	while todo:
		sid = todo.pop()
		if sid == goal:
			return True
		if sid in seen or sid not in index:
			continue
		seen.add(sid)
		todo.extend(graph.successors(index[sid], branches))
	return False


def _distance(index: dict[str, Any], start: str, goal: str, branches: Sequence[Any]) -> int | None:
	"""Steps from `start` to `goal` (breadth first), None when `goal` can't be reached."""
	seen = {start}
	level, distance = [start], 0
	while level:
		if goal in level:
			return distance
		following = []
		for sid in level:
			for nxt in graph.successors(index[sid], branches) if sid in index else ():
				if nxt not in seen:
					seen.add(nxt)
					following.append(nxt)
		level, distance = following, distance + 1
	return None


def _own_api_prefixes(base: str) -> tuple[str, ...]:
	"""http(s)://<this site>/api/ (`base`: the tracking links' base): links into the site's
	own API are never tagged."""
	host = urlsplit(base).netloc.lower()
	return (f"http://{host}/api/", f"https://{host}/api/")


def _tagged(url: str, tags: str, own_api: tuple[str, ...]) -> str:
	"""`url` with the campaign tags added to its query (before any #fragment), unless it has a
	utm_ parameter already or leads into the site's own API."""
	query_at = url.find("?")
	if (query_at >= 0 and _HAS_UTM.search(url, query_at)) or url[:200].lower().startswith(own_api):
		return url
	fragment_at = url.find("#")
	if fragment_at >= 0:
		head, fragment = url[:fragment_at], url[fragment_at:]
	else:
		head, fragment = url, ""
	joint = "" if head.endswith(("?", "&")) else "&" if "?" in head else "?"
	return f"{head}{joint}{tags}{fragment}"


def prepare_html(
	html: str,
	participant_name: str,
	flow_name: str,
	step_id: str,
	track_opens: bool = True,
	track_clicks: bool = True,
	tags: str | None = None,
) -> str:
	"""Rewrite http(s) links of <a>/<area> to signed click links and append an open pixel.

	mailto:, tel:, anchors and relative links are left alone. `tags` (`campaign_tags`) are added
	to the targets first, so the signature covers them (also when clicks are not tracked: the
	links are then tagged only). `flow` is not put in the links: the participant determines it,
	and fewer parameters mean shorter, harder-to-forge links.
	"""
	if not html or not (track_opens or track_clicks or tags):
		return html
	base = _base_url()
	if track_clicks or tags:
		own_api = _own_api_prefixes(base) if tags else ()
		click = _click_links(participant_name, step_id, base)

		def rewrite(match: re.Match) -> str:
			raw = match.group(2)
			if raw is None:
				raw = match.group(3) if match.group(3) is not None else match.group(4)
			url = unescape(raw).strip() if "&" in raw else raw.strip()
			if not url[:8].lower().startswith(("http://", "https://")) or _is_untracked(url):
				return match.group(0)
			if tags:
				url = _tagged(url, tags, own_api)
			target = click(url) if track_clicks else url
			return f'{match.group(1)}"{escape(target, quote=True)}"'

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
