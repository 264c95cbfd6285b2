"""Security and bad input: webhooks can't reach inside the network or grow their JSON,
templates can't hurt the worker."""

from __future__ import annotations

import json

import frappe
import pytest

from factories import enrol_and_run, events, make_contact, make_flow, participant, running_flow, step, unique


def webhook_flow(url: str, **fields):
	return make_flow(steps=[step("hook", "Webhook", **{"webhook_url": url, **fields})])


@pytest.mark.parametrize(
	"url",
	[
		"http://169.254.169.254/latest/meta-data/",  # cloud metadata
		"http://127.0.0.1:6379/",  # loopback (Redis)
		"http://localhost:3306/",  # a name that resolves to loopback
		"http://10.0.0.5/hook",  # private
		"http://192.168.1.1/",
		"http://[::1]/",
		"http://0.0.0.0/",
		"http://224.0.0.1/",  # multicast
		"http://user:secret@example.com/",  # credentials in the URL
	],
)
def test_webhooks_to_internal_addresses_are_refused_at_save(url, settings):
	settings.set("Marketing Flow Settings", webhook_allowed_hosts="")
	with pytest.raises(frappe.ValidationError) as error:
		webhook_flow(url)
	assert "Webhook step 'hook'" in str(error.value)


def test_an_allowed_internal_host_may_be_called(settings):
	settings.set("Marketing Flow Settings", webhook_allowed_hosts="10.1.2.0/24\nintranet.example")
	webhook_flow("http://10.1.2.3/hook")
	webhook_flow("https://intranet.example/hook")
	with pytest.raises(frappe.ValidationError):
		webhook_flow("http://10.1.3.3/hook")


def test_a_name_that_resolves_inside_is_refused_at_call_time(worker, settings, http_receiver):
	"""Saved while allowed, called after the allow-list changed: the check runs again right
	before the call, after DNS resolution, and the participant is not sent there."""
	path = f"/inside-{unique('x')}"
	settings.set("Marketing Flow Settings", webhook_allowed_hosts="localhost")
	flow = running_flow([step("hook", "Webhook", webhook_url=f"http://localhost:{http_receiver.port}{path}")])
	settings.set("Marketing Flow Settings", webhook_allowed_hosts="", max_attempts=1)
	contact, p = enrol_and_run(flow, worker)
	assert p.status == "Stalled" and "internal address" in p.last_error
	assert http_receiver.received(path) == []


def test_values_in_a_json_body_are_escaped_so_no_key_can_be_added(worker, http_receiver):
	path = f"/json-{unique('x')}"
	flow = running_flow(
		[
			step(
				"hook",
				"Webhook",
				webhook_url=http_receiver.url + path,
				webhook_body='{"name": "{{ contact.first_name }}", "admin": false}',
			)
		]
	)
	contact = make_contact(first_name='x", "admin": true, "y": "', email_id=f"{unique('inj')}@example.com")
	flow.enroll([contact])
	worker()
	got = http_receiver.received(path)
	assert len(got) == 1
	body = json.loads(got[0]["body"])
	assert body == {"name": 'x", "admin": true, "y": "', "admin": False}


def test_a_body_that_is_not_json_is_refused_at_save():
	with pytest.raises(frappe.ValidationError, match="the body is not JSON"):
		webhook_flow("https://example.com/hook", webhook_body='{"name": "{{ contact.first_name }}"')
	webhook_flow(
		"https://example.com/hook",
		webhook_body='{"age": {{ contact.age or 0 }}, "name": "{{ contact.first_name }}"}',
	)


def test_a_failed_call_logs_status_and_reason_never_the_response_body(worker, http_receiver, settings):
	settings.set("Marketing Flow Settings", max_attempts=1)
	path = f"/err-{unique('x')}"
	flow = running_flow([step("hook", "Webhook", webhook_url=http_receiver.url + path)])
	contact = make_contact()
	http_receiver.fail_next(1, 500)
	flow.enroll([contact])
	worker()
	p = participant(flow.name, contact)
	assert p.status == "Stalled" and "500" in p.last_error
	logged = " ".join(frappe.get_all("Marketing Flow Log", filters={"participant": p.name}, pluck="message"))
	assert "failing on purpose" not in logged and "failing on purpose" not in p.last_error


