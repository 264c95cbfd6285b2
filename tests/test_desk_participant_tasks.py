"""Participant tasks on the flow's Participants tab, in a real browser (Playwright driving Debian's
chromium against `bench serve`): a Flow Administrator ticks two rows and adds them to another
flow (the answer counts who got in and says why the other did not), removes one from this flow,
adds the filtered list to an email group; a Content Editor sees the list but no tick boxes and no
tasks. Assertions on what is shown and on the saved rows; screenshots go to the artifacts dir
(conftest.screenshot)."""

from __future__ import annotations

import frappe
import pytest

from conftest import login, open_tab, screenshot, text_of, watch_errors
from factories import make_contact, make_flow, make_user, unique
from marketing_flows.engine.entering import enrolment

PASSWORD = "Flows-Tasks-Desk-2026!"


@pytest.fixture(scope="module")
def users():
	made = {
		# a marketer who also keeps the email groups (Email Group is Newsletter Manager's)
		"admin": make_user(["Flow Administrator", "Sales User", "Newsletter Manager"], "taskdesk", PASSWORD),
		"editor": make_user(["Flow Content Editor", "Sales User"], "taskdeskeditor", PASSWORD),
	}
	frappe.db.commit()
	return made


def rows_shown(page) -> int:
	return page.locator(".mf-participants tbody tr.mf-participant").count()


def open_participants(page, desk_url: str, flow: str, count: int) -> None:
	page.goto(f"{desk_url}/app/marketing-flow/{flow}")
	page.wait_for_selector(".mf-figures .mf-enrolled", timeout=20000)
	open_tab(page, "participants_tab")
	page.wait_for_function(
		"(n) => document.querySelectorAll('.mf-participants tbody tr.mf-participant').length === n",
		arg=count,
		timeout=20000,
	)


def row(page, participant: str):
	return page.locator(f".mf-participants tr.mf-participant[data-name='{participant}']")


def start_task(page, task: str, shot: str | None = None) -> None:
	page.locator(".mf-participants .mf-tasks-button").click()
	page.locator(".mf-participants .mf-tasks .dropdown-menu.show").wait_for(timeout=5000)
	if shot:
		screenshot(page, shot)
	page.locator(f".mf-participants .mf-task[data-task='{task}']").click()
	page.locator(".mf-participant-task.show .modal-content").wait_for(timeout=10000)


def pick_link(page, fieldname: str, value: str) -> None:
	"""Type `value` into the dialog's Link field and pick it from the suggestions."""
	field = page.locator(f".mf-participant-task.show [data-fieldname='{fieldname}'] input")
	field.click()
	field.press_sequentially(value, delay=15)
	try:
		page.locator(f".mf-participant-task.show [data-fieldname='{fieldname}'] [role='option']").filter(
			has_text=value
		).first.click(timeout=15000)
	except Exception:
		screenshot(page, f"participant-tasks-pick-{fieldname}-failed")
		raise
	page.wait_for_function(
		"([f, v]) => cur_dialog && cur_dialog.get_value(f) === v", arg=[fieldname, value], timeout=5000
	)


def answer(page) -> str:
	result = page.locator(".modal.show .mf-task-result")
	result.wait_for(timeout=20000)
	page.wait_for_timeout(500)  # the message's fade-in, for the screenshots
	return text_of(result)


def close_message(page) -> None:
	page.locator(".modal.show .btn-modal-close").first.click()
	page.wait_for_function("() => !document.querySelector('.modal.show .mf-task-result')", timeout=10000)


