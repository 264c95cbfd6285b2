"""Control groups (issue 24): a flow holds out a stable share of the people it would enrol, and
the site may hold a share of everyone out of every flow. The held out are participants in status
"Held Out": never run, never sent anything, their goals marked as everyone's (by anyone's CRM
edit), with nothing following a goal. Real site, real workers, real SMTP."""

from __future__ import annotations

import hashlib
from contextlib import contextmanager

import frappe
import pytest
from frappe.utils import nowdate

from factories import (
	end,
	events,
	make_contact,
	make_content,
	make_flow,
	make_user,
	participant,
	running_flow,
	step,
	time_passes,
	unique,
)
from marketing_flows.engine.entering import holdout
from marketing_flows.engine.measuring import figures

PARTICIPANT = "Marketing Flow Participant"
SETTINGS = "Marketing Flow Settings"
CUSTOMER = [
	{
		"criterion_type": "Person Updated",
		"conditions": '[["designation", "=", "Customer"]]',
		"label": "Became a customer",
	}
]


@pytest.fixture(autouse=True)
def no_global_control_group(settings):
	"""Every test starts without a global control group (restored after the test)."""
	settings.set(SETTINGS, global_holdout_percent=0)
	return settings


@pytest.fixture(scope="module")
def rep():
	"""A sales rep: CRM roles only, nothing of Marketing Flows."""
	user = make_user(["Sales User"], "rep")
	frappe.db.commit()
	return user


def waiting_steps() -> list[dict]:
	return [step("wait", "Wait", wait_amount=3, wait_unit="Days", next_step="end"), end()]


def in_control(flow_name: str, person: str, percent: float, doctype: str = "Contact") -> bool:
	return holdout.bucket(f"{flow_name}:{doctype}:{person}") < percent


def contacts_split(flow_name: str, percent: float, held: int, enrolled: int) -> tuple[list[str], list[str]]:
	"""New contacts until `held` of them fall in the flow's control group and `enrolled` outside."""
	ins: list[str] = []
	outs: list[str] = []
	while len(ins) < held or len(outs) < enrolled:
		contact = make_contact()
		(ins if in_control(flow_name, contact, percent) else outs).append(contact)
	return ins[:held], outs[:enrolled]


def rows_of(flow_name: str) -> list[frappe._dict]:
	return frappe.get_all(PARTICIPANT, filters={"flow": flow_name}, fields=["*"], order_by="name asc")


def log_rows(participant_name: str) -> list[frappe._dict]:
	return frappe.get_all(
		"Marketing Flow Log",
		filters={"participant": participant_name},
		fields=["event", "step_id", "message", "flow_version"],
		order_by="name asc",
	)


def address(contact: str) -> str:
	return frappe.db.get_value("Contact", contact, "email_id")


def save_as(user: str, contact: str, **values) -> None:
	"""A normal save of the Contact in the desk, with `user`'s permissions."""
	frappe.set_user(user)
	try:
		doc = frappe.get_doc("Contact", contact)
		doc.update(values)
		doc.save()
	finally:
		frappe.set_user("Administrator")


@contextmanager
def count_queries():
	queries: list[str] = []
	real_sql = frappe.db.sql

	def sql(query, *args, **kwargs):
		queries.append(str(query))
		return real_sql(query, *args, **kwargs)

	frappe.db.sql = sql  # a counting wrapper around the real method, taken off afterwards
	try:
		yield queries
	finally:
		del frappe.db.sql


# --- the hash -----------------------------------------------------------------------------


