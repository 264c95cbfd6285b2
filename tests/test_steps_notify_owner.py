"""Notify by Email / by SMS, Distribute to Owner and Create Activity's calendar follow-up, on a
Frappe-only site (Contacts are the people; their owner is Frappe's assignment): what the users
get (real SMTP server, real SMS gateway receiver), who gets the people in turn (round robin over
real workers), what lands in their calendar, what the flow refuses at save, and the designer's
panel for the new steps."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import frappe
import pytest
from frappe.utils import add_days, get_url_to_form, getdate, now_datetime

from conftest import (
	login,
	node,
	panel_field,
	run_worker,
	screenshot,
	text_of,
	wait_for_site_jobs,
	watch_errors,
)
from factories import make_contact, make_flow, make_user, participant, running_flow, step, unique

PASSWORD = "Flows-Notify-2026!"


# --- helpers ---------------------------------------------------------------------------------


def number() -> str:
	return "+4799" + frappe.generate_hash(length=6).translate(str.maketrans("abcdef", "123456"))


def role_with_users(enabled: int, disabled: int = 0) -> tuple[str, list[str], list[str]]:
	"""A new role with `enabled` enabled desk users and `disabled` disabled ones (committed)."""
	role = frappe.get_doc({"doctype": "Role", "role_name": unique("MF Notified"), "desk_access": 1}).insert(
		ignore_permissions=True
	)
	on = [make_user([role.name], "notified") for _ in range(enabled)]
	off = [make_user([role.name], "gone") for _ in range(disabled)]
	for user in off:
		frappe.db.set_value("User", user, "enabled", 0)
	frappe.db.commit()
	return role.name, on, off


def user_with_mobile(prefix: str) -> tuple[str, str]:
	user = make_user([], prefix)
	mobile = number()
	frappe.db.set_value("User", user, "mobile_no", mobile)
	return user, mobile


def log_of(flow: str, contact: str, step_id: str) -> list[frappe._dict]:
	return frappe.get_all(
		"Marketing Flow Log",
		filters={
			"flow": flow,
			"contact": contact,
			"step_id": step_id,
			"event": ("not in", ("Enrolled", "Completed")),
		},
		fields=["event", "message", "reference_doctype", "reference_name"],
		order_by="creation asc, name asc",
	)


def assignees(doctype: str, name: str) -> list[str]:
	return frappe.get_all(
		"ToDo",
		filters={"reference_type": doctype, "reference_name": name, "status": "Open"},
		pluck="allocated_to",
	)


def run_batch_then_roll_back(flow_name: str) -> None:
	"""Run one batch of the flow in this process and roll it back, as a worker killed before its
	commit (or an RQ timeout, or a deadlock) would leave it."""
	from marketing_flows.engine.running import runner
	from marketing_flows.engine.running.batch import Batch

	frappe.db.commit()
	flow = frappe.get_doc("Marketing Flow", flow_name)
	settings = frappe.get_cached_doc("Marketing Flow Settings")
	now = now_datetime()
	names = runner.claim_due_participants(flow_name, 50, now)
	assert names, "nobody was due"
	Batch(flow, settings, now).run(names)
	frappe.db.rollback()


# --- Notify by Email -------------------------------------------------------------------------


def test_notify_by_email_reaches_every_enabled_user_of_the_role_once(worker, sink, settings):
	"""An internal email: the role's two enabled users get it (the disabled one doesn't, nor the
	person), with the subject and message rendered for the person, a link to the person, and no
	unsubscribe link or tracking; a batch that rolled back queued nothing, so it comes once."""
	settings.set("Marketing Flow Settings", default_sender=sink.account)
	role, (ann, bob), (gone,) = role_with_users(2, 1)
	flow = running_flow(
		[
			step(
				"tell",
				"Notify by Email",
				notify_to="Role",
				notify_role=role,
				notify_subject="Hot lead: {{ person.full_name }}",
				notify_message="{{ person.full_name }} clicked the price page.\nCall {{ contact.email_id }}.",
			)
		]
	)
	first = unique("Hanna")
	contact = make_contact(first_name=first, last_name="Hot")
	email = frappe.db.get_value("Contact", contact, "email_id")
	flow.enroll([contact])
	run_batch_then_roll_back(flow.name)
	assert not frappe.db.exists("Email Queue", {"reference_doctype": "Contact", "reference_name": contact})
	worker()

	p = participant(flow.name, contact)
	assert p.status == "Completed"
	assert not p.sent_marketing_email and not p.last_sent  # not a marketing email to the person
	[entry] = log_of(flow.name, contact, "tell")
	assert entry.event == "Notified"
	assert ann in entry.message and bob in entry.message and gone not in entry.message
	assert frappe.db.count("Email Queue", {"reference_doctype": "Contact", "reference_name": contact}) == 1
	queued = frappe.get_doc("Email Queue", entry.reference_name)
	assert sorted(r.recipient for r in queued.recipients) == sorted([ann, bob])

	# this row itself, in a worker, as Frappe's flush sends each row (the flush takes the oldest
	# 500 of the site, which earlier tests may have filled)
	frappe.enqueue(
		"frappe.email.doctype.email_queue.email_queue.send_mail", email_queue_name=queued.name, queue="short"
	)
	frappe.db.commit()
	worker()
	for user in (ann, bob):
		[msg] = sink.to(user)
		assert msg["Subject"] == f"Hot lead: {first} Hot"
		assert "sink-sender@example.com" in msg["From"]
		html = sink.html(msg)
		assert f"{first} Hot clicked the price page." in html
		assert f"Call {email}." in html
		assert get_url_to_form("Contact", contact) in html
		assert not re.search(r"href=[\"'][^\"']*unsubscribe", html, re.IGNORECASE)  # no link to follow
		assert msg["List-Unsubscribe"] is None
		assert "marketing_flows.api" not in html  # no open pixel, no tracked links
	assert not sink.to(gone)
	assert not sink.to(email)


def test_notify_by_email_to_the_persons_owner_or_the_fallback(worker, sink, settings):
	"""Person's Owner: the user the Contact is assigned to; a Contact assigned to nobody: the
	fallback user, and the log says why; no fallback either: skipped, saying why."""
	from frappe.desk.form import assign_to

	settings.set("Marketing Flow Settings", default_sender=sink.account)
	owner, fallback = make_user([], "owner"), make_user([], "fallback")
	tell = step(
		"tell",
		"Notify by Email",
		notify_to="Person's Owner",
		notify_fallback=fallback,
		notify_message="{{ person.first_name }} is hot",
	)
	flow = running_flow([tell])
	owned, orphan = make_contact(), make_contact()
	assign_to.add({"assign_to": [owner], "doctype": "Contact", "name": owned}, ignore_permissions=True)
	flow.enroll([owned, orphan])
	worker()
	[to_owner] = log_of(flow.name, owned, "tell")
	assert (to_owner.event, to_owner.message) == ("Notified", f"Emailed {owner}")
	[to_fallback] = log_of(flow.name, orphan, "tell")
	assert to_fallback.event == "Notified"
	assert to_fallback.message == f"Emailed {fallback} (the person has no owner: the fallback user)"

	alone = running_flow([{**tell, "notify_fallback": None}])
	orphan2 = make_contact()
	alone.enroll([orphan2])
	worker()
	[skipped] = log_of(alone.name, orphan2, "tell")
	assert (skipped.event, skipped.message) == ("Step Skipped", "Nobody notified: the person has no owner")
	assert participant(alone.name, orphan2).status == "Completed"


# --- Notify by SMS ---------------------------------------------------------------------------


def test_notify_by_sms_texts_the_user_once_even_after_a_rolled_back_batch(worker, http_receiver, settings):
	"""The SMS goes to the user's mobile number through SMS Settings' gateway, rendered for the
	person; the batch that sent it and rolled back leaves it confirmed in the outbox, so the
	batch run again does not send it a second time."""
	settings.set(
		"SMS Settings",
		sms_gateway_url=f"{http_receiver.url}/notify-sms",
		message_parameter="text",
		receiver_parameter="to",
		use_post=0,
		parameters=[],
	)
	user, mobile = user_with_mobile("texted")
	no_mobile = make_user([], "nomobile")
	flow = running_flow(
		[
			step(
				"text",
				"Notify by SMS",
				notify_to="User",
				notify_user=user,
				notify_message="Call {{ person.first_name }} now: {{ flow.flow_name }}",
				next_step="text2",
			),
			step("text2", "Notify by SMS", notify_to="User", notify_user=no_mobile, notify_message="x"),
		]
	)
	first = unique("Siri")
	contact = make_contact(first_name=first, mobile_no=number())
	flow.enroll([contact])
	run_batch_then_roll_back(flow.name)
	assert len(http_receiver.received("/notify-sms")) == 1  # sent, then the batch rolled back
	worker()
	texts = [r for r in http_receiver.received("/notify-sms") if r["query"]["to"] == mobile]
	assert len(texts) == 1
	assert texts[0]["query"]["text"] == f"Call {first} now: {flow.flow_name}"
	[entry] = log_of(flow.name, contact, "text")
	assert (entry.event, entry.message) == ("Notified", f"Texted {user} ({mobile})")
	[skipped] = log_of(flow.name, contact, "text2")
	assert (skipped.event, skipped.message) == ("Step Skipped", "Nobody notified: no mobile number")
	assert participant(flow.name, contact).status == "Completed"


# --- Distribute to Owner ---------------------------------------------------------------------


def test_distribute_to_owner_takes_turns_across_two_workers(worker, settings):
	"""Three users, one disabled: the two enabled take turns (3 people each of 6), the disabled one
	gets nobody, though two workers run small batches at once; a person who has an owner keeps
	them. The owner of a Contact is Frappe's assignment: a ToDo, and the Contact's `_assign`."""
	settings.set("Marketing Flow Settings", batch_size=2, parallel_jobs=2)
	ann, gone, cem = make_user([], "ann"), make_user([], "gone"), make_user([], "cem")
	frappe.db.set_value("User", gone, "enabled", 0)
	keeper = make_user([], "keeper")
	flow = running_flow([step("deal_out", "Distribute to Owner", distribute_users=f"{ann}\n{gone}\n{cem}\n")])
	people = [make_contact() for _ in range(6)]
	kept = make_contact()
	from frappe.desk.form import assign_to

	assign_to.add({"assign_to": [keeper], "doctype": "Contact", "name": kept}, ignore_permissions=True)
	flow.enroll([*people, kept])
	frappe.db.commit()
	with ThreadPoolExecutor(2) as pool:
		results = list(pool.map(lambda _: run_worker(check=False), range(2)))
	assert [r.returncode for r in results] == [0, 0], [r.stderr[-2000:] for r in results]
	wait_for_site_jobs()
	worker()

	owners = {c: assignees("Contact", c) for c in people}
	assert all(len(o) == 1 for o in owners.values()), owners
	given = [o[0] for o in owners.values()]
	assert sorted(given) == sorted([ann, ann, ann, cem, cem, cem])
	for contact, (user,) in owners.items():
		assert frappe.parse_json(frappe.db.get_value("Contact", contact, "_assign")) == [user]
		[entry] = log_of(flow.name, contact, "deal_out")
		assert (entry.event, entry.message) == ("Owner Assigned", f"Contact {contact} to {user}")
	assert assignees("Contact", kept) == [keeper]
	[entry] = log_of(flow.name, kept, "deal_out")
	assert (entry.event, entry.message) == (
		"Step Skipped",
		f"Kept owner {keeper}: Contact {kept} has one already",
	)

	# a later batch goes on with the turns where they were: 7th and 8th
	more = [make_contact(), make_contact()]
	flow.enroll(more)
	worker()
	assert sorted(assignees("Contact", more[0]) + assignees("Contact", more[1])) == sorted([ann, cem])


def test_distribute_to_owner_falls_back_when_nobody_of_the_list_can(worker):
	lea, max_ = make_user([], "lea"), make_user([], "max")
	fallback = make_user([], "fallback")
	for user in (lea, max_):
		frappe.db.set_value("User", user, "enabled", 0)
	deal_out = step(
		"deal_out", "Distribute to Owner", distribute_users=f"{lea}\n{max_}", distribute_fallback=fallback
	)
	flow = running_flow([deal_out])
	again = running_flow([deal_out])  # its fallback user is disabled below, while it runs
	contact = make_contact()
	flow.enroll([contact])
	worker()
	assert assignees("Contact", contact) == [fallback]
	[entry] = log_of(flow.name, contact, "deal_out")
	assert entry.event == "Owner Assigned"
	assert (
		entry.message == f"Contact {contact} to {fallback} (nobody of the list is enabled: the fallback user)"
	)

	frappe.db.set_value("User", fallback, "enabled", 0)
	other = make_contact()
	again.enroll([other])
	worker()
	assert assignees("Contact", other) == []
	[entry] = log_of(again.name, other, "deal_out")
	assert entry.event == "Step Skipped"
	assert "nobody of the list is enabled" in entry.message and "is disabled" in entry.message


def test_distribute_to_owner_can_replace_an_owner(worker):
	"""Only If They Have No Owner Yet off: the person is given the next user anyway."""
	old, new = make_user([], "old"), make_user([], "new")
	flow = running_flow(
		[step("deal_out", "Distribute to Owner", distribute_users=new, distribute_only_unowned=0)]
	)
	contact = make_contact()
	from frappe.desk.form import assign_to

	assign_to.add({"assign_to": [old], "doctype": "Contact", "name": contact}, ignore_permissions=True)
	flow.enroll([contact])
	worker()
	assert sorted(assignees("Contact", contact)) == sorted([old, new])
	assert log_of(flow.name, contact, "deal_out")[0].event == "Owner Assigned"


# --- Create Activity as a calendar follow-up -------------------------------------------------


def event_at(user: str, starts: datetime, minutes: int, event_type: str = "Private") -> str:
	doc = frappe.get_doc(
		{
			"doctype": "Event",
			"subject": unique("Busy"),
			"event_type": event_type,
			"starts_on": starts,
			"ends_on": starts + timedelta(minutes=minutes),
		}
	).insert(ignore_permissions=True)
	frappe.db.set_value("Event", doc.name, "owner", user, update_modified=False)
	return doc.name


def follow_ups(contact: str) -> list[frappe._dict]:
	parent = frappe.get_all(
		"Event Participants",
		filters={"reference_doctype": "Contact", "reference_docname": contact, "parenttype": "Event"},
		pluck="parent",
	)
	return frappe.get_all(
		"Event",
		filters={"name": ("in", parent)},
		fields=["name", "owner", "starts_on", "ends_on", "subject", "event_type"],
	)


def test_calendar_follow_up_in_the_first_free_slot_of_the_users_day(worker):
	"""Due on a weekday with no time: the user's first free 30 minutes from 09:00 that none of their
	Events overlaps (someone else's event doesn't count); the next person of the same batch gets
	the slot after. The Event is the user's own (in their calendar), with the person in it."""
	rep, other = make_user([], "rep"), make_user([], "other")
	ahead = next(n for n in range(1, 8) if getdate(add_days(now_datetime(), n)).weekday() < 5)
	day = getdate(add_days(now_datetime(), ahead))  # the next weekday
	at = lambda h, m=0: datetime.combine(day, datetime.min.time()).replace(hour=h, minute=m)  # noqa: E731
	event_at(rep, at(9), 60)
	event_at(rep, at(10, 30), 30)
	event_at(other, at(10), 30)
	flow = running_flow(
		[
			step(
				"call",
				"Create Activity",
				activity_kind="Calendar Event",
				activity_description="Call {{ person.first_name }}",
				assign_to=rep,
				activity_due_days=ahead,
				activity_duration=30,
			)
		]
	)
	first, second = make_contact(first_name=unique("Ola")), make_contact(first_name=unique("Kari"))
	flow.enroll([first])
	worker()
	flow.enroll([second])
	worker()
	[one] = follow_ups(first)
	[two] = follow_ups(second)
	assert (one.owner, one.starts_on, one.ends_on) == (rep, at(10), at(10, 30))
	assert (two.owner, two.starts_on, two.ends_on) == (rep, at(11), at(11, 30))
	assert one.subject == f"Call {frappe.db.get_value('Contact', first, 'first_name')}"
	assert one.event_type == "Private"
	[entry] = log_of(flow.name, first, "call")
	assert entry.message == f"Event {one.name} for {rep} on {at(10):%Y-%m-%d %H:%M} (first free slot)"
	assert (entry.reference_doctype, entry.reference_name) == ("Event", one.name)


