"""Where a flow may send requests: webhooks go to public http(s) addresses only.

A flow's webhook URL is written by a Flow Administrator and called by the site's workers, which
sit inside the network: without a check it reaches the cloud metadata endpoint
(169.254.169.254), the database, Redis or any intranet service (SSRF). Loopback, link-local,
private, shared, multicast, reserved and unspecified addresses are refused, at save (for an IP
address, or a name that resolves) and again right before every call, after DNS resolution,
unless Marketing Flow Settings allow the host (`webhook_allowed_hosts`: host names, IPs or
networks, one per line).

The call itself (`request`) resolves the host once, checks every address it got, and connects
only to those addresses: no second DNS lookup between the check and the connection, so a name
that answers a public address to the check and 127.0.0.1 or 169.254.169.254 a moment later
(DNS rebinding) can't send the request inside. The request keeps the host name for the Host
header, TLS SNI and certificate verification; proxies from the environment are not used (a
proxy would resolve the name again) and redirects are not followed.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import frappe
import requests
from frappe import _
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util import connection as urllib3_connection

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


def resolve(host: str, port: int) -> list[IPAddress]:
	"""The addresses of `host`, in the resolver's order, each once: the only DNS lookup of a
	webhook call (its check and its connection both use what this returned)."""
	infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
	addresses: list[IPAddress] = []
	for info in infos:
		address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
		if address not in addresses:
			addresses.append(address)
	return addresses


def _lookup(host: str, port: int) -> list[IPAddress]:
	return resolve(host, port)  # (inside _check, `resolve` is its parameter)


def url_problem(url: str | None, resolve: bool | str = True) -> str | None:
	"""Why a request to `url` is not allowed (None when it is). With `resolve`, a host name is
	looked up and every address it has must be allowed; a name that does not resolve is let
	through here when `resolve` is "lenient" (at save: the call-time check decides)."""
	return _check(url, resolve)[0]


def _check(url: str | None, resolve: bool | str = True) -> tuple[str | None, list[IPAddress]]:
	"""(why `url` may not be called or None, the addresses checked). A host allowed by name is
	still resolved when `resolve` is true: the call connects to what was resolved here."""
	parsed = urlparse(url or "")
	if parsed.scheme not in ("http", "https") or not parsed.hostname:
		return _("'{0}' is not an http(s) URL.").format(url), []
	if parsed.username or parsed.password:
		return _("'{0}' carries a user name or password: put credentials in headers or the body.").format(
			url
		), []
	host = parsed.hostname.lower()
	allow = allowed_hosts()
	try:
		port = parsed.port or (443 if parsed.scheme == "https" else 80)
	except ValueError:
		return _("'{0}' has an invalid port.").format(url), []
	try:
		addresses = [ipaddress.ip_address(host)]
	except ValueError:
		allowed_by_name = _allowed(host, None, allow)
		if not resolve or (allowed_by_name and resolve == "lenient"):
			return None, []
		try:
			addresses = _lookup(host, port)
		except OSError:
			if resolve == "lenient":
				return None, []
			return _("The host of '{0}' can't be resolved.").format(url), []
		if not addresses:
			return _("The host of '{0}' can't be resolved.").format(url), []
		if allowed_by_name:
			return None, addresses
	for address in addresses:
		if not _is_public(address) and not _allowed(host, address, allow):
			return _(
				"'{0}' points to {1}, an internal address (loopback, private, link-local or similar): "
				"webhooks may only call public addresses, or hosts allowed in Marketing Flow Settings."
			).format(url, address), addresses
	return None, addresses


def check_url(url: str) -> list[IPAddress]:
	"""Right before a call: raise when the URL may not be called (after DNS resolution); else
	the addresses checked, the only ones the call may connect to."""
	problem, addresses = _check(url, resolve=True)
	if problem:
		raise frappe.ValidationError(problem)
	return addresses


# --- the call, pinned to the checked addresses ----------------------------------------------


if TYPE_CHECKING:
	_Connection = HTTPConnection  # what the class is mixed into (below)
else:
	_Connection = object


class _PinnedConnection(_Connection):
	"""A urllib3 connection that opens its socket to the checked addresses (in order, the next
	one when one can't be reached) instead of looking the host name up again. `host` stays the
	name: the Host header, TLS SNI and the certificate check use it."""

	pinned: tuple[str, ...] = ()

	def _new_conn(self):
		error: Exception | None = None
		for address in self.pinned:
			try:
				return urllib3_connection.create_connection(
					(address, self.port),
					self.timeout,
					source_address=self.source_address,
					socket_options=self.socket_options,
				)
			except TimeoutError:
				error = ConnectTimeoutError(
					self,
					f"Connection to {self.host} ({address}) timed out. (connect timeout={self.timeout})",
				)
			except OSError as e:
				error = NewConnectionError(self, f"Failed to establish a new connection to {address}: {e}")
		raise error or NewConnectionError(self, f"No address to connect to for {self.host}")


class _PinnedAdapter(HTTPAdapter):
	"""requests' adapter whose connection pools connect only to `addresses`."""

	def __init__(self, addresses: list[IPAddress]) -> None:
		pinned = tuple(str(a) for a in addresses)
		self._pools = {
			"http": type(
				"PinnedHTTPConnectionPool",
				(HTTPConnectionPool,),
				{
					"ConnectionCls": type(
						"PinnedHTTPConnection", (_PinnedConnection, HTTPConnection), {"pinned": pinned}
					)
				},
			),
			"https": type(
				"PinnedHTTPSConnectionPool",
				(HTTPSConnectionPool,),
				{
					"ConnectionCls": type(
						"PinnedHTTPSConnection", (_PinnedConnection, HTTPSConnection), {"pinned": pinned}
					)
				},
			),
		}
		super().__init__(max_retries=0)

	def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:  # requests' own, passed on
		super().init_poolmanager(*args, **kwargs)
		self.poolmanager.pool_classes_by_scheme = self._pools


def request(method: str, url: str, **kwargs: Any) -> requests.Response:  # requests.request's
	"""`requests.request` for a webhook: the URL is checked (one DNS lookup, every address
	allowed), then the connection goes to those very addresses. Redirects are not followed and
	no proxy of the environment is used (both would reach an address nobody checked)."""
	addresses = check_url(url)
	kwargs["allow_redirects"] = False
	kwargs.setdefault(
		"verify", os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
	)
	with requests.Session() as session:
		session.trust_env = False  # no proxies, .netrc or CA bundle from the environment
		adapter = _PinnedAdapter(addresses)
		session.mount("http://", adapter)
		session.mount("https://", adapter)
		return session.request(method, url, **kwargs)
