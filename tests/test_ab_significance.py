"""A/B winners that are real (issue 24): the automatic winner only when its lead is significant at
the step's level and every variant has its minimum size; the fallback at the end of the test
period; three variants with the Bonferroni-corrected level.

Outcomes are seeded in bulk (participants who took a variant, some of them succeeded, and their
"Step Executed" log rows), then one new person is enrolled and a real worker runs the A/B step,
which decides (or not) and sends the person down the winner's path or a split one."""

from __future__ import annotations

import html

import frappe
import pytest
from frappe.utils import add_to_date, now_datetime

from factories import make_contact, make_flow, participant, running_flow, step, unique
from marketing_flows.engine import bulk, log
from marketing_flows.engine.measuring import variants

VARIANTS = {"a": "Variant A", "b": "Variant B", "c": "Variant C"}


def ab_flow(n_variants: int = 2, **ab) -> frappe._dict:
	"""Running: an A/B Test by goal conversion (winner picked automatically), each variant to a
	Wait of its own."""
	keys = list(VARIANTS)[:n_variants]
	steps = [
		step("ab", "A/B Test", ab_auto_winner=1, ab_metric="Goal Conversion", **ab),
		*[step(f"after_{k}", "Wait", wait_amount=3, wait_unit="Days") for k in keys],
	]
	share = 100 / n_variants
	branches = [
		{
			"step_id": "ab",
			"branch_label": VARIANTS[k],
			"branch_key": k,
			"percentage": share if i < n_variants - 1 else 100 - share * (n_variants - 1),
			"next_step": f"after_{k}",
		}
		for i, k in enumerate(keys)
	]
	return running_flow(steps, branches=branches)


def seed(flow_name: str, outcomes: dict[str, tuple[int, int]], days_ago: float = 0.1) -> None:
	"""Per variant key (succeeded, people): people who took the variant `days_ago` days ago (their
	"Step Executed" at the A/B step with the variant as branch), Completed, `succeeded` of them
	with the goal met. Bulk-inserted, as the runner writes them; committed."""
	when = add_to_date(now_datetime(), days=-days_ago)
	tag = frappe.generate_hash(length=6)
	rows, entries = [], []
	creation = log.FIELDS.index("creation")
	for key, (succeeded, people) in outcomes.items():
		for i in range(people):
			name = f"abs-{tag}-{key}-{i:05d}"
			rows.append(
				(name, flow_name, "Contact", name, name, "Completed", "after_" + key, 1, when)
				+ (
					int(i < succeeded),
					when if i < succeeded else None,
					when,
					when,
					"Administrator",
					"Administrator",
				)
			)
			entry = list(log.entry(flow_name, name, name, "ab", "Step Executed", branch=key, version=1))
			entry[creation] = entry[creation + 1] = when
			entries.append(tuple(entry))
	bulk.insert(
		"Marketing Flow Participant",
		(
			"name",
			"flow",
			"person_doctype",
			"person",
			"contact",
			"status",
			"current_step",
			"flow_version",
			"enrolled_on",
			"succeeded",
			"succeeded_on",
			"creation",
			"modified",
			"owner",
			"modified_by",
		),
		rows,
	)
	log.write_many(entries)
	frappe.db.commit()


def ab_step(flow_name: str) -> frappe._dict:
	return frappe.db.get_value(
		"Marketing Flow Step",
		{"parent": flow_name, "step_id": "ab"},
		["ab_winner", "ab_decided_on", "ab_decision"],
		as_dict=True,
	)


def newcomer(flow, worker) -> tuple[str, str]:
	"""Enrol one new person and let a worker run the A/B step for them: their participation and
	the variant they took."""
	contact = make_contact()
	flow.enroll([contact])
	worker()
	p = participant(flow.name, contact)
	branch = frappe.db.get_value(
		"Marketing Flow Log", {"participant": p.name, "step_id": "ab", "event": "Step Executed"}, "branch"
	)
	return p.name, branch


def newcomer_takes(flow, worker) -> str:
	"""The variant a new person takes (see `newcomer`)."""
	return newcomer(flow, worker)[1]


def info_comments(flow_name: str) -> list[str]:
	"""The flow's Info comments, as text (Frappe stores them HTML-escaped: "p &lt; 0.001")."""
	return [
		html.unescape(c)
		for c in frappe.get_all(
			"Comment",
			filters={
				"reference_doctype": "Marketing Flow",
				"reference_name": flow_name,
				"comment_type": "Info",
			},
			pluck="content",
		)
	]