def test_a_free_slot_is_on_a_working_day(worker, settings):
	"""Due on a Saturday: the follow-up goes to the first working day after it, not Sunday,
	and not the Monday that Settings list as a company holiday."""
	rep = make_user([], "rep")
	today = getdate(now_datetime())
	to_saturday = (5 - today.weekday()) % 7 or 7
	saturday = getdate(add_days(today, to_saturday))
	monday = getdate(add_days(saturday, 2))
	settings.set(
		"Marketing Flow Settings", company_holidays=[{"holiday_date": monday, "description": "Closed"}]
	)
	flow = running_flow(
		[
			step(
				"call",
				"Create Activity",
				activity_kind="Calendar Event",
				activity_description="Call",
				assign_to=rep,
				activity_due_days=to_saturday,
				activity_duration=30,
			)
		]
	)
	contact = make_contact()
	flow.enroll([contact])
	worker()
	[event] = follow_ups(contact)
	tuesday = datetime.combine(add_days(monday, 1), datetime.min.time()).replace(hour=9)
	assert event.starts_on == tuesday


def test_calendar_follow_up_at_a_time_of_day(worker):
	rep = make_user([], "rep")
	flow = running_flow(
		[
			step(
				"call",
				"Create Activity",
				activity_kind="Calendar Event",
				activity_description="Demo",
				assign_to=rep,
				activity_due_days=2,
				activity_time="14:30",
				activity_duration=45,
			)
		]
	)
	contact = make_contact()
	flow.enroll([contact])
	worker()
	[event] = follow_ups(contact)
	starts = datetime.combine(getdate(add_days(now_datetime(), 2)), datetime.min.time()).replace(
		hour=14, minute=30
	)
	assert (event.owner, event.starts_on, event.ends_on) == (rep, starts, starts + timedelta(minutes=45))


