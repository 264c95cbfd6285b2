"""A/B tests: which variant a participant takes, the figures per variant, and the winner.

Assignment is a hash of (participant, step): random across people, the same for one person on
every try. Figures come from the log (the variant taken is its `branch`) with one grouped
query; the winner is written once, by a conditional UPDATE, so two workers can't pick two.

A winner is real, not noise (significance.py): the leading variant wins only when every variant
has its minimum number of participants (`ab_test_size`, else Settings `min_group_size`) and its
lead over every other variant is significant at the step's `ab_confidence`; with three or more
variants each of those comparisons is made at the Bonferroni-corrected level (95 % over two
comparisons: 97.5 % each), so that the chance of a false winner stays at the chosen level.
Until then the test keeps splitting.

When the test is looked at: every look at the figures is a new chance for noise to pass the
test. The first look is when the smallest variant reaches the minimum size, the next ones each
time it has doubled again (100, 200, 400, ... people), plus one at the end of the test period:
about ten looks from 100 to 100 000 people instead of one per batch (which also keeps the
figure query out of most batches). The last look is kept in the cache; if the cache is lost,
one look more.

At the end of the test period (`ab_test_days`) without a significant winner, the fallback
(`ab_fallback`) applies: "First Variant" makes the first variant the winner, "Keep Splitting"
keeps splitting and says so once in the decision text; a later look that finds a significant
winner still picks it (the test goes on, so does the chance to end it).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol, TypeVar

import frappe
from frappe import _
from frappe.utils import cint, flt

from marketing_flows.engine.measuring import significance

if TYPE_CHECKING:
	from marketing_flows.engine.doctypes import MarketingFlow, MarketingFlowStep

METRICS = ("Open Rate", "Click Rate", "Goal Conversion")
# what each metric counts: (successes, out of)
COUNTS = {
	"Open Rate": ("opened", "sent"),
	"Click Rate": ("clicked", "sent"),
	"Goal Conversion": ("succeeded", "assigned"),
}
DEFAULT_CONFIDENCE = 95.0
DEFAULT_MIN_GROUP_SIZE = 100  # Settings `min_group_size` when unset (a site set up before it existed)
FALLBACKS = ("Keep Splitting", "First Variant")


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


# Per variant: the people who took it (their "Step Executed" at the step, by the log's
# (flow, step_id, event, branch, participant) index, which covers it), how many of them met the
# goal (their participant row), and how many got an email, opened or clicked one *after* taking it.
# The last three come from one look into each person's events (index (participant, event), which
# holds the log's name, so "after" is a comparison of names) that returns them packed into one
# number, 2**24 apart: sent + opened * 2**24 + clicked * 2**48 (a click counts as an open). Summed
# per variant, that number holds the three counts, each below 2**24; one look instead of three
# takes a third less time at 90 000 people (benchmarks/bench_earnings.py). It leaves as text:
# Frappe would turn the DECIMAL sum into a float and lose the low digits. A person who passes the
# step twice (a loop) counts twice.
PACK = 2**24
FIGURES_SQL = f"""select a.branch, count(*) as assigned, min(a.name) as first_name,
		sum(p.succeeded) as succeeded,
		cast(sum(coalesce((select bit_or(case e.event when 'Email Sent' then 1
				when 'Opened' then {PACK} when 'Clicked' then {PACK + PACK**2} end)
			from `tabMarketing Flow Log` e
			where e.participant = a.participant and e.event in ('Email Sent', 'Opened', 'Clicked')
				and e.name > a.name), 0)) as char) as packed
	from `tabMarketing Flow Log` a
	join `tabMarketing Flow Participant` p on p.name = a.participant
	where a.flow = %(flow)s and a.step_id = %(step)s and a.event = 'Step Executed'
		and a.branch is not null
	group by a.branch"""


def unpack(packed: str | int | None) -> tuple[int, int, int]:
	"""(sent, opened, clicked) from FIGURES_SQL's packed sum."""
	clicked, rest = divmod(int(packed or 0), PACK**2)
	opened, sent = divmod(rest, PACK)
	return sent, opened, clicked


def _creations(names: list) -> dict:
	"""name -> creation of a few log rows (the first assignment of each variant)."""
	if not names:
		return {}
	return dict(
		frappe.db.sql(
			"select name, creation from `tabMarketing Flow Log` where name in %(names)s", {"names": names}
		)
	)


