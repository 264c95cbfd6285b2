"""Criteria in words, in a real browser (Playwright driving Debian's chromium against `bench
serve`): a flow's success criteria and a Split's branches show their filters as sentences
("Status equals Replied and Company Name is set"; "any" for none), in the designer's panel and
on the flow form, and are edited with Frappe's filter editor on the doctype the row's type names;
what is saved is the filters as JSON. A running flow shows the words, not editors; a German
user reads German operators. Screenshots go to the artifacts dir (conftest.screenshot)."""

from __future__ import annotations

import json

import frappe
import pytest

from conftest import login, node, open_tab, screenshot, text_of, watch_errors
from factories import end, make_user, step, unique

PASSWORD = "Flows-Words-2026!"

REPLIED_WITH_COMPANY = json.dumps(
	[["Contact", "status", "=", "Replied"], ["Contact", "company_name", "is", "set"]]
)


@pytest.fixture(scope="module")
def admin():
	user = make_user(["Flow Administrator", "Sales User"], "wordsadmin", PASSWORD)
	frappe.db.commit()
	return user


def tag(step_id: str) -> dict:
	return step(
		step_id, "Update Participant", update_field="designation", update_value=step_id, next_step="end"
	)


def words_flow(**values) -> str:
	"""A Draft flow with two success criteria (one with two conditions, one with none) and a Split
	with two branches on the person's fields."""
	flow = frappe.get_doc(
		{
			"doctype": "Marketing Flow",
			"flow_name": unique("Words"),
			"steps": [
				step("split", "Split", label="By department", else_step="rest"),
				tag("vip"),
				tag("member"),
				tag("rest"),
				end(),
			],
			"branches": [
				{
					"step_id": "split",
					"branch_label": "Board members",
					"condition_type": "Field",
					"condition_filters": '[["department", "=", "Board"]]',
					"next_step": "vip",
				},
				{
					"step_id": "split",
					"branch_label": "Sales team",
					"condition_type": "Field",
					"condition_filters": '[["department", "like", "%Sales%"], ["designation", "is", "set"]]',
					"next_step": "member",
				},
			],
			"success_criteria": [
				{"criterion_type": "Person Updated", "label": "Replied", "conditions": REPLIED_WITH_COMPANY},
				{"criterion_type": "Person Updated", "label": "Chief", "conditions": ""},
			],
			**values,
		}
	).insert()
	frappe.db.commit()
	return flow.name


def grid_rows(page, scope: str, fieldname: str) -> list[str]:
	rows = page.locator(f"{scope} [data-fieldname='{fieldname}'] .grid-body .grid-row .data-row")
	return [" ".join(t.split()) for t in rows.all_inner_texts()]


def flow_panel(page) -> None:
	"""The flow's panel (a click on an empty corner of the canvas), its Success criteria shown."""
	pane = page.locator(".mf-designer .vue-flow__pane")
	pane.click(position={"x": pane.bounding_box()["width"] - 30, "y": 30})
	grid = page.locator(".mf-side-panel [data-fieldname='success_criteria']").first
	grid.wait_for(timeout=10000)
	grid.scroll_into_view_if_needed()


def wait_for_words(page, scope: str, fieldname: str, row: int, text: str) -> None:
	page.wait_for_function(
		"([scope, fieldname, row, text]) => { const rows = document.querySelectorAll("
		"`${scope} [data-fieldname='${fieldname}'] .grid-body .grid-row .data-row`);"
		" return rows[row] && rows[row].innerText.replace(/\\s+/g, ' ').includes(text); }",
		arg=[scope, fieldname, row, text],
		timeout=15000,
	)


def success_grid(page, form: str):
	"""The flow form's Success tab opened, its criteria grid on screen (the tab fades in)."""
	open_tab(page, "success_tab")
	grid = page.locator(f"{form} [data-fieldname='success_criteria']").first
	grid.wait_for(state="visible", timeout=10000)
	grid.scroll_into_view_if_needed()
	page.wait_for_timeout(600)
	return grid


def set_filter(page, box, typed: str, label: str, value: str) -> None:
	"""In a filter box of Frappe's filter editor: pick the field, "=", and type the value, as a
	user does. Frappe draws the value's input again when the field or the condition changes,
	so each is done again until it took (a fast robot can type into the input being replaced)."""
	for _attempt in range(3):
		field = box.locator(".fieldname-select-area input")
		field.click()
		field.fill(typed)
		try:
			page.locator(".filter-field-select", has_text=label).first.click(timeout=5000)
			break
		except Exception:
			page.wait_for_timeout(300)
	box.locator("select.condition").select_option("=")
	for _attempt in range(5):
		page.wait_for_timeout(200)
		box.locator(".filter-field input").first.fill(value)
		box.locator(".filter-field input").first.press("Tab")
		page.wait_for_timeout(200)
		if box.locator(".filter-field input").first.input_value() == value:
			return
	raise AssertionError(f"the filter's value {value!r} did not take")


