"""Split and A/B Test steps: paths chosen per person, validated at save, run by real workers."""

from __future__ import annotations

import frappe
import pytest

from factories import events, make_contact, make_content, make_flow, participant, running_flow, step, unique
from marketing_flows.engine.measuring import tracking, variants


def branch_taken(flow: str, contact: str, step_id: str) -> str | None:
	return frappe.db.get_value(
		"Marketing Flow Log",
		{"flow": flow, "contact": contact, "step_id": step_id, "event": "Step Executed"},
		"branch",
	)


def tag(step_id: str, value: str) -> dict:
	return step(step_id, "Update Participant", update_field="designation", update_value=value)


def split_flow(else_step: str | None = None, group: str | None = None):
	steps = [
		step("split", "Split", else_step=else_step),
		tag("vip", "went vip"),
		tag("member", "went member"),
		tag("rest", "went rest"),
	]
	branches = [
		{
			"step_id": "split",
			"branch_label": "Chief executives",
			"condition_type": "Field",
			"condition_filters": '[["department", "=", "Board"]]',
			"next_step": "vip",
		},
		{
			"step_id": "split",
			"branch_label": "Newsletter readers",
			"condition_type": "In Email Group",
			"email_group": group,
			"next_step": "member",
		},
	]
	if not else_step:
		steps = steps[:3]
	return running_flow(steps, branches=branches)


@pytest.fixture
def group():
	return frappe.get_doc({"doctype": "Email Group", "title": unique("Readers")}).insert().name


def join(group: str, contact: str) -> None:
	email = frappe.db.get_value("Contact", contact, "email_id")
	frappe.get_doc({"doctype": "Email Group Member", "email_group": group, "email": email}).insert()


def test_split_takes_the_first_matching_branch_and_exits_everyone_else(worker, group):
	flow = split_flow(group=group)
	both = make_contact(department="Board")  # matches both branches: the first one wins
	reader = make_contact()
	nobody = make_contact()
	join(group, both)
	join(group, reader)
	flow.enroll([both, reader, nobody])
	worker()
	flow.reload()
	keys = {row.branch_label: row.branch_key for row in flow.branches}
	assert keys == {"Chief executives": "chief_executives", "Newsletter readers": "newsletter_readers"}
	assert frappe.db.get_value("Contact", both, "designation") == "went vip"
	assert branch_taken(flow.name, both, "split") == "chief_executives"
	assert frappe.db.get_value("Contact", reader, "designation") == "went member"
	assert branch_taken(flow.name, reader, "split") == "newsletter_readers"
	p = participant(flow.name, nobody)
	assert (p.status, p.exit_reason) == ("Exited", "No split branch matched")
	assert branch_taken(flow.name, nobody, "split") == "else"
	message = frappe.db.get_value(
		"Marketing Flow Log", {"flow": flow.name, "contact": both, "step_id": "split"}, "message"
	)
	assert message.startswith("branch Chief executives")  # the timeline says why


def test_split_sends_everyone_else_to_its_step(worker, group):
	flow = split_flow(else_step="rest", group=group)
	nobody = make_contact()
	flow.enroll([nobody])
	worker()
	assert frappe.db.get_value("Contact", nobody, "designation") == "went rest"
	assert participant(flow.name, nobody).status == "Completed"


@pytest.mark.parametrize(
	"branches, message",
	[
		([], "Split step 'split': add at least one branch"),
		(
			[{"step_id": "split", "branch_label": "Readers", "condition_type": "In Email Group"}],
			"Split step 'split', branch 'Readers': Email Group is required for In Email Group",
		),
		(
			[
				{
					"step_id": "split",
					"branch_label": "Board",
					"condition_type": "Field",
					"condition_filters": '[["no_such_field", "=", 1]]',
				}
			],
			"no_such_field",
		),
		(
			[
				{
					"step_id": "split",
					"branch_label": "Opened",
					"condition_type": "Opened",
					"next_step": "ghost",
				}
			],
			"points to 'ghost', which is not a step of this flow",
		),
		(
			[{"step_id": "gone", "branch_label": "Lost", "condition_type": "Opened"}],
			"belongs to 'gone', which is not a Split or A/B Test step",
		),
	],
)
def test_split_is_validated_at_save_with_messages_naming_the_step(branches, message):
	with pytest.raises(frappe.ValidationError, match=message):
		make_flow(steps=[step("split", "Split")], branches=branches)


