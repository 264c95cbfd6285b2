"""Living flows in the desk, in a real browser (Playwright driving Debian's chromium against
`bench serve`): the Wait for Action step built in the designer, the flow's exits and approval
there, the Versions tab (versions, their changes, the difference between two), the figures per
version, and the designer's "where the people go" dialog when a save removes a step people wait
at. Assertions are on the saved rows and on what is shown; screenshots go to the test's tmp dir."""

import json
from pathlib import Path

import frappe
import pytest

from conftest import login, node, open_tab, panel_field, watch_errors
from factories import end, make_contact, make_flow, make_user, participant, step, unique

PASSWORD = "Flows-Living-2026!"


@pytest.fixture(scope="module")
def admin():
	# a marketer who also keeps the email groups (Email Group is Newsletter Manager's)
	user = make_user(["Flow Administrator", "Sales User", "Newsletter Manager"], "livingadmin", PASSWORD)
	frappe.db.commit()
	return user


def shot(page, tmp_path: Path, name: str) -> Path:
	"""A screenshot in the test's own tmp dir (its path printed, to be looked at)."""
	path = tmp_path / f"{name}.png"
	page.screenshot(path=str(path), full_page=False)
	print(f"screenshot: {path}")
	return path


def drop(page, step_type: str, x: int, y: int) -> None:
	page.locator(f".mf-palette-item[data-step-type='{step_type}']").drag_to(
		page.locator(".mf-designer .vue-flow__pane"), target_position={"x": x, "y": y}
	)


def connect(page, source: str, handle: str, target: str) -> None:
	"""Drag from a handle of `source` to the input of `target` (again, once, when no edge came
	of it: a node that was just added may not have measured its handles yet)."""
	for _attempt in range(2):
		start = node(page, source).locator(f"[data-handleid='{handle}']").bounding_box()
		end_box = node(page, target).locator("[data-handleid='in']").bounding_box()
		page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
		page.mouse.down()
		page.mouse.move(end_box["x"] + end_box["width"] / 2, end_box["y"] + end_box["height"] / 2, steps=8)
		page.mouse.up()
		try:
			page.wait_for_function(
				"([sel, target]) => { const e = document.querySelector(sel);"
				" return e && e.getAttribute('aria-label').endsWith(' to ' + target); }",
				arg=[f".vue-flow__edge[data-id='{source}:{handle}']", target],
				timeout=3000,
			)
			return
		except Exception:
			page.wait_for_timeout(500)
	assert page.locator(f".vue-flow__edge[data-id='{source}:{handle}']").count() == 1, (
		f"no link from {source}:{handle} to {target}"
	)


def pick_link(page, fieldname: str, value: str) -> None:
	field = panel_field(page, fieldname)
	field.click()
	field.press_sequentially(value, delay=15)
	page.locator(f".mf-side-panel [data-fieldname='{fieldname}'] [role='option']").filter(
		has_text=value
	).first.click(timeout=15000)