def confidence_of(step: MarketingFlowStep | frappe._dict) -> float:
	"""The step's significance level in percent (90, 95 or 99; 95 when unset)."""
	return flt(step.get("ab_confidence")) or DEFAULT_CONFIDENCE


def minimum_size(step: MarketingFlowStep | frappe._dict, min_group_size: int | None = None) -> int:
	"""Participants each variant needs before a winner may be picked: the step's
	`ab_test_size`, else Settings `min_group_size` (100 when unset)."""
	if cint(step.get("ab_test_size")) > 0:
		return cint(step.get("ab_test_size"))
	if min_group_size is None:
		min_group_size = cint(frappe.db.get_single_value("Marketing Flow Settings", "min_group_size"))
	return cint(min_group_size) if cint(min_group_size) > 0 else DEFAULT_MIN_GROUP_SIZE


def best(keys: Sequence[str], found: dict[str, dict], metric: str) -> str:
	"""The key with the best rate for `metric` (from the counts, not the rounded rate); the first
	variant on a tie."""

	def rate(k: str) -> float:
		s, n = _counts(found.get(k), metric)
		return s / n if n else 0.0

	return max(keys, key=lambda k: (rate(k), -keys.index(k)))


@dataclass(frozen=True)
class Verdict:
	"""The leading variant by the metric, its comparison with every other variant (at
	`confidence` each: the Bonferroni-corrected level), and the winner if the lead is
	significant against all of them."""

	leader: str
	winner: str | None
	against: dict[str, significance.Comparison]
	confidence: float


def _counts(row: dict | None, metric: str) -> tuple[int, int]:
	success, out_of = COUNTS.get(metric, COUNTS["Open Rate"])
	row = row or {}
	return int(row.get(success) or 0), int(row.get(out_of) or 0)


def judge(keys: Sequence[str], found: dict[str, dict], metric: str, confidence: float) -> Verdict:
	"""Compare the leader (best figure for `metric`, the first variant on a tie) with every other
	variant at the Bonferroni-corrected level of `confidence`."""
	leader = best(keys, found, metric)
	others = [k for k in keys if k != leader]
	level = significance.corrected_confidence(confidence, len(others))
	s_lead, n_lead = _counts(found.get(leader), metric)
	against = {
		k: significance.compare(s_lead, n_lead, *_counts(found.get(k), metric), confidence=level)
		for k in others
	}
	wins = bool(others) and all(c.significant and c.difference > 0 for c in against.values())
	return Verdict(leader, leader if wins else None, against, level)


def _step_settings(flow_name: str, step_id: str) -> tuple[frappe._dict, list[str]]:
	"""The step's metric and level, and its variant keys in table order (for the figures alone:
	the runner has the flow)."""
	row = (
		frappe.db.get_value(
			"Marketing Flow Step",
			{"parent": flow_name, "parenttype": "Marketing Flow", "step_id": step_id},
			["ab_metric", "ab_confidence"],
			as_dict=True,
		)
		or frappe._dict()
	)
	keys = frappe.get_all(
		"Marketing Flow Branch",
		filters={"parent": flow_name, "parenttype": "Marketing Flow", "step_id": step_id},
		pluck="branch_key",
		order_by="idx asc",
	)
	return row, [k for k in keys if k]


