"""A/B tests: which variant a participant takes, the figures per variant, and the winner.

Assignment is a hash of (participant, step): random across people, the same for one person on
every try. Figures come from the log (the variant taken is its `branch`) with one grouped
query; the winner is written once, by a conditional UPDATE, so two workers can't pick two.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol, TypeVar

import frappe
from frappe import _

if TYPE_CHECKING:
	from marketing_flows.engine.doctypes import MarketingFlow, MarketingFlowStep

METRICS = ("Open Rate", "Click Rate", "Goal Conversion")


class Variant(Protocol):
	"""A variant of an A/B Test step: a row of the flow's `branches` (or a frappe._dict of one)."""

	@property
	def percentage(self) -> float | None: ...


V = TypeVar("V", bound=Variant)


def bucket(participant_name: str, step_id: str) -> float:
	"""A stable number in [0, 100) for this participant at this step."""
	digest = hashlib.sha1(f"{participant_name}:{step_id}".encode()).hexdigest()
	return int(digest[:8], 16) % 10000 / 100.0


def pick(variants: Sequence[V], participant_name: str, step_id: str) -> V:
	"""The variant whose share of [0, 100) holds the participant's bucket."""
	point = bucket(participant_name, step_id)
	edge = 0.0
	for variant in variants:
		edge += float(variant.percentage or 0)
		if point < edge:
			return variant
	return variants[-1]  # percentages that add up to a little under 100 (rounding)


def figures(flow_name: str, step_id: str) -> dict[str, dict[str, float | datetime]]:
	"""variant key -> assigned, sent, opened, clicked, succeeded and the rates, counting what
	happened to each participant after they took the variant."""
	rows = frappe.db.sql(
		"""select a.branch,
			count(distinct a.participant) as assigned,
			min(a.creation) as first_assigned,
			count(distinct case when e.event = 'Email Sent' then a.participant end) as sent,
			count(distinct case when e.event in ('Opened', 'Clicked') then a.participant end) as opened,
			count(distinct case when e.event = 'Clicked' then a.participant end) as clicked,
			count(distinct case when p.succeeded = 1 then a.participant end) as succeeded
		from `tabMarketing Flow Log` a
		join `tabMarketing Flow Participant` p on p.name = a.participant
		left join `tabMarketing Flow Log` e on e.participant = a.participant
			and e.event in ('Email Sent', 'Opened', 'Clicked') and e.name > a.name
		where a.flow = %(flow)s and a.step_id = %(step)s and a.event = 'Step Executed'
			and a.branch is not null
		group by a.branch""",
		{"flow": flow_name, "step": step_id},
		as_dict=True,
	)
	out = {}
	for r in rows:
		sent, assigned = int(r.sent), int(r.assigned)
		out[r.branch] = {
			"assigned": assigned,
			"first_assigned": r.first_assigned,
			"sent": sent,
			"opened": int(r.opened),
			"clicked": int(r.clicked),
			"succeeded": int(r.succeeded),
			"Open Rate": round(100.0 * int(r.opened) / sent, 1) if sent else 0.0,
			"Click Rate": round(100.0 * int(r.clicked) / sent, 1) if sent else 0.0,
			"Goal Conversion": round(100.0 * int(r.succeeded) / assigned, 1) if assigned else 0.0,
		}
	return out


def progress(flow_name: str, step_id: str) -> dict[str, tuple[int, datetime]]:
	"""variant key -> (participants assigned, first assignment): one grouped read of the log's
	(flow, step_id, event) index range, cheap enough to ask once per batch."""
	rows = frappe.db.sql(
		"""select branch, count(*), min(creation) from `tabMarketing Flow Log`
		where flow = %s and step_id = %s and event = 'Step Executed' and branch is not null
		group by branch""",
		(flow_name, step_id),
	)
	return {branch: (int(n), first) for branch, n, first in rows}


def decision_due(
	step: MarketingFlowStep, keys: Sequence[str], found: dict[str, tuple[int, datetime]], now: datetime
) -> bool:
	"""The test period is over, or every variant has its number of participants."""
	if not found:
		return False
	if step.ab_test_days:
		first = min(f[1] for f in found.values())
		if now >= first + timedelta(days=step.ab_test_days):
			return True
	if step.ab_test_size:
		return all(found.get(k, (0, None))[0] >= step.ab_test_size for k in keys)
	return False


def best(keys: Sequence[str], found: dict[str, dict], metric: str) -> str:
	"""The key with the best figure for `metric`; the first variant on a tie."""
	return max(keys, key=lambda k: (found.get(k, {}).get(metric, 0.0), -keys.index(k)))


def decide(
	flow: MarketingFlow, step: MarketingFlowStep, keys: Sequence[str], labels: dict[str, str], now: datetime
) -> str | None:
	"""The winning key once the test is over (written once, logged as a comment on the flow),
	else None."""
	saved = frappe.db.get_value(
		"Marketing Flow Step", {"parent": flow.name, "step_id": step.step_id}, "ab_winner"
	)
	if saved:
		return saved
	if not decision_due(step, keys, progress(flow.name, step.step_id), now):
		return None
	found = figures(flow.name, step.step_id)
	metric = step.ab_metric or "Open Rate"
	winner = best(keys, found, metric)
	summary = "; ".join(
		_("{0}: {1} participants, {2} {3}%").format(
			labels[k], found.get(k, {}).get("assigned", 0), _(metric), found.get(k, {}).get(metric, 0.0)
		)
		for k in keys
	)
	text = _("A/B test '{0}': {1} wins by {2} ({3}).").format(
		step.step_id, labels[winner], _(metric), summary
	)
	t = frappe.qb.DocType("Marketing Flow Step")
	frappe.qb.update(t).set(t.ab_winner, winner).set(t.ab_decided_on, now).set(t.ab_decision, text).where(
		(t.parent == flow.name) & (t.parenttype == "Marketing Flow") & (t.step_id == step.step_id)
	).where(t.ab_winner.isnull() | (t.ab_winner == "")).run()
	if not frappe.db._cursor.rowcount:  # another worker decided first: its winner stands
		return frappe.db.get_value(
			"Marketing Flow Step", {"parent": flow.name, "step_id": step.step_id}, "ab_winner"
		)
	frappe.get_doc(
		{
			"doctype": "Comment",
			"comment_type": "Info",
			"reference_doctype": "Marketing Flow",
			"reference_name": flow.name,
			"content": text,
		}
	).insert(ignore_permissions=True)
	return winner
