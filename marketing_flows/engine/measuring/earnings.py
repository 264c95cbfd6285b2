"""What a flow earns beyond what would have happened anyway: its people (enrolled) against its
control group (held out), from the participant table.

The goal rate of each group, the lift (enrolled minus held out, in percentage points and in
percent) with its 95 % interval and p-value (significance.py), revenue per person of each group
and what the flow earned beyond the control group: (revenue per person enrolled - revenue per
person held out) x people enrolled. "Not enough people yet" until the smaller group has Settings
`min_group_size` people: an interval over a handful of people says little, and an amount built
on it would say too much.

One grouped query reads everything but the revenue per step: by version, enrolment day and group
(count, successes, revenue). The totals, the figures per version and the lift over time (cumulative
by enrolment day) are sums of its rows in Python.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import frappe
from frappe import _
from frappe.utils import cint, flt

from marketing_flows.engine.measuring import revenue, significance
from marketing_flows.engine.running.participants import HELD_OUT

if TYPE_CHECKING:
	from marketing_flows.engine.doctypes import MarketingFlow

CONFIDENCE = 95
DEFAULT_MIN_GROUP_SIZE = 100  # Settings `min_group_size` when unset
MAX_POINTS = 90  # the lift over time: at most this many points

GROUPS_SQL = """select flow_version, date(enrolled_on) as day, status = %(held_out)s as held_out,
		count(*) as people, sum(succeeded) as succeeded, sum(revenue) as revenue
	from `tabMarketing Flow Participant`
	where flow = %(flow)s {version}
	group by flow_version, day, held_out"""


def may_see_revenue() -> bool:
	"""Revenue is shown to who may read Marketing Flow Attribution (not a Flow Content Editor)."""
	return bool(frappe.has_permission("Marketing Flow Attribution", "read"))


def min_group_size() -> int:
	value = cint(frappe.db.get_single_value("Marketing Flow Settings", "min_group_size"))
	return value if value > 0 else DEFAULT_MIN_GROUP_SIZE


def currency() -> str:
	"""The default company's currency (ERPNext), else the site's default currency (Global
	Defaults / System Settings)."""
	company = frappe.db.get_default("company")
	if company and frappe.db.table_exists("Company"):
		found = frappe.db.get_value("Company", company, "default_currency")
		if found:
			return found
	return frappe.db.get_default("currency") or ""


def _rows(flow_name: str, version: int | None) -> list[frappe._dict]:
	sql = GROUPS_SQL.format(version="and flow_version = %(version)s" if version else "")
	return frappe.db.sql(sql, {"flow": flow_name, "version": version, "held_out": HELD_OUT}, as_dict=True)


class _Group:
	"""People, successes and revenue of one group, summed."""

	def __init__(self) -> None:
		self.people = 0
		self.succeeded = 0
		self.revenue = 0.0

	def add(self, row: frappe._dict) -> None:
		self.people += int(row.people)
		self.succeeded += int(row.succeeded or 0)
		self.revenue += flt(row.revenue)

	def figures(self, with_revenue: bool) -> dict:
		return {
			"people": self.people,
			"succeeded": self.succeeded,
			"rate": round(100.0 * self.succeeded / self.people, 2) if self.people else 0.0,
			"revenue": round(self.revenue, 2) if with_revenue else None,
			"revenue_per_person": (round(self.revenue / self.people, 2) if self.people else 0.0)
			if with_revenue
			else None,
		}


def _lift(enrolled: _Group, held: _Group, minimum: int) -> dict:
	"""The lift of the enrolled over the held out, with its interval; `enough` once the smaller
	group has `minimum` people (before that the figures are shown as they are, never significant)."""
	if not held.people:
		reason = _("No control group yet: nobody has been held out of this flow.")
	elif min(enrolled.people, held.people) < minimum:
		reason = _("Not enough people yet: the smaller group has {0} of the {1} people needed.").format(
			min(enrolled.people, held.people), minimum
		)
	else:
		reason = None
	c = significance.compare(enrolled.succeeded, enrolled.people, held.succeeded, held.people, CONFIDENCE)
	return {
		"enough": reason is None,
		"reason": reason,
		"absolute": round(c.difference, 2),
		"relative": round(c.relative, 1) if c.relative is not None else None,
		"low": round(c.low, 2) if c.low is not None else None,
		"high": round(c.high, 2) if c.high is not None else None,
		"p_value": c.p_value,
		"significant": c.significant and reason is None,
	}


def _earned_beyond(enrolled: _Group, held: _Group, lift: dict, with_revenue: bool) -> float | None:
	if not with_revenue or not lift["enough"]:
		return None
	per_person = enrolled.revenue / enrolled.people - held.revenue / held.people
	return round(per_person * enrolled.people, 2)


def _over_time(rows: list[frappe._dict]) -> list[dict]:
	"""Cumulative by enrolment day: each group's goal rate and the interval of the difference
	among the people enrolled up to that day; at most MAX_POINTS days (every n-th, the last
	always)."""
	by_day: dict[str, tuple[_Group, _Group]] = {}
	for row in rows:
		if row.day is None:
			continue
		enrolled, held = by_day.setdefault(str(row.day), (_Group(), _Group()))
		(held if row.held_out else enrolled).add(row)
	days = sorted(by_day)
	step = max(1, math.ceil(len(days) / MAX_POINTS))
	shown = set(days[len(days) - 1 :: -step])
	points = []
	total_e, total_h = _Group(), _Group()
	for day in days:
		enrolled, held = by_day[day]
		for total, group in ((total_e, enrolled), (total_h, held)):
			total.people += group.people
			total.succeeded += group.succeeded
		if day not in shown:
			continue
		c = significance.compare(
			total_e.succeeded, total_e.people, total_h.succeeded, total_h.people, CONFIDENCE
		)
		points.append(
			{
				"date": day,
				"enrolled": total_e.people,
				"held_out": total_h.people,
				"enrolled_rate": round(c.rate_a, 2) if total_e.people else None,
				"held_out_rate": round(c.rate_b, 2) if total_h.people else None,
				"low": round(c.low, 2) if c.low is not None else None,
				"high": round(c.high, 2) if c.high is not None else None,
			}
		)
	return points


def _summary(rows: list[frappe._dict], minimum: int, with_revenue: bool) -> dict:
	enrolled, held = _Group(), _Group()
	for row in rows:
		(held if row.held_out else enrolled).add(row)
	lift = _lift(enrolled, held, minimum)
	return {
		"enrolled": enrolled.figures(with_revenue),
		"held_out": held.figures(with_revenue),
		"lift": lift,
		"earned_beyond_control": _earned_beyond(enrolled, held, lift, with_revenue),
	}


def summary(flow: MarketingFlow, version: int | None = None, with_revenue: bool = True) -> dict:
	"""The Overview's part: both groups, the lift and what the flow earned beyond the control
	group (no lift over time, no revenue per step)."""
	minimum = min_group_size()
	return {
		"holdout_percent": flt(flow.get("holdout_percent")),
		"confidence": CONFIDENCE,
		"min_group_size": minimum,
		**_summary(_rows(flow.name, version), minimum, with_revenue),
		"currency": currency(),
	}


def earnings(flow: MarketingFlow, version: int | None = None, with_revenue: bool = True) -> dict:
	"""Everything the Reports tab shows of what the flow earns, for all its versions or one;
	the revenue keys are None without `with_revenue`. Without a version, and when the flow has
	more than one, `by_version` holds each version's groups and lift."""
	minimum = min_group_size()
	rows = _rows(flow.name, version)
	by_version: list[dict] = []
	versions = sorted({cint(r.flow_version) for r in rows})
	if not version and len(versions) > 1:
		for v in versions:
			mine = [r for r in rows if cint(r.flow_version) == v]
			by_version.append({"version": v, **_summary(mine, minimum, with_revenue)})
	return {
		"holdout_percent": flt(flow.get("holdout_percent")),
		"confidence": CONFIDENCE,
		"min_group_size": minimum,
		**_summary(rows, minimum, with_revenue),
		"currency": currency(),
		"over_time": _over_time(rows),
		"by_version": by_version,
		**_revenue_per_step_and_branch(flow.name, version, with_revenue),
	}


# -- revenue per step and branch: revenue.py's (the attribution's read side) -------------------


def _revenue_per_step_and_branch(flow_name: str, version: int | None, with_revenue: bool) -> dict:
	"""`revenue_by_step` and `revenue_by_branch` (one query for both); None without the right to see revenue."""
	if not with_revenue:
		return {"revenue_by_step": None, "revenue_by_branch": None}
	by_step, by_branch = revenue.revenue_by_step_and_branch(flow_name, version)
	return {"revenue_by_step": by_step, "revenue_by_branch": by_branch}