def figures(
	flow_name: str,
	step_id: str,
	*,
	step: MarketingFlowStep | None = None,
	keys: Sequence[str] | None = None,
) -> dict[str, dict]:
	"""variant key -> assigned, sent, opened, clicked, succeeded and the rates, counting what
	happened to each participant after they took the variant; with `leader` (the best by the
	step's metric), and per other variant `p_value`, `significant` (at the step's level,
	Bonferroni-corrected), `difference` / `low` / `high` (pp, the leader minus this variant).
	`step` and `keys` (table order) save two small queries when the caller has them."""
	rows = frappe.db.sql(FIGURES_SQL, {"flow": flow_name, "step": step_id}, as_dict=True)
	first = _creations([r.first_name for r in rows])
	out: dict[str, dict] = {}
	for r in rows:
		sent, opened, clicked = unpack(r.packed)
		assigned, succeeded = int(r.assigned), int(r.succeeded or 0)
		out[r.branch] = {
			"assigned": assigned,
			"first_assigned": first.get(r.first_name),
			"sent": sent,
			"opened": opened,
			"clicked": clicked,
			"succeeded": succeeded,
			"Open Rate": round(100.0 * opened / sent, 1) if sent else 0.0,
			"Click Rate": round(100.0 * clicked / sent, 1) if sent else 0.0,
			"Goal Conversion": round(100.0 * succeeded / assigned, 1) if assigned else 0.0,
		}
	if not out:
		return out
	if step is None or keys is None:
		settings, table_keys = _step_settings(flow_name, step_id)
		step_values = step if step is not None else settings
		keys = keys if keys is not None else table_keys
	else:
		step_values = step
	keys = [k for k in keys if k in out] + [k for k in out if k not in keys]  # also keys gone from the table
	verdict = judge(keys, out, step_values.get("ab_metric") or "Open Rate", confidence_of(step_values))
	for key, row in out.items():
		c = verdict.against.get(key)
		row.update(
			{
				"leader": key == verdict.leader,
				"p_value": c.p_value if c else None,
				"significant": c.significant if c else None,
				"difference": round(c.difference, 2) if c else None,
				"low": round(c.low, 2) if c and c.low is not None else None,
				"high": round(c.high, 2) if c and c.high is not None else None,
			}
		)
	return out


def progress(flow_name: str, step_id: str) -> dict[str, tuple[int, datetime]]:
	"""variant key -> (times taken, first assignment): a grouped read of the log's (flow, step_id,
	event, branch, participant) index alone, cheap enough to ask once per batch."""
	rows = frappe.db.sql(
		"""select branch, count(*), min(name) from `tabMarketing Flow Log`
		where flow = %s and step_id = %s and event = 'Step Executed' and branch is not null
		group by branch""",
		(flow_name, step_id),
	)
	first = _creations([name for _b, _n, name in rows])
	return {branch: (int(n), first[name]) for branch, n, name in rows}


def period_over(step: MarketingFlowStep, found: dict[str, tuple[int, datetime]], now: datetime) -> bool:
	"""The step has a test period (`ab_test_days`) and it has passed since the first assignment."""
	if not step.ab_test_days or not found:
		return False
	first = min(f[1] for f in found.values())
	return now >= first + timedelta(days=step.ab_test_days)


def look_level(smallest: int, min_size: int) -> int | None:
	"""Which look the smallest variant's size calls for: None below the minimum size, 0 at it,
	1 at twice the minimum, 2 at four times, ..."""
	if smallest < min_size:
		return None
	return int(math.floor(math.log2(smallest / min_size) + 1e-9))


def _new_look(flow_name: str, step_id: str, first: datetime, level: int) -> bool:
	"""True the first time a level is reached for this test (the test is known by its flow, step
	and first assignment: a flow made again under the same name starts again)."""
	key = f"marketing_flows:ab_look:{flow_name}:{step_id}:{first.isoformat()}"
	last = frappe.cache.get_value(key, expires=True)  # an expiring key: not kept in frappe.local
	if last is not None and int(last) >= level:
		return False
	frappe.cache.set_value(key, level, expires_in_sec=90 * 24 * 3600)
	return True


def _format_p(p: float) -> str:
	return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _summary(
	keys: Sequence[str], labels: dict[str, str], found: dict[str, dict], metric: str, verdict: Verdict
) -> str:
	"""Per variant: successes of people, the rate; for every variant but the leader the p-value
	of the difference to the leader."""
	parts = []
	for k in keys:
		s, n = _counts(found.get(k), metric)
		rate = f"{100.0 * s / n:.1f}" if n else "0.0"
		c = verdict.against.get(k)
		if c is None:
			parts.append(_("{0}: {1} of {2}, {3}%").format(labels.get(k, k), s, n, rate))
		else:
			parts.append(
				_("{0}: {1} of {2}, {3}%, {4}").format(labels.get(k, k), s, n, rate, _format_p(c.p_value))
			)
	return "; ".join(parts)