def test_wait_for_action_exits_and_approval_in_the_designer(browser, desk_url, admin, tmp_path):
	"""A Wait for Action step dropped on the canvas has two ways out, "Action" (next_step) and
	"No action" (timeout_step), and its fields in the side panel (the record condition in the
	filter editor); the flow panel has the exits; the approval shows beside the status."""
	other = make_flow(flow_name=unique("Other")).name
	group = frappe.get_doc({"doctype": "Email Group", "title": unique("Leavers")}).insert().name
	flow = make_flow(
		steps=[step("start", "Wait", wait_amount=1, wait_unit="Days", next_step="end"), end()],
		flow_name=unique("Action"),
	).name
	frappe.db.set_value("Marketing Flow", flow, "approval_status", "Pending")
	frappe.db.commit()
	page = login(browser, desk_url, admin, PASSWORD)
	errors = watch_errors(page)
	page.goto(f"{desk_url}/app/marketing-flow-designer/{flow}")
	try:
		page.wait_for_selector(".mf-palette-item[data-step-type='Wait for Action']", timeout=30000)
		approval = page.locator(".page-head .mf-approval-indicator:visible")
		approval.wait_for(timeout=10000)
		assert approval.get_attribute("data-approval") == "Pending"
		assert "Pending" in approval.inner_text()

		drop(page, "Wait for Action", 420, 260)
		wfa = node(page, "wait_for_action")
		wfa.wait_for(timeout=10000)
		assert wfa.locator("[data-handleid='next']").count() == 1
		assert wfa.locator("[data-handleid='timeout']").count() == 1
		assert [t.strip() for t in wfa.locator(".mf-handle-label").all_inner_texts()] == [
			"Action",
			"No action",
		]
		drop(page, "End", 620, 480)
		node(page, "end_2").wait_for(timeout=10000)
		connect(page, "start", "next", "wait_for_action")
		connect(page, "wait_for_action", "next", "end")
		connect(page, "wait_for_action", "timeout", "end_2")
		assert page.locator(".vue-flow__edge").count() == 3

		wfa.locator(".mf-node-label").click()
		page.wait_for_selector(".mf-side-panel [data-fieldname='action_clicked']", timeout=10000)
		# the record condition is the designer's filter editor, as a Condition's filters
		page.locator(".mf-side-panel [data-fieldname='action_filters'] .mf-filter-area").wait_for(
			timeout=10000
		)
		assert page.locator(".mf-side-panel [data-fieldname='timeout_step'] select").input_value() == "end_2"
		panel_field(page, "action_clicked").check()
		url = panel_field(page, "action_url")
		url.wait_for(timeout=5000)
		url.fill("offer")
		url.press("Tab")
		panel_field(page, "action_replied").check()
		amount = panel_field(page, "wait_amount")
		amount.fill("3")
		amount.press("Tab")
		panel_field(page, "wait_unit").select_option("Days")
		page.wait_for_function(
			"() => (document.querySelector(\".vue-flow__node[data-id='wait_for_action'] .mf-node-summary\")"
			" || {}).innerText?.includes('3 days')",
			timeout=10000,
		)
		# the server's check (as the save's) has nothing left to say about the step
		page.wait_for_function("() => !document.querySelector('.mf-node-warning')", timeout=15000)
		shot(page, tmp_path, "designer-wait-for-action")

		# the flow's own panel: the exits
		pane = page.locator(".mf-designer .vue-flow__pane")
		pane.click(position={"x": pane.bounding_box()["width"] - 30, "y": 30})  # an empty corner
		page.wait_for_selector(".mf-side-panel [data-fieldname='exit_flow']", timeout=10000)
		pick_link(page, "exit_email_group", group)
		multi = page.locator(".mf-side-panel [data-fieldname='remove_from_flows'] input").first
		multi.click()
		multi.press_sequentially(other, delay=15)
		page.locator(".mf-side-panel [data-fieldname='remove_from_flows'] [role='option']").filter(
			has_text=other
		).first.click(timeout=15000)
		page.locator(".mf-side-panel [data-fieldname='remove_from_flows'] .tb-selected-value").wait_for(
			timeout=5000
		)
		page.locator(".mf-side-panel [data-fieldname='exits_section']").scroll_into_view_if_needed()
		shot(page, tmp_path, "designer-exits")

		page.wait_for_function("() => !document.querySelector('.mf-node-warning')", timeout=15000)
		page.locator(".page-head .primary-action:visible").click()
		page.wait_for_selector("text=Saved", timeout=20000)
		page.wait_for_timeout(500)
		shot(page, tmp_path, "designer-wait-for-action-saved")
	except Exception as e:
		shot(page, tmp_path, "designer-wait-for-action-failed")
		raise AssertionError(f"{e}; page errors: {errors}") from e
	page.close()
	frappe.db.rollback()
	saved = frappe.get_doc("Marketing Flow", flow)
	steps = {s.step_id: s for s in saved.steps}
	w = steps["wait_for_action"]
	assert w.step_type == "Wait for Action"
	assert (w.next_step, w.timeout_step) == ("end", "end_2")
	assert (w.action_clicked, w.action_url, w.action_replied) == (1, "offer", 1)
	assert (w.wait_amount, w.wait_unit) == (3, "Days")
	assert steps["start"].next_step == "wait_for_action"
	assert saved.exit_email_group == group
	assert [r.flow for r in saved.remove_from_flows] == [other]
	assert not errors, errors