def test_the_bucket_is_a_stable_sha1_share_and_the_global_group_comes_first():
	key = "Spring offer:Contact:Jane"
	assert holdout.bucket(key) == int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) % 10000 / 100
	assert 0 <= holdout.bucket(key) < 100 and holdout.bucket(key) == holdout.bucket(key)
	person = next(f"p{i}" for i in range(1000) if holdout.bucket(f"global:Contact:p{i}") < 10)
	both = holdout.Holdout("F", flow_percent=100, global_percent=10)
	assert both.reason("Contact", person) == "Global control group"  # the global group first
	assert holdout.Holdout("F", 100, 0).reason("Contact", person) == "Control group"
	assert holdout.Holdout("F", 0, 0).reason("Contact", person) is None
	assert not holdout.Holdout("F", 0, 0).active
	flow = make_flow(holdout_percent=100)
	assert holdout.held_out_reason(flow, "Contact", person, {"global_holdout_percent": 0}) == "Control group"
	flow.holdout_percent = 0
	assert holdout.held_out_reason(flow, "Contact", person, {"global_holdout_percent": 10}) == (
		"Global control group"
	)
	assert holdout.held_out_reason(flow, "Contact", person, {"global_holdout_percent": 0}) is None
	# the lead's key: CRM Lead "x" and Contact "x" are different people
	assert holdout.flow_key("F", "CRM Lead", "x") != holdout.flow_key("F", "Contact", "x")


# --- enrolment ----------------------------------------------------------------------------


def test_a_fifth_is_held_out_by_the_hash_and_gets_nothing(worker, sink):
	content = make_content(
		"Email", subject="Offer", body="<p>Hello {{ contact.first_name }}</p>", sender=sink.account
	)
	flow = running_flow(
		[
			step("mail", "Send Email", content=content.name, next_step="wait"),
			step("wait", "Wait", wait_amount=1, wait_unit="Days", next_step="end"),
			end(),
		],
		holdout_percent=20,
	)
	contacts = [make_contact(email_id=f"{unique('held').lower()}@example.com") for _ in range(200)]
	expected = {c for c in contacts if in_control(flow.name, c, 20)}
	assert 20 <= len(expected) <= 60  # about 40 of 200
	result = flow.enroll(contacts)
	assert result == {"enrolled": 200 - len(expected), "held_out": len(expected), "not_enrolled": {}}
	worker()
	version = frappe.db.get_value("Marketing Flow", flow.name, "version")
	rows = rows_of(flow.name)
	held = {r.person: r for r in rows if r.status == "Held Out"}
	assert set(held) == expected and len(rows) == 200
	for r in held.values():
		assert (r.current_step, r.next_run_at, r.active_key) == (None, None, None)
		assert (r.flow_version, r.exit_reason, r.enrolled_by) == (version, "Control group", "Manual")
		assert r.enrolled_on and r.ended_on == r.enrolled_on
		assert (r.contact, r.email) == (r.person, address(r.person))
		assert (r.sent_marketing_email, r.attempts, r.step_seq, r.succeeded, r.last_sent) == (
			0,
			0,
			0,
			0,
			None,
		)
		[entry] = log_rows(r.name)
		assert (entry.event, entry.step_id, entry.flow_version) == ("Held Out", None, version)
		assert "control group (20%" in entry.message and "Manual" in entry.message
		assert sink.to(address(r.person)) == []
	assert not frappe.get_all(
		"Email Queue",
		filters={"reference_doctype": PARTICIPANT, "reference_name": ("in", [r.name for r in held.values()])},
	)
	others = [r for r in rows if r.status != "Held Out"]
	assert {r.status for r in others} == {"Waiting"}
	assert all(len(sink.to(address(r.person))) == 1 for r in others)
	assert len(sink.messages) == len(others)
	# the runner never picks them up, however much time passes
	time_passes(flow.name)
	frappe.enqueue("marketing_flows.engine.running.runner.schedule_due_participants")
	worker()
	assert {r.person: (r.status, r.modified) for r in rows_of(flow.name) if r.status == "Held Out"} == {
		p: ("Held Out", r.modified) for p, r in held.items()
	}
	assert len(sink.messages) == len(others)