def decide(
	flow: MarketingFlow,
	step: MarketingFlowStep,
	keys: Sequence[str],
	labels: dict[str, str],
	now: datetime,
	min_group_size: int | None = None,
) -> str | None:
	"""The winning key once there is one (written once, logged as a comment on the flow), else
	None. See the module's docstring for when a winner is real and when the test is looked at."""
	saved = (
		frappe.db.get_value(
			"Marketing Flow Step",
			{"parent": flow.name, "parenttype": "Marketing Flow", "step_id": step.step_id},
			["ab_winner", "ab_decision"],
			as_dict=True,
		)
		or frappe._dict()
	)
	if saved.ab_winner:
		return saved.ab_winner
	found = progress(flow.name, step.step_id)
	if not found:
		return None
	min_size = minimum_size(step, min_group_size)
	smallest = min(found.get(k, (0, now))[0] for k in keys)
	level = look_level(smallest, min_size)
	fallback_due = period_over(step, found, now) and not saved.ab_decision
	first = min(f[1] for f in found.values())
	new_look = level is not None and _new_look(flow.name, step.step_id, first, level)
	if not (new_look or fallback_due):
		return None
	metric = step.ab_metric or "Open Rate"
	confidence = confidence_of(step)
	results = figures(flow.name, step.step_id, step=step, keys=keys)
	verdict = judge(keys, results, metric, confidence)
	summary = _summary(keys, labels, results, metric, verdict)
	if level is not None and verdict.winner:
		text = _("A/B test '{0}': {1} wins by {2}, significant at {3}% ({4}).").format(
			step.step_id, labels[verdict.winner], _(metric), f"{confidence:g}", summary
		)
		if len(keys) > 2:
			text += " " + _(
				"With {0} variants, each comparison with the leader was made at {1}% (Bonferroni)."
			).format(len(keys), f"{verdict.confidence:g}")
		return _write_winner(flow, step, verdict.winner, text, now)
	if not fallback_due:
		return None
	why = _("no significant difference in {0} at {1}% by the end of the test period").format(
		_(metric), f"{confidence:g}"
	)
	if level is None:
		why += " " + _("(each variant needs {0} participants; the smallest has {1})").format(
			min_size, smallest
		)
	if (step.get("ab_fallback") or "Keep Splitting") == "First Variant":
		text = _("A/B test '{0}': {1}; {2} wins by the fallback, First Variant ({3}).").format(
			step.step_id, why, labels[keys[0]], summary
		)
		return _write_winner(flow, step, keys[0], text, now)
	text = _("A/B test '{0}': {1}; no winner, the test keeps splitting ({2}).").format(
		step.step_id, why, summary
	)
	t = frappe.qb.DocType("Marketing Flow Step")
	frappe.qb.update(t).set(t.ab_decision, text).where(
		(t.parent == flow.name) & (t.parenttype == "Marketing Flow") & (t.step_id == step.step_id)
	).where(t.ab_winner.isnull() | (t.ab_winner == "")).where(
		t.ab_decision.isnull() | (t.ab_decision == "")
	).run()
	if frappe.db._cursor.rowcount:  # said once, by one worker
		_comment(flow, text)
	return None


def _write_winner(flow: MarketingFlow, step: MarketingFlowStep, winner: str, text: str, now: datetime) -> str:
	"""Write the winner unless another worker wrote one first (then that one stands)."""
	t = frappe.qb.DocType("Marketing Flow Step")
	frappe.qb.update(t).set(t.ab_winner, winner).set(t.ab_decided_on, now).set(t.ab_decision, text).where(
		(t.parent == flow.name) & (t.parenttype == "Marketing Flow") & (t.step_id == step.step_id)
	).where(t.ab_winner.isnull() | (t.ab_winner == "")).run()
	if not frappe.db._cursor.rowcount:  # another worker decided first: its winner stands
		return frappe.db.get_value(
			"Marketing Flow Step",
			{"parent": flow.name, "parenttype": "Marketing Flow", "step_id": step.step_id},
			"ab_winner",
		)
	_comment(flow, text)
	return winner


def _comment(flow: MarketingFlow, text: str) -> None:
	frappe.get_doc(
		{
			"doctype": "Comment",
			"comment_type": "Info",
			"reference_doctype": "Marketing Flow",
			"reference_name": flow.name,
			"content": text,
		}
	).insert(ignore_permissions=True)
