"""The engine's guarantees under stress: re-checks before every step, outside calls never
repeated once confirmed, no loop without waiting, one bad setting or participant never blocks
the rest, flows that would trigger themselves, races, and operations at scale."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import frappe
import pytest
from frappe.utils import add_days, get_datetime, getdate, now_datetime

from conftest import BENCH_DIR, SITE, kill_worker, run_scheduled, worker_env
from factories import (
	end,
	enrol_and_run,
	events,
	make_contact,
	make_content,
	make_flow,
	participant,
	running_flow,
	step,
	table_counts,
	time_passes,
	unique,
)
from marketing_flows.engine.running.batch import Batch

TICK = "marketing_flows.engine.running.runner.schedule_due_participants"
ENGINE = Path(__file__).resolve().parent.parent / "marketing_flows" / "engine"


def queued_for(name: str) -> int:
	return frappe.db.count(
		"Email Queue", {"reference_doctype": "Marketing Flow Participant", "reference_name": name}
	)


def outbox_rows(participant_name: str) -> list[dict]:
	return frappe.get_all("Marketing Flow Outbox", filters={"participant": participant_name}, fields=["*"])


def run_batch_then_roll_back(flow_name: str) -> None:
	"""Run one batch of the flow in this process and roll it back, as a worker killed before its
	commit (or an RQ timeout, or a deadlock) would leave it."""
	from marketing_flows.engine.running import runner

	frappe.db.commit()
	flow = frappe.get_doc("Marketing Flow", flow_name)
	settings = frappe.get_cached_doc("Marketing Flow Settings")
	now = now_datetime()
	names = runner.claim_due_participants(flow_name, 50, now)
	assert names, "nobody was due"
	Batch(flow, settings, now).run(names)
	frappe.db.rollback()


def start_worker() -> subprocess.Popen:
	bench = os.environ.get("MF_BENCH_CLI", str(Path.home() / ".bench-cli/bin/bench"))
	return subprocess.Popen(
		[bench, "worker", "--queue", "short,default,long", "--burst"],
		cwd=BENCH_DIR,
		stdout=subprocess.DEVNULL,
		stderr=subprocess.DEVNULL,
		env=worker_env(),
		start_new_session=True,
	)


# --- 1. layers -----------------------------------------------------------------------------


def test_engine_modules_import_each_other_in_one_direction_only():
	"""No circle in the engine's import graph, and no engine import hidden inside a function."""
	modules = {
		p: "marketing_flows.engine." + ".".join(p.relative_to(ENGINE).with_suffix("").parts)
		for p in ENGINE.rglob("*.py")
	}
	modules = {p: m.removesuffix(".__init__") for p, m in modules.items()}
	known = set(modules.values())
	graph: dict[str, set[str]] = {}
	inner: list[str] = []
	for path, module in modules.items():
		tree = ast.parse(path.read_text())
		deps: set[str] = set()
		for node in ast.walk(tree):
			if isinstance(node, ast.ImportFrom) and node.module:
				targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
			elif isinstance(node, ast.Import):
				targets = [a.name for a in node.names]
			else:
				continue
			deps.update(t for t in targets if t in known and t != module)
		for fn in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)):
			for node in ast.walk(fn):
				if isinstance(node, ast.Import | ast.ImportFrom) and "marketing_flows" in ast.unparse(node):
					inner.append(f"{module}:{node.lineno}")
		graph[module] = deps
	assert not inner, f"engine imports inside functions: {inner}"

	def cycle_from(start: str) -> list[str] | None:
		stack = [(start, [start])]
		while stack:
			node, path = stack.pop()
			for dep in graph.get(node, ()):
				if dep == start:
					return [*path, dep]
				if dep not in path:
					stack.append((dep, [*path, dep]))
		return None

	cycles = [c for m in graph if (c := cycle_from(m))]
	assert not cycles, f"import circle: {' -> '.join(cycles[0])}"


def test_status_sets_are_defined_once():
	defined = []
	for path in ENGINE.rglob("*.py"):
		for node in ast.walk(ast.parse(path.read_text())):
			if isinstance(node, ast.Assign) and isinstance(node.value, ast.Tuple):
				values = [getattr(e, "value", None) for e in node.value.elts]
				if "Active" in values and "Waiting" in values:
					defined.append(f"{path.name}:{node.lineno}")
	assert all(d.startswith("participants.py") for d in defined), defined


# --- 2. contract fixes ---------------------------------------------------------------------