def test_the_same_people_are_held_out_again_and_another_flow_holds_out_others(worker):
	flow = running_flow([end()], holdout_percent=30, reenrollment="After Previous Ends")
	contacts = [make_contact() for _ in range(60)]
	expected = {c for c in contacts if in_control(flow.name, c, 30)}
	assert expected and len(expected) < 60
	assert flow.enroll(contacts)["held_out"] == len(expected)
	# the enrolled are still in the flow; the held out stay held out: their one row stands for
	# them, however often a trigger proposes them again (no pile of rows, no daily cap)
	again = flow.enroll(contacts)
	assert again["enrolled"] == 0 and again["held_out"] == 0
	assert set(again["not_enrolled"]) == set(contacts)
	assert {c for c, why in again["not_enrolled"].items() if "held out" in why} == expected
	worker()  # the enrolled complete
	for _round in range(4):  # more than the daily re-enrolment cap (3)
		third = flow.enroll(contacts)
		assert third["held_out"] == 0
		assert {c for c, why in third["not_enrolled"].items() if "held out" in why} == expected
		worker()
	by_person: dict[str, list[str]] = {}
	for r in rows_of(flow.name):
		by_person.setdefault(r.person, []).append(r.status)
	assert {p for p, s in by_person.items() if "Held Out" in s} == expected
	assert all(s == ["Held Out"] for p, s in by_person.items() if p in expected)
	assert all("Held Out" not in s for p, s in by_person.items() if p not in expected)
	errors = frappe.get_all(
		"Marketing Flow Log", filters={"flow": flow.name, "event": "Error"}, pluck="contact"
	)
	assert not expected & set(errors)  # the enrolled, re-entering 5 times, did meet the cap
	# another flow, another name: another control group of the same share
	other = running_flow([end()], holdout_percent=30)
	other_expected = {c for c in contacts if in_control(other.name, c, 30)}
	result = other.enroll(contacts)
	held_other = {r.person for r in rows_of(other.name) if r.status == "Held Out"}
	assert held_other == other_expected and result["held_out"] == len(other_expected)
	assert held_other != expected


def test_a_held_out_participation_counts_as_taken_part_for_the_reenrolment_policy():
	never = make_flow(steps=[end()], holdout_percent=100)  # Draft: people wait for Run
	gap = make_flow(
		steps=[end()], holdout_percent=100, reenrollment="After Previous Ends", reenrollment_gap_days=7
	)
	contact = make_contact()
	assert never.enroll([contact])["held_out"] == 1
	assert never.enroll([contact])["not_enrolled"] == {contact: "already took part (re-enrolment: Never)"}
	assert gap.enroll([contact])["held_out"] == 1
	assert gap.enroll([contact])["not_enrolled"] == {contact: "took part less than 7 days ago"}


def test_held_out_only_after_every_check(worker):
	"""Only someone the flow would enrol is held out: not the unsubscribed, those outside the
	audience, nor those who meet the goal already."""
	flow = running_flow(waiting_steps(), holdout_percent=100, success_criteria=CUSTOMER)
	unsubscribed = make_contact(unsubscribed=1)
	customer = make_contact(designation="Customer")
	fine = make_contact()
	result = flow.enroll([unsubscribed, customer, fine, "no-such-contact"])
	assert result["held_out"] == 1 and result["enrolled"] == 0
	assert set(result["not_enrolled"]) == {unsubscribed, customer, "no-such-contact"}
	assert participant(flow.name, fine).status == "Held Out"
	assert participant(flow.name, customer) is None and participant(flow.name, unsubscribed) is None


def test_a_trigger_holds_out_the_same_way(worker):
	flow = running_flow(
		[end()],
		trigger_type="Document Event",
		trigger_doctype="Contact",
		trigger_event="Insert",
		holdout_percent=100,
	)
	frappe.db.commit()
	contact = make_contact()
	worker()  # the trigger's enrolment job
	p = participant(flow.name, contact)
	assert (p.status, p.exit_reason, p.enrolled_by) == ("Held Out", "Control group", f"Contact {contact}")
	assert [e for _s, e in events(flow.name, contact)] == ["Held Out"]


