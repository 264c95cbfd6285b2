"""Participant tasks of the flow's Participants tab, on the real site: add the chosen participants
to another flow (through the enrolment's rules), remove them from this flow (once, logged, "Removed
by <user>"), add their addresses to an Email Group (those in it already untouched); the chosen ones
ticked or the tab's filtered list; bad input refused with nothing changed; only a Flow
Administrator may (a Content Editor gets a PermissionError). A large selection runs in a real
worker, its progress and final counts published to the user who started it."""

from __future__ import annotations

import json
import threading
import time

import frappe
import pytest

from factories import enrolled, events, make_contact, make_flow, make_user, participant, unique
from marketing_flows.api import participant_tasks as api
from marketing_flows.engine.entering import enrolment
from marketing_flows.engine.running import participant_tasks

PASSWORD = "Flows-Tasks-2026!"


@pytest.fixture(scope="module")
def users():
	made = {
		"admin": make_user(
			["Flow Administrator", "Sales User", "Newsletter Manager"], "tasksadmin", PASSWORD
		),
		"plain_admin": make_user(["Flow Administrator", "Sales User"], "tasksplain", PASSWORD),
		"editor": make_user(
			["Flow Content Editor", "Sales User", "Newsletter Manager"], "taskseditor", PASSWORD
		),
	}
	frappe.db.commit()
	return made


@pytest.fixture
def as_user():
	"""Call `as_user(email)` to act as that user; Administrator again after the test."""
	yield frappe.set_user
	frappe.set_user("Administrator")


def flow_with(people: list[str], **values) -> str:
	"""A Draft flow with these contacts enrolled; its name."""
	flow = make_flow(flow_name=unique(values.pop("prefix", "Tasks")), **values)
	result = enrolment.enroll(flow, people)
	assert len(result.enrolled) == len(people), result.not_enrolled
	return flow.name


def rows_of(flow: str) -> dict[str, frappe._dict]:
	"""contact -> its participation in `flow` (the latest)."""
	found = frappe.get_all(
		"Marketing Flow Participant",
		filters={"flow": flow},
		fields=["name", "contact", "status", "exit_reason", "email"],
		order_by="name asc",
	)
	return {r.contact: r for r in found}


def test_add_to_another_flow_goes_through_the_enrolment_rules(users, as_user):
	"""Two ticked rows and the filtered list: those who may enter the other flow do; one is
	already active there, one has unsubscribed since; the answer counts and says why."""
	people = [make_contact() for _i in range(4)]
	source = flow_with(people)
	target = make_flow(flow_name=unique("Target")).name
	enrolment.enroll(frappe.get_doc("Marketing Flow", target), [people[2]])  # already active there
	frappe.db.set_value("Contact", people[3], "unsubscribed", 1)
	ticked = [rows_of(source)[c].name for c in people[:2]]

	as_user(users["admin"])
	answer = api.add_to_another_flow(source, target, participants=json.dumps(ticked))
	assert (answer["done"], answer["not_done"]) == (2, 0), answer
	assert f"2 added to {target}." == answer["message"]
	assert {c for c in rows_of(target)} == set(people[:3])

	# the whole list: the two just added and the one already there are active; one unsubscribed
	answer = api.add_to_another_flow(source, target, filters=json.dumps({}))
	assert answer["done"] == 0
	assert answer["reasons"] == {"already active in this flow": 3, "unsubscribed": 1}, answer
	email = frappe.db.get_value("Contact", people[3], "email_id")
	assert [email, "unsubscribed"] in [list(e) for e in answer["examples"]]
	assert "0 added to" in answer["message"] and "4 not added" in answer["message"]
	assert "unsubscribed: 1" in answer["message"]
	assert rows_of(target)[people[0]].status == "Active"
	assert events(target, people[0]) == [(None, "Enrolled")]


def test_the_tabs_filters_choose_the_whole_list(users, as_user):
	"""Status, step and a search pick exactly the rows the tab shows."""
	people = [make_contact(first_name=unique("Filt")) for _i in range(3)]
	source = flow_with(people)
	rows = rows_of(source)
	frappe.db.set_value("Marketing Flow Participant", rows[people[0]].name, "status", "Waiting")
	as_user(users["admin"])
	assert participant_tasks.selection(source, filters={"status": "Waiting"}) == [rows[people[0]].name]
	assert set(participant_tasks.selection(source, filters={"step": "wait"})) == {
		r.name for r in rows.values()
	}
	assert participant_tasks.selection(source, filters={"step": "end"}) == []
	email = rows[people[1]].email
	assert participant_tasks.selection(source, filters={"search": email[:-12]}) == [rows[people[1]].name]
	assert participant_tasks.selection(source, filters={"search": "%"}) == []  # a literal %, none has one
	# ticked rows of another flow are not this flow's
	other = enrolled()
	assert participant_tasks.selection(source, participants=[other.participant, rows[people[2]].name]) == [
		rows[people[2]].name
	]


