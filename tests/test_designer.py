"""The flow designer and the flow's own screens in a real browser (Playwright driving Debian's
chromium against `bench serve`): build a flow only by dragging and connecting, fill the side
panel, save, run, enrol, watch. Assertions are on the saved rows and on what is shown, never on
pixel positions."""


import frappe
import pytest

from conftest import login, screenshot
from factories import make_content, make_user, unique

PASSWORD = "Flows-Designer-2026!"


@pytest.fixture(scope="module")
def people(smtp):
	users = {
		"admin": make_user(["Flow Administrator", "Sales User"], "designadmin", PASSWORD),
		"editor": make_user(["Flow Content Editor"], "designeditor", PASSWORD),
	}
	content = make_content("Email", content_name=unique("Welcome")).name
	flow = frappe.get_doc(
		{"doctype": "Marketing Flow", "flow_name": unique("Designed"), "steps": []}
	).insert()
	frappe.db.commit()
	return {**users, "content": content, "flow": flow.name}


def watch_errors(page) -> list[str]:
	errors: list[str] = []
	page.on("pageerror", lambda e: errors.append(str(e)))
	return errors


def node(page, step_id: str):
	return page.locator(f".vue-flow__node[data-id='{step_id}']")


def drop(page, step_type: str, x: int, y: int) -> None:
	page.locator(f".mf-palette-item[data-step-type='{step_type}']").drag_to(
		page.locator(".mf-designer .vue-flow__pane"), target_position={"x": x, "y": y}
	)


def connect(page, source: str, handle: str, target: str) -> None:
	start = node(page, source).locator(f"[data-handleid='{handle}']").bounding_box()
	end = node(page, target).locator("[data-handleid='in']").bounding_box()
	page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
	page.mouse.down()
	page.mouse.move(end["x"] + end["width"] / 2, end["y"] + end["height"] / 2, steps=8)
	page.mouse.up()


def panel_field(page, fieldname: str):
	return page.locator(f".mf-side-panel [data-fieldname='{fieldname}'] :is(input, select, textarea)").first


def pick_link(page, fieldname: str, value: str) -> None:
	field = panel_field(page, fieldname)
	field.click()
	field.press_sequentially(value, delay=15)
	page.locator(f".mf-side-panel [data-fieldname='{fieldname}'] [role='option']").filter(
		has_text=value
	).first.click(timeout=15000)


def test_build_a_flow_in_the_designer_by_dragging_and_connecting(browser, desk_url, people):
	page = login(browser, desk_url, people["admin"], PASSWORD)
	errors = watch_errors(page)
	page.goto(f"{desk_url}/app/marketing-flow/{people['flow']}")
	page.locator(".page-actions button:has-text('Edit'):visible").first.click(timeout=20000)
	page.wait_for_url(lambda url: "/app/marketing-flow-designer/" in url, timeout=20000)
	try:
		page.wait_for_selector(".mf-palette-item[data-step-type='Send Email']", timeout=30000)
		# every step type of the doctype is in the palette
		options = frappe.get_meta("Marketing Flow Step").get_field("step_type").options.split("\n")
		assert page.locator(".mf-palette-item").count() == len([o for o in options if o])

		drop(page, "Send Email", 300, 80)
		node(page, "send_email").wait_for(timeout=10000)
		drop(page, "Wait", 300, 260)
		node(page, "wait").wait_for(timeout=10000)
		drop(page, "Condition", 300, 440)
		node(page, "condition").wait_for(timeout=10000)
		drop(page, "End", 120, 640)
		node(page, "end").wait_for(timeout=10000)
		drop(page, "End", 520, 640)
		node(page, "end_2").wait_for(timeout=10000)
		assert node(page, "send_email").locator(".mf-start-badge").count() == 1
		assert node(page, "send_email").locator("[data-handleid='in']").count() == 0
		assert node(page, "condition").locator("[data-handleid='yes']").count() == 1
		assert node(page, "condition").locator("[data-handleid='no']").count() == 1
		assert node(page, "end").locator("[data-handleid='next']").count() == 0

		connect(page, "send_email", "next", "wait")
		connect(page, "wait", "next", "condition")
		connect(page, "condition", "yes", "end")
		connect(page, "condition", "no", "end_2")
		page.wait_for_selector(".vue-flow__edge", state="attached", timeout=10000)
		assert page.locator(".vue-flow__edge").count() == 4

		# the server's validation marks the incomplete email step
		node(page, "send_email").locator(".mf-node-warning").wait_for(timeout=15000)
		screenshot(page, "designer-warning")

		node(page, "send_email").locator(".mf-node-label").click()
		page.wait_for_selector(".mf-side-panel [data-fieldname='content']", timeout=10000)
		pick_link(page, "content", people["content"])
		label = panel_field(page, "label")
		label.fill("Welcome email")
		label.press("Tab")

		node(page, "wait").locator(".mf-node-label").click()
		page.wait_for_selector(".mf-side-panel [data-fieldname='wait_amount']", timeout=10000)
		amount = panel_field(page, "wait_amount")
		amount.fill("2")
		amount.press("Tab")
		panel_field(page, "wait_unit").select_option("Days")

		node(page, "condition").locator(".mf-node-label").click()
		page.wait_for_selector(".mf-side-panel [data-fieldname='condition_type']", timeout=10000)
		panel_field(page, "condition_type").select_option("Clicked")
		page.wait_for_selector(".mf-side-panel [data-fieldname='condition_step'] select", timeout=10000)
		panel_field(page, "condition_step").select_option("send_email")
		days = panel_field(page, "condition_days")
		days.fill("7")
		days.press("Tab")

		page.locator(".mf-designer .vue-flow__pane").click(position={"x": 700, "y": 60})
		page.wait_for_function("() => !document.querySelector('.mf-node-warning')", timeout=15000)
		assert "Clicked 'Welcome email'" in node(page, "condition").inner_text()
		assert "2" in node(page, "wait").inner_text()
		screenshot(page, "designer-built")

		page.locator(".page-head .primary-action:visible").click()
		page.wait_for_selector("text=Saved", timeout=20000)
	except Exception as e:
		screenshot(page, "designer-failed")
		raise AssertionError(f"{e}; page errors: {errors}") from e
	page.close()

	frappe.db.rollback()
	flow = frappe.get_doc("Marketing Flow", people["flow"])
	steps = {s.step_id: s for s in flow.steps}
	assert [s.step_id for s in flow.steps][0] == "send_email"
	assert steps["send_email"].content == people["content"]
	assert steps["send_email"].label == "Welcome email"
	assert steps["send_email"].next_step == "wait"
	assert (steps["wait"].wait_amount, steps["wait"].wait_unit, steps["wait"].next_step) == (
		2,
		"Days",
		"condition",
	)
	c = steps["condition"]
	assert (c.condition_type, c.condition_step, c.condition_days) == ("Clicked", "send_email", 7)
	assert (c.yes_step, c.no_step) == ("end", "end_2")
	assert all(s.position_x is not None and s.position_y is not None for s in flow.steps)
	assert not errors, errors
