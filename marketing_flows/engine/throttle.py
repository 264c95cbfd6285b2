"""The hourly sending limit of Marketing Flow Settings (`max_sends_per_hour`), across flows.

Counted per site and clock hour in Redis (INCRBY is atomic, so workers of every flow share one
count). A send over the limit is not dropped: the runner defers it to the next hour and logs
why. A batch that rolls back after counting leaves the count a little high: the limit errs on
the side of sending less, never more.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import frappe
from frappe.utils import now_datetime

KEY = "marketing_flows:sends:{hour}"


class HourlySends:
	"""The limit as one batch sees it: reads the shared count once, then counts its own sends."""

	def __init__(self, limit: int) -> None:
		self.limit = limit if limit and limit > 0 else 0
		self._hour: str | None = None
		self._used = 0

	def _key(self, now: datetime) -> str:
		return frappe.cache.make_key(KEY.format(hour=now.strftime("%Y%m%d%H")))

	def _refresh(self) -> None:
		now = now_datetime()
		hour = now.strftime("%Y%m%d%H")
		if hour != self._hour:
			self._hour = hour
			self._used = int(frappe.cache.get(self._key(now)) or 0)

	def allows(self, n: int) -> bool:
		if not self.limit:
			return True
		self._refresh()
		return self._used + n <= self.limit

	def count(self, n: int) -> None:
		if not self.limit:
			return
		now = now_datetime()
		key = self._key(now)
		self._used = int(frappe.cache.incrby(key, n))
		frappe.cache.expire(key, 2 * 3600)

	@staticmethod
	def next_hour(now: datetime) -> datetime:
		return now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
