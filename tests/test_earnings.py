"""What a flow earns (issue 24): the goal rate and revenue of its people against its control
group, the lift with its interval, "not enough people yet", what it earned beyond the control
group, per version, over time, per step and branch; revenue only for who may read it.

Participants (enrolled and Held Out, with goals met and revenue set) and their attribution and
log rows are seeded in bulk, as the engine writes them."""

from __future__ import annotations

import frappe
import pytest
from frappe.utils import add_to_date, now_datetime

from factories import make_flow, make_user, step
from marketing_flows.engine import bulk, log
from marketing_flows.engine.measuring import earnings
from marketing_flows.engine.measuring.significance import compare

PARTICIPANT_FIELDS = (
	"name",
	"flow",
	"person_doctype",
	"person",
	"contact",
	"status",
	"flow_version",
	"enrolled_on",
	"succeeded",
	"succeeded_on",
	"revenue",
	"revenue_documents",
	"exit_reason",
	"creation",
	"modified",
	"owner",
	"modified_by",
)
ATTRIBUTION_FIELDS = (
	"name",
	"flow",
	"participant",
	"flow_version",
	"held_out",
	"document_type",
	"document_name",
	"document_date",
	"amount",
	"creation",
	"modified",
	"owner",
	"modified_by",
)


def earning_flow(**values):
	"""A Draft flow with a control group (nothing runs: the figures are seeded): a Wait, a Split by
	field with its Board branch, End."""
	return make_flow(
		steps=[
			step("mail", "Wait", wait_amount=1, wait_unit="Days", next_step="split"),
			step("split", "Split", else_step="end"),
			step("vip", "Wait", wait_amount=1, wait_unit="Days", next_step="end"),
			step("end", "End"),
		],
		branches=[
			{
				"step_id": "split",
				"branch_label": "Board",
				"branch_key": "board",
				"condition_type": "Field",
				"condition_filters": '[["department", "=", "Board"]]',
				"next_step": "vip",
			}
		],
		holdout_percent=values.pop("holdout_percent", 10),
		**values,
	)


def seed(
	flow_name: str,
	people: int,
	succeeded: int,
	revenue_each: float = 0.0,
	held_out: bool = False,
	version: int = 1,
	days: int = 1,
	steps: tuple[tuple[str, str | None], ...] = (),
) -> list[str]:
	"""`people` participants (Held Out or Completed) of `version`, enrolled over the last `days`
	days (one a day, round robin); the first `succeeded` met the goal and brought `revenue_each`
	(one attribution each). Enrolled people pass `steps` ((step_id, branch), ...). Committed."""
	now = now_datetime()
	tag = frappe.generate_hash(length=6)
	rows, documents, entries = [], [], []
	for i in range(people):
		name = f"ern-{tag}-{i:05d}"
		enrolled_on = add_to_date(now, days=-(i % days), minutes=-1)
		won = i < succeeded
		amount = revenue_each if won else 0.0
		rows.append(
			(
				name,
				flow_name,
				"Contact",
				name,
				name,
				"Held Out" if held_out else "Completed",
				version,
				enrolled_on,
				int(won),
				enrolled_on if won else None,
				amount,
				int(amount > 0),
				"Control group" if held_out else None,
				enrolled_on,
				enrolled_on,
				"Administrator",
				"Administrator",
			)
		)
		if amount:
			documents.append(
				(
					f"era-{tag}-{i:05d}",
					flow_name,
					name,
					version,
					int(held_out),
					"Sales Invoice",
					f"SINV-{tag}-{i:05d}",
					enrolled_on,
					amount,
					now,
					now,
					"Administrator",
					"Administrator",
				)
			)
		event = "Held Out" if held_out else "Step Executed"
		for step_id, branch in () if held_out else steps:
			entries.append(log.entry(flow_name, name, name, step_id, event, branch=branch, version=version))
	bulk.insert("Marketing Flow Participant", PARTICIPANT_FIELDS, rows)
	if documents:
		bulk.insert("Marketing Flow Attribution", ATTRIBUTION_FIELDS, documents)
	if entries:
		log.write_many(entries)
	frappe.db.commit()
	return [r[0] for r in rows]