@pytest.mark.parametrize(
	"template, why",
	[
		("{{ 9**9**9 }}", "too large"),
		("{{ 2 ** 1000 }}", "too large"),
		("{{ 'x' * 100000000 }}", "more than"),
		("{% for a in 'x' * 9999 %}{% for b in 'y' * 9999 %}{{ a }}{% endfor %}{% endfor %}", "longer than"),
	],
)
def test_templates_that_would_hurt_the_worker_are_refused_at_save(template, why, smtp):
	content = frappe.get_doc(
		{
			"doctype": "Marketing Flow Content",
			"content_name": unique("Bomb"),
			"channel": "Email",
			"subject": "Hi",
			"body": template,
			"sender": smtp.account,
		}
	)
	with pytest.raises(frappe.ValidationError, match=why):
		content.insert()
	with pytest.raises(frappe.ValidationError, match=why):
		make_flow(steps=[step("u", "Update Participant", update_field="designation", update_value=template)])
	with pytest.raises(frappe.ValidationError, match=why):
		make_flow(steps=[step("a", "Create Activity", activity_description=template)])
	with pytest.raises(frappe.ValidationError, match=why):
		webhook_flow("https://example.com/hook", webhook_body='{"x": "' + template + '"}')


def test_ordinary_arithmetic_and_repetition_still_work():
	from marketing_flows.engine.sending import render

	assert render.render("{{ 2 ** 10 }} {{ 'ab' * 3 }} {{ 6 * 7 }}", {}) == "1024 ababab 42"


def test_a_template_that_fails_with_the_data_stalls_the_participant_at_once(worker, settings):
	settings.set("Marketing Flow Settings", max_attempts=5)
	flow = running_flow(
		[
			step(
				"u",
				"Update Participant",
				update_field="designation",
				update_value="{{ contact.first_name * 99999 }}",
			)
		]
	)
	contact, p = enrol_and_run(flow, worker, first_name="abcdefgh")
	assert p.status == "Stalled" and "more than" in p.last_error
	assert ("u", "Retry") not in events(flow.name, contact)  # no use trying the same again


# --- permissions follow the user, not the app ---------------------------------------------


@pytest.fixture
def restricted_admin():
	"""A Flow Administrator who may read Contacts, but only one of them (a User Permission)."""
	from factories import make_user

	user = make_user(["Flow Administrator", "Sales User"], "restricted")
	visible = make_contact()
	frappe.get_doc(
		{"doctype": "User Permission", "user": user, "allow": "Contact", "for_value": visible}
	).insert(ignore_permissions=True)
	frappe.db.commit()
	return frappe._dict(user=user, visible=visible)


def test_enrolling_checks_that_the_user_may_read_each_contact(restricted_admin):
	flow = make_flow()
	flow.run()
	hidden = make_contact()
	frappe.db.commit()
	frappe.set_user(restricted_admin.user)
	result = frappe.get_doc("Marketing Flow", flow.name).enroll(
		[restricted_admin.visible, hidden, "Contact-that-never-was"]
	)
	assert result["enrolled"] == 1
	# "not found" in the same words for a contact that does not exist and one they may not see
	assert result["not_enrolled"] == {hidden: "no such contact", "Contact-that-never-was": "no such contact"}
	frappe.set_user("Administrator")
	assert not participant(flow.name, hidden)


def test_a_flow_can_only_look_at_doctypes_its_author_may_read(restricted_admin):
	frappe.set_user(restricted_admin.user)
	with pytest.raises(frappe.PermissionError, match="can't read Error Log"):
		make_flow(
			success_criteria=[
				{
					"criterion_type": "Document Condition",
					"reference_doctype": "Error Log",
					"conditions": '[["method", "like", "%secret%"]]',
				}
			]
		)
	with pytest.raises(frappe.PermissionError, match="can't read"):
		make_flow(trigger_type="Document Event", trigger_doctype="Error Log")
	make_flow()  # a flow on what they may read saves


def test_a_segment_lists_only_contacts_the_user_may_read(restricted_admin):
	segment = frappe.get_doc(
		{
			"doctype": "Marketing Segment",
			"segment_name": unique("All"),
			"segment_type": "Contact Filters",
			"filters": "[]",
		}
	).insert()
	hidden = make_contact()
	frappe.db.commit()
	frappe.set_user(restricted_admin.user)
	listed = frappe.get_doc("Marketing Segment", segment.name).get_contacts(limit=100000)
	assert restricted_admin.visible in listed and hidden not in listed