# --- refused at save ---------------------------------------------------------------------------


def disabled_user() -> str:
	user = make_user([], "disabled")
	frappe.db.set_value("User", user, "enabled", 0)
	return user


@pytest.mark.parametrize(
	"fields, message",
	[
		({"step_type": "Notify by Email", "notify_message": "x"}, "choose the user to notify"),
		(
			{"step_type": "Notify by SMS", "notify_to": "Role", "notify_message": "x"},
			"choose the role whose users are notified",
		),
		(
			{
				"step_type": "Notify by Email",
				"notify_to": "Role",
				"notify_role": "__empty_role__",
				"notify_message": "x",
			},
			"no enabled user has the role",
		),
		(
			{"step_type": "Notify by Email", "notify_user": "Administrator", "notify_message": "{{ broken"},
			"the Message's Jinja is invalid",
		),
		(
			{
				"step_type": "Notify by Email",
				"notify_user": "Administrator",
				"notify_subject": "{% if %}",
				"notify_message": "x",
			},
			"the Subject's Jinja is invalid",
		),
		({"step_type": "Notify by Email", "notify_user": "Administrator"}, "Message is required"),
		(
			{"step_type": "Notify by Email", "notify_user": "__disabled__", "notify_message": "x"},
			"is disabled",
		),
		({"step_type": "Distribute to Owner"}, "list the users who take turns, one per line"),
		(
			{"step_type": "Distribute to Owner", "distribute_users": "nobody-here@example.com"},
			"no user nobody-here@example.com",
		),
		(
			{
				"step_type": "Distribute to Owner",
				"distribute_users": "Administrator",
				"distribute_fallback": "__disabled__",
			},
			"Fallback User: User",
		),
		(
			{
				"step_type": "Create Activity",
				"activity_description": "x",
				"activity_kind": "Calendar Event",
				"activity_duration": 2,
			},
			"the duration must be 5 to 480 minutes",
		),
	],
)
def test_new_steps_are_validated_at_save(fields, message):
	fields = dict(fields)
	if fields.get("notify_role") == "__empty_role__":
		fields["notify_role"] = (
			frappe.get_doc({"doctype": "Role", "role_name": unique("MF Empty")}).insert().name
		)
	for key in ("notify_user", "distribute_fallback"):
		if fields.get(key) == "__disabled__":
			fields[key] = disabled_user()
	step_type = fields.pop("step_type")
	with pytest.raises(frappe.ValidationError, match=message):
		make_flow(steps=[step("s", step_type, **fields)])