@pytest.fixture
def min_group(settings):
	settings.set("Marketing Flow Settings", min_group_size=100)
	return 100


def test_the_lift_of_the_enrolled_over_the_held_out_with_its_interval(min_group):
	flow = earning_flow()
	seed(flow.name, 900, 270, revenue_each=20)
	seed(flow.name, 100, 20, revenue_each=20, held_out=True)
	e = earnings.earnings(flow)
	assert e["holdout_percent"] == 10 and e["confidence"] == 95 and e["min_group_size"] == 100
	assert e["enrolled"] == {
		"people": 900,
		"succeeded": 270,
		"rate": 30.0,
		"revenue": 5400.0,
		"revenue_per_person": 6.0,
	}
	assert e["held_out"] == {
		"people": 100,
		"succeeded": 20,
		"rate": 20.0,
		"revenue": 400.0,
		"revenue_per_person": 4.0,
	}
	c = compare(270, 900, 20, 100)
	assert e["lift"] == {
		"enough": True,
		"reason": None,
		"absolute": 10.0,
		"relative": 50.0,
		"low": round(c.low, 2),
		"high": round(c.high, 2),
		"p_value": c.p_value,
		"significant": True,
	}
	assert 0 < e["lift"]["low"] < 10 < e["lift"]["high"]
	assert e["earned_beyond_control"] == 1800.0  # (6 - 4) per person x 900 people
	assert isinstance(e["currency"], str)
	assert e["by_version"] == []  # one version


def test_not_enough_people_yet_until_the_smaller_group_has_the_minimum(min_group):
	flow = earning_flow()
	seed(flow.name, 900, 270, revenue_each=20)
	seed(flow.name, 50, 5, revenue_each=20, held_out=True)
	e = earnings.earnings(flow)
	lift = e["lift"]
	assert lift["enough"] is False and lift["significant"] is False
	assert "Not enough people yet: the smaller group has 50 of the 100 people needed." == lift["reason"]
	assert lift["absolute"] == 20.0 and lift["low"] is not None  # shown as they are, not as a result
	assert e["earned_beyond_control"] is None

	seed(flow.name, 50, 5, held_out=True)
	assert earnings.earnings(flow)["lift"]["enough"] is True


def test_without_a_control_group_there_is_no_lift(min_group):
	flow = earning_flow(holdout_percent=0)
	seed(flow.name, 300, 30)
	e = earnings.earnings(flow)
	assert e["held_out"]["people"] == 0
	assert e["lift"]["enough"] is False and "No control group yet" in e["lift"]["reason"]
	assert (e["lift"]["low"], e["lift"]["high"], e["earned_beyond_control"]) == (None, None, None)


def test_per_version(min_group):
	flow = earning_flow()
	seed(flow.name, 200, 40, revenue_each=10, version=1)
	seed(flow.name, 100, 10, held_out=True, version=1)
	seed(flow.name, 300, 150, revenue_each=10, version=2)
	seed(flow.name, 120, 12, held_out=True, version=2)
	second = earnings.earnings(flow, version=2)
	assert (second["enrolled"]["people"], second["enrolled"]["succeeded"]) == (300, 150)
	assert (second["held_out"]["people"], second["held_out"]["succeeded"]) == (120, 12)
	assert second["lift"]["absolute"] == 40.0 and second["lift"]["significant"]
	assert second["earned_beyond_control"] == 1500.0  # (1500 / 300 - 0) x 300
	every = earnings.earnings(flow)
	assert (every["enrolled"]["people"], every["held_out"]["people"]) == (500, 220)
	assert [
		(v["version"], v["enrolled"]["people"], v["held_out"]["people"]) for v in every["by_version"]
	] == [
		(1, 200, 100),
		(2, 300, 120),
	]
	assert every["by_version"][1]["lift"] == second["lift"]
	assert earnings.earnings(flow, version=2)["by_version"] == []