def test_remove_ends_them_once_logged_and_says_who_removed_them(users, as_user):
	people = [make_contact() for _i in range(3)]
	source = flow_with(people)
	rows = rows_of(source)
	frappe.db.set_value(
		"Marketing Flow Participant", rows[people[2]].name, {"status": "Completed", "active_key": None}
	)
	as_user(users["admin"])
	answer = api.remove_from_flow(source, filters=json.dumps({}))
	assert (answer["done"], answer["not_done"]) == (2, 1), answer
	assert answer["reasons"] == {"not active in this flow (Completed)": 1}
	assert answer["message"].startswith(f"2 removed from {source}, 1 not removed:")
	after = rows_of(source)
	reason = f"Removed by {users['admin']}"
	assert [(after[c].status, after[c].exit_reason) for c in people[:2]] == [("Exited", reason)] * 2
	assert after[people[2]].status == "Completed"
	# again: nothing left to remove, and nothing logged twice
	again = api.remove_from_flow(source, participants=json.dumps([rows[c].name for c in people[:2]]))
	assert again["done"] == 0 and again["reasons"] == {"not active in this flow (Exited)": 2}
	for c in people[:2]:
		assert events(source, c) == [(None, "Enrolled"), ("wait", "Exited")]
		log = frappe.get_all(
			"Marketing Flow Log", {"flow": source, "contact": c, "event": "Exited"}, pluck="message"
		)
		assert log == [reason]


def test_add_to_email_group_skips_members_and_keeps_the_unsubscribed_so(users, as_user):
	people = [make_contact() for _i in range(3)]
	no_email = make_contact(email_id=None)
	source = flow_with([*people, no_email])
	group = frappe.get_doc({"doctype": "Email Group", "title": unique("Tasks Group")}).insert().name
	emails = [frappe.db.get_value("Contact", c, "email_id") for c in people]
	frappe.get_doc({"doctype": "Email Group Member", "email_group": group, "email": emails[1]}).insert()
	frappe.get_doc(
		{"doctype": "Email Group Member", "email_group": group, "email": emails[2], "unsubscribed": 1}
	).insert()
	as_user(users["admin"])
	answer = api.add_to_email_group(source, group, filters=json.dumps({}))
	assert (answer["done"], answer["not_done"]) == (1, 3), answer
	assert answer["reasons"] == {
		"already in the group": 1,
		"unsubscribed from the group (stays so)": 1,
		"no email address": 1,
	}
	members = {
		m.email: m.unsubscribed
		for m in frappe.get_all("Email Group Member", {"email_group": group}, ["email", "unsubscribed"])
	}
	assert members == {emails[0]: 0, emails[1]: 0, emails[2]: 1}
	assert frappe.db.get_value("Email Group", group, "total_subscribers") == 3
	# again: all in already
	again = api.add_to_email_group(source, group, filters=json.dumps({}))
	assert again["done"] == 0 and again["reasons"]["already in the group"] == 2


def participant_counts() -> int:
	return frappe.db.count("Marketing Flow Participant")


@pytest.mark.parametrize(
	"case,message",
	[
		("no flow", "Choose the flow to add them to."),
		("same flow", "They are in this flow already: choose another flow."),
		("other person doctype", "records and this flow's participants are Contact records"),
		("stopped", "is Stopped: it takes nobody in."),
		("no such flow", "There is no flow"),
		("no group", "Choose the email group to add them to."),
		("no such group", "There is no email group"),
		("nobody", "No participants chosen"),
	],
)
def test_bad_input_is_refused_and_changes_nothing(users, as_user, case, message):
	people = [make_contact() for _i in range(2)]
	source = flow_with(people)
	target = make_flow(flow_name=unique("Target")).name
	if case == "other person doctype":
		frappe.db.set_value("Marketing Flow", target, "person_doctype", "CRM Lead")
	if case == "stopped":
		frappe.db.set_value("Marketing Flow", target, "status", "Stopped")
	before = (
		participant_counts(),
		frappe.db.count("Marketing Flow Log"),
		frappe.db.count("Email Group Member"),
	)
	as_user(users["admin"])
	with pytest.raises(frappe.ValidationError) as raised:
		if case in ("no group", "no such group"):
			api.add_to_email_group(source, None if case == "no group" else "No Such Group", filters="{}")
		elif case == "nobody":
			api.remove_from_flow(source, filters=json.dumps({"status": "Completed"}))
		else:
			chosen = {"no flow": None, "same flow": source, "no such flow": "No Such Flow"}.get(case, target)
			api.add_to_another_flow(source, chosen, filters="{}")
	assert message in str(raised.value), str(raised.value)
	assert not isinstance(raised.value, frappe.PermissionError)
	after = (
		participant_counts(),
		frappe.db.count("Marketing Flow Log"),
		frappe.db.count("Email Group Member"),
	)
	assert after == before
	assert {r.status for r in rows_of(source).values()} == {"Active"}