def test_notify_by_sms_needs_an_sms_gateway():
	frappe.db.set_single_value("SMS Settings", "sms_gateway_url", "")  # rolled back after the test
	with pytest.raises(frappe.ValidationError, match="SMS Settings has no gateway URL"):
		make_flow(steps=[step("s", "Notify by SMS", notify_user="Administrator", notify_message="x")])


# --- the designer ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def marketer():
	user = make_user(["Flow Administrator"], "notifyadmin", PASSWORD)
	frappe.db.commit()
	return user


def designer_flow(marketer: str, notify: dict) -> str:
	flow = make_flow(
		steps=[
			step(
				"tell",
				"Notify by Email",
				label="Tell sales",
				notify_subject="Hot lead: {{ person.full_name }}",
				notify_message="{{ person.full_name }} clicked the price page",
				next_step="deal_out",
				**notify,
			),
			step(
				"deal_out",
				"Distribute to Owner",
				label="Give an owner",
				distribute_users="Administrator\n" + marketer,
				next_step="call",
			),
			step(
				"call",
				"Create Activity",
				label="Follow-up call",
				activity_kind="Calendar Event",
				activity_description="Call {{ person.first_name }}",
				activity_due_days=1,
			),
		],
		flow_name=unique("Notify"),
	).name
	frappe.db.commit()
	return flow