def test_the_global_control_group_is_held_out_of_every_flow(worker, no_global_control_group):
	no_global_control_group.set(SETTINGS, global_holdout_percent=25)
	first = running_flow([end()])
	second = running_flow([end()], holdout_percent=10)
	contacts = [make_contact() for _ in range(40)]
	everywhere = {c for c in contacts if holdout.bucket(f"global:Contact:{c}") < 25}
	assert everywhere
	first.enroll(contacts)
	second.enroll(contacts)
	worker()
	for flow in (first, second):
		held = {r.person: r for r in rows_of(flow.name) if r.status == "Held Out"}
		assert {p for p, r in held.items() if r.exit_reason == "Global control group"} == everywhere
		for p in everywhere:
			[entry] = log_rows(held[p].name)
			assert "global control group (25%" in entry.message
	# the flow's own control group on top, for those outside the global one
	own = {c for c in contacts if c not in everywhere and in_control(second.name, c, 10)}
	held_second = {r.person: r.exit_reason for r in rows_of(second.name) if r.status == "Held Out"}
	assert {p for p, why in held_second.items() if why == "Control group"} == own
	assert {r.person for r in rows_of(first.name) if r.status == "Completed"} == set(contacts) - everywhere


def test_bulk_enrolment_asks_nothing_more_per_person():
	"""The hash is computed in Python: enrolling four times the people takes the same queries."""
	small, large = (make_flow(steps=waiting_steps(), holdout_percent=50) for _ in range(2))
	few = [make_contact() for _ in range(20)]
	many = [make_contact() for _ in range(80)]
	make_flow(steps=waiting_steps(), holdout_percent=50).enroll(
		[make_contact() for _ in range(4)]
	)  # warm caches
	with count_queries() as q_few:
		r_few = small.enroll(few)
	with count_queries() as q_many:
		r_many = large.enroll(many)
	assert r_few["held_out"] and r_few["enrolled"] and r_many["held_out"] and r_many["enrolled"]
	assert len(q_many) == len(q_few), "\n".join(set(q_few) ^ set(q_many))


def test_a_held_out_name_that_clashes_is_drawn_again(monkeypatch):
	"""Participant names are random: a held-out row whose name some other participant has (a
	held-out one of another flow here) is inserted again under a new name."""
	from marketing_flows.engine.entering import enrolment

	other_flow = make_flow(holdout_percent=100)
	taken_by = make_contact()
	other_flow.enroll([taken_by])
	taken = participant(other_flow.name, taken_by).name
	flow = make_flow(holdout_percent=100)
	first, second = make_contact(), make_contact()
	draws = iter([taken, "mf-held-0001", "mf-held-0002"])
	monkeypatch.setattr(enrolment, "new_participant_name", lambda: next(draws))
	assert flow.enroll([first, second]) == {"enrolled": 0, "held_out": 2, "not_enrolled": {}}
	assert {participant(flow.name, c).name for c in (first, second)} == {"mf-held-0001", "mf-held-0002"}
	assert participant(other_flow.name, taken_by).name == taken  # the other participant is untouched
	assert [e for _s, e in events(flow.name, first)] == ["Held Out"]


# --- goals --------------------------------------------------------------------------------