def test_only_a_flow_administrator_may_and_email_groups_need_write_access(users, as_user):
	people = [make_contact() for _i in range(2)]
	source = flow_with(people)
	target = make_flow(flow_name=unique("Target")).name
	group = frappe.get_doc({"doctype": "Email Group", "title": unique("Tasks Group")}).insert().name
	calls = {
		"add": lambda: api.add_to_another_flow(source, target, filters="{}"),
		"remove": lambda: api.remove_from_flow(source, filters="{}"),
		"group": lambda: api.add_to_email_group(source, group, filters="{}"),
	}
	as_user(users["editor"])  # may read the flow, and even write Email Groups: not enrol / remove
	for call in calls.values():
		with pytest.raises(frappe.PermissionError):
			call()
	as_user(users["plain_admin"])  # a Flow Administrator, but Email Groups are not theirs
	with pytest.raises(frappe.PermissionError):
		calls["group"]()
	frappe.set_user("Administrator")
	assert frappe.db.count("Marketing Flow Participant", {"flow": target}) == 0
	assert {r.status for r in rows_of(source).values()} == {"Active"}
	assert frappe.db.count("Email Group Member", {"email_group": group}) == 0
	as_user(users["plain_admin"])
	assert calls["add"]()["done"] == 2


class Realtime:
	"""What the site publishes to one user's desk (Frappe's realtime events through Redis), read
	by subscribing as the socket.io server does."""

	def __init__(self, user: str):
		from frappe.utils.background_jobs import get_redis_connection_without_auth

		self.room = f"user:{user}"
		self.site = frappe.local.site  # frappe.local is this thread's, not the listener's
		self.pubsub = get_redis_connection_without_auth().pubsub()
		self.pubsub.subscribe("events")
		self.messages: list[dict] = []
		self.stop = threading.Event()
		self.thread = threading.Thread(target=self.listen, daemon=True)
		self.thread.start()

	def listen(self) -> None:
		while not self.stop.is_set():
			item = self.pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
			if item and item.get("type") == "message":
				data = json.loads(item["data"])
				if data.get("namespace") == self.site and data.get("room") == self.room:
					self.messages.append(data)

	def close(self) -> list[dict]:
		time.sleep(1)
		self.stop.set()
		self.thread.join(5)
		self.pubsub.close()
		return self.messages


def test_a_large_list_moves_in_the_background_with_progress(users, as_user, worker):
	"""600 participants, the whole list: the answer says it works in the background; a real
	worker adds all 600 to a Running flow in batches, the user sees the progress and, at the
	end, "600 added to <flow>"; then all 600 are removed from the first flow the same way."""
	people = [make_contact() for _i in range(600)]
	source = flow_with(people, prefix="Big")
	target_doc = make_flow(flow_name=unique("BigTarget"))
	target_doc.run()
	target = target_doc.name
	frappe.db.commit()
	listener = Realtime(users["admin"])
	try:
		as_user(users["admin"])
		answer = api.add_to_another_flow(source, target, filters=json.dumps({"status": "Active"}))
		assert answer["queued"] == 600 and "in the background" in answer["message"], answer
		assert frappe.db.count("Marketing Flow Participant", {"flow": target}) == 0  # not yet
		frappe.set_user("Administrator")
		worker(timeout=600)
	finally:
		seen = listener.close()
	assert frappe.db.count("Marketing Flow Participant", {"flow": target}) == 600
	assert frappe.db.count("Marketing Flow Log", {"flow": target, "event": "Enrolled"}) == 600
	progress = [m["message"] for m in seen if m["event"] == "progress"]
	assert [p["description"] for p in progress] == ["500 of 600 participants", "600 of 600 participants"]
	assert progress[-1]["percent"] == 100 and progress[0]["title"] == "Add to another flow"
	final = [m["message"] for m in seen if m["event"] == "msgprint"]
	assert len(final) == 1, final
	assert final[0]["message"] == f"600 added to {target}." and final[0]["title"] == "Add to another flow"
	done = [m["message"] for m in seen if m["event"] == participant_tasks.DONE_EVENT]
	assert done == [{"flow": source, "task": "add_to_flow", "done": 600, "not_done": 0}]

	listener = Realtime(users["admin"])
	try:
		as_user(users["admin"])
		assert api.remove_from_flow(source, filters="{}")["queued"] == 600
		frappe.set_user("Administrator")
		worker(timeout=600)
	finally:
		seen = listener.close()
	assert frappe.db.count("Marketing Flow Participant", {"flow": source, "status": "Exited"}) == 600
	final = [m["message"]["message"] for m in seen if m["event"] == "msgprint"]
	assert final == [f"600 removed from {source}."]
	one = participant(source, people[0])
	assert one.exit_reason == f"Removed by {users['admin']}"
