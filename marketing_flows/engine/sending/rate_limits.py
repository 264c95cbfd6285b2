"""Sending rates that hold for any number of sender jobs on any number of hosts.

A limit is "at most R emails per second" on a key: an Email Account's SMTP login, a recipient
domain, or all of a site's flow emails. Each send reserves its moment on every key that applies
to it, in Redis, with one atomic script (a generic cell rate algorithm: each key keeps the
next moment it hands out). The send leaves at the latest of its keys' moments, and each key
moves one interval on from its own moment: a key hands out one moment per 1/R, whichever job
or host sends, and a send waiting for a slow key takes nothing from the others (moving every
key to the latest moment wasted the overall limit's moments: 168/s under a 200/s limit, see
benchmarks/README.md). A send over a limit waits rather than being dropped; a send whose
recipient domain has no moment free soon is declined untouched (`hold`), so the sender can
send other mail meanwhile instead of waiting behind it. Redis's own clock is the clock: hosts
need not agree on the time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import frappe
from frappe.utils import flt

SETTINGS = "Marketing Flow Settings"

# KEYS: one per limit, the recipient domain's (if any) last; ARGV: each key's interval in
# microseconds, then the hold in microseconds (-1: none): when the last key (the domain's) is
# free only later than that, nothing is reserved and the answer is minus that wait. Else the
# wait in µs (>= 0).
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = #KEYS
local hold = tonumber(ARGV[n + 1] or '-1')
local at, free = now, {}
for i, key in ipairs(KEYS) do
	local next_free = tonumber(redis.call('GET', key) or '0')
	if next_free < now then next_free = now end
	free[i] = next_free
	if next_free > at then at = next_free end
end
if hold >= 0 and free[n] - now > hold then
	return now - free[n]
end
for i, key in ipairs(KEYS) do
	local after = free[i] + tonumber(ARGV[i])
	redis.call('SET', key, after, 'PX', math.floor((after - now) / 1000) + 60000)
end
return at - now
"""


@dataclass
class SendingLimits:
	"""The limits of one site, read from Marketing Flow Settings (per second; 0: none)."""

	overall: float = 0.0
	accounts: dict[str, float] = field(default_factory=dict)  # Email Account -> per second
	domains: dict[str, float] = field(default_factory=dict)  # recipient domain -> per second
	connections: dict[str, int] = field(default_factory=dict)  # Email Account -> connections
	default_connections: int = 4
	site: str = ""

	def keys_for(self, account_key: str, account: str, recipient: str) -> list[tuple[str, float]]:
		"""The (Redis key, per second) pairs that a send from `account` to `recipient` must pass."""
		keys = []
		if self.overall > 0:
			keys.append((f"mf:rate:{self.site}:all", self.overall))
		if self.accounts.get(account, 0) > 0:
			keys.append((f"mf:rate:account:{account_key}", self.accounts[account]))
		domain = domain_of(recipient)
		if self.domains.get(domain, 0) > 0:  # last: the key a send may be declined for (hold)
			keys.append((f"mf:rate:domain:{domain}", self.domains[domain]))
		return keys

	def domain_rate(self, recipient: str) -> float:
		"""The per-second limit of the recipient's domain (0: none)."""
		return self.domains.get(domain_of(recipient), 0.0)

	def connections_for(self, account: str) -> int:
		return max(1, self.connections.get(account) or self.default_connections)


def domain_of(recipient: str) -> str:
	return recipient.rpartition("@")[2].strip().strip(">").lower()


def load() -> SendingLimits:
	"""The site's limits, as saved now."""
	settings = frappe.get_cached_doc(SETTINGS)
	limits = SendingLimits(
		overall=flt(settings.get("max_emails_per_second")),
		default_connections=max(1, int(settings.get("smtp_connections") or 4)),
		site=frappe.local.site,
	)
	for row in settings.get("sending_limits") or []:
		if row.applies_to == "Email Account" and row.email_account:
			if flt(row.max_per_second) > 0:
				limits.accounts[row.email_account] = flt(row.max_per_second)
			if row.connections:
				limits.connections[row.email_account] = int(row.connections)
		elif row.applies_to == "Recipient Domain" and row.domain and flt(row.max_per_second) > 0:
			limits.domains[row.domain.strip().lstrip("@").lower()] = flt(row.max_per_second)
	return limits


class Reserver:
	"""Reserves sending moments in Redis; safe to share between a job's sending threads (the
	Redis client's connection pool is thread-safe)."""

	def __init__(self) -> None:
		self._script = frappe.cache.register_script(_RESERVE)

	def reserve(self, keys: list[tuple[str, float]], hold: float | None = None) -> float:
		"""Seconds to wait before this send may leave (0 when no limit applies). With `hold` and
		a domain key (the last of `keys_for`): a domain free only in more than `hold` seconds
		reserves nothing, and the answer is minus its wait."""
		if not keys:
			return 0.0
		waited = self._script(
			keys=[key for key, _ in keys],
			args=[max(1, int(1_000_000 / rate)) for _, rate in keys]
			+ [int(hold * 1_000_000) if hold is not None else -1],
		)
		return int(waited) / 1_000_000