def test_the_lift_over_time_is_cumulative_by_enrolment_day_in_at_most_90_points(min_group):
	flow = earning_flow()
	seed(flow.name, 1000, 300, days=200)
	seed(flow.name, 200, 40, held_out=True, days=200)
	points = earnings.earnings(flow)["over_time"]
	assert 60 <= len(points) <= 90
	assert [p["date"] for p in points] == sorted(p["date"] for p in points)
	assert [p["enrolled"] for p in points] == sorted(p["enrolled"] for p in points)  # cumulative
	last = points[-1]
	latest = frappe.db.sql(
		"select max(date(enrolled_on)) from `tabMarketing Flow Participant` where flow = %s", flow.name
	)[0][0]
	assert last["date"] == str(latest)  # the last day is always a point
	assert (last["enrolled"], last["held_out"], last["enrolled_rate"], last["held_out_rate"]) == (
		1000,
		200,
		30.0,
		20.0,
	)
	c = compare(300, 1000, 40, 200)
	assert (last["low"], last["high"]) == (round(c.low, 2), round(c.high, 2))
	first = points[0]
	assert first["low"] is None or first["low"] < first["high"]


def test_revenue_per_step_and_branch_counts_each_person_once(min_group):
	flow = earning_flow()
	passed = (("mail", None), ("split", "board"), ("vip", None), ("mail", None))  # mail twice: a loop
	seed(flow.name, 10, 4, revenue_each=25, steps=passed)
	seed(flow.name, 10, 2, revenue_each=10, steps=(("mail", None), ("split", "else"), ("end", None)))
	seed(flow.name, 100, 20, revenue_each=50, held_out=True)  # the held out pass no step
	e = earnings.earnings(flow)
	assert e["revenue_by_step"] == {"mail": 120.0, "split": 120.0, "vip": 100.0, "end": 20.0}
	assert e["revenue_by_branch"] == {"split": {"board": 100.0, "else": 20.0}}
	assert e["enrolled"]["revenue"] == 120.0 and e["held_out"]["revenue"] == 1000.0


@pytest.fixture
def users():
	editor = make_user(["Flow Content Editor"], "earn-editor")
	admin = make_user(["Flow Administrator"], "earn-admin")
	frappe.db.commit()
	yield frappe._dict(editor=editor, admin=admin)
	frappe.set_user("Administrator")


def test_revenue_only_for_who_may_read_attributions(min_group, users):
	flow = earning_flow()
	seed(flow.name, 200, 60, revenue_each=20, steps=(("mail", None),))
	seed(flow.name, 100, 10, revenue_each=20, held_out=True)

	frappe.set_user(users.editor)
	stored = frappe.get_doc("Marketing Flow", flow.name)
	e = stored.get_earnings()
	assert e["lift"]["enough"] and e["enrolled"]["rate"] == 30.0  # the goal rates: yes
	assert e["enrolled"]["revenue"] is None and e["held_out"]["revenue_per_person"] is None
	assert (e["earned_beyond_control"], e["revenue_by_step"], e["revenue_by_branch"]) == (None, None, None)
	summary = stored.get_all_figures()["earnings"]
	assert summary["lift"] == e["lift"] and summary["earned_beyond_control"] is None

	frappe.set_user(users.admin)
	stored = frappe.get_doc("Marketing Flow", flow.name)
	e = stored.get_earnings()
	assert e["enrolled"]["revenue"] == 1200.0 and e["earned_beyond_control"] == (6.0 - 2.0) * 200
	assert e["revenue_by_step"] == {"mail": 1200.0}
	summary = stored.get_all_figures()["earnings"]
	assert summary["earned_beyond_control"] == 800.0 and "over_time" not in summary


def test_a_flow_without_a_control_group_adds_nothing_to_the_figures():
	flow = earning_flow(holdout_percent=0)
	seed(flow.name, 20, 2)
	assert flow.get_all_figures()["earnings"] is None