def test_a_held_out_persons_goal_is_met_by_a_reps_edit_and_nothing_follows(worker, rep):
	success = running_flow(waiting_steps())
	flow = running_flow(
		waiting_steps(),
		holdout_percent=50,
		success_criteria=CUSTOMER,
		success_flow=success.name,
		on_success="Stop",
	)
	triggered = running_flow(waiting_steps(), trigger_type="Flow Goal", trigger_flow=flow.name)
	[held], [enrolled] = contacts_split(flow.name, 50, 1, 1)
	assert flow.enroll([held, enrolled]) == {"enrolled": 1, "held_out": 1, "not_enrolled": {}}
	worker()
	before = participant(flow.name, held)
	save_as(rep, held, designation="Customer")
	save_as(rep, enrolled, designation="Customer")
	worker()  # the goal job, then the follow-ups
	worker()
	h = participant(flow.name, held)
	assert (h.succeeded, h.success_criterion, h.status) == (1, "Became a customer", "Held Out")
	assert h.succeeded_on and h.succeeded_on >= h.enrolled_on
	assert (h.exit_reason, h.ended_on, h.current_step) == ("Control group", before.ended_on, None)
	assert [e for _s, e in events(flow.name, held)] == ["Held Out", "Goal Met"]
	assert participant(success.name, held) is None  # no success flow
	assert participant(triggered.name, held) is None  # no flow triggered by the goal
	assert not frappe.get_all("Marketing Flow Outbox", filters={"participant": h.name})
	# the enrolled person, by the same edit: marked, exited, moved on
	e = participant(flow.name, enrolled)
	assert (e.succeeded, e.status, e.exit_reason) == (1, "Exited", "Goal met")
	assert participant(success.name, enrolled).status in ("Active", "Waiting")
	assert participant(triggered.name, enrolled).status in ("Active", "Waiting")


def test_held_out_goals_by_email_group_and_web_form(worker):
	"""Criteria the runner would ask before a step are seen for the held out by the watched save."""
	doctype = "MF Holdout Form Entry"
	if not frappe.db.exists("DocType", doctype):
		frappe.get_doc(
			{
				"doctype": "DocType",
				"name": doctype,
				"module": "Custom",
				"custom": 1,
				"autoname": "hash",
				"fields": [{"fieldname": "email", "fieldtype": "Data", "options": "Email", "label": "Email"}],
				"permissions": [
					{"role": "System Manager", "read": 1, "write": 1, "create": 1},
					{"role": "Guest", "read": 1, "create": 1},
				],
			}
		).insert()
	form = frappe.get_doc(
		{
			"doctype": "Web Form",
			"title": unique("Holdout Demo"),
			"route": unique("holdout-demo").lower(),
			"doc_type": doctype,
			"module": "Custom",
			"published": 1,
			"anonymous": 1,
			"login_required": 0,
			"web_form_fields": [
				{"fieldname": "email", "fieldtype": "Data", "options": "Email", "label": "Email"}
			],
		}
	).insert()
	group = frappe.get_doc({"doctype": "Email Group", "title": unique("Newsletter")}).insert()
	flow = running_flow(
		waiting_steps(),
		holdout_percent=100,
		success_criteria=[
			{"criterion_type": "Added to Email Group", "email_group": group.name, "label": "Subscribed"},
			{"criterion_type": "Web Form Submitted", "web_form": form.name, "label": "Asked for a demo"},
		],
	)
	subscriber, asker, neither = make_contact(), make_contact(), make_contact()
	assert flow.enroll([subscriber, asker, neither])["held_out"] == 3
	worker()
	frappe.get_doc(
		{"doctype": "Email Group Member", "email_group": group.name, "email": address(subscriber)}
	).insert()
	from frappe.website.doctype.web_form.web_form import accept

	frappe.db.commit()
	frappe.set_user("Guest")
	try:
		accept(form.name, frappe.as_json({"doctype": doctype, "email": address(asker)}))
	finally:
		frappe.set_user("Administrator")
	worker()
	assert participant(flow.name, subscriber).success_criterion == "Subscribed"
	assert participant(flow.name, asker).success_criterion == "Asked for a demo"
	assert participant(flow.name, neither).succeeded == 0
	assert {participant(flow.name, c).status for c in (subscriber, asker, neither)} == {"Held Out"}


# --- everything else that acts on participants ---------------------------------------------


