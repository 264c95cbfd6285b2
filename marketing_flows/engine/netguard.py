"""Where a flow may send requests: webhooks go to public http(s) addresses only.

A flow's webhook URL is written by a Flow Administrator and called by the site's workers, which
sit inside the network: without a check it reaches the cloud metadata endpoint
(169.254.169.254), the database, Redis or any intranet service (SSRF). Loopback, link-local,
private, shared, multicast, reserved and unspecified addresses are refused, at save (for an IP
address, or a name that resolves) and again right before every call, after DNS resolution,
unless Marketing Flow Settings allow the host (`webhook_allowed_hosts`: host names, IPs or
networks, one per line).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlparse

import frappe
from frappe import _

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def allowed_hosts() -> list[str]:
	raw = frappe.db.get_single_value("Marketing Flow Settings", "webhook_allowed_hosts") or ""
	return [line.strip().lower() for line in raw.replace(",", "\n").splitlines() if line.strip()]


def _is_public(address: IPAddress) -> bool:
	if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
		address = address.ipv4_mapped
	return not (
		address.is_loopback
		or address.is_link_local
		or address.is_private
		or address.is_multicast
		or address.is_reserved
		or address.is_unspecified
		or (isinstance(address, ipaddress.IPv4Address) and address in ipaddress.ip_network("100.64.0.0/10"))
	)


def _allowed(host: str, address: IPAddress | None, allow: list[str]) -> bool:
	for entry in allow:
		if entry == host:
			return True
		if address is not None:
			try:
				if address in ipaddress.ip_network(entry, strict=False):
					return True
			except ValueError:
				continue
	return False


def _resolve(host: str, port: int) -> list[IPAddress]:
	infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
	return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]


def url_problem(url: str | None, resolve: bool | str = True) -> str | None:
	"""Why a request to `url` is not allowed (None when it is). With `resolve`, a host name is
	looked up and every address it has must be allowed; a name that does not resolve is let
	through here when `resolve` is "lenient" (at save: the call-time check decides)."""
	parsed = urlparse(url or "")
	if parsed.scheme not in ("http", "https") or not parsed.hostname:
		return _("'{0}' is not an http(s) URL.").format(url)
	if parsed.username or parsed.password:
		return _("'{0}' carries a user name or password: put credentials in headers or the body.").format(url)
	host = parsed.hostname.lower()
	allow = allowed_hosts()
	try:
		port = parsed.port or (443 if parsed.scheme == "https" else 80)
	except ValueError:
		return _("'{0}' has an invalid port.").format(url)
	try:
		addresses = [ipaddress.ip_address(host)]
	except ValueError:
		if _allowed(host, None, allow):
			return None
		if not resolve:
			return None
		try:
			addresses = _resolve(host, port)
		except OSError:
			return None if resolve == "lenient" else _("The host of '{0}' can't be resolved.").format(url)
	for address in addresses:
		if not _is_public(address) and not _allowed(host, address, allow):
			return _(
				"'{0}' points to {1}, an internal address (loopback, private, link-local or similar): "
				"webhooks may only call public addresses, or hosts allowed in Marketing Flow Settings."
			).format(url, address)
	return None


def check_url(url: str) -> None:
	"""Right before a call: raise when the URL may not be called (after DNS resolution)."""
	if problem := url_problem(url, resolve=True):
		raise frappe.ValidationError(problem)