def test_a_flow_administrator_adds_removes_and_adds_to_an_email_group(browser, desk_url, users):
	"""Three people in the flow; one of them is already active in the other flow, one's address is
	in the group already. Two ticked → Add to another flow: "1 added, 1 not added: already active
	in this flow". One ticked → Remove: gone from the Active list, Exited "Removed by ..." in the
	database. The list filtered to Active → Add to email group: "1 added, 1 not added: already in
	the group"."""
	people = [make_contact(first_name=unique("Task")) for _i in range(3)]
	source = make_flow(flow_name=unique("Tasks Source"))
	assert len(enrolment.enroll(source, people).enrolled) == 3
	target = make_flow(flow_name=unique("Tasks Target"))
	enrolment.enroll(target, [people[1]])
	group = frappe.get_doc({"doctype": "Email Group", "title": unique("Tasks Desk")}).insert().name
	emails = [frappe.db.get_value("Contact", c, "email_id") for c in people]
	frappe.get_doc({"doctype": "Email Group Member", "email_group": group, "email": emails[1]}).insert()
	frappe.db.commit()
	names = {
		r.contact: r.name
		for r in frappe.get_all("Marketing Flow Participant", {"flow": source.name}, ["name", "contact"])
	}

	page = login(browser, desk_url, users["admin"], PASSWORD)
	errors = watch_errors(page)
	try:
		open_participants(page, desk_url, source.name, 3)
		headers = [h.strip() for h in page.locator(".mf-participants thead th").all_inner_texts()]
		assert headers[:3] == ["Email", "Company", "Time Zone"], headers
		assert text_of(page.locator(".mf-selection-note")) == "No rows ticked: tasks take the whole list"
		# ticking a row does not open its timeline
		row(page, names[people[0]]).locator(".mf-select").check()
		row(page, names[people[1]]).locator(".mf-select").check()
		assert page.locator(".modal.show").count() == 0
		assert text_of(page.locator(".mf-selection-note")).startswith("2 selected")

		start_task(page, "add_to_flow", shot="participant-tasks-menu")
		assert [t.strip() for t in page.locator(".mf-participants .mf-task").all_text_contents()] == [
			"Add to another flow…",
			"Remove from this flow…",
			"Add to email group…",
		]
		apply_to = page.locator(".mf-participant-task.show select[data-fieldname='apply_to']")
		assert apply_to.input_value() == "selected"
		assert [o.strip() for o in apply_to.locator("option").all_inner_texts()] == [
			"The 2 selected",
			"Everyone in this list (3)",
		]
		pick_link(page, "target_flow", target.name)
		screenshot(page, "participant-tasks-add-dialog")
		page.locator(".mf-participant-task.show .btn-primary").click()
		said = answer(page)
		screenshot(page, "participant-tasks-add-result")
		assert said.startswith(f"1 added to {target.name}, 1 not added:"), said
		assert "already active in this flow: 1" in said, said
		frappe.db.rollback()
		in_target = set(frappe.get_all("Marketing Flow Participant", {"flow": target.name}, pluck="contact"))
		assert in_target == {people[0], people[1]}
		close_message(page)
		# the selection is done with: cleared
		page.wait_for_function(
			"() => !document.querySelectorAll('.mf-participants .mf-select:checked').length", timeout=10000
		)

		row(page, names[people[2]]).locator(".mf-select").check()
		start_task(page, "remove")
		assert "Removed by" in text_of(page.locator(".mf-participant-task.show .mf-remove-note"))
		page.locator(".mf-participant-task.show .btn-primary").click()
		said = answer(page)
		assert said == f"1 removed from {source.name}.", said
		screenshot(page, "participant-tasks-removed")
		close_message(page)
		frappe.db.rollback()
		removed = frappe.db.get_value(
			"Marketing Flow Participant", names[people[2]], ["status", "exit_reason"], as_dict=True
		)
		assert (removed.status, removed.exit_reason) == ("Exited", f"Removed by {users['admin']}")
		assert "Exited" in text_of(row(page, names[people[2]]))

		# the list filtered to the Active: the two others
		page.locator(".mf-participants .mf-filter-status").select_option("Active")
		page.wait_for_function(
			"() => document.querySelectorAll('.mf-participants tbody tr.mf-participant').length === 2",
			timeout=10000,
		)
		start_task(page, "add_to_email_group")
		apply_to = page.locator(".mf-participant-task.show select[data-fieldname='apply_to']")
		assert [o.strip() for o in apply_to.locator("option").all_inner_texts()] == [
			"Everyone in this list (2)"
		]
		pick_link(page, "email_group", group)
		page.locator(".mf-participant-task.show .btn-primary").click()
		said = answer(page)
		screenshot(page, "participant-tasks-email-group")
		assert said.startswith(f"1 added to email group {group}, 1 not added:"), said
		assert "already in the group: 1" in said
		frappe.db.rollback()
		members = set(frappe.get_all("Email Group Member", {"email_group": group}, pluck="email"))
		assert members == {emails[0], emails[1]}
		close_message(page)

		# a search narrows the list, and "everyone in this list" with it
		page.locator(".mf-participants .mf-filter-search").press_sequentially(emails[0][:-12], delay=20)
		page.wait_for_function(
			"() => document.querySelectorAll('.mf-participants tbody tr.mf-participant').length === 1",
			timeout=10000,
		)
		assert emails[0] in text_of(page.locator(".mf-participants tbody"))
		start_task(page, "remove")
		apply_to = page.locator(".mf-participant-task.show select[data-fieldname='apply_to']")
		assert [o.strip() for o in apply_to.locator("option").all_inner_texts()] == [
			"Everyone in this list (1)"
		]
	finally:
		page.close()
	assert not errors, errors


def test_a_content_editor_sees_no_tasks(browser, desk_url, users):
	people = [make_contact() for _i in range(2)]
	source = make_flow(flow_name=unique("Tasks Editor"))
	enrolment.enroll(source, people)
	frappe.db.commit()
	page = login(browser, desk_url, users["editor"], PASSWORD)
	errors = watch_errors(page)
	try:
		open_participants(page, desk_url, source.name, 2)
		screenshot(page, "participant-tasks-editor")
		assert page.locator(".mf-participants .mf-tasks").count() == 0
		assert page.locator(".mf-participants .mf-select, .mf-participants .mf-select-page").count() == 0
		assert page.locator(".mf-participants .mf-selection-note").count() == 0
		assert rows_shown(page) == 2
	finally:
		page.close()
	assert not errors, errors