def test_versions_tab_lists_versions_their_differences_and_figures_per_version(
	browser, desk_url, admin, tmp_path
):
	"""Version 1 at the first Run, version 2 by a save while paused (the wait got longer): the
	Versions tab lists both with their changes and the difference between them; the figures'
	version select shows the person (moved onto version 2) under version 2 and none under 1."""
	from marketing_flows.engine.entering import enrolment

	flow = make_flow(
		steps=[step("w1", "Wait", wait_amount=1, wait_unit="Days", next_step="end"), end()],
		flow_name=unique("Versioned"),
	)
	flow.run()
	contact = make_contact()
	assert enrolment.enroll(frappe.get_doc("Marketing Flow", flow.name), [contact]).enrolled
	flow = frappe.get_doc("Marketing Flow", flow.name)
	flow.pause()
	flow.reload()
	flow.steps[0].wait_amount = 5
	flow.save()
	frappe.db.commit()
	assert frappe.db.count("Marketing Flow Version", {"flow": flow.name}) == 2
	assert participant(flow.name, contact).flow_version == 2

	page = login(browser, desk_url, admin, PASSWORD)
	errors = watch_errors(page)
	try:
		page.goto(f"{desk_url}/app/marketing-flow/{flow.name}")
		page.wait_for_selector(".mf-figures .mf-enrolled", timeout=20000)
		open_tab(page, "versions_tab")
		page.locator(".mf-version").nth(1).wait_for(timeout=20000)
		cards = page.locator(".mf-version")
		assert cards.count() == 2
		assert cards.nth(0).get_attribute("data-version") == "2"
		assert "Live" in cards.nth(0).inner_text()
		assert cards.nth(0).locator(".mf-version-changes li").count() >= 1
		assert "1 person on it now" in " ".join(cards.nth(0).inner_text().split())
		# the difference between version 1 and version 2, shown by default
		diff = page.locator(".mf-differences .mf-difference-list li")
		diff.first.wait_for(timeout=20000)
		sentences = diff.all_inner_texts()
		assert any("w1" in s or "5" in s for s in sentences), sentences
		page.locator(".mf-version-compare").scroll_into_view_if_needed()
		shot(page, tmp_path, "versions-tab")
		# against the flow as it is now: nothing changed since version 2
		page.locator(".mf-compare-from").select_option("2")
		page.locator(".mf-compare-to").select_option("")
		page.locator(".mf-differences .mf-no-differences").wait_for(timeout=20000)

		open_tab(page, "overview_tab")
		select = page.locator(".mf-figures-version-select:visible").first
		select.wait_for(timeout=10000)
		assert select.locator("option").all_inner_texts() == ["All versions", "Version 2", "Version 1"]
		enrolled = page.locator(".mf-figures .mf-enrolled .h4")
		assert enrolled.inner_text().strip() == "1"
		select.select_option("1")
		page.wait_for_function(
			"() => document.querySelector('.mf-figures .mf-enrolled .h4').innerText.trim() === '0'",
			timeout=20000,
		)
		shot(page, tmp_path, "figures-version-1")
		select.select_option("2")
		page.wait_for_function(
			"() => document.querySelector('.mf-figures .mf-enrolled .h4').innerText.trim() === '1'",
			timeout=20000,
		)
		# the Flow tab has the same select, on the same version
		open_tab(page, "steps_tab")
		flow_select = page.locator(".mf-figures-version-select:visible").first
		flow_select.wait_for(timeout=10000)
		assert flow_select.input_value() == "2"
		node(page, "w1").locator(".mf-node-figures").wait_for(timeout=20000)
		assert "Waiting here 1" in " ".join(node(page, "w1").locator(".mf-node-figures").inner_text().split())
		shot(page, tmp_path, "flow-tab-version-2")
	except Exception as e:
		shot(page, tmp_path, "versions-failed")
		raise AssertionError(f"{e}; page errors: {errors}") from e
	page.close()
	assert not errors, errors