def test_a_step_with_no_next_step_ends_the_flow_there(worker):
	flow = running_flow(
		[
			step(
				"check",
				"Condition",
				condition_type="Field",
				condition_filters='[["first_name", "like", "Yes%"]]',
				yes_step="tag",
			),
			step("tag", "Update Participant", update_field="designation", update_value="tagged"),
		]
	)
	yes, no = make_contact(first_name=unique("Yes")), make_contact(first_name=unique("No"))
	assert flow.enroll([yes, no])["enrolled"] == 2
	worker()
	p_yes, p_no = participant(flow.name, yes), participant(flow.name, no)
	assert (p_yes.status, p_yes.current_step) == ("Completed", "tag")
	assert frappe.db.get_value("Contact", yes, "designation") == "tagged"
	assert (p_no.status, p_no.current_step) == ("Completed", "check")  # the empty No branch ends it
	assert events(flow.name, no)[-2:] == [("check", "Branch No"), ("check", "Completed")]


def test_while_waiting_current_step_is_the_wait_step(worker):
	flow = running_flow(
		[
			step("pause", "Wait", wait_amount=3, wait_unit="Days", next_step="tag"),
			step("tag", "Update Participant", update_field="designation", update_value="done"),
		]
	)
	contact, p = enrol_and_run(flow, worker)
	assert (p.status, p.current_step) == ("Waiting", "pause")
	assert p.next_run_at > add_days(now_datetime(), 2)
	time_passes(flow.name)
	run_scheduled(TICK)
	worker()
	p = participant(flow.name, contact)
	assert (p.status, p.current_step) == ("Completed", "tag")
	assert [e for e in events(flow.name, contact) if e[1] == "Step Executed"] == [
		("pause", "Step Executed"),
		("tag", "Step Executed"),
	]


def test_emailed_recently_asks_about_the_person_across_participations(worker, content):
	"""The abandoned-cart flow: "has the customer had the forgotten-cart email in the last 5 days?"
	answers Yes for a customer enrolled again by a second cart."""
	flow = running_flow(
		[
			step(
				"check",
				"Condition",
				condition_type="Emailed Recently",
				condition_step="cart_mail",
				condition_days=5,
				no_step="cart_mail",
			),
			step("cart_mail", "Send Email", content=content.name),
		],
		reenrollment="After Previous Ends",
	)
	contact, first = enrol_and_run(flow, worker)
	assert first.status == "Completed" and queued_for(first.name) == 1
	assert flow.enroll([contact])["enrolled"] == 1  # the second cart
	worker()
	second = frappe.get_all(
		"Marketing Flow Participant",
		filters={"flow": flow.name, "contact": contact, "name": ("!=", first.name)},
		pluck="name",
	)[0]
	assert queued_for(second) == 0
	assert frappe.db.exists(
		"Marketing Flow Log", {"participant": second, "step_id": "check", "event": "Branch Yes"}
	)


# --- 3. re-checked before every step -------------------------------------------------------


def test_update_that_meets_the_goal_stops_the_email_that_follows(worker, content):
	flow = running_flow(
		[
			step(
				"tag", "Update Participant", update_field="designation", update_value="Hot", next_step="mail"
			),
			step("mail", "Send Email", content=content.name),
		],
		success_criteria=[
			{"criterion_type": "Person Updated", "conditions": '[["designation", "=", "Hot"]]'}
		],
	)
	contact, p = enrol_and_run(flow, worker)
	assert (p.status, p.exit_reason, p.succeeded) == ("Exited", "Goal met", 1)
	assert queued_for(p.name) == 0
	assert ("mail", "Email Sent") not in events(flow.name, contact)


def test_conditions_see_what_happened_earlier_in_the_same_go(worker, content):
	flow = running_flow(
		[
			step("mail", "Send Email", content=content.name, next_step="check"),
			step("check", "Condition", condition_type="Emailed Recently", condition_days=1, yes_step="tag"),
			step("tag", "Update Participant", update_field="designation", update_value="emailed"),
		]
	)
	contact = make_contact()
	flow.enroll([contact])
	worker()
	assert ("check", "Branch Yes") in events(flow.name, contact)
	assert frappe.db.get_value("Contact", contact, "designation") == "emailed"


def test_a_participant_who_leaves_the_audience_mid_go_stops_before_the_next_step(worker, content):
	flow = running_flow(
		[
			step(
				"tag",
				"Update Participant",
				update_field="designation",
				update_value="Customer",
				next_step="mail",
			),
			step("mail", "Send Email", content=content.name),
		],
		audience_filters='[["designation", "!=", "Customer"]]',
	)
	contact, p = enrol_and_run(flow, worker)
	assert p.status == "Exited" and "audience" in p.exit_reason
	assert queued_for(p.name) == 0


# --- 4. outside calls exactly as SPEC says -------------------------------------------------


def test_a_confirmed_webhook_is_not_called_again_after_the_batch_rolls_back(worker, http_receiver):
	path = f"/once-{unique('h')}"
	flow = running_flow([step("hook", "Webhook", webhook_url=http_receiver.url + path)])
	contact = make_contact()
	flow.enroll([contact])
	run_batch_then_roll_back(flow.name)
	assert len(http_receiver.received(path)) == 1
	p = participant(flow.name, contact)
	assert (p.status, p.current_step) == ("Active", "hook")  # the advance was rolled back
	assert [r.status for r in outbox_rows(p.name)] == ["Confirmed"]  # the record was not

	run_scheduled(TICK)
	worker()
	assert participant(flow.name, contact).status == "Completed"
	assert len(http_receiver.received(path)) == 1  # never made again


