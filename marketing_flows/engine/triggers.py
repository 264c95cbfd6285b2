"""Triggers: WHEN a person is proposed to a flow (Document Event, Web Form, Email Group,
Segment, Date Field, Flow Goal). Manual enrolment lives in enrolment.py."""

from __future__ import annotations


def enrol_from_segments() -> None:
	"""Scheduler (every 15 minutes): propose new members of trigger segments."""


def enrol_from_date_fields() -> None:
	"""Scheduler (daily): propose people whose date field (± offset) is today."""