def test_saving_without_a_step_people_wait_at_asks_where_they_go(browser, desk_url, admin, tmp_path, worker):
	"""A paused flow whose first wait (w1) has a person waiting: the designer deletes w1 and
	saves; a dialog lists the person at w1 and the changes, proposes targets, and the chosen
	one (w2, keeping their due time) is where the person is afterwards, on version 2."""
	flow = make_flow(
		steps=[
			step("w1", "Wait", wait_amount=3, wait_unit="Days", next_step="w2", label="W1"),
			step("w2", "Wait", wait_amount=1, wait_unit="Days", next_step="end", label="W2"),
			end(),
		],
		flow_name=unique("Mapped"),
	)
	flow.run()
	contact = make_contact()
	flow.enroll([contact])
	worker()
	before = participant(flow.name, contact)
	assert (before.status, before.current_step, before.flow_version) == ("Waiting", "w1", 1)
	frappe.get_doc("Marketing Flow", flow.name).pause()
	frappe.db.commit()

	page = login(browser, desk_url, admin, PASSWORD)
	errors = watch_errors(page)
	page.goto(f"{desk_url}/app/marketing-flow-designer/{flow.name}")
	try:
		node(page, "w1").wait_for(timeout=30000)
		node(page, "w1").locator(".mf-node-label").click()
		page.locator(".mf-side-panel .mf-delete").click()
		page.wait_for_timeout(300)
		assert node(page, "w1").count() == 0
		assert node(page, "w2").locator(".mf-start-badge").count() == 1
		page.locator(".page-head .primary-action:visible").click()
		dialog = page.locator(".modal.show.mf-where-people-go")
		dialog.wait_for(timeout=20000)
		text = " ".join(dialog.inner_text().split())
		assert "1 person at W1 (Wait 3 days)" in text, text
		assert dialog.locator(".mf-plan-changes li").count() >= 1
		target = dialog.locator("[data-fieldname='to_0'] select")
		options = target.locator("option").all_inner_texts()
		assert "W2 (w2)" in options and any("drain" in o for o in options), options
		target.select_option("w2")
		due = dialog.locator("[data-fieldname='due_0'] select")
		due.wait_for(state="visible", timeout=5000)  # w2 is a wait: keep the due time or start anew
		assert due.input_value() == "keep"
		shot(page, tmp_path, "where-the-people-go")
		dialog.locator(".btn-primary:has-text('Save')").click()
		page.wait_for_selector("text=Saved", timeout=20000)
		page.wait_for_timeout(500)
		shot(page, tmp_path, "where-the-people-go-saved")
	except Exception as e:
		shot(page, tmp_path, "where-the-people-go-failed")
		raise AssertionError(f"{e}; page errors: {errors}") from e
	page.close()
	frappe.db.rollback()
	after = participant(flow.name, contact)
	assert (after.status, after.current_step, after.flow_version) == ("Waiting", "w2", 2)
	assert after.next_run_at == before.next_run_at  # their due time kept
	assert [s.step_id for s in frappe.get_doc("Marketing Flow", flow.name).steps] == ["w2", "end"]
	version = frappe.get_all(
		"Marketing Flow Version", filters={"flow": flow.name, "version": 2}, fields=["plan", "moved"]
	)[0]
	assert json.loads(version.plan) == {"w1": {"to": "w2", "due": "keep"}}
	assert version.moved == 1
	assert not errors, errors


def test_a_save_that_changes_no_step_with_people_asks_nothing(browser, desk_url, admin, tmp_path, worker):
	"""A paused flow with a person at w1: a new step added after w2 changes nothing for w1's
	people, so the designer saves without the dialog."""
	flow = make_flow(
		steps=[
			step("w1", "Wait", wait_amount=3, wait_unit="Days", next_step="end", label="W1"),
			end(),
		],
		flow_name=unique("Unasked"),
	)
	flow.run()
	contact = make_contact()
	flow.enroll([contact])
	worker()
	frappe.get_doc("Marketing Flow", flow.name).pause()
	frappe.db.commit()

	page = login(browser, desk_url, admin, PASSWORD)
	errors = watch_errors(page)
	page.goto(f"{desk_url}/app/marketing-flow-designer/{flow.name}")
	try:
		node(page, "end").wait_for(timeout=30000)
		node(page, "end").locator(".mf-node-label").click()
		label = panel_field(page, "label")
		label.fill("The end")
		label.press("Tab")
		page.locator(".page-head .primary-action:visible").click()
		page.wait_for_selector("text=Saved", timeout=20000)
		assert page.locator(".modal.show.mf-where-people-go").count() == 0
	except Exception as e:
		shot(page, tmp_path, "unasked-failed")
		raise AssertionError(f"{e}; page errors: {errors}") from e
	page.close()
	frappe.db.rollback()
	assert participant(flow.name, contact).current_step == "w1"
	assert frappe.get_doc("Marketing Flow", flow.name).steps[1].label == "The end"
	assert not errors, errors