def test_figures_count_the_held_out_apart(worker):
	from marketing_flows.api.desk import list_figures
	from marketing_flows.engine.changing import versions

	flow = running_flow(waiting_steps(), holdout_percent=50, success_criteria=CUSTOMER)
	held, enrolled = contacts_split(flow.name, 50, 2, 3)
	flow.enroll(held + enrolled)
	worker()
	for contact in (held[0], enrolled[0]):
		save_as("Administrator", contact, designation="Customer")
	worker()
	for version in (None, 1):
		f = figures.flow_figures(flow.name, version)
		assert (f["enrolled"], f["held_out"], f["succeeded"], f["held_out_succeeded"]) == (3, 2, 1, 1)
		assert (f["success_rate"], f["held_out_success_rate"]) == (33.3, 50.0)
		assert (f["active"], f["waiting"], f["exited"]) == (2, 2, 1)
	assert figures.per_day(flow.name, "enrolled_on") == [[nowdate(), 3]]
	assert figures.per_day(flow.name, "succeeded_on", only_succeeded=True) == [[nowdate(), 1]]
	assert figures.exit_reasons(flow.name) == [["Goal met", 1]]
	everything = flow.get_figures()
	assert (everything["enrolled"], everything["held_out"]) == (3, 2)
	assert list_figures([flow.name])[flow.name] == {
		"enrolled": 3,
		"active": 2,
		"succeeded": 1,
		"success_rate": 33.3,
	}
	assert versions.people_by_version(flow.name) == {1: 2}  # on the version now: the waiting only


def test_stop_pause_remove_leave_the_held_out_as_they_are(worker):
	flow = running_flow(waiting_steps(), holdout_percent=50)
	held, enrolled = contacts_split(flow.name, 50, 2, 2)
	flow.enroll(held + enrolled)
	worker()
	before = {r.name: r for r in rows_of(flow.name) if r.status == "Held Out"}
	flow.reload()
	assert flow.remove_participants(list(before)) == {"removed": 0}
	flow.pause()
	flow.reload()
	flow.run()  # resumes
	flow.reload()
	flow.stop()
	frappe.db.commit()
	worker()
	after = {r.name: r for r in rows_of(flow.name) if r.name in before}
	for name, r in before.items():
		assert (after[name].status, after[name].exit_reason, after[name].ended_on) == (
			"Held Out",
			"Control group",
			r.ended_on,
		)
		assert [e.event for e in log_rows(name)] == ["Held Out"]
	assert {(r.status, r.exit_reason) for r in rows_of(flow.name) if r.name not in before} == {
		("Exited", "Flow stopped")
	}


def test_a_held_out_person_stays_in_the_flows_enrolment_would_remove_them_from(worker):
	first = running_flow(waiting_steps())
	second = running_flow([end()], holdout_percent=100, remove_from_flows=[{"flow": first.name}])
	contact = make_contact()
	first.enroll([contact])
	second.enroll([contact])
	worker()
	assert participant(first.name, contact).status == "Waiting"  # a control group lives as without the flow
	assert participant(second.name, contact).status == "Held Out"


def test_enrol_in_flow_step_says_the_person_was_held_out(worker):
	target = running_flow([end()], holdout_percent=100)
	source = running_flow([step("go", "Enroll in Flow", target_flow=target.name, next_step="end"), end()])
	contact = make_contact()
	source.enroll([contact])
	worker()
	assert participant(target.name, contact).status == "Held Out"
	messages = frappe.get_all(
		"Marketing Flow Log", filters={"flow": source.name, "step_id": "go"}, pluck="message"
	)
	assert f"Not enrolled in {target.name}: Control group" in messages


def test_a_dry_run_says_who_would_be_held_out():
	flow = make_flow(steps=waiting_steps(), holdout_percent=50)
	[held], [enrolled] = contacts_split(flow.name, 50, 1, 1)
	results = {r["person"]: r for r in flow.test_flow([held, enrolled])}
	assert results[held]["enrolled"] is False and results[held]["held_out"] is True
	assert results[held]["reason"].startswith("would be held out: in this flow's control group (50%")
	assert results[enrolled]["enrolled"] is True and results[enrolled]["timeline"]
	assert not frappe.get_all(PARTICIPANT, filters={"flow": flow.name})