def test_attempts_survive_rollbacks_so_a_failing_call_ends_stalled(worker, http_receiver, settings):
	settings.set("Marketing Flow Settings", max_attempts=2, retry_backoff_minutes=1)
	path = f"/down-{unique('h')}"
	flow = running_flow([step("hook", "Webhook", webhook_url=http_receiver.url + path)])
	contact = make_contact()
	flow.enroll([contact])
	http_receiver.fail_next(2, 503)
	run_batch_then_roll_back(flow.name)
	run_batch_then_roll_back(flow.name)
	assert len(http_receiver.received(path)) == 2
	assert outbox_rows(participant(flow.name, contact).name)[0].attempts == 2

	run_scheduled(TICK)
	worker()
	p = participant(flow.name, contact)
	assert p.status == "Stalled" and "gave up after 2 tries" in p.last_error
	assert len(http_receiver.received(path)) == 2  # no third call


def test_sms_goes_through_the_outbox_with_an_idempotency_key(worker, http_receiver, settings):
	settings.set(
		"SMS Settings",
		sms_gateway_url=f"{http_receiver.url}/sms-key",
		message_parameter="text",
		receiver_parameter="to",
		use_post=0,
	)
	sms = make_content("SMS", body="Hi")
	flow = running_flow([step("sms", "Send SMS", content=sms.name)])
	number = "+1555" + str(int(time.time() * 1000))[-7:]
	contact = make_contact(mobile_no=number)
	flow.enroll([contact])
	worker()
	got = [r for r in http_receiver.received("/sms-key") if r["query"].get("to") == number]
	assert len(got) == 1 and got[0]["headers"].get("idempotency-key")
	p = participant(flow.name, contact)
	assert [(r.channel, r.status, r.attempts) for r in outbox_rows(p.name)] == [("SMS", "Confirmed", 1)]


def test_killed_during_a_call_it_is_retried_with_the_same_key_and_the_slot_is_not_blocked(
	worker, http_receiver
):
	"""A worker SIGKILLed while waiting for a webhook: the call's outcome is unknown, so the next
	run calls again with the same Idempotency-Key and counts the repeat; the dead job's RQ entry
	("started" for ever) does not stop the flow's slot from being enqueued again."""
	path = f"/slow-{unique('h')}"
	flow = running_flow([step("hook", "Webhook", webhook_url=http_receiver.url + path, webhook_timeout=30)])
	contact = make_contact()
	http_receiver.delay = 20
	try:
		flow.enroll([contact])  # enqueues the runner job
		frappe.db.commit()
		proc = start_worker()
		deadline = time.monotonic() + 60
		while path not in http_receiver.arrived and time.monotonic() < deadline:
			time.sleep(0.1)
		assert path in http_receiver.arrived, "the worker never called"
		kill_worker(proc)
	finally:
		http_receiver.delay = 0
	frappe.db.rollback()
	p = participant(flow.name, contact)
	assert (p.status, p.current_step) == ("Active", "hook")
	assert outbox_rows(p.name)[0].status == "Calling"  # recorded before the call, outcome unknown

	run_scheduled(TICK)  # must enqueue although the killed job is still "started" in RQ
	worker()
	p = participant(flow.name, contact)
	assert p.status == "Completed"
	row = outbox_rows(p.name)[0]
	assert (row.status, row.attempts, row.unknown_outcomes) == ("Confirmed", 2, 1)
	keys = [r["headers"]["idempotency-key"] for r in http_receiver.received(path)]
	assert len(keys) >= 1 and len(set(keys)) == 1


def test_a_call_that_timed_out_is_an_unknown_outcome_retried_with_the_same_key(
	worker, http_receiver, settings
):
	"""A receiver slower than the step's timeout: the request reached it (it may have acted on
	it), only the answer came too late. That is an unknown outcome, not a failure: the retry goes
	out with the same Idempotency-Key and the outbox counts it (found by benchmarks/chaos.py)."""
	settings.set("Marketing Flow Settings", retry_backoff_minutes=1, max_attempts=5)
	path = f"/late-{unique('h')}"
	flow = running_flow([step("hook", "Webhook", webhook_url=http_receiver.url + path, webhook_timeout=1)])
	contact = make_contact()
	http_receiver.delay = 3
	try:
		flow.enroll([contact])
		worker()
		deadline = time.monotonic() + 10
		while len(http_receiver.received(path)) < 1 and time.monotonic() < deadline:
			time.sleep(0.1)  # the receiver records the request once its delay is over
	finally:
		http_receiver.delay = 0
	assert len(http_receiver.received(path)) == 1  # the late call did reach the receiver
	p = participant(flow.name, contact)
	assert (p.status, p.current_step, p.attempts) == ("Active", "hook", 1)
	row = outbox_rows(p.name)[0]
	assert "ReadTimeout" in row.last_error
	assert row.unknown_outcomes == 1  # reached, answer lost: unknown, not a plain failure

	frappe.db.sql(
		"UPDATE `tabMarketing Flow Participant` SET next_run_at = %s WHERE name = %s",
		(now_datetime(), p.name),
	)
	run_scheduled(TICK)
	worker()
	p = participant(flow.name, contact)
	assert p.status == "Completed"
	row = outbox_rows(p.name)[0]
	assert (row.status, row.attempts, row.unknown_outcomes) == ("Confirmed", 2, 1)
	keys = [r["headers"]["idempotency-key"] for r in http_receiver.received(path)]
	assert len(keys) == 2 and len(set(keys)) == 1  # the one repeat, with the same key, counted above


