"""When an email or SMS may go out for one person, and where a wait in days or at a time of day
ends: the flow's sending window, the quiet hours (Settings' and the flow's, per channel) and the
holidays the flow skips, all read on one clock, the person's time zone or the flow's (the
flow's *Times Are In*).

The engine stores and indexes moments in the site's time zone, naive, as Frappe does. A `Clock`
turns them into the person's wall clock and back, so that "09:00" means 09:00 where the person
is while the stored due time stays a real moment the runner's index finds whatever the zone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from frappe import _
from frappe.utils import get_time

from marketing_flows.engine.hosts import time_zones
from marketing_flows.engine.sending import calendar, window

if TYPE_CHECKING:
	from marketing_flows.engine.doctypes import MarketingFlow, MarketingFlowQuietHours, MarketingFlowSettings
	from marketing_flows.engine.hosts.time_zones import PersonZone

ALL_CHANNELS = "All"
DAY_SETS: dict[str, frozenset[int]] = {
	"Every Day": frozenset(range(7)),
	"Monday to Friday": frozenset(range(5)),
	"Saturday and Sunday": frozenset((5, 6)),
	**{day.capitalize(): frozenset((i,)) for i, day in enumerate(window.WEEKDAYS)},
}
WORKING_DAYS = DAY_SETS["Monday to Friday"]
# Each rule that says "not now" moves the moment forward; a year of rules settles long before.
MAX_MOVES = 2000
MIDNIGHT = time(0, 0)


def _next_day(moment: datetime) -> datetime:
	return datetime.combine(moment.date() + timedelta(days=1), MIDNIGHT)


@dataclass(frozen=True)
class QuietSpan:
	"""Hours when nothing of `channel` goes out, starting on `days`. `end` before `start` (or
	equal to it) runs past midnight (21:00 to 08:00); neither set is the whole day."""

	channel: str
	days: frozenset[int]
	start: time | None
	end: time | None

	def applies_to(self, channel: str) -> bool:
		return self.channel in (ALL_CHANNELS, channel)

	def quiet_until(self, moment: datetime) -> datetime | None:
		"""The end of the quiet span `moment` (local) falls in; None when it falls in none."""
		day, clock = moment.date(), moment.time()
		start, end = self.start or MIDNIGHT, self.end
		if end is None or end == MIDNIGHT and start != MIDNIGHT:  # up to midnight
			if moment.weekday() in self.days and clock >= start:
				return _next_day(moment)
			return None
		if start < end:
			if moment.weekday() in self.days and start <= clock < end:
				return datetime.combine(day, end)
			return None
		# past midnight: from `start` on a listed day to `end` the next morning
		if moment.weekday() in self.days and clock >= start:
			return datetime.combine(day + timedelta(days=1), end)
		if (moment - timedelta(days=1)).weekday() in self.days and clock < end:
			return datetime.combine(day, end)
		return None


@dataclass(frozen=True)
class Window:
	"""The flow's sending window: weekdays and hours (both ends included)."""

	days: frozenset[int]
	start: time
	end: time

	def is_open(self, moment: datetime) -> bool:
		return moment.weekday() in self.days and self.start <= moment.time() <= self.end

	def next_open(self, moment: datetime) -> datetime:
		"""The first moment at or after `moment` inside the window."""
		if self.is_open(moment):
			return moment
		for offset in range(0, 8):
			day = (moment + timedelta(days=offset)).date()
			opening = datetime.combine(day, self.start)
			if day.weekday() in self.days and opening >= moment:
				return opening
		return moment  # unreachable: some day of the week is always allowed


def flow_window(flow: MarketingFlow) -> Window | None:
	if not flow.get("use_sending_window"):
		return None
	days = (
		frozenset(i for i, d in enumerate(window.WEEKDAYS) if flow.get(f"send_on_{d}"))
		or DAY_SETS["Every Day"]
	)
	start = get_time(flow.window_start) if flow.get("window_start") else MIDNIGHT
	end = get_time(flow.window_end) if flow.get("window_end") else time(23, 59, 59, 999999)
	return Window(days, start, end)


def quiet_spans(rows: Iterable[MarketingFlowQuietHours]) -> tuple[QuietSpan, ...]:
	"""Quiet Hours rows (Settings' or a flow's) as spans."""
	return tuple(
		QuietSpan(
			row.get("channel") or ALL_CHANNELS,
			DAY_SETS.get(row.get("days") or "Every Day", DAY_SETS["Every Day"]),
			get_time(row.quiet_from) if row.get("quiet_from") else None,
			get_time(row.quiet_to) if row.get("quiet_to") else None,
		)
		for row in rows or []
	)


def never_allowed(spans: tuple[QuietSpan, ...], channel: str) -> bool:
	"""True when the quiet hours of `channel` cover every moment of every weekday: nothing
	could ever be sent (validation refuses this)."""
	for weekday in range(7):
		moment = datetime.combine(date(2024, 1, 1) + timedelta(days=weekday), MIDNIGHT)
		end = moment + timedelta(days=1)
		while moment < end:
			until = next((u for s in spans if s.applies_to(channel) and (u := s.quiet_until(moment))), None)
			if until is None:
				return False
			moment = until
	return True


