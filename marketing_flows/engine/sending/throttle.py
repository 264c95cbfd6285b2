"""Sending limits of Marketing Flow Settings, across flows: the hourly limit of the site
(`max_sends_per_hour`, per UTC hour) and the frequency cap per person
(`max_emails_per_person_per_day`, per the person's calendar day; `max_emails_per_person_per_week`,
per 7 × 24 hours).

Counted per site and UTC hour in Redis (INCRBY is atomic, so workers of every flow share one
count). A send over the limit is not dropped: the runner defers it to the next hour and logs
why. A batch that rolls back after counting leaves the count a little high: the limit errs on
the side of sending less, never more. The hour is a UTC hour: when the site's clocks go back,
the repeated wall-clock hour is two real hours with a limit each, and in a time zone half an
hour off UTC the limit's hour starts at :30 of the site's clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

import frappe

from marketing_flows.engine import log as marketing_log
from marketing_flows.engine.sending import window

if TYPE_CHECKING:
	from marketing_flows.engine.doctypes import ParticipantRow
	from marketing_flows.engine.sending.send_times import Clock

KEY = "marketing_flows:sends:{hour}"


def hour_key() -> str:
	"""The count's key (before frappe.cache.make_key) for the current UTC hour."""
	return KEY.format(hour=datetime.now(timezone.utc).strftime("%Y%m%d%H"))


class HourlySends:
	"""The limit as one batch sees it: reads the shared count once, then counts its own sends."""

	def __init__(self, limit: int) -> None:
		self.limit = limit if limit and limit > 0 else 0
		self._hour: str | None = None
		self._used = 0

	@staticmethod
	def _utc_hour() -> str:
		return datetime.now(timezone.utc).strftime("%Y%m%d%H")

	def _key(self, hour: str) -> str:
		return frappe.cache.make_key(KEY.format(hour=hour))

	def _refresh(self) -> None:
		hour = self._utc_hour()
		if hour != self._hour:
			self._hour = hour
			self._used = int(frappe.cache.get(self._key(hour)) or 0)

	def allows(self, n: int) -> bool:
		if not self.limit:
			return True
		self._refresh()
		return self._used + n <= self.limit

	def count(self, n: int) -> None:
		if not self.limit:
			return
		hour = self._utc_hour()
		key = self._key(hour)
		used = int(frappe.cache.incrby(key, n))
		frappe.cache.expire(key, 2 * 3600)
		if hour == self._hour:
			self._used = used
		else:  # a new hour began since the last look: this is its count
			self._hour, self._used = hour, used

	@staticmethod
	def next_hour(now: datetime) -> datetime:
		"""When the limit's next hour (a UTC hour) begins, as naive site time, from the naive
		site time `now`."""
		zone = window.site_zone()
		since = window.to_utc(now, zone)
		start = since.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
		return window.local_for(start, since, zone)


class FrequencyCap:
	"""No person gets more than N marketing emails a day and M a week, across all flows. The day
	is the person's calendar day (midnight to midnight on their clock: send_times.Clock); the
	week is the last 7 × 24 hours. Counted from the log (index: contact, event, creation) plus
	the emails of this batch not written yet. A send over the cap is deferred to the moment the
	cap allows it (the person's next midnight, or when the week's oldest send is 7 days old),
	never dropped."""

	WEEK = timedelta(days=7)

	def __init__(self, per_day: int, per_week: int) -> None:
		self.limits = {"day": max(per_day or 0, 0), "week": max(per_week or 0, 0)}
		self.active = any(self.limits.values())

	def next_allowed(
		self, participant: ParticipantRow, now: datetime, pending: list[datetime], clock: Clock
	) -> datetime | None:
		"""None when the participant's person may get an email now; else the moment the cap
		allows it (naive site time)."""
		if not self.active or not (participant.get("person") or participant.get("contact")):
			return None
		week_ago = now - self.WEEK
		log = frappe.qb.DocType("Marketing Flow Log")
		sent = (
			frappe.qb.from_(log)
			.select(log.creation)
			.where(
				marketing_log.of_person(log, participant)
				& (log.event == "Email Sent")
				& (log.creation > week_ago)
			)
			.orderby(log.creation)
			.run(pluck=True)
		)
		times = sorted([*sent, *pending])
		wait_until = None
		if limit := self.limits["day"]:
			today = clock.local(now).date()
			if sum(1 for t in times if clock.local(t).date() == today) >= limit:
				midnight = datetime.combine(today + timedelta(days=1), datetime.min.time())
				wait_until = clock.to_site(midnight, now)
		if limit := self.limits["week"]:
			recent = [t for t in times if t > week_ago]
			if len(recent) >= limit:
				# the oldest send that keeps the count at the limit must leave the week first
				frees_at = recent[len(recent) - limit] + self.WEEK
				wait_until = max(wait_until or frees_at, frees_at)
		return wait_until