def test_designer_shows_criteria_in_words_and_edits_them_with_the_filter_editor(browser, desk_url, admin):
	"""The Success criteria grid of the flow's panel reads "Status equals Replied and Company Name
	is set" and "any"; the second row opened has Frappe's filter editor on Contact (the panel
	widens for it): Designation equals CEO added, the grid says so, and the saved flow holds the
	filter as JSON."""
	flow = words_flow()
	page = login(browser, desk_url, admin, PASSWORD)
	errors = watch_errors(page)
	page.goto(f"{desk_url}/app/marketing-flow-designer/{flow}")
	panel = ".mf-side-panel"
	try:
		node(page, "split").wait_for(timeout=30000)
		flow_panel(page)
		wait_for_words(page, panel, "success_criteria", 0, "Status equals Replied and Company Name is set")
		rows = grid_rows(page, panel, "success_criteria")
		# the panel's grids have no row numbers: type and conditions
		assert rows[0] == "Person Updated Status equals Replied and Company Name is set", rows
		assert rows[1] == "Person Updated any", rows
		assert "[[" not in " ".join(rows)
		screenshot(page, "criteria-words-designer")

		# the second criterion opened: Frappe's filter editor, on the flow's people (Contact)
		grid = page.locator(f"{panel} [data-fieldname='success_criteria']").first
		grid.locator(".grid-body .grid-row").nth(1).locator(".btn-open-row").click()
		editor = grid.locator(".grid-row-open .mf-row-filters .filter-area")
		editor.wait_for(timeout=10000)
		page.wait_for_function(  # room for the row's form
			"() => document.querySelector('.mf-side-panel').getBoundingClientRect().width > 500", timeout=5000
		)
		assert grid.locator(".grid-row-open [data-fieldname='conditions'] .ace_editor:visible").count() == 0
		editor.locator(".add-filter").click()
		box = editor.locator(".filter-box").last
		box.wait_for(timeout=5000)
		set_filter(page, box, "designation", "Designation", "CEO")
		page.wait_for_timeout(500)
		screenshot(page, "criteria-words-designer-editing")
		grid.locator(".grid-row-open .grid-collapse-row").click()
		wait_for_words(page, panel, "success_criteria", 1, "Designation equals CEO")
		page.wait_for_function(  # back to the narrow panel (after its transition)
			"() => document.querySelector('.mf-side-panel').getBoundingClientRect().width < 400", timeout=5000
		)
		screenshot(page, "criteria-words-designer-edited")

		page.locator(".page-head .primary-action:visible").click()
		page.wait_for_selector("text=Saved", timeout=20000)
		page.wait_for_timeout(500)
		flow_panel(page)
		wait_for_words(page, panel, "success_criteria", 1, "Designation equals CEO")
	except Exception as e:
		screenshot(page, "criteria-words-designer-failed")
		raise AssertionError(f"{e}; page errors: {errors}") from e
	page.close()
	frappe.db.rollback()
	saved = frappe.get_doc("Marketing Flow", flow)
	assert json.loads(saved.success_criteria[1].conditions) == [["Contact", "designation", "=", "CEO"]]
	assert saved.success_criteria[0].conditions == REPLIED_WITH_COMPANY
	assert not errors, errors


def test_split_branches_read_as_label_and_condition_in_the_narrow_panel(browser, desk_url, admin):
	"""A Split's branches grid shows each branch's label and its condition in words, whole; its
	row's form edits the condition with the filter editor."""
	flow = words_flow()
	page = login(browser, desk_url, admin, PASSWORD)
	errors = watch_errors(page)
	page.goto(f"{desk_url}/app/marketing-flow-designer/{flow}")
	panel = ".mf-side-panel"
	try:
		node(page, "split").locator(".mf-node-label").click()
		grid = page.locator(f"{panel} [data-fieldname='branches']").first
		grid.wait_for(timeout=10000)
		grid.scroll_into_view_if_needed()
		wait_for_words(page, panel, "branches", 0, "Department equals Board")
		rows = grid_rows(page, panel, "branches")
		assert rows == [
			"Board members Department equals Board",
			"Sales team Department like %Sales% and Designation is set",
		], rows
		# each cell shows its whole text: nothing cut off
		for cell in grid.locator(".grid-body .grid-static-col").all():
			assert cell.evaluate("e => e.scrollWidth <= e.clientWidth + 1"), cell.inner_text()
		screenshot(page, "criteria-words-split-branches")
		grid.locator(".grid-body .grid-row").nth(0).locator(".btn-open-row").click()
		editor = grid.locator(".grid-row-open .mf-row-filters .filter-area")
		editor.wait_for(timeout=10000)
		assert editor.locator(".filter-box").count() == 1
		editor.scroll_into_view_if_needed()
		page.wait_for_timeout(300)
		screenshot(page, "criteria-words-split-branch-open")
	except Exception as e:
		screenshot(page, "criteria-words-split-failed")
		raise AssertionError(f"{e}; page errors: {errors}") from e
	page.close()
	assert not errors, errors