class SendRules:
	"""What a flow allows, on any clock: its window, the quiet hours and the holidays."""

	def __init__(self, flow: MarketingFlow, settings: MarketingFlowSettings) -> None:
		self.window = flow_window(flow)
		self.quiet = quiet_spans(settings.get("quiet_hours") or []) + quiet_spans(
			flow.get("quiet_hours") or []
		)
		self.holidays = calendar.Holidays(flow, settings)

	@property
	def any(self) -> bool:
		return bool(self.window or self.quiet or self.holidays.active)

	def first_allowed(
		self, local: datetime, channel: str, country_code: str | None
	) -> tuple[datetime, str | None]:
		"""The first local moment at or after `local` when a send of `channel` may go out (an
		empty channel: the window and holidays only, for a Wait that waits for the window),
		and why not at `local` (None: it may)."""
		reason: str | None = None
		moment = local
		for _move in range(MAX_MOVES):
			if holiday := self.holidays.name_of(moment.date(), country_code):
				reason = reason or _("{0} is a holiday: {1}").format(f"{moment:%Y-%m-%d}", holiday)
				moment = _next_day(moment)
				continue
			if self.window and not self.window.is_open(moment):
				reason = reason or _("outside the sending window")
				moment = self.window.next_open(moment)
				continue
			until = next(
				(u for s in self.quiet if channel and s.applies_to(channel) and (u := s.quiet_until(moment))),
				None,
			)
			if until is not None:
				reason = reason or _("quiet hours for {0}").format(_(channel))
				moment = until
				continue
			return moment, reason
		return moment, reason


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
	return ZoneInfo(name)


@dataclass
class Clock:
	"""One person's clock for one flow: their zone (and country), the flow's rules."""

	person_zone: PersonZone
	rules: SendRules
	site_zone_name: str

	@property
	def zone_name(self) -> str:
		return self.person_zone.zone

	@property
	def same_as_site(self) -> bool:
		return self.person_zone.zone == self.site_zone_name

	@property
	def country_code(self) -> str | None:
		return time_zones.country_code(self.person_zone.country)

	def local(self, site_moment: datetime) -> datetime:
		"""A naive site-time moment as the person's naive wall-clock time."""
		if self.same_as_site:
			return site_moment
		aware = window.to_utc(site_moment, _zone(self.site_zone_name))
		return aware.astimezone(_zone(self.zone_name)).replace(tzinfo=None)

	def to_site(self, local: datetime, since: datetime) -> datetime:
		"""The person's wall-clock time `local` as the naive site time to store, counted from the
		naive site time `since` (the repeated autumn hour needs the start: window.local_for)."""
		site = _zone(self.site_zone_name)
		if self.same_as_site:
			moment = window.to_utc(local, site)
		else:
			moment = window.to_utc(local, _zone(self.zone_name))
		return window.local_for(moment, window.to_utc(since, site), site)

	def next_send(self, site_now: datetime, channel: str) -> tuple[datetime, str | None]:
		"""(when a send of `channel` may go, as naive site time; None, or the timeline's reason:
		"Waiting for 09:00 in America/New_York: outside the sending window")."""
		if not self.rules.any:
			return site_now, None
		local = self.local(site_now)
		allowed, why = self.rules.first_allowed(
			local, channel, self.country_code if self.rules.holidays.active else None
		)
		if why is None:
			return site_now, None
		at = max(self.to_site(allowed, site_now), site_now)
		when = f"{allowed:%H:%M}" if allowed.date() == local.date() else f"{allowed:%Y-%m-%d %H:%M}"
		return at, _("Waiting for {0} in {1}: {2}").format(when, self.zone_name, why)

	def add_days(self, site_start: datetime, days: int) -> datetime:
		"""`days` calendar days after `site_start` at the same wall-clock time of the person
		(across a daylight-saving change too), as naive site time."""
		local = self.local(site_start) + timedelta(days=days)
		if local > window.LATEST:
			raise OverflowError(local)
		return self.to_site(local, site_start)

	def at_time_of_day(self, site_after: datetime, at: time, working_day: bool) -> datetime:
		"""The first moment at or after `site_after` when the person's clock shows `at`, on a
		working day (Monday to Friday, not a holiday the flow skips) if asked; naive site time."""
		local = self.local(site_after)
		candidate = datetime.combine(local.date(), at)
		if candidate < local:
			candidate += timedelta(days=1)
		if working_day:
			code = self.country_code if self.rules.holidays.active else None
			for _day in range(366):
				if candidate.weekday() in WORKING_DAYS and not self.rules.holidays.name_of(
					candidate.date(), code
				):
					break
				candidate += timedelta(days=1)
		return max(self.to_site(candidate, site_after), site_after)

	def on_local_date(self, day: date, at: time) -> datetime:
		"""The person's `day` at `at` o'clock, as naive site time (for a date field's day)."""
		local = datetime.combine(day, at)
		site = _zone(self.site_zone_name)
		moment = window.to_utc(local, site if self.same_as_site else _zone(self.zone_name))
		return window.local_for(moment, moment, site)


def flow_clock(flow: MarketingFlow, settings: MarketingFlowSettings, rules: SendRules | None = None) -> Clock:
	"""The flow's own clock (its time zone, else the site's), for what is not a person's."""
	return Clock(time_zones.flow_zone(flow), rules or SendRules(flow, settings), time_zones.site_zone_name())


def quiet_hours_problems(
	rows: list[MarketingFlowQuietHours], other_rows: list[MarketingFlowQuietHours] | None = None
) -> list[str]:
	"""Clear messages for Quiet Hours rows that can't work: From and To the same, or quiet hours
	(with `other_rows`, those that apply as well) that leave a channel no moment at all."""
	problems = [
		_("Quiet Hours, row {0}: From and To are the same time; leave both empty for the whole day.").format(
			row.idx
		)
		for row in rows or []
		if row.get("quiet_from")
		and row.get("quiet_to")
		and get_time(row.quiet_from) == get_time(row.quiet_to)
	]
	if problems:
		return problems
	spans = quiet_spans(other_rows or []) + quiet_spans(rows or [])
	return [
		_("Quiet Hours cover every hour of every day for {0}: nothing could ever be sent.").format(_(channel))
		for channel in ("Email", "SMS")
		if never_allowed(spans, channel)
	]