def test_a_call_that_could_not_connect_is_a_plain_failure(worker, settings):
	"""Nothing was sent (connection refused): a failed try, not an unknown outcome."""
	from receivers import free_port

	settings.set("Marketing Flow Settings", retry_backoff_minutes=1, max_attempts=5)
	flow = running_flow([step("hook", "Webhook", webhook_url=f"http://127.0.0.1:{free_port()}/x")])
	contact, p = enrol_and_run(flow, worker)
	row = outbox_rows(p.name)[0]
	assert (p.status, row.status, row.attempts, row.unknown_outcomes) == ("Active", "Failed", 1, 0)
	assert "ConnectionError" in row.last_error


# --- 5. no loop without waiting ------------------------------------------------------------


def test_a_loop_through_a_wait_that_can_take_no_time_is_refused(content):
	def loop_through(wait: dict) -> list[dict]:
		clicked = dict(condition_type="Clicked", condition_step="mail", yes_step="end", no_step="mail")
		return [
			step("mail", "Send Email", content=content.name, next_step="window"),
			step("window", "Wait", next_step="clicked", **wait),
			step("clicked", "Condition", **clicked),
			end(),
		]

	with pytest.raises(frappe.ValidationError, match="loop that can pass without waiting"):
		make_flow(steps=loop_through({"use_sending_window": 1}))
	# the same loop through a real wait is fine
	make_flow(steps=loop_through({"wait_amount": 2, "wait_unit": "Days"}))


def test_at_run_time_a_step_never_runs_twice_in_one_go(worker, content):
	flow = running_flow(
		[
			step("mail", "Send Email", content=content.name, next_step="pause"),
			step("pause", "Wait", wait_until="2020-01-01 00:00:00", next_step="end"),
			end(),
		]
	)
	# a loop that validation would refuse, made behind its back in the database
	frappe.db.set_value("Marketing Flow Step", {"parent": flow.name, "step_id": "pause"}, "next_step", "mail")
	contact, p = enrol_and_run(flow, worker)
	assert p.status == "Stalled" and "Loop without waiting" in p.last_error
	assert queued_for(p.name) == 1


# --- 6. one bad participant or setting never blocks the rest -------------------------------


def test_a_setting_that_fails_for_everyone_pauses_the_flow_and_tells_its_owner(worker):
	from frappe.custom.doctype.custom_field.custom_field import create_custom_field

	field = "mf_test_" + frappe.generate_hash(length=6)
	create_custom_field(
		"Contact", {"fieldname": field, "fieldtype": "Int", "label": field, "insert_after": "designation"}
	)
	frappe.db.commit()
	try:
		flow = running_flow(
			[step("tag", "Update Participant", update_field="designation", update_value="x")],
			audience_filters=f'[["{field}", "=", 0]]',
		)
		a, b = make_contact(), make_contact()
		assert flow.enroll([a, b])["enrolled"] == 2
		frappe.db.commit()
		frappe.db.sql_ddl(f"ALTER TABLE `tabContact` DROP COLUMN `{field}`")  # the field is gone
		worker()
		flow.reload()
		assert flow.status == "Paused" and field in flow.last_error
		assert frappe.db.exists("Notification Log", {"document_name": flow.name, "for_user": flow.owner})
		assert {participant(flow.name, c).status for c in (a, b)} == {"Active"}  # nobody moved
		assert frappe.db.get_value("Contact", a, "designation") != "x"
		# a flow whose setting broke can still be stopped
		assert frappe.get_doc("Marketing Flow", flow.name).stop()["status"] == "Stopped"
	finally:
		frappe.db.rollback()
		name = frappe.db.get_value("Custom Field", {"dt": "Contact", "fieldname": field})
		if name:
			frappe.db.delete("Custom Field", name)
		frappe.db.commit()
		frappe.clear_cache(doctype="Contact")