def test_five_of_ten_against_four_of_ten_picks_no_winner_and_keeps_splitting(worker):
	flow = ab_flow(ab_test_size=10, ab_test_days=30)
	seed(flow.name, {"a": (5, 10), "b": (4, 10)})
	name, took = newcomer(flow, worker)
	assert ab_step(flow.name).ab_winner is None and not ab_step(flow.name).ab_decision
	rows = [frappe._dict(branch_key=k, percentage=50) for k in ("a", "b")]
	assert took == variants.pick(rows, name, "ab").branch_key  # the split, not a winner
	figures = flow.get_figures()["variants"]["ab"]
	assert figures["a"]["leader"] and figures["a"]["p_value"] is None
	assert figures["b"]["significant"] is False and figures["b"]["p_value"] > 0.5


def test_three_hundred_of_a_thousand_against_two_hundred_picks_the_first(worker):
	flow = ab_flow(ab_test_size=100)
	seed(flow.name, {"a": (300, 1000), "b": (200, 1000)})
	assert newcomer_takes(flow, worker) == "a"  # the winner's path from now on
	decided = ab_step(flow.name)
	assert decided.ab_winner == "a" and decided.ab_decided_on
	text = decided.ab_decision
	assert "Variant A wins by Goal Conversion, significant at 95%" in text
	assert "Variant A: 300 of 1000, 30.0%" in text and "Variant B: 200 of 1000, 20.0%, p < 0.001" in text
	assert info_comments(flow.name) == [text]
	figures = flow.get_figures()["variants"]["ab"]
	assert figures["b"]["significant"] is True and figures["b"]["p_value"] < 1e-6
	assert figures["b"]["low"] > 0  # the leader's lead over b, in pp, with its interval


def test_the_second_variant_wins_when_it_is_the_one_ahead(worker):
	flow = ab_flow(ab_test_size=100)
	seed(flow.name, {"a": (200, 1000), "b": (300, 1000)})
	assert newcomer_takes(flow, worker) == "b"
	assert ab_step(flow.name).ab_winner == "b"


def test_the_minimum_size_comes_from_settings_without_participants_per_variant(worker, settings):
	settings.set("Marketing Flow Settings", min_group_size=2000)
	flow = ab_flow(ab_test_days=30)
	seed(flow.name, {"a": (300, 1000), "b": (200, 1000)})
	newcomer_takes(flow, worker)
	assert ab_step(flow.name).ab_winner is None  # significant, but 1000 of the 2000 people needed

	settings.set("Marketing Flow Settings", min_group_size=1000)
	newcomer_takes(flow, worker)
	assert ab_step(flow.name).ab_winner == "a"


def test_the_end_of_the_test_without_significance_keeps_splitting_says_so_once_and_a_later_lead_still_wins(
	worker,
):
	flow = ab_flow(ab_test_size=10, ab_test_days=30, ab_fallback="Keep Splitting")
	seed(flow.name, {"a": (5, 10), "b": (4, 10)}, days_ago=31)  # the test period is over
	newcomer_takes(flow, worker)
	said = ab_step(flow.name)
	assert said.ab_winner is None and said.ab_decided_on is None
	assert (
		"no significant difference in Goal Conversion at 95% by the end of the test period"
		in said.ab_decision
	)
	assert "no winner, the test keeps splitting" in said.ab_decision
	assert (
		"Variant A: 5 of 10, 50.0%" in said.ab_decision
		and "Variant B: 4 of 10, 40.0%, p = 0.661" in said.ab_decision
	)
	newcomer_takes(flow, worker)
	assert ab_step(flow.name).ab_decision == said.ab_decision  # said once
	assert info_comments(flow.name) == [said.ab_decision]

	# the test goes on: a significant lead, once every variant has grown, still picks the winner
	seed(flow.name, {"a": (295, 990), "b": (196, 990)})
	assert newcomer_takes(flow, worker) == "a"
	won = ab_step(flow.name)
	assert won.ab_winner == "a" and "wins by Goal Conversion, significant at 95%" in won.ab_decision
	assert len(info_comments(flow.name)) == 2


