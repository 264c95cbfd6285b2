"""Triggers: each trigger type end to end (a real burst worker), which flow statuses take people
in, the cached map of watched doctypes and what a save costs when nobody watches."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import frappe
import pytest
from frappe.utils import add_days, getdate, today

from conftest import DATE_FIELD, DATETIME_FIELD, run_scheduled
from factories import make_contact, make_flow, unique
from marketing_flows.engine.entering import triggers, watch
from marketing_flows.engine.measuring import goals


def take_queued_jobs(method: str) -> list[dict]:
	"""The keyword arguments of this site's queued jobs of `method`, taken off the real RQ queue
	(so no later worker runs them)."""
	from frappe.utils.background_jobs import get_queues

	found = []
	for queue in get_queues():
		for job in queue.get_jobs():
			kwargs = job.kwargs or {}
			if kwargs.get("site") == frappe.local.site and kwargs.get("method") == method:
				found.append(kwargs.get("kwargs") or {})
				job.delete()
	return found


RECORD = "MF Trigger Record"  # a custom doctype with a Contact link and an email field
ACCEPT = "frappe.website.doctype.web_form.web_form.accept"


# --- fixtures and helpers ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def record_doctype(site) -> str:
	"""Created once per test site (DDL commits anyway) and kept."""
	if not frappe.db.exists("DocType", RECORD):
		frappe.get_doc(
			{
				"doctype": "DocType",
				"name": RECORD,
				"module": "Custom",
				"custom": 1,
				"autoname": "hash",
				"fields": [
					{"fieldname": "subject", "fieldtype": "Data", "label": "Subject"},
					{
						"fieldname": "status",
						"fieldtype": "Select",
						"label": "Status",
						"options": "Open\nClosed",
						"default": "Open",
					},
					{"fieldname": "email", "fieldtype": "Data", "label": "Email", "options": "Email"},
					{"fieldname": "first_name", "fieldtype": "Data", "label": "First Name"},
					{"fieldname": "last_name", "fieldtype": "Data", "label": "Last Name"},
					{"fieldname": "contact", "fieldtype": "Link", "label": "Contact", "options": "Contact"},
				],
				"permissions": [{"role": "System Manager", "read": 1, "write": 1, "create": 1, "delete": 1}],
			}
		).insert()
		frappe.db.commit()
	return RECORD


@pytest.fixture
def flows() -> Iterator[list[str]]:
	"""Flows a test creates; committed live ones are stopped afterwards so that they watch
	nothing in later tests."""
	names: list[str] = []
	yield names
	frappe.db.rollback()
	for name in names:
		if frappe.db.exists("Marketing Flow", name):
			frappe.db.set_value("Marketing Flow", name, "status", "Stopped", update_modified=False)
	frappe.db.commit()
	watch.flows_changed()


def live_flow(flows: list[str], status: str = "Running", **values):
	flow = make_flow(**values)
	flows.append(flow.name)
	if status != "Draft":
		flow.run()
	if status == "Paused":
		flow.pause()
	elif status == "Stopped":
		flow.stop()
	assert flow.status == status
	return flow


def make_record(**values) -> str:
	doc = frappe.get_doc({"doctype": RECORD, "subject": unique("Record"), **values})
	doc.insert()
	return doc.name


def save_record(name: str, **values) -> None:
	doc = frappe.get_doc(RECORD, name)
	doc.update(values)
	doc.save()


def email_of(contact: str) -> str:
	return frappe.db.get_value("Contact", contact, "email_id")


def new_email(prefix: str = "trigger") -> str:
	return f"{unique(prefix)}@example.com".lower()


def participants(flow: str) -> dict[str, frappe._dict]:
	"""contact -> participant row of `flow`."""
	return {
		r.contact: r
		for r in frappe.get_all(
			"Marketing Flow Participant",
			filters={"flow": flow},
			fields=["contact", "email", "status", "enrolled_by", "current_step"],
		)
	}


def settle(worker, until: Callable[[], bool], timeout: float = 60) -> bool:
	"""Commit, run a burst worker, then wait until `until()` holds: a worker of another test
	site on this bench may have taken our job and still be running it."""
	worker()
	deadline = time.monotonic() + timeout
	while not until():
		if time.monotonic() > deadline:
			return False
		time.sleep(0.5)
		frappe.db.rollback()
	return True


@contextmanager
def count_queries() -> Iterator[list[str]]:
	"""Every SQL statement run through frappe.db.sql (frappe.qb, get_all and get_value do too)."""
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


def watching(doctype: str) -> set[str]:
	"""Flows whose triggers watch `doctype`, per the cached map."""
	return {w["flow"] for w in (watch.watchers_of(doctype) or {"triggers": []})["triggers"]}


def make_web_form(doc_type: str) -> str:
	title = unique("MF Form").lower()
	form = frappe.get_doc(
		{
			"doctype": "Web Form",
			"title": title,
			"route": title,
			"doc_type": doc_type,
			"module": "Custom",
			"is_standard": 0,
			"published": 1,
			"anonymous": 1,
			"login_required": 0,
			"web_form_fields": [
				{"fieldname": "email", "fieldtype": "Data", "label": "Email", "options": "Email", "reqd": 1},
				{"fieldname": "first_name", "fieldtype": "Data", "label": "First Name"},
				{"fieldname": "last_name", "fieldtype": "Data", "label": "Last Name"},
				{"fieldname": "subject", "fieldtype": "Data", "label": "Subject"},
			],
		}
	).insert()
	return form.name


def submit_web_form(form: str, data: dict) -> str:
	"""What a visitor's POST to /api/method/<accept> does: form_dict carries the form's name."""
	from frappe.website.doctype.web_form.web_form import accept

	payload = json.dumps(data)
	frappe.local.form_dict = frappe._dict(cmd=ACCEPT, web_form=form, data=payload)
	try:
		return accept(web_form=form, data=payload).name
	finally:
		# request-scoped in a real request; this test process lives on
		frappe.flags.in_web_form = False
		frappe.local.form_dict = frappe._dict()
		frappe.set_user("Administrator")


# --- Document Event ----------------------------------------------------------------------------


def test_document_event_insert_enrols_the_linked_contact_when_conditions_match(record_doctype, flows, worker):
	on_insert = live_flow(
		flows,
		trigger_type="Document Event",
		trigger_doctype=RECORD,
		trigger_event="Insert",
		trigger_conditions=json.dumps([["status", "=", "Open"]]),
	)
	on_update = live_flow(
		flows, trigger_type="Document Event", trigger_doctype=RECORD, trigger_event="Update"
	)
	matching, not_matching = make_contact(), make_contact()
	record = make_record(status="Open", contact=matching)
	make_record(status="Closed", contact=not_matching)

	assert settle(worker, lambda: matching in participants(on_insert.name))
	got = participants(on_insert.name)
	assert got[matching].enrolled_by == f"{RECORD} {record}"
	assert got[matching].status in ("Active", "Waiting")  # the runner may have started it
	assert not_matching not in got  # conditions don't match
	assert participants(on_update.name) == {}  # an insert is no update


def test_document_event_update_uses_the_person_field_and_conditions(record_doctype, flows, worker):
	flow = live_flow(
		flows,
		trigger_type="Document Event",
		trigger_doctype=RECORD,
		trigger_event="Update",
		trigger_person_field="email",
		trigger_conditions=json.dumps({"status": "Closed"}),
	)
	person, linked, closer = make_contact(), make_contact(), make_contact()
	# the person field (email) wins over the Contact link that detection would pick
	record = make_record(status="Open", email=email_of(person), contact=linked)
	save_record(record, subject="edited, still open")  # an update, conditions don't match
	closed_at_once = make_record(status="Closed", email=email_of(closer))  # insert: no update yet
	save_record(closed_at_once, subject="edited")  # update, matches: tells us the job ran

	assert settle(worker, lambda: closer in participants(flow.name))
	assert set(participants(flow.name)) == {closer}

	save_record(record, status="Closed")
	assert settle(worker, lambda: person in participants(flow.name))
	got = participants(flow.name)
	assert got[person].enrolled_by == f"{RECORD} {record}"
	assert linked not in got


# --- Web Form ---------------------------------------------------------------------------------


def test_web_form_submission_creates_a_contact_and_enrols_it(record_doctype, flows, worker):
	from frappe.contacts.doctype.contact.contact import get_contact_name

	form = make_web_form(RECORD)
	flow = live_flow(flows, trigger_type="Web Form", trigger_web_form=form)
	visitor, desk_user = new_email("visitor"), new_email("desk")
	record = submit_web_form(form, {"email": visitor.upper(), "first_name": "Ada", "last_name": "Lovelace"})
	make_record(email=desk_user)  # same doctype, saved in the desk: not a submission

	assert settle(
		worker,
		lambda: bool(get_contact_name(visitor)) and get_contact_name(visitor) in participants(flow.name),
	)
	contact = frappe.get_doc("Contact", get_contact_name(visitor))
	assert (contact.first_name, contact.last_name, contact.email_id) == ("Ada", "Lovelace", visitor)
	assert participants(flow.name)[contact.name].enrolled_by == f"{RECORD} {record}"
	assert get_contact_name(desk_user) is None
	assert len(participants(flow.name)) == 1


def test_web_form_submission_enrols_an_existing_contact_without_a_duplicate(record_doctype, flows, worker):
	form = make_web_form(RECORD)
	flow = live_flow(flows, trigger_type="Web Form", trigger_web_form=form)
	known = make_contact()
	submit_web_form(form, {"email": email_of(known), "first_name": "Someone Else"})

	assert settle(worker, lambda: known in participants(flow.name))
	assert frappe.db.count("Contact Email", {"email_id": email_of(known)}) == 1


# --- Email Group ------------------------------------------------------------------------------


def test_email_group_member_added_enrols_and_creates_missing_contacts(flows, worker):
	from frappe.contacts.doctype.contact.contact import get_contact_name

	group = frappe.get_doc({"doctype": "Email Group", "title": unique("MF Group")}).insert().name
	other_group = frappe.get_doc({"doctype": "Email Group", "title": unique("MF Group")}).insert().name
	flow = live_flow(flows, trigger_type="Email Group", trigger_email_group=group)
	known = make_contact()
	stranger, elsewhere = new_email("member"), new_email("elsewhere")
	for email_group, email in ((group, email_of(known)), (group, stranger), (other_group, elsewhere)):
		frappe.get_doc({"doctype": "Email Group Member", "email_group": email_group, "email": email}).insert()

	assert settle(worker, lambda: len(participants(flow.name)) >= 2)
	created = get_contact_name(stranger)
	assert created
	got = participants(flow.name)
	assert set(got) == {known, created}
	assert got[known].enrolled_by == f"Email Group {group}"
	assert get_contact_name(elsewhere) is None
	assert frappe.db.count("Contact Email", {"email_id": email_of(known)}) == 1


# --- Segment, Date Field, Flow Goal --------------------------------------------------------------


def test_segment_trigger_enrols_new_members_once(flows, worker):
	prefix = unique("Seg")
	first, second = make_contact(first_name=f"{prefix}-a"), make_contact(first_name=f"{prefix}-b")
	outsider = make_contact()
	segment = frappe.get_doc(
		{
			"doctype": "Marketing Segment",
			"segment_name": unique("MF Segment"),
			"segment_type": "Contact Filters",
			"filters": json.dumps([["Contact", "first_name", "like", f"{prefix}%"]]),
		}
	).insert()
	flow = live_flow(flows, trigger_type="Segment", trigger_segment=segment.name)
	draft = live_flow(flows, status="Draft", trigger_type="Segment", trigger_segment=segment.name)
	flow.enroll([first])  # already in: not proposed again
	frappe.db.commit()
	run_scheduled("marketing_flows.engine.entering.triggers.enrol_from_segments")

	assert settle(worker, lambda: second in participants(flow.name))
	got = participants(flow.name)
	assert set(got) == {first, second}
	assert got[second].enrolled_by == f"Marketing Segment {segment.name}"
	assert got[first].enrolled_by == "Manual"
	assert outsider not in got
	assert participants(draft.name) == {}
	assert frappe.db.count("Marketing Flow Participant", {"flow": flow.name}) == 2


def test_date_field_trigger_with_offsets_on_date_and_datetime_fields(contact_date_fields, flows, worker):
	day = getdate(today())
	prefix = unique("Dated")
	# contacts of earlier runs have the same dates: the audience keeps this test's own
	audience = json.dumps([["Contact", "first_name", "like", f"{prefix}%"]])

	def person(**dates) -> str:
		return make_contact(first_name=unique(prefix), **dates)

	# offset 3: three days after the date; offset -2: two days before it
	after = live_flow(
		flows,
		trigger_type="Date Field",
		trigger_date_field=DATE_FIELD,
		trigger_date_offset=3,
		audience_filters=audience,
	)
	before = live_flow(
		flows,
		trigger_type="Date Field",
		trigger_date_field=DATETIME_FIELD,
		trigger_date_offset=-2,
		audience_filters=audience,
	)
	due = person(**{DATE_FIELD: add_days(day, -3)})
	not_yet = person(**{DATE_FIELD: add_days(day, -2)})
	too_late = person(**{DATE_FIELD: add_days(day, -4)})
	in_two_days = add_days(day, 2)
	due_at_midnight = person(**{DATETIME_FIELD: f"{in_two_days} 00:00:00"})
	due_late_evening = person(**{DATETIME_FIELD: f"{in_two_days} 23:59:59"})
	day_before = person(**{DATETIME_FIELD: f"{add_days(day, 1)} 23:59:59"})
	day_after = person(**{DATETIME_FIELD: f"{add_days(day, 3)} 00:00:00"})
	frappe.db.commit()
	run_scheduled("marketing_flows.engine.entering.triggers.enrol_from_date_fields")

	assert settle(
		worker, lambda: due in participants(after.name) and due_late_evening in participants(before.name)
	)
	assert set(participants(after.name)) == {due}
	assert set(participants(before.name)) == {due_at_midnight, due_late_evening}
	assert not {not_yet, too_late, day_before, day_after} & (
		set(participants(after.name)) | set(participants(before.name))
	)
	assert participants(after.name)[due].enrolled_by == f"Date Field {DATE_FIELD}"


def test_date_query_is_a_range_on_the_bare_column(contact_date_fields):
	"""An index on the field can be used: no DATE(column) or other function of the column."""
	for field in (DATE_FIELD, DATETIME_FIELD):
		with count_queries() as queries:
			triggers.people_with_date(field, today())
		sql = " ".join(queries)
		assert re.search(rf"`{field}`\s*>=", sql) and re.search(rf"`{field}`\s*<[^=]", sql), sql
		assert not re.search(rf"\w\(\s*(`tabContact`\.)?`{field}`", sql), sql  # no DATE(col), CAST(col)...


def test_flow_goal_enrols_into_running_and_paused_flows_triggered_by_that_goal(flows):
	source, unrelated = live_flow(flows), live_flow(flows)
	running = live_flow(flows, trigger_type="Flow Goal", trigger_flow=source.name)
	paused = live_flow(flows, status="Paused", trigger_type="Flow Goal", trigger_flow=source.name)
	draft = live_flow(flows, status="Draft", trigger_type="Flow Goal", trigger_flow=source.name)
	stopped = live_flow(flows, status="Stopped", trigger_type="Flow Goal", trigger_flow=source.name)
	other = live_flow(flows, trigger_type="Flow Goal", trigger_flow=unrelated.name)
	contact = make_contact()

	# the participant rows of the source flow that met its goal
	succeeded = [frappe._dict(person_doctype="Contact", person=contact, contact=contact)]
	results = goals.enrol_in_goal_triggered_flows(source.name, succeeded)

	assert set(results) == {running.name, paused.name}
	assert results[running.name]["enrolled"] == 1
	assert participants(running.name)[contact].enrolled_by == f"Goal met in {source.name}"
	assert contact in participants(paused.name)
	for flow in (draft, stopped, other):
		assert participants(flow.name) == {}


# --- which flows take people in ----------------------------------------------------------------


def test_paused_flow_enrols_draft_and_stopped_flows_do_not(record_doctype, flows, worker):
	values = {"trigger_type": "Document Event", "trigger_doctype": RECORD, "trigger_event": "Insert"}
	paused = live_flow(flows, status="Paused", **values)
	draft = live_flow(flows, status="Draft", **values)
	stopped = live_flow(flows, status="Stopped", **values)
	assert paused.name in watching(RECORD)
	assert not {draft.name, stopped.name} & watching(RECORD)
	contact = make_contact()
	make_record(email=email_of(contact))  # no Contact link: found by the email field

	assert settle(worker, lambda: contact in participants(paused.name))
	row = participants(paused.name)[contact]
	assert (row.status, row.current_step) == ("Active", "wait")  # waits for the flow to resume
	assert participants(draft.name) == {}
	assert participants(stopped.name) == {}


def test_job_rechecks_the_flow_and_the_document(record_doctype, flows):
	"""Between the save and the job the flow may stop or the document change."""
	values = {"trigger_type": "Document Event", "trigger_doctype": RECORD, "trigger_event": "Insert"}
	stopped = live_flow(flows, **values)
	strict = live_flow(flows, trigger_conditions=json.dumps([["status", "=", "Closed"]]), **values)
	contact = make_contact()
	record = make_record(contact=contact, status="Open")
	stopped.stop()

	def entry(flow: str) -> dict:
		return {
			"flow": flow,
			"trigger_type": "Document Event",
			"doctype": RECORD,
			"name": record,
			"web_form": None,
			"email_group": None,
		}

	triggers.enrol_from_documents([entry(stopped.name), entry(strict.name), entry("no such flow")])
	assert participants(stopped.name) == {}
	assert participants(strict.name) == {}

	save_record(record, status="Closed")
	triggers.enrol_from_documents([entry(strict.name)])
	assert contact in participants(strict.name)


# --- the cached map ---------------------------------------------------------------------------


def test_map_follows_run_pause_stop_and_trigger_changes(record_doctype, flows):
	flow = make_flow(trigger_type="Document Event", trigger_doctype=RECORD, trigger_event="Insert")
	flows.append(flow.name)
	assert flow.name not in watching(RECORD)  # Draft
	flow.run()
	assert flow.name in watching(RECORD)
	flow.pause()
	assert flow.name in watching(RECORD)
	flow.trigger_doctype = "ToDo"
	flow.trigger_event = "Update"
	flow.save()
	assert flow.name not in watching(RECORD)
	assert flow.name in watching("ToDo")
	assert [w for w in watch.watchers_of("ToDo")["triggers"] if w["flow"] == flow.name][0]["update"]
	flow.stop()
	assert flow.name not in watching("ToDo")


def test_map_is_forgotten_after_commit_and_rollback(record_doctype, flows):
	"""Another process may rebuild the map from old rows before this transaction ends."""
	stale = {"Stale": {"triggers": [], "criteria": []}}
	flow = make_flow(trigger_type="Document Event", trigger_doctype=RECORD)
	flows.append(flow.name)
	flow.run()
	frappe.cache.set_value(watch.CACHE_KEY, stale)
	frappe.db.commit()
	assert frappe.cache.get_value(watch.CACHE_KEY) is None
	assert flow.name in watching(RECORD)

	flow.pause()
	frappe.cache.set_value(watch.CACHE_KEY, stale)
	frappe.db.rollback()
	assert frappe.cache.get_value(watch.CACHE_KEY) is None


def test_map_lives_in_redis_with_an_in_process_copy(record_doctype, flows):
	flow = live_flow(flows, trigger_type="Document Event", trigger_doctype=RECORD)
	built = watch.watched()
	assert flow.name in {w["flow"] for w in built[RECORD]["triggers"]}
	assert built[RECORD]["criteria"] == []
	with count_queries() as queries:
		assert watch.watched() == built
	assert queries == []
	frappe.local.cache.clear()  # a new request: from Redis, still no query
	with count_queries() as queries:
		assert watch.watched() == built
	assert queries == []


# --- cost of a save ---------------------------------------------------------------------------


def test_save_of_an_unwatched_doctype_runs_no_query():
	watch.flows_changed()
	todo = frappe.get_doc({"doctype": "ToDo", "description": unique("todo")}).insert()
	assert watch.watchers_of("ToDo") is None, "a flow left running watches ToDo"

	with count_queries() as queries:
		watch.on_insert(todo)
		watch.on_update(todo)
		watch.on_trash(todo)
	assert queries == []

	with count_queries() as queries:
		todo.description = unique("edited")
		todo.save()
	assert queries, "the counter sees the save's own queries"
	assert not [q for q in queries if "Marketing Flow" in q]


def test_cold_map_costs_queries_once(record_doctype):
	"""The counter would catch our queries: the first save after a change builds the map."""
	todo = frappe.get_doc({"doctype": "ToDo", "description": unique("todo")}).insert()
	watch.flows_changed()
	with count_queries() as queries:
		watch.on_update(todo)
	assert [q for q in queries if "tabMarketing Flow" in q]
	with count_queries() as queries:
		watch.on_update(todo)
	assert queries == []


def test_watched_save_queries_nothing_and_queues_one_job_per_doc_after_commit(record_doctype, flows):
	flow = live_flow(
		flows, trigger_type="Document Event", trigger_doctype=RECORD, trigger_event="Insert or Update"
	)
	watch.watched()
	doc = frappe.get_doc({"doctype": RECORD, "subject": unique("Record")})
	with count_queries() as queries:
		doc.insert()
	assert not [q for q in queries if "Marketing Flow" in q]
	with count_queries() as queries:
		watch.on_update(doc)
		watch.on_update(doc)
	assert queries == []
	assert list(watch.pending()) == [(flow.name, RECORD, doc.name)]

	frappe.db.commit()
	calls = [
		c
		for c in take_queued_jobs("marketing_flows.engine.entering.triggers.enrol_from_documents")
		if any(e["flow"] == flow.name for e in c["entries"])
	]
	assert len(calls) == 1
	assert [(e["flow"], e["doctype"], e["name"]) for e in calls[0]["entries"]] == [
		(flow.name, RECORD, doc.name)
	]
	assert watch.pending() == {}


def test_rollback_discards_what_was_collected(record_doctype, flows):
	flow = live_flow(flows, trigger_type="Document Event", trigger_doctype=RECORD)
	frappe.db.commit()
	make_record()
	assert watch.pending()
	frappe.db.rollback()
	assert watch.pending() == {}
	frappe.db.commit()
	assert not [
		c
		for c in take_queued_jobs("marketing_flows.engine.entering.triggers.enrol_from_documents")
		if any(e["flow"] == flow.name for e in c["entries"])
	]
	assert flow.name in watching(RECORD)


def test_install_migrate_and_patch_are_skipped_imports_count(record_doctype, flows):
	live_flow(flows, trigger_type="Document Event", trigger_doctype=RECORD)
	doc = frappe.get_doc({"doctype": RECORD, "subject": unique("Record")})
	doc.name = unique("rec")
	for flag in ("in_install", "in_migrate", "in_patch"):
		frappe.flags[flag] = True
		try:
			watch.on_insert(doc)
		finally:
			frappe.flags[flag] = False
		assert watch.pending() == {}, flag
	frappe.flags.in_import = True
	try:
		watch.on_insert(doc)
	finally:
		frappe.flags.in_import = False
	assert len(watch.pending()) == 1


# --- Web Form with double opt-in ----------------------------------------------------------------


def test_a_web_form_flow_that_asks_for_confirmation_enrols_only_once_confirmed(
	record_doctype, flows, worker, smtp, desk_url
):
	"""Anyone may type any address into a public form: the address gets one email asking to
	confirm it (however often the form is sent), nobody enters the flow before the owner
	confirms it by the page's button (a GET alone, as link scanners do, confirms nothing), and
	the confirmation is kept with when and from where."""
	import html
	from urllib.parse import parse_qs, urlsplit

	import requests
	from frappe.contacts.doctype.contact.contact import get_contact_name

	form = make_web_form(RECORD)
	flow = live_flow(flows, trigger_type="Web Form", trigger_web_form=form, require_confirmation=1)
	visitor = new_email("optin")
	submit_web_form(form, {"email": visitor, "first_name": "Grace"})
	frappe.db.commit()
	assert settle(worker, lambda: len(smtp.to(visitor)) == 1)
	submit_web_form(form, {"email": visitor, "first_name": "Grace"})  # typed again
	worker()
	assert len(smtp.to(visitor)) == 1, "an unconfirmed address gets one email, not one per submission"
	assert participants(flow.name) == {}
	requested = frappe.get_all(
		"Marketing Email Confirmation",
		filters={"email_address": visitor},
		fields=["name", "status", "person"],
	)
	assert [r.status for r in requested] == ["Pending"]
	assert requested[0].person == get_contact_name(visitor)

	link = html.unescape(
		re.search(r'href="([^"]*tracking\.confirm[^"]*)"', smtp.html(smtp.to(visitor)[0])).group(1)
	)
	query = {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}
	port, host = urlsplit(desk_url).port, urlsplit(desk_url).hostname
	endpoint = f"http://127.0.0.1:{port}/api/method/marketing_flows.api.tracking.confirm"
	headers = {"Host": host, "User-Agent": "Mail <b>client</b>"}

	page = requests.get(endpoint, params=query, headers=headers, timeout=30)
	assert page.status_code == 200 and "Yes, confirm" in page.text
	forged = requests.post(
		endpoint, data={**query, "sig": "0" * len(query["sig"])}, headers=headers, timeout=30
	)
	assert forged.status_code == 400
	frappe.db.rollback()
	assert frappe.db.get_value("Marketing Email Confirmation", requested[0].name, "status") == "Pending"

	done = requests.post(endpoint, data=query, headers=headers, timeout=30)
	assert done.status_code == 200 and visitor in done.text
	frappe.db.rollback()
	evidence = frappe.get_doc("Marketing Email Confirmation", requested[0].name)
	assert evidence.status == "Confirmed" and evidence.confirmed_on and evidence.confirmed_ip
	assert "<b>" not in evidence.confirmed_user_agent
	assert settle(worker, lambda: get_contact_name(visitor) in participants(flow.name))

	submit_web_form(form, {"email": visitor, "first_name": "Grace"})  # a confirmed address enters at once
	worker()
	assert frappe.db.count("Marketing Email Confirmation", {"email_address": visitor}) == 1
