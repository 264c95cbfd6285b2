"""Control groups: who a flow holds out instead of enrolling.

A share of the people a flow would enrol (its `holdout_percent`) is held out: recorded as a
participant in status "Held Out" that is never run and never sent anything, whose goals are
tracked as everyone's. What they achieve is what the flow's people would have achieved without
it, so the reports can tell the flow's effect from what would have happened anyway. The site's
`global_holdout_percent` (Marketing Flow Settings) holds a share of all people out of every flow.

Who is held out is a stable hash, not a draw: the same person is in or out of one flow every
time (on re-enrolment too), and in or out of the global control group for every flow. The hash
is computed in Python per person, so that a bulk enrolment asks the database nothing more.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import frappe
from frappe import _
from frappe.utils import flt

from marketing_flows.engine.running.participants import HELD_OUT

if TYPE_CHECKING:
	from marketing_flows.engine.doctypes import MarketingFlow, MarketingFlowSettings

SETTINGS = "Marketing Flow Settings"
STATUS = HELD_OUT  # the participant's status, and the event of its one log row


def bucket(key: str) -> float:
	"""A stable number in [0, 100) for `key` (as variants.bucket: sha1, first 8 hex digits)."""
	digest = hashlib.sha1(key.encode()).hexdigest()
	return int(digest[:8], 16) % 10000 / 100.0


def flow_key(flow_name: str, person_doctype: str, person: str) -> str:
	return f"{flow_name}:{person_doctype}:{person}"


def global_key(person_doctype: str, person: str) -> str:
	return f"global:{person_doctype}:{person}"


def global_percent(settings: MarketingFlowSettings | Mapping[str, Any] | None = None) -> float:
	"""The site's global control group, in percent (0 when none)."""
	if settings is None:
		value = frappe.db.get_single_value(SETTINGS, "global_holdout_percent", cache=False)
	else:
		value = settings.get("global_holdout_percent")
	return _percent(value)


def _percent(value: Any) -> float:
	return min(100.0, max(0.0, flt(value)))


@dataclass(frozen=True)
class Holdout:
	"""A flow's control groups, read once (for a whole enrolment): ask `reason` per person."""

	flow_name: str
	flow_percent: float
	global_percent: float

	@classmethod
	def of(
		cls, flow: MarketingFlow, settings: MarketingFlowSettings | Mapping[str, Any] | None = None
	) -> Holdout:
		return cls(flow.name, _percent(flow.get("holdout_percent")), global_percent(settings))

	@property
	def active(self) -> bool:
		"""Does anyone get held out at all? (No hashing when not.)"""
		return self.flow_percent > 0 or self.global_percent > 0

	def reason(self, person_doctype: str, person: str) -> str | None:
		"""Why this person is held out ("Global control group", "Control group", translated), or
		None when the flow may enrol them. The global group comes first: its people get no flow."""
		if self.global_percent > 0 and bucket(global_key(person_doctype, person)) < self.global_percent:
			return _("Global control group")
		if (
			self.flow_percent > 0
			and bucket(flow_key(self.flow_name, person_doctype, person)) < self.flow_percent
		):
			return _("Control group")
		return None

	def describe(self, reason: str) -> str:
		"""Which control group, and how large (for messages)."""
		if reason == _("Global control group"):
			return _("in the global control group ({0}% of all people get no flow)").format(
				_format(self.global_percent)
			)
		return _("in this flow's control group ({0}% of the people it would enrol)").format(
			_format(self.flow_percent)
		)

	def explain(self, reason: str, source: str) -> str:
		"""The "Held Out" log row's message: what proposed them, which group, what it means."""
		return _("Held out ({0}): {1}. Nothing is sent; the goal is still measured.").format(
			source, self.describe(reason)
		)


def _format(percent: float) -> str:
	return f"{percent:g}"


def held_out_reason(
	flow: MarketingFlow,
	person_doctype: str,
	person: str,
	settings: MarketingFlowSettings | Mapping[str, Any] | None = None,
) -> str | None:
	"""Why `flow` holds this person out instead of enrolling them, or None. For many people,
	read `Holdout.of(flow, settings)` once and ask its `reason` per person."""
	return Holdout.of(flow, settings).reason(person_doctype, person)