def test_split_branch_steps_count_as_reachable_and_loops_through_them_are_refused():
	steps = [
		step("split", "Split", else_step="back"),
		tag("a", "a"),
		step("back", "Update Participant", update_field="designation", update_value="x", next_step="split"),
	]
	branches = [{"step_id": "split", "branch_label": "A", "condition_type": "Opened", "next_step": "a"}]
	with pytest.raises(frappe.ValidationError, match="loop that can pass without waiting"):
		make_flow(steps=steps, branches=branches)
	steps[2]["next_step"] = None
	flow = make_flow(steps=steps, branches=branches)  # every step reached through a branch or else
	assert flow.name


def ab_flow(content_a, content_b, **ab):
	steps = [
		step("ab", "A/B Test", **ab),
		step("mail_a", "Send Email", content=content_a.name, next_step="wait"),
		step("mail_b", "Send Email", content=content_b.name, next_step="wait"),
		step("wait", "Wait", wait_amount=3, wait_unit="Days"),
	]
	branches = [
		{"step_id": "ab", "branch_label": "Short subject", "percentage": 50, "next_step": "mail_a"},
		{"step_id": "ab", "branch_label": "Long subject", "percentage": 50, "next_step": "mail_b"},
	]
	return running_flow(steps, branches=branches)


@pytest.fixture
def contents(smtp):
	return (
		make_content("Email", subject="Hi", sender=smtp.account),
		make_content("Email", subject="Hello there, we have news", sender=smtp.account),
	)


def test_ab_test_splits_people_by_stable_shares(worker, contents):
	flow = ab_flow(*contents)
	people = [make_contact() for _ in range(12)]
	flow.enroll(people)
	worker()
	flow.reload()
	rows = [r for r in flow.branches if r.step_id == "ab"]
	for contact in people:
		p = participant(flow.name, contact)
		expected = variants.pick(rows, p.name, "ab")  # the same answer on every try
		assert branch_taken(flow.name, contact, "ab") == expected.branch_key
		sent = "mail_a" if expected.next_step == "mail_a" else "mail_b"
		assert (sent, "Email Sent") in events(flow.name, contact)
		assert p.status == "Waiting"


def test_ab_shares_follow_the_percentages():
	"""Pure logic: the hash spreads participants by the shares (10 000 made-up names)."""
	rows = [frappe._dict(branch_key="a", percentage=20), frappe._dict(branch_key="b", percentage=80)]
	picks = [variants.pick(rows, f"p{i:05d}", "ab").branch_key for i in range(10000)]
	assert 1800 < picks.count("a") < 2200
	assert [variants.pick(rows, "same", "ab") for _ in range(3)] == [variants.pick(rows, "same", "ab")] * 3


@pytest.mark.parametrize(
	"branches, step, message",
	[
		([{"branch_label": "Only", "percentage": 100}], {}, "add at least two variants"),
		(
			[{"branch_label": "A", "percentage": 50}, {"branch_label": "B", "percentage": 40}],
			{},
			"the percentages add up to 90, not 100",
		),
		(
			[{"branch_label": "A", "percentage": 50}, {"branch_label": "B", "percentage": 50}],
			{"ab_auto_winner": 1},
			"set the test period or the participants per variant",
		),
	],
)
def test_ab_test_is_validated_at_save(branches, step, message):
	with pytest.raises(frappe.ValidationError, match=message):
		make_flow(
			steps=[{"step_id": "ab", "step_type": "A/B Test", **step}, tag("t", "x")],
			branches=[{"step_id": "ab", "next_step": "t", **b} for b in branches],
		)


