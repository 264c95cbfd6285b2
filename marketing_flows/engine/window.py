"""Sending windows: weekdays and hours (site time zone) when emails and SMS may go out."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from frappe.utils import get_time

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _days(flow: Any) -> set[int]:
	days = {i for i, d in enumerate(WEEKDAYS) if flow.get(f"send_on_{d}")}
	return days or set(range(7))


def _hours(flow: Any) -> tuple[time, time]:
	start = get_time(flow.window_start) if flow.get("window_start") else time(0, 0)
	end = get_time(flow.window_end) if flow.get("window_end") else time(23, 59, 59, 999999)
	return start, end


def has_window(flow: Any) -> bool:
	return bool(flow.get("use_sending_window"))


def is_open(flow: Any, moment: datetime) -> bool:
	if not has_window(flow):
		return True
	start, end = _hours(flow)
	return moment.weekday() in _days(flow) and start <= moment.time() <= end


def next_open(flow: Any, moment: datetime) -> datetime:
	"""The first moment at or after `moment` inside the window."""
	if is_open(flow, moment):
		return moment
	start, _end = _hours(flow)
	days = _days(flow)
	for offset in range(0, 8):
		day = (moment + timedelta(days=offset)).date()
		opening = datetime.combine(day, start)
		if day.weekday() in days and opening >= moment:
			return opening
	return moment  # unreachable: some day of the week is always allowed
