"""Bad input gets a clear message and changes nothing."""

import frappe
import pytest

from factories import end, make_content, make_flow, step, unique
from marketing_flows.engine.running import graph


def steps(*rows):
	return [dict(r) for r in rows]


WAIT = {"step_type": "Wait", "wait_amount": 1, "wait_unit": "Days"}


# --- the graph, as pure logic -------------------------------------------------------------


def test_valid_linear_and_branching_graphs_pass():
	assert graph.validate(steps(step("a", **WAIT, next_step="b"), end("b"))) == []
	assert (
		graph.validate(
			steps(
				step("c", "Condition", yes_step="y", no_step="n"),
				end("y"),
				end("n"),
			)
		)
		== []
	)


@pytest.mark.parametrize(
	"rows, message",
	[
		([], "no steps"),
		(
			[step("a", **WAIT, next_step="b"), end("a")],
			"'a' is used twice",
		),
		([step("a", **WAIT, next_step="ghost")], "points to 'ghost'"),
		([step("e", "End", next_step="e")], "can't have a Next Step"),
		(
			[
				step("a", **WAIT, next_step="e"),
				end("e"),
				end("lost"),
			],
			"'lost' can't be reached",
		),
		(
			[
				step("a", "Update Participant", next_step="b"),
				step("b", "Condition", yes_step="a", no_step="e"),
				end("e"),
			],
			"loop that can pass without waiting",
		),
		([end("")], "Step ID is required"),
	],
)
def test_graph_errors_name_the_step(rows, message):
	errors = graph.validate(steps(*rows))
	assert any(message in e for e in errors), errors


def test_no_end_step_is_needed_to_finish_a_flow():
	"""A step with no next step, and a Condition branch with no step, end the flow there."""
	assert graph.validate(steps(step("a", **WAIT))) == []
	assert (
		graph.validate(
			steps(
				step("c", "Condition", yes_step="e"),
				end("e"),
			)
		)
		== []
	)


@pytest.mark.parametrize(
	"wait",
	[
		{"step_type": "Wait", "use_sending_window": 1},
		{"step_type": "Wait", "wait_until": "2020-01-01 00:00:00"},
		{"step_type": "Wait", "wait_date_field": "birthday"},
	],
)
def test_a_wait_that_can_take_no_time_does_not_break_a_loop(wait):
	rows = steps(
		step("w", **wait, next_step="c"),
		step("c", "Condition", yes_step="e", no_step="w"),
		end("e"),
	)
	assert any("loop that can pass without waiting" in e for e in graph.validate(rows))


def test_loop_through_a_wait_is_allowed():
	rows = steps(
		step("w", **WAIT, next_step="c"),
		step("c", "Condition", yes_step="e", no_step="w"),
		end("e"),
	)
	assert graph.validate(rows) == []


# --- through the documents ------------------------------------------------------------------


def test_saving_an_invalid_flow_names_the_step_and_saves_nothing():
	name = unique("Bad Flow")
	with pytest.raises(frappe.ValidationError, match="points to 'nowhere'"):
		make_flow(flow_name=name, steps=[step("w", **WAIT, next_step="nowhere")])
	assert not frappe.db.exists("Marketing Flow", name)


def test_flow_name_is_required():
	with pytest.raises(frappe.ValidationError, match="Flow Name"):
		frappe.get_doc({"doctype": "Marketing Flow", "steps": []}).insert()


def test_step_type_fields_are_required():
	with pytest.raises(frappe.ValidationError, match="Content is required"):
		make_flow(
			steps=[
				step("s", "Send Email", next_step="e"),
				end("e"),
			]
		)
	with pytest.raises(frappe.ValidationError, match="not an http"):
		make_flow(
			steps=[
				step("h", "Webhook", webhook_url="ftp://example.com", next_step="e"),
				end("e"),
			]
		)
	with pytest.raises(frappe.ValidationError, match="has no field 'no_such_field'"):
		make_flow(
			steps=[
				step("u", "Update Participant", update_field="no_such_field", next_step="e"),
				end("e"),
			]
		)


def test_unknown_fields_in_audience_filters_are_rejected():
	with pytest.raises(frappe.ValidationError, match="no field 'colour'"):
		make_flow(audience_filters='[["colour", "=", "red"]]')
	with pytest.raises(frappe.ValidationError, match="not valid JSON"):
		make_flow(audience_filters="[[broken")


def test_new_flow_starts_as_draft_even_if_told_otherwise():
	assert make_flow(status="Running").status == "Draft"


def test_status_changes_only_through_run_pause_stop():
	flow = make_flow()
	flow.status = "Running"
	with pytest.raises(frappe.ValidationError, match="Run, Pause and Stop"):
		flow.save()
	assert frappe.db.get_value("Marketing Flow", flow.name, "status") == "Draft"


def test_pause_requires_running_and_a_stopped_flow_runs_again():
	flow = make_flow()
	with pytest.raises(frappe.ValidationError, match="Only a running flow"):
		flow.pause()
	flow.stop()
	assert flow.run()["status"] == "Running"  # run again (tests/test_exits.py: its people)


def test_steps_of_a_running_flow_cannot_be_edited_until_paused():
	flow = make_flow()
	flow.run()
	flow.reload()
	flow.steps[0].wait_amount = 5
	with pytest.raises(frappe.ValidationError, match="Pause the flow"):
		flow.save()
	flow.reload()
	flow.pause()
	flow.reload()
	flow.steps[0].wait_amount = 5
	flow.save()
	assert (
		frappe.db.get_value("Marketing Flow Step", {"parent": flow.name, "step_id": "wait"}, "wait_amount")
		== 5
	)


def test_content_with_invalid_jinja_is_rejected():
	with pytest.raises(frappe.ValidationError, match="invalid Jinja"):
		make_content("SMS", body="Hi {{ contact.first_name ")


def test_email_content_saves_before_any_sender_exists(settings):
	"""Content first, sender later: Run refuses the flow instead (tests/test_senders.py)."""
	settings.set_default_email_account(None)
	settings.set("Marketing Flow Settings", default_sender=None)
	content = make_content("Email", subject="Hi", body="Hello")
	assert frappe.db.exists("Marketing Flow Content", content.name)


def test_email_content_needs_a_subject():
	with pytest.raises(frappe.MandatoryError):
		make_content("Email", subject=None, body="Hello")