def test_one_failing_participant_is_stalled_alone(worker):
	flow = running_flow(
		[
			step(
				"tag",
				"Update Participant",
				update_field="salutation",
				update_value="{{ contact.first_name }}",
			)
		]
	)
	title = frappe.get_doc({"doctype": "Salutation", "salutation": unique("Title")}).insert().name
	good = make_contact(first_name=title, email_id=f"{unique('title')}@example.com")
	bad = make_contact(first_name=unique("nobody"))  # no such Salutation: the Link fails
	flow.enroll([good, bad])
	worker()
	assert participant(flow.name, good).status == "Completed"
	p_bad = participant(flow.name, bad)
	assert p_bad.status in ("Active", "Stalled") and p_bad.last_error


def test_a_participant_whose_writes_fail_is_stalled_alone():
	"""The batch's bulk write fails because of one participant's row: the others are written,
	that one is Stalled with the error."""

	flow = make_flow()
	flow.run()
	good, bad = make_contact(), make_contact()
	flow.enroll([good, bad])
	p_good, p_bad = participant(flow.name, good), participant(flow.name, bad)
	batch = Batch(flow, frappe.get_cached_doc("Marketing Flow Settings"), now_datetime())
	batch.end(p_good, "Exited", "fine")
	batch.update(p_bad, {"status": "Exited", "exit_reason": "x" * 500})  # too long for its column
	batch.write()
	assert participant(flow.name, good).exit_reason == "fine"
	p_bad = participant(flow.name, bad)
	assert p_bad.status == "Stalled" and "exit_reason" in p_bad.last_error


