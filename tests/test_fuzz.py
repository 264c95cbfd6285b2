"""Bad input, fuzzed with hypothesis: random step graphs, filters JSON, criteria and content
either save or are refused with a message (never a traceback), and a flow that saved never
crashes the runner."""

from __future__ import annotations

import json

import frappe
import pytest
from frappe.utils import now_datetime
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factories import make_contact, step, unique
from marketing_flows.engine.running.batch import Batch

FUZZ = settings(
	max_examples=40,
	deadline=None,
	suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
	derandomize=True,  # the same examples on every run: CI is repeatable
)

IDS = ["a", "b", "c", "d", "", "a b", "x" * 150]
STEP_TYPES = [
	"Send Email",
	"Send SMS",
	"Wait",
	"Condition",
	"Update Participant",
	"Create Activity",
	"Webhook",
	"Add to Email Group",
	"Enroll in Flow",
	"End",
	"Nonsense",
]
json_values = st.recursive(
	st.none() | st.booleans() | st.integers(-5, 10**12) | st.text(max_size=12),
	lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
	max_leaves=8,
)
filters_json = st.one_of(
	st.text(max_size=40),
	json_values.map(json.dumps),
	st.lists(
		st.tuples(
			st.sampled_from(["first_name", "designation", "status", "nope", "name", ""]),
			st.sampled_from(["=", "!=", "like", "in", "is", ">", "bogus"]),
			json_values,
		).map(list),
		max_size=3,
	).map(json.dumps),
)
steps = st.lists(
	st.fixed_dictionaries(
		step(
			st.sampled_from(IDS),
			st.sampled_from(STEP_TYPES),
			next_step=st.sampled_from([None, *IDS]),
			yes_step=st.sampled_from([None, *IDS]),
			no_step=st.sampled_from([None, *IDS]),
		),
		optional={
			"wait_amount": st.integers(-3, 10),
			"wait_unit": st.sampled_from(["Minutes", "Days", "Fortnights"]),
			"wait_until": st.sampled_from(["2020-01-01 00:00:00", "2999-01-01 00:00:00", "not a date"]),
			"use_sending_window": st.sampled_from([0, 1]),
			"condition_type": st.sampled_from(
				["Field", "Opened", "Clicked", "Emailed Recently", "In Segment", "Weird"]
			),
			"condition_filters": filters_json,
			"condition_step": st.sampled_from(IDS),
			"condition_days": st.integers(-1, 400),
			"update_field": st.sampled_from(["designation", "first_name", "email_ids", "nope", ""]),
			"update_value": st.text(max_size=30),
			"activity_description": st.text(max_size=30),
			"webhook_url": st.sampled_from(
				["https://example.com/h", "ftp://x", "http://10.0.0.1/", "", "not a url"]
			),
			"webhook_body": st.text(max_size=40),
		},
	),
	max_size=5,
)


def refused_with_a_message(error: Exception) -> bool:
	message = str(error)
	return isinstance(error, frappe.ValidationError) and bool(message.strip()) and "Traceback" not in message


def save_or_refuse(doc) -> bool:
	"""True when saved; False when refused with a message; any other exception fails the test."""
	frappe.db.savepoint("fuzz")
	try:
		doc.insert()
		return True
	except Exception as e:
		frappe.db.rollback(save_point="fuzz")
		assert refused_with_a_message(e), f"{type(e).__name__}: {e}"
		return False
	finally:
		frappe.clear_messages()


@pytest.fixture(scope="module")
def person():
	contact = make_contact()
	frappe.db.commit()
	return contact


@FUZZ
@given(rows=steps)
def test_random_step_graphs_save_or_are_refused_and_never_crash_the_runner(rows, person):

	flow = frappe.get_doc({"doctype": "Marketing Flow", "flow_name": unique("Fuzz"), "steps": rows})
	if not save_or_refuse(flow):
		return
	frappe.db.savepoint("fuzz_run")
	try:
		frappe.db.set_value("Marketing Flow", flow.name, "status", "Running")
		flow.reload()
		from marketing_flows.engine.entering import enrolment

		names = enrolment.enroll(flow, [person]).enrolled
		if names:
			Batch(flow, frappe.get_cached_doc("Marketing Flow Settings"), now_datetime()).run(names)
			status = frappe.db.get_value("Marketing Flow Participant", names[0], "status")
			assert status in ("Active", "Waiting", "Completed", "Exited", "Stalled")
	finally:
		try:
			frappe.db.rollback(save_point="fuzz_run")
		except Exception:  # the runner paused the flow on a setting error: it rolled back itself
			frappe.db.rollback()


@FUZZ
@given(audience=filters_json, conditions=filters_json, trigger=filters_json)
def test_random_filters_save_or_are_refused_with_a_message(audience, conditions, trigger):
	flow = frappe.get_doc(
		{
			"doctype": "Marketing Flow",
			"flow_name": unique("Fuzz"),
			"audience_filters": audience,
			"trigger_type": "Document Event",
			"trigger_doctype": "ToDo",
			"trigger_conditions": trigger,
			"success_criteria": [{"criterion_type": "Person Updated", "conditions": conditions}],
			"steps": [step("w", "Wait", wait_amount=1, wait_unit="Days")],
		}
	)
	save_or_refuse(flow)


@FUZZ
@given(
	criteria=st.lists(
		st.fixed_dictionaries(
			{
				"criterion_type": st.sampled_from(
					[
						"Person Updated",
						"Deal Created",
						"Link Clicked",
						"Document Condition",
						"Added to Email Group",
						"Web Form Submitted",
						"Lead Converted",
						"Bogus",
					]
				)
			},
			optional={
				"scope": st.sampled_from(["Person", "Company", "Planet"]),
				"reference_doctype": st.sampled_from(["ToDo", "Contact", "No Such Doctype", ""]),
				"link_field": st.sampled_from(["", "owner", "reference_name", "nope"]),
				"conditions": filters_json,
			},
		),
		max_size=3,
	)
)
def test_random_criteria_save_or_are_refused_with_a_message(criteria):
	flow = frappe.get_doc(
		{
			"doctype": "Marketing Flow",
			"flow_name": unique("Fuzz"),
			"success_criteria": criteria,
			"steps": [step("w", "Wait", wait_amount=1, wait_unit="Days")],
		}
	)
	save_or_refuse(flow)


@FUZZ
@given(subject=st.text(max_size=60), body=st.text(max_size=200))
def test_random_content_saves_or_is_refused_with_a_message(subject, body, smtp):
	content = frappe.get_doc(
		{
			"doctype": "Marketing Flow Content",
			"content_name": unique("Fuzz"),
			"channel": "Email",
			"subject": subject,
			"body": body,
			"sender": smtp.account,
		}
	)
	save_or_refuse(content)