def test_flow_form_success_tab_shows_words_and_edits_with_the_filter_editor(browser, desk_url, admin):
	"""On the flow form, the Success tab's criteria grid shows the words; a row's form has the
	filter editor with the row's two conditions."""
	flow = words_flow()
	page = login(browser, desk_url, admin, PASSWORD)
	errors = watch_errors(page)
	page.goto(f"{desk_url}/app/marketing-flow/{flow}")
	form = ".form-layout"
	try:
		page.locator(".page-title").wait_for(timeout=30000)
		grid = success_grid(page, form)
		wait_for_words(page, form, "success_criteria", 0, "Status equals Replied and Company Name is set")
		rows = grid_rows(page, form, "success_criteria")
		assert "Status equals Replied and Company Name is set" in rows[0], rows
		assert rows[1].endswith("any"), rows
		screenshot(page, "criteria-words-form")
		grid.locator(".grid-body .grid-row").nth(0).locator(".btn-open-row").click()
		editor = grid.locator(".grid-row-open .mf-row-filters .filter-area")
		editor.wait_for(timeout=10000)
		page.wait_for_function(
			"() => document.querySelectorAll('.grid-row-open .mf-row-filters .filter-box').length === 2",
			timeout=10000,
		)
		page.wait_for_timeout(500)  # the row's form fades in
		screenshot(page, "criteria-words-form-row")
	except Exception as e:
		screenshot(page, "criteria-words-form-failed")
		raise AssertionError(f"{e}; page errors: {errors}") from e
	page.close()
	assert not errors, errors


def test_read_only_flows_show_the_words_not_editors(browser, desk_url, admin):
	"""A running flow in the designer: the criteria's and the branches' rows open with their
	conditions in words and no filter editor. A Content Editor who reads German sees the flow
	form's criteria in German words ("ist gleich", "eingetragen": Frappe's own words for the
	operators), and a row opened shows the words, not an editor."""
	flow = words_flow()
	frappe.get_doc("Marketing Flow", flow).run()
	editor_user = make_user(["Flow Content Editor"], "wordseditor", PASSWORD)
	frappe.db.set_value("User", editor_user, "language", "de")
	frappe.db.commit()

	page = login(browser, desk_url, admin, PASSWORD)
	errors = watch_errors(page)
	page.goto(f"{desk_url}/app/marketing-flow-designer/{flow}")
	panel = ".mf-side-panel"
	try:
		node(page, "split").wait_for(timeout=30000)
		flow_panel(page)
		wait_for_words(page, panel, "success_criteria", 0, "Status equals Replied and Company Name is set")
		grid = page.locator(f"{panel} [data-fieldname='success_criteria']").first
		grid.locator(".grid-body .grid-row").nth(0).locator(".btn-open-row").click()
		words = grid.locator(".grid-row-open .mf-row-filters .mf-filter-words")
		words.wait_for(timeout=10000)
		assert text_of(words) == "Status equals Replied and Company Name is set"
		assert grid.locator(".grid-row-open .filter-area").count() == 0
		page.wait_for_timeout(500)  # the row's form fades in
		screenshot(page, "criteria-words-running-designer")
		grid.locator(".grid-row-open .grid-collapse-row").click()
		node(page, "split").locator(".mf-node-label").click()
		wait_for_words(page, panel, "branches", 0, "Department equals Board")
		branches = page.locator(f"{panel} [data-fieldname='branches']").first
		branches.locator(".grid-body .grid-row").nth(1).locator(".btn-open-row").click()
		words = branches.locator(".grid-row-open .mf-row-filters .mf-filter-words")
		words.wait_for(timeout=10000)
		assert text_of(words) == "Department like %Sales% and Designation is set"
		assert branches.locator(".grid-row-open .filter-area").count() == 0
	except Exception as e:
		screenshot(page, "criteria-words-running-failed")
		raise AssertionError(f"{e}; page errors: {errors}") from e
	page.close()

	page = login(browser, desk_url, editor_user, PASSWORD)
	errors += watch_errors(page)
	page.goto(f"{desk_url}/app/marketing-flow/{flow}")
	form = ".form-layout"
	try:
		page.locator(".page-title").wait_for(timeout=30000)
		grid = success_grid(page, form)
		wait_for_words(page, form, "success_criteria", 0, "ist gleich")
		rows = grid_rows(page, form, "success_criteria")
		assert " und " in rows[0] and "ist eingetragen" in rows[0], rows
		screenshot(page, "criteria-words-form-german")
		grid.locator(".grid-body .grid-row").nth(0).locator(".btn-open-row").click()
		words = grid.locator(".grid-row-open .mf-row-filters .mf-filter-words")
		words.wait_for(timeout=10000)
		assert "ist gleich" in text_of(words)
		assert grid.locator(".grid-row-open .filter-area").count() == 0
		page.wait_for_timeout(500)  # the row's form fades in
		screenshot(page, "criteria-words-form-german-row")
	except Exception as e:
		screenshot(page, "criteria-words-german-failed")
		raise AssertionError(f"{e}; page errors: {errors}") from e
	page.close()
	assert not errors, errors
