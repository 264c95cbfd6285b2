"""Names for the rows the engine inserts in bulk (participants, Email Queue rows): ordered by
time, so that InnoDB appends them at the end of the primary key instead of at random places.

Random names (Frappe's `generate_hash`) land anywhere in the clustered index: every insert
into a table of a million rows reads and splits a random page (pages end up half full and the
buffer pool must hold the whole table to stay fast). A name that starts with the time appends
to the last pages. A leaf of the engine: imports nothing of it.
"""

from __future__ import annotations

import secrets
import string
import time

_DIGITS = string.digits + string.ascii_lowercase
_last_us = 0


def _base36(number: int, width: int) -> str:
	out = []
	for _ in range(width):
		number, digit = divmod(number, 36)
		out.append(_DIGITS[digit])
	return "".join(reversed(out))


def sortable_name() -> str:
	"""14 characters: the time in microseconds (base 36, strictly increasing within a process:
	no two names of one process are equal), then 4 random characters against another process
	naming in the same microsecond."""
	global _last_us
	now = max(time.time_ns() // 1000, _last_us + 1)
	_last_us = now
	return _base36(now, 10) + "".join(secrets.choice(_DIGITS) for _ in range(4))


class NameBlock:
	"""Consecutive names for the rows one transaction inserts together: one `sortable_name()`
	as the prefix, then a counter. The rows of one INSERT then sit side by side at the end of
	the primary key, and two workers' batches don't interleave (which would split pages in the
	middle and leave them half full)."""

	def __init__(self) -> None:
		self.prefix = sortable_name()
		self.count = 0

	def next(self) -> str:
		self.count += 1
		return self.prefix + _base36(self.count, 4)