def test_designer_shows_the_new_steps_and_their_fields(browser, desk_url, marketer):
	"""The nodes say what the steps do; the side panel has each type's own fields (from the doctype
	meta): Notify's recipient choice, Distribute to Owner's users and fallback, a calendar
	follow-up's time and duration."""
	flow = designer_flow(marketer, {"notify_to": "User", "notify_user": marketer})
	page = login(browser, desk_url, marketer, PASSWORD)
	page.set_default_timeout(10000)
	errors = watch_errors(page)
	page.goto(f"{desk_url}/app/marketing-flow-designer/{flow}")

	def summary_of(step_id: str) -> str:
		return text_of(node(page, step_id).locator(".mf-node-summary"))

	try:
		node(page, "tell").wait_for(timeout=30000)
		assert summary_of("tell") == f"Notify {marketer}"
		assert summary_of("deal_out") == "Give the person an owner: 2 users in turn"
		assert summary_of("call") == "Event at first free slot: Call {{ person.first_name }}"
		screenshot(page, "notify-owner-designer")

		node(page, "tell").locator(".mf-node-label").click()
		panel_field(page, "notify_to").wait_for()
		assert panel_field(page, "notify_to").input_value() == "User"
		assert panel_field(page, "notify_user").is_visible()
		assert not panel_field(page, "notify_fallback").is_visible()
		assert panel_field(page, "notify_subject").is_visible()
		screenshot(page, "notify-owner-panel-notify")
		panel_field(page, "notify_to").select_option("Person's Owner")
		panel_field(page, "notify_fallback").wait_for()
		assert not panel_field(page, "notify_user").is_visible()
		assert summary_of("tell") == "Notify the person's owner"
		screenshot(page, "notify-owner-panel-owner")

		node(page, "deal_out").locator(".mf-node-label").click()
		page.locator(".mf-side-panel [data-fieldname='distribute_users'] textarea").wait_for()
		users = page.locator(".mf-side-panel [data-fieldname='distribute_users'] textarea").input_value()
		assert users.split() == ["Administrator", marketer]
		assert panel_field(page, "distribute_fallback").is_visible()
		assert panel_field(page, "distribute_only_unowned").is_checked()
		screenshot(page, "notify-owner-panel-distribute")

		node(page, "call").locator(".mf-node-label").click()
		panel_field(page, "activity_time").wait_for()
		assert panel_field(page, "activity_duration").input_value() == "30"
		panel_field(page, "activity_time").select_option("14:30")
		page.wait_for_timeout(300)
		assert summary_of("call") == "Event at 14:30: Call {{ person.first_name }}"
		panel_field(page, "activity_duration").scroll_into_view_if_needed()
		screenshot(page, "notify-owner-panel-calendar")
		assert not errors, errors
	except Exception:
		screenshot(page, "notify-owner-designer-failed")
		raise
	finally:
		page.close()


def test_a_marketer_can_pick_a_role_to_notify(browser, desk_url, marketer):
	role, _on, _off = role_with_users(1)
	flow = designer_flow(marketer, {"notify_to": "Role", "notify_role": role})
	page = login(browser, desk_url, marketer, PASSWORD)
	page.set_default_timeout(10000)
	page.goto(f"{desk_url}/app/marketing-flow-designer/{flow}")
	try:
		node(page, "tell").wait_for(timeout=30000)
		node(page, "tell").locator(".mf-node-label").click()
		panel_field(page, "notify_role").wait_for()
		page.wait_for_timeout(1000)
		screenshot(page, "notify-owner-panel-role")
		assert not page.locator(".modal.show .msgprint").is_visible()
		assert panel_field(page, "notify_role").input_value() == role
		assert role in text_of(panel_field(page, "notify_role"))  # a picker of the roles offered
	finally:
		page.close()