def test_ab_test_picks_the_winner_by_click_rate_and_sends_everyone_after_to_it(worker, contents):
	# a winner needs a significant lead with every variant at its size (1 here: ten people in all)
	flow = ab_flow(*contents, ab_auto_winner=1, ab_metric="Click Rate", ab_test_days=1, ab_test_size=1)
	first = [make_contact() for _ in range(10)]
	flow.enroll(first)
	worker()
	taken = {c: branch_taken(flow.name, c, "ab") for c in first}
	clicked_variant = sorted(set(taken.values()))[-1]
	for contact, key in taken.items():
		if key == clicked_variant:
			p = participant(flow.name, contact)
			tracking.record_click(
				p.name, "mail_a" if key == "short_subject" else "mail_b", "https://example.com/x"
			)
	frappe.db.commit()
	assert not frappe.db.get_value("Marketing Flow Step", {"parent": flow.name, "step_id": "ab"}, "ab_winner")
	# the test period is over: the first assignments were made two days ago
	frappe.db.sql(
		"""update `tabMarketing Flow Log` set creation = creation - interval 2 day
		where flow = %s and step_id = 'ab'""",
		flow.name,
	)
	frappe.db.commit()
	later = [make_contact() for _ in range(4)]
	flow.enroll(later)
	worker()
	step = frappe.db.get_value(
		"Marketing Flow Step",
		{"parent": flow.name, "step_id": "ab"},
		["ab_winner", "ab_decided_on", "ab_decision"],
		as_dict=True,
	)
	assert step.ab_winner == clicked_variant and step.ab_decided_on
	assert "wins by Click Rate" in step.ab_decision
	assert {branch_taken(flow.name, c, "ab") for c in later} == {clicked_variant}
	comments = frappe.get_all(
		"Comment",
		filters={"reference_doctype": "Marketing Flow", "reference_name": flow.name, "comment_type": "Info"},
		pluck="content",
	)
	assert any("wins by Click Rate" in c for c in comments)
	figures = flow.get_figures()
	assert sum(figures["branches"]["ab"].values()) == 14
	by_variant = figures["variants"]["ab"]
	assert by_variant[clicked_variant]["clicked"] >= 1
	assert by_variant[clicked_variant]["Click Rate"] > by_variant.get(
		({"short_subject", "long_subject"} - {clicked_variant}).pop(), {}
	).get("Click Rate", 0.0)
	# a save of the form with the steps as loaded before the decision keeps the winner
	flow.reload()
	flow.pause()
	stale = frappe.get_doc("Marketing Flow", flow.name)
	stale.steps[0].ab_winner = None
	stale.description = "edited"
	stale.save()
	assert (
		frappe.db.get_value("Marketing Flow Step", {"parent": flow.name, "step_id": "ab"}, "ab_winner")
		== clicked_variant
	)


def test_a_dry_run_through_split_and_ab_test_shows_the_branch_and_writes_nothing(contents, group):
	from factories import table_counts

	steps = [
		step("split", "Split", else_step="ab"),
		tag("vip", "vip"),
		step("ab", "A/B Test"),
		step("mail_a", "Send Email", content=contents[0].name),
		step("mail_b", "Send Email", content=contents[1].name),
	]
	branches = [
		{
			"step_id": "split",
			"branch_label": "Board",
			"condition_type": "Field",
			"condition_filters": '[["department", "=", "Board"]]',
			"next_step": "vip",
		},
		{"step_id": "ab", "branch_label": "A", "percentage": 50, "next_step": "mail_a"},
		{"step_id": "ab", "branch_label": "B", "percentage": 50, "next_step": "mail_b"},
	]
	flow = make_flow(steps=steps, branches=branches)
	board, other = make_contact(department="Board"), make_contact()
	frappe.db.commit()
	before = table_counts()
	results = {r["person"]: r for r in flow.test_flow(contacts=[board, other])}
	assert table_counts() == before
	path = [(e["step_id"], e.get("branch")) for e in results[board]["timeline"] if e["step_id"] == "split"]
	assert path == [("split", "board")]
	other_path = [e for e in results[other]["timeline"] if e["step_id"] == "ab"]
	assert other_path and other_path[0]["branch"] in ("a", "b")
	assert frappe.db.get_value("Contact", board, "designation") != "vip"