def test_the_end_of_the_test_without_significance_makes_the_first_variant_win_by_the_fallback(worker):
	flow = ab_flow(ab_test_size=10, ab_test_days=30, ab_fallback="First Variant")
	seed(flow.name, {"a": (4, 10), "b": (5, 10)}, days_ago=31)  # b ahead, but only by noise
	assert newcomer_takes(flow, worker) == "a"
	decided = ab_step(flow.name)
	assert decided.ab_winner == "a" and decided.ab_decided_on
	assert "Variant A wins by the fallback, First Variant" in decided.ab_decision
	assert "no significant difference in Goal Conversion at 95%" in decided.ab_decision
	assert "Variant A: 4 of 10, 40.0%, p = 0.661" in decided.ab_decision  # b leads: a's p against b
	assert "Variant B: 5 of 10, 50.0%" in decided.ab_decision


def test_the_fallback_applies_when_the_variants_never_reached_their_size(worker):
	flow = ab_flow(ab_test_size=500, ab_test_days=30, ab_fallback="First Variant")
	seed(flow.name, {"a": (30, 100), "b": (60, 100)}, days_ago=31)  # b far ahead, too few people
	assert newcomer_takes(flow, worker) == "a"
	text = ab_step(flow.name).ab_decision
	assert (
		"wins by the fallback" in text
		and "each variant needs 500 participants; the smallest has 100)" in text
	)


def test_before_the_end_of_the_test_the_fallback_waits(worker):
	flow = ab_flow(ab_test_size=10, ab_test_days=30, ab_fallback="First Variant")
	seed(flow.name, {"a": (5, 10), "b": (4, 10)}, days_ago=5)
	newcomer_takes(flow, worker)
	assert ab_step(flow.name).ab_winner is None and not ab_step(flow.name).ab_decision


def test_three_variants_need_a_significant_lead_over_each_at_the_corrected_level(worker):
	# a leads b clearly and c by p = 0.036: significant at 95 %, not at the 97.5 % each of the two
	# comparisons needs (Bonferroni)
	outcomes = {"a": (300, 1000), "b": (200, 1000), "c": (258, 1000)}
	assert variants.judge(list(outcomes), counts(outcomes), "Goal Conversion", 95).winner is None
	flow = ab_flow(3, ab_test_size=100)
	seed(flow.name, outcomes)
	assert newcomer_takes(flow, worker) in ("a", "b", "c")
	assert ab_step(flow.name).ab_winner is None
	figures = flow.get_figures()["variants"]["ab"]
	assert figures["b"]["significant"] is True
	assert figures["c"]["significant"] is False and 0.025 < figures["c"]["p_value"] < 0.05

	flow = ab_flow(3, ab_test_size=100)
	seed(flow.name, {"a": (300, 1000), "b": (200, 1000), "c": (210, 1000)})
	assert newcomer_takes(flow, worker) == "a"
	text = ab_step(flow.name).ab_decision
	assert "Variant A wins by Goal Conversion, significant at 95%" in text
	assert "With 3 variants, each comparison with the leader was made at 97.5% (Bonferroni)." in text


def counts(outcomes: dict[str, tuple[int, int]]) -> dict[str, dict]:
	return {k: {"succeeded": s, "assigned": n} for k, (s, n) in outcomes.items()}


def test_the_winner_is_written_once():
	"""Two workers deciding at once: the second one's write finds a winner and takes it."""
	flow = ab_flow(ab_test_size=100)
	step_row = next(s for s in flow.steps if s.step_id == "ab")
	assert variants._write_winner(flow, step_row, "a", "first", now_datetime()) == "a"
	assert variants._write_winner(flow, step_row, "b", "second", now_datetime()) == "a"
	assert ab_step(flow.name).ab_decision == "first"


def test_looks_are_taken_as_the_smallest_variant_doubles():
	assert [variants.look_level(n, 100) for n in (99, 100, 199, 200, 399, 400, 1600)] == [
		None,
		0,
		0,
		1,
		1,
		2,
		4,
	]
	name, first = unique("Looks"), now_datetime()
	assert variants._new_look(name, "ab", first, 0)
	assert not variants._new_look(name, "ab", first, 0)
	assert variants._new_look(name, "ab", first, 1)


def test_a_fallback_needs_a_test_period():
	with pytest.raises(frappe.ValidationError, match="the fallback applies at the end of the test period"):
		make_flow(
			steps=[
				step("ab", "A/B Test", ab_auto_winner=1, ab_fallback="First Variant", ab_test_size=100),
				step("t", "End"),
			],
			branches=[
				{"step_id": "ab", "branch_label": "A", "percentage": 50, "next_step": "t"},
				{"step_id": "ab", "branch_label": "B", "percentage": 50, "next_step": "t"},
			],
		)
