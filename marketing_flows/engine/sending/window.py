"""The site's clock across daylight-saving changes, and the latest moment the engine stores.
(When a send may go out, on the person's clock or the flow's: send_times.py.)

Frappe stores naive datetimes in the site's time zone (System Settings), and the engine's
"due" test is `next_run_at <= now_datetime()` on those naive values. A duration measured in
real time (a wait of 2 hours, the next hour of the sending limit) is therefore computed in UTC
and turned back into the site's wall clock (`add_elapsed`, `local_for`): naive arithmetic would
make a 2-hour wait last 1 hour in the spring and 3 in the autumn. A wait in days keeps the
wall-clock time instead (see steps/wait.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from frappe.utils import get_system_timezone

# The latest moment anything may be scheduled: MariaDB's DATETIME ends with year 9999, and a
# sending window may still move a moment on by up to a week.
LATEST = datetime(9999, 12, 31) - timedelta(days=8)

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


# --- the site's clock ---------------------------------------------------------------------


def site_zone() -> ZoneInfo:
	return ZoneInfo(get_system_timezone())


def _ambiguous(local: datetime, zone: ZoneInfo) -> bool:
	"""A wall-clock time that happens twice (the repeated hour when the clocks go back)."""
	first, second = local.replace(tzinfo=zone, fold=0), local.replace(tzinfo=zone, fold=1)
	if first.utcoffset() == second.utcoffset():
		return False
	# a time in the gap of a spring change also has two offsets, but neither comes back to it
	return first.astimezone(timezone.utc).astimezone(zone).replace(tzinfo=None) == local


def to_utc(local: datetime, zone: ZoneInfo | None = None) -> datetime:
	"""A naive site-time moment as an aware UTC one. A wall-clock time of the repeated hour is
	taken as the occurrence nearer to the real clock when one is within two hours of it (the
	engine's "now"), else as the first."""
	zone = zone or site_zone()
	if local.tzinfo is not None:
		return local.astimezone(timezone.utc)
	moment = local.replace(tzinfo=zone, fold=0)
	if _ambiguous(local, zone):
		real_now = datetime.now(timezone.utc)
		candidates = [local.replace(tzinfo=zone, fold=f).astimezone(timezone.utc) for f in (0, 1)]
		nearest = min(candidates, key=lambda c: abs(c - real_now))
		if abs(nearest - real_now) <= timedelta(hours=2):
			return nearest
	return moment.astimezone(timezone.utc)


def local_for(moment: datetime, since: datetime, zone: ZoneInfo | None = None) -> datetime:
	"""The naive site time to store so that a participant due at it (`next_run_at <= now`) is
	due no earlier than the real `moment` (aware), counted from `since` (aware, the start).
	Only the repeated hour needs care: a moment in its second pass, stored naively, would be
	due already in the first pass; it is stored as the first wall-clock time after the repeated
	hour (at most an hour late, never early)."""
	zone = zone or site_zone()
	local = moment.astimezone(zone)
	naive = local.replace(tzinfo=None)
	if not local.fold or not _ambiguous(naive, zone):
		return naive
	start = since.astimezone(zone)
	if start.fold and _ambiguous(start.replace(tzinfo=None), zone):
		return naive  # started in the second pass too: the wall clock is past the first one
	later = naive.replace(second=0, microsecond=0)
	while _ambiguous(later, zone):
		later += timedelta(minutes=1)
	return later


def add_elapsed(start: datetime, delta: timedelta) -> datetime:
	"""Naive site time `delta` of real time after the naive site time `start` (across a
	daylight-saving change too). OverflowError past the year 9999."""
	zone = site_zone()
	since = to_utc(start, zone)
	return local_for(since + delta, since, zone)