def test_the_runner_claims_under_read_committed_from_its_first_batch(monkeypatch):
	"""READ COMMITTED keeps the claim from taking gap (next-key) locks; under REPEATABLE READ the
	two slots' batches deadlocked and waited 50 s for each other's locks in benchmarks/chaos.py.
	Frappe's commit() starts the next transaction at once, so the level must be set before that
	commit, or the first batch of every job runs under REPEATABLE READ. Seen through consistent
	reads: under READ COMMITTED a statement sees what another connection committed after the
	transaction's first read; under REPEATABLE READ it does not."""
	import pymysql

	from marketing_flows.engine.running import runner

	flow = running_flow([step("wait", "Wait", wait_amount=1, wait_unit="Days")])
	key = unique("iso")
	other = pymysql.connect(**frappe.db.get_connection_settings(), autocommit=True)
	seen: list[int] = []

	def count() -> int:
		return frappe.db.sql("SELECT COUNT(*) FROM `tabDefaultValue` WHERE parent = %s", key)[0][0]

	def probe(flow_name, limit, now):  # stands in for the first batch's claim
		seen.append(count())
		with other.cursor() as cursor:
			cursor.execute(
				"INSERT INTO `tabDefaultValue` (name, parent, parenttype, defkey, defvalue) VALUES (%s, %s, '', %s, '1')",
				(key, key, key),
			)
		seen.append(count())
		return []

	monkeypatch.setattr(runner, "claim_due_participants", probe)
	try:
		runner.process_due(flow.name)
		assert seen == [0, 1], "the first batch ran under REPEATABLE READ"
	finally:
		frappe.db.sql("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
		frappe.db.rollback()  # this session's next transactions: the default level again
		with other.cursor() as cursor:
			cursor.execute("DELETE FROM `tabDefaultValue` WHERE parent = %s", (key,))
		other.close()


def test_the_email_queue_insert_is_split_by_size():
	from marketing_flows.engine import bulk
	from marketing_flows.engine.sending.mailer import QUEUE_COLUMNS, Mailer

	mailer = Mailer()
	names = [frappe.generate_hash(length=10) for _ in range(5)]
	now = now_datetime()
	for name in names:
		values = {
			"name": name,
			"sender": "a@example.com",
			"message": "x" * 4000,
			"status": "Not Sent",
			"priority": 1,
			"message_id": name,
			"add_unsubscribe_link": 0,
			"expose_recipients": 0,
			"creation": now,
			"modified": now,
			"owner": "Administrator",
			"modified_by": "Administrator",
		}
		mailer.queue_rows.append(tuple(values.get(column) for column in QUEUE_COLUMNS))
		mailer.recipient_rows.append(
			(
				frappe.generate_hash(length=10),
				name,
				"Email Queue",
				"recipients",
				1,
				"b@example.com",
				"Not Sent",
				now,
				now,
				"Administrator",
				"Administrator",
			)
		)
	statements = []
	frappe.db.sql("SELECT 1")
	original = bulk.insert

	def counting(*args, **kwargs):
		statements.append(args[0])
		return original(*args, **kwargs)

	bulk.insert = counting
	try:
		assert mailer.flush(max_bytes=9000) == 5
	finally:
		bulk.insert = original
	assert statements.count("Email Queue") == 3  # 2 + 2 + 1 messages of 4 KB under 9 KB each
	assert frappe.db.count("Email Queue", {"name": ("in", names)}) == 5


# --- 7. flows that trigger themselves ------------------------------------------------------


def test_a_flows_own_update_does_not_trigger_it_again(worker):
	flow = running_flow(
		[step("tag", "Update Participant", update_field="designation", update_value="seen")],
		trigger_type="Document Event",
		trigger_doctype="Contact",
		trigger_event="Update",
		reenrollment="After Previous Ends",
		trigger_conditions=f'[["department", "=", "{unique("dep")}"]]',
	)
	department = frappe.parse_json(flow.trigger_conditions)[0][2]
	contact = make_contact()
	frappe.db.commit()
	doc = frappe.get_doc("Contact", contact)
	doc.department = department
	doc.save()
	worker()
	assert frappe.db.count("Marketing Flow Participant", {"flow": flow.name, "contact": contact}) == 1
	assert participant(flow.name, contact).status == "Completed"


def test_enroll_in_flow_cycles_across_flows_are_refused_with_the_cycle_named():
	"""Flows that enrol each other and take people again can't run (a Draft's save only warns)."""
	a = make_flow(reenrollment="After Previous Ends")
	b = make_flow(
		steps=[step("to_a", "Enroll in Flow", target_flow=a.name)],
		reenrollment="After Previous Ends",
	)
	b.run()
	a.steps = []
	a.append("steps", step("to_b", "Enroll in Flow", target_flow=b.name))
	a.save()
	with pytest.raises(frappe.ValidationError) as error:
		a.run()
	message = str(error.value)
	assert a.name in message and b.name in message and "→" in message
	assert frappe.db.get_value("Marketing Flow", a.name, "status") == "Draft"


def test_reenrolment_after_previous_ends_keeps_a_minimum_gap():
	flow = make_flow(reenrollment="After Previous Ends", reenrollment_gap_days=30)
	flow.run()
	contact = make_contact()
	flow.enroll([contact])
	p = participant(flow.name, contact)
	frappe.db.set_value(
		"Marketing Flow Participant",
		p.name,
		{"status": "Completed", "active_key": None, "ended_on": add_days(now_datetime(), -3)},
	)
	result = flow.enroll([contact])
	assert result["enrolled"] == 0 and "30 days" in result["not_enrolled"][contact]
	frappe.db.set_value("Marketing Flow Participant", p.name, "ended_on", add_days(now_datetime(), -31))
	assert flow.enroll([contact])["enrolled"] == 1


# --- 8. races -------------------------------------------------------------------------------


def test_a_goal_met_twice_is_logged_and_acted_on_once():
	"""Two processes (the runner and a hook's job) that both saw the participant unsuccessful
	mark it once: the second conditional write changes nothing and logs nothing."""
	from marketing_flows.engine.measuring import goals

	flow = make_flow(
		success_criteria=[{"criterion_type": "Person Updated", "conditions": '[["designation", "=", "Won"]]'}]
	)
	flow.run()
	contact = make_contact()
	flow.enroll([contact])
	seen_by_runner, seen_by_job = participant(flow.name, contact), participant(flow.name, contact)
	assert goals.mark(flow, seen_by_runner, "Person Updated", now_datetime()) is True
	assert goals.mark(flow, seen_by_job, "Person Updated", now_datetime()) is False
	p = participant(flow.name, contact)
	assert p.succeeded == 1
	assert frappe.db.count("Marketing Flow Log", {"participant": p.name, "event": "Goal Met"}) == 1


def test_ending_never_overwrites_a_participant_just_completed():
	from marketing_flows.engine.running import participants

	flow = make_flow()
	flow.run()
	contact = make_contact()
	flow.enroll([contact])
	p = participant(flow.name, contact)
	frappe.db.set_value("Marketing Flow Participant", p.name, {"status": "Completed", "active_key": None})
	assert participants.end_participants(flow.name, [p.name], "Exited", "Unsubscribed") == 0
	assert participant(flow.name, contact).status == "Completed"
	assert ("wait", "Exited") not in events(flow.name, contact)


def test_an_enrolment_racing_a_stop_leaves_nobody_active_in_the_stopped_flow():
	flow = make_flow()
	flow.run()
	contact = make_contact()
	frappe.db.commit()
	assert flow.enroll([contact])["enrolled"] == 1  # not committed yet: holds the flow row shared
	code = (
		f"import frappe; frappe.init(site={SITE!r}, sites_path={str(BENCH_DIR / 'sites')!r}); frappe.connect();"
		f"frappe.get_doc('Marketing Flow', {flow.name!r}).stop(); frappe.db.commit()"
	)
	stopper = subprocess.Popen([sys.executable, "-c", code], cwd=BENCH_DIR / "sites", env=worker_env())
	time.sleep(3)  # the Stop is waiting for this enrolment's transaction
	frappe.db.commit()
	assert stopper.wait(timeout=120) == 0
	frappe.db.rollback()
	assert frappe.db.get_value("Marketing Flow", flow.name, "status") == "Stopped"
	assert participant(flow.name, contact).status == "Exited"


def test_a_flow_cant_be_renamed():
	flow = make_flow()
	with pytest.raises(frappe.ValidationError):
		frappe.rename_doc("Marketing Flow", flow.name, unique("Renamed"))


# --- 9. operations at scale -----------------------------------------------------------------


def test_stop_and_skip_overdue_resume_of_a_large_flow_run_in_a_background_job(worker, monkeypatch, content):
	from marketing_flows.engine.running import lifecycle

	monkeypatch.setattr(lifecycle, "SYNC_LIMIT", 2)
	flow = running_flow(
		[
			step("pause", "Wait", wait_amount=1, wait_unit="Days", next_step="mail"),
			step("mail", "Send Email", content=content.name),
		],
		resume_policy="Skip Overdue",
	)
	contacts = [make_contact() for _ in range(4)]
	flow.enroll(contacts)
	worker()
	flow.reload()
	flow.pause()
	frappe.db.set_value("Marketing Flow", flow.name, "paused_on", add_days(now_datetime(), -2))
	frappe.db.sql(
		"UPDATE `tabMarketing Flow Participant` SET next_run_at = %s, enrolled_on = %s WHERE flow = %s",
		(add_days(now_datetime(), -1), add_days(now_datetime(), -3), flow.name),
	)
	flow.reload()
	assert flow.run().get("queued") == 4
	assert flow.status == "Paused"  # until the overdue sends are skipped
	worker()
	flow.reload()
	assert flow.status == "Running"
	for contact in contacts:
		p = participant(flow.name, contact)
		assert p.status == "Completed" and queued_for(p.name) == 0
	assert ("mail", "Step Skipped") in events(flow.name, contacts[0])

	other = running_flow([step("pause", "Wait", wait_amount=1, wait_unit="Days")])
	people = [make_contact() for _ in range(3)]
	other.enroll(people)
	result = other.stop()
	assert result["status"] == "Stopped" and result["queued"] == 3
	worker()
	assert {participant(other.name, c).exit_reason for c in people} == {"Flow stopped"}


def test_a_job_whose_budget_is_spent_hands_its_slot_over_at_once(worker, settings):
	"""A big flow outlasts one job's time budget: the job hands its slot to a follow-up that
	runs at once (not a minute later, at the next scheduler tick), until nobody is due."""
	from frappe.installer import update_site_config

	settings.set("Marketing Flow Settings", batch_size=5, parallel_jobs=1)
	flow = running_flow([step("pause", "Wait", wait_amount=1, wait_unit="Days")])
	people = [make_contact() for _ in range(60)]
	update_site_config("marketing_flows_runner_budget_seconds", 0.05)  # a batch or two per job
	try:
		flow.enroll(people)
		worker()
	finally:
		update_site_config("marketing_flows_runner_budget_seconds", "None")  # removed from the file
		frappe.local.conf.pop("marketing_flows_runner_budget_seconds", None)  # and from this process
	statuses = frappe.get_all("Marketing Flow Participant", filters={"flow": flow.name}, pluck="status")
	assert len(statuses) == 60 and set(statuses) == {"Waiting"}
	from frappe.utils.background_jobs import get_job

	from marketing_flows.engine.running.runner_jobs import runner_job_ids

	_first, follow_up = runner_job_ids(flow.name, 0)
	handed_over = get_job(follow_up)  # RQ keeps a finished job's record for ten minutes
	assert handed_over is not None and handed_over.get_status() == "finished"


def test_saving_settings_refreshes_the_watch_map():
	from marketing_flows.engine.entering import watch

	frappe.cache.set_value(watch.CACHE_KEY, {"Stale Doctype": {"triggers": [], "criteria": ["x"]}})
	frappe.get_single("Marketing Flow Settings").save()
	assert "Stale Doctype" not in watch.watched()


def test_the_hourly_sending_limit_defers_sends_across_flows(worker, content, settings):
	import time

	from marketing_flows.engine.sending import throttle

	# the limit counts per clock hour of the site: start well inside one, not just before the
	# hour turns (the site's time zone may turn it at :30 UTC)
	left = (throttle.HourlySends.next_hour(now_datetime()) - now_datetime()).total_seconds()
	if left < 120:
		time.sleep(left + 1)
	key = throttle.hour_key()
	frappe.cache.delete(frappe.cache.make_key(key))
	settings.set("Marketing Flow Settings", max_sends_per_hour=2)
	first = running_flow([step("mail", "Send Email", content=content.name)])
	second = running_flow([step("mail", "Send Email", content=content.name)])
	a, b, c = make_contact(), make_contact(), make_contact()
	first.enroll([a, b])
	worker()
	second.enroll([c])
	worker()
	assert {participant(first.name, x).status for x in (a, b)} == {"Completed"}
	p = participant(second.name, c)
	assert (p.status, p.current_step) == ("Waiting", "mail") and queued_for(p.name) == 0
	assert p.next_run_at == throttle.HourlySends.next_hour(now_datetime())
	message = frappe.db.get_value(
		"Marketing Flow Log", {"participant": p.name, "event": "Step Skipped"}, "message"
	)
	assert "hourly sending limit" in message
	frappe.cache.delete(frappe.cache.make_key(key))


def test_participants_are_created_only_by_enrolment():
	flow = make_flow()
	with pytest.raises(frappe.ValidationError, match="Enrol"):
		frappe.get_doc(
			{"doctype": "Marketing Flow Participant", "flow": flow.name, "contact": make_contact()}
		).insert()


def test_a_criterion_link_field_must_name_the_person():
	with pytest.raises(frappe.ValidationError, match="'subject' is not a field of ToDo"):
		make_flow(
			success_criteria=[
				{"criterion_type": "Document Condition", "reference_doctype": "ToDo", "link_field": "subject"}
			]
		)


def test_the_frequency_cap_defers_a_persons_emails_across_flows(worker, content, settings):
	settings.set("Marketing Flow Settings", max_emails_per_person_per_day=1, max_emails_per_person_per_week=5)
	first = running_flow(
		[
			step("mail", "Send Email", content=content.name, next_step="again"),
			step("again", "Send Email", content=content.name),
		]
	)
	second = running_flow([step("mail", "Send Email", content=content.name)])
	contact, p = enrol_and_run(first, worker)
	assert (p.status, p.current_step) == ("Waiting", "again")  # the second email of the same go
	assert queued_for(p.name) == 1
	# one a day: the person's day (no time zone of their own: the site's) ends at midnight
	assert p.next_run_at == get_datetime(add_days(getdate(p.last_sent_on), 1))
	second.enroll([contact])
	worker()
	q = participant(second.name, contact)
	assert (q.status, q.current_step) == ("Waiting", "mail") and queued_for(q.name) == 0
	message = frappe.db.get_value(
		"Marketing Flow Log", {"participant": q.name, "event": "Step Skipped"}, "message"
	)
	assert message.startswith("Deferred by the frequency cap until")


# --- dry run ----------------------------------------------------------------------------------


def test_a_dry_run_shows_each_persons_path_and_changes_nothing(content, http_receiver):
	"""Test flow: the path each person would take now (enrolment decision, branches and why,
	waits and when they end, rendered emails, webhook bodies, records that would change), with
	not one row written anywhere, nothing queued and no outside call."""
	flow = make_flow(
		steps=[
			step(
				"check",
				"Condition",
				condition_type="Field",
				condition_filters='[["designation", "=", "CEO"]]',
				yes_step="mail",
				no_step="tag",
			),
			step("mail", "Send Email", content=content.name, next_step="pause"),
			step("pause", "Wait", wait_amount=2, wait_unit="Days", next_step="hook"),
			step(
				"hook",
				"Webhook",
				webhook_url=http_receiver.url + "/dry",
				webhook_body='{"name": "{{ contact.first_name }}"}',
			),
			step("tag", "Update Participant", update_field="designation", update_value="Lead"),
		]
	)
	ceo = make_contact(first_name=unique("Cee"), designation="CEO")
	clerk = make_contact(first_name=unique("Cle"), designation="Clerk")
	unsubscribed = make_contact(unsubscribed=1)
	frappe.db.commit()
	before = table_counts()
	calls_before = len(http_receiver.received("/dry"))

	results = {r["person"]: r for r in flow.test_flow(contacts=[ceo, clerk, unsubscribed, "nobody-here"])}

	assert table_counts() == before
	assert len(http_receiver.received("/dry")) == calls_before
	assert frappe.db.get_value("Contact", clerk, "designation") == "Clerk"
	assert results[unsubscribed]["enrolled"] is False and results[unsubscribed]["reason"] == "unsubscribed"
	assert results["nobody-here"]["reason"] == "no such contact"

	ceo_path = results[ceo]
	events_seen = [(e["step_id"], e["event"]) for e in ceo_path["timeline"]]
	assert events_seen[:2] == [("check", "Branch Yes"), ("mail", "Email Sent")]
	assert ("pause", "Waits") in events_seen and ("hook", "Step Executed") in events_seen
	wait = next(e for e in ceo_path["timeline"] if e["event"] == "Waits")
	assert str(add_days(now_datetime(), 2).date()) in wait["message"]
	first = frappe.db.get_value("Contact", ceo, "first_name")
	assert ceo_path["emails"][0]["subject"] == f"Welcome {first}!"
	assert json.loads(ceo_path["outside_calls"][0]["payload"]) == {"name": first}
	assert ceo_path["ends"]["status"] == "Completed"

	clerk_path = results[clerk]
	assert [(e["step_id"], e["event"]) for e in clerk_path["timeline"]][:2] == [
		("check", "Branch No"),
		("tag", "Step Executed"),
	]
	assert "designation = Lead" in clerk_path["timeline"][1]["message"]
	assert clerk_path["emails"] == []
