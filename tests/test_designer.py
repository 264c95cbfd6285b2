"""The flow designer and the flow's own screens in a real browser (Playwright driving Debian's
chromium against `bench serve`): build a flow only by dragging and connecting, fill the side
panel, save, run, enrol, watch. Assertions are on the saved rows and on what is shown, never on
pixel positions."""

import frappe
import pytest

from conftest import login, node, open_tab, panel_field, screenshot, watch_errors
from factories import make_contact, make_content, make_flow, make_user, unique

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


def drop(page, step_type: str, x: int, y: int) -> None:
	page.locator(f".mf-palette-item[data-step-type='{step_type}']").drag_to(
		page.locator(".mf-designer .vue-flow__pane"), target_position={"x": x, "y": y}
	)


def connect(page, source: str, handle: str, target: str) -> None:
	"""Drag from a handle of `source` to the input of `target` (again, once, when no edge came
	of it: a node that was just added may not have measured its handles yet)."""
	edge = page.locator(f".vue-flow__edge[data-id='{source}:{handle}']")
	for _attempt in range(2):
		start = node(page, source).locator(f"[data-handleid='{handle}']").bounding_box()
		end = node(page, target).locator("[data-handleid='in']").bounding_box()
		page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
		page.mouse.down()
		page.mouse.move(end["x"] + end["width"] / 2, end["y"] + end["height"] / 2, steps=8)
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
	assert edge.count() == 1, f"no link from {source}:{handle} to {target}"


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


def test_run_enrol_and_watch_the_flow(browser, desk_url, people, worker):
	"""After the designer saved it: Run, enrol a contact from the Contact list, then the
	participant, the node figures, the charts, the timeline, and a segment from a step."""
	flow = people["flow"]
	assert frappe.db.get_value("Marketing Flow", flow, "status") == "Draft"
	first = unique("Watch")
	contact = make_contact(first_name=first)
	email = f"{first.lower()}@example.com"
	frappe.db.commit()
	page = login(browser, desk_url, people["admin"], PASSWORD)
	errors = watch_errors(page)
	try:
		page.goto(f"{desk_url}/app/marketing-flow/{flow}")
		page.locator(".page-actions button:has-text('Run'):visible").first.click(timeout=20000)
		page.wait_for_selector(".page-head .indicator-pill:has-text('Running')", timeout=20000)

		page.goto(f"{desk_url}/app/contact?first_name={first}")
		row = page.locator(".list-row-container").filter(has_text=first).first
		row.locator(".list-row-checkbox").check(timeout=20000)
		page.locator(".page-actions button:has-text('Actions'):visible").first.click()
		page.locator(".dropdown-menu.show a:has-text('Add to flow')").first.click()
		page.wait_for_function("() => window.cur_dialog && cur_dialog.fields_dict.flow", timeout=10000)
		page.evaluate("(flow) => cur_dialog.set_value('flow', flow)", flow)
		page.wait_for_timeout(300)
		page.click(".modal.show button:has-text('Add')")
		page.wait_for_selector(f"text=1 of 1 added to {flow}", timeout=20000)
		screenshot(page, "contact-list-add-to-flow")
	except Exception as e:
		screenshot(page, "enrol-failed")
		raise AssertionError(f"{e}; page errors: {errors}") from e

	worker()  # the first step (the welcome email) runs in a real worker
	assert (
		frappe.db.get_value("Marketing Flow Participant", {"flow": flow, "contact": contact}, "current_step")
		== "wait"
	)

	try:
		page.goto(f"{desk_url}/app/marketing-flow/{flow}")
		page.wait_for_selector(".mf-figures .mf-enrolled:has-text('1')", timeout=20000)
		screenshot(page, "flow-overview")

		open_tab(page, "participants_tab")
		participant_row = page.locator(".mf-participant").filter(has_text=email)
		participant_row.wait_for(timeout=20000)
		assert "Waiting" in participant_row.inner_text()
		screenshot(page, "flow-participants")
		participant_row.click()
		timeline = page.locator(".modal.show .mf-timeline")
		timeline.wait_for(timeout=20000)
		assert timeline.locator("td", has_text="Email Sent").count() >= 1
		screenshot(page, "participant-timeline")
		page.locator(".modal.show .btn-modal-close").first.click()

		open_tab(page, "steps_tab")
		figures = node(page, "send_email").locator(".mf-node-figures")
		figures.wait_for(timeout=20000)
		assert "Sent 1" in " ".join(figures.inner_text().split())
		assert "Waiting here 1" in " ".join(
			node(page, "wait").locator(".mf-node-figures").inner_text().split()
		)
		screenshot(page, "flow-diagram-figures")
		node(page, "send_email").locator(".mf-node-label").click()
		page.locator(".modal.show .mf-save-segment[data-outcome='Step Processed']").click(timeout=10000)
		page.wait_for_selector(".desk-alert:has-text('created')", timeout=20000)
		screenshot(page, "save-as-segment")

		open_tab(page, "reports_tab")
		page.wait_for_selector(".mf-reports [data-chart='funnel'] svg", timeout=20000)
		assert page.locator(".mf-reports [data-chart='status'] svg").count() >= 1
		page.wait_for_timeout(1000)  # the charts animate
		screenshot(page, "flow-reports")

		# the Contact's Flows panel, the flow list's columns, the workspace's cards
		page.goto(f"{desk_url}/app/contact/{contact}")
		panel = page.locator(".mf-flows-panel")
		panel.wait_for(timeout=20000)
		assert flow in panel.inner_text()
		panel.locator(".mf-timeline-link").first.click()
		page.locator(".modal.show .mf-timeline td", has_text="Email Sent").first.wait_for(timeout=20000)
		screenshot(page, "contact-flows-panel")

		page.goto(f"{desk_url}/app/marketing-flow?flow_name={flow}")
		cells = page.locator(".list-row-container .mf-col")
		cells.first.wait_for(timeout=20000)
		assert [c.strip() for c in cells.all_inner_texts()] == ["1", "1", "0%"]
		screenshot(page, "flow-list-columns")

		page.goto(f"{desk_url}/app/marketing-flows")
		page.locator(".widget.number-widget-box", has_text="Active Participants").wait_for(timeout=20000)
		page.locator(".widget.number-widget-box", has_text="Flow Success Rate").wait_for(timeout=20000)
		page.locator(".widget.dashboard-widget-box", has_text="Flow Enrolments").wait_for(timeout=20000)
		page.wait_for_timeout(1500)
		screenshot(page, "workspace-cards")
	except Exception as e:
		screenshot(page, "watch-failed")
		raise AssertionError(f"{e}; page errors: {errors}") from e
	page.close()
	frappe.db.rollback()
	segment = frappe.get_all(
		"Marketing Segment",
		filters={"flow": flow, "outcome": "Step Processed", "step_id": "send_email"},
		pluck="name",
	)
	assert len(segment) == 1
	from marketing_flows.engine.queries import segments

	assert segments.contacts(frappe.get_doc("Marketing Segment", segment[0])) == [contact]
	assert not errors, errors


def test_a_running_flow_and_a_content_editor_see_the_designer_read_only(browser, desk_url, people):
	running = make_flow()
	running.run()
	frappe.db.commit()
	flow = running.name
	for who in ("editor", "admin"):
		page = login(browser, desk_url, people[who], PASSWORD)
		errors = watch_errors(page)
		page.goto(f"{desk_url}/app/marketing-flow-designer/{flow}")
		try:
			node(page, "end").wait_for(timeout=30000)
		except Exception:
			screenshot(page, f"designer-read-only-{who}-failed")
			raise
		page.wait_for_timeout(500)
		assert page.locator(".mf-palette-item").count() == 0
		assert page.locator(".page-head .primary-action:visible").count() == 0
		pause = page.locator(".page-head button:has-text('Pause to edit'):visible")
		assert pause.count() == (1 if who == "admin" else 0)
		node(page, "wait").locator(".mf-node-label").click()
		page.wait_for_selector(".mf-side-panel [data-fieldname='wait_amount']", timeout=10000)
		assert page.locator(".mf-side-panel .mf-delete").count() == 0
		page.keyboard.press("Delete")
		page.wait_for_timeout(300)
		assert node(page, "wait").count() == 1
		screenshot(page, f"designer-read-only-{who}")
		page.close()
		assert not errors, errors


def test_undo_redo_delete_and_duplicate_in_the_designer(browser, desk_url, people):
	flow = frappe.get_doc(
		{
			"doctype": "Marketing Flow",
			"flow_name": unique("Undo"),
			"steps": [
				{
					"step_id": "wait",
					"step_type": "Wait",
					"wait_amount": 1,
					"wait_unit": "Days",
					"next_step": "end",
				},
				{"step_id": "end", "step_type": "End"},
			],
		}
	).insert()
	frappe.db.commit()
	page = login(browser, desk_url, people["admin"], PASSWORD)
	errors = watch_errors(page)
	page.goto(f"{desk_url}/app/marketing-flow-designer/{flow.name}")
	try:
		node(page, "end").wait_for(timeout=30000)
		node(page, "end").locator(".mf-node-label").click()
		page.keyboard.press("Delete")
		page.wait_for_timeout(300)
		assert node(page, "end").count() == 0
		page.keyboard.press("Control+z")
		node(page, "end").wait_for(timeout=5000)
		assert page.locator(".vue-flow__edge").count() == 1  # the link came back with the step
		page.keyboard.press("Control+Shift+z")
		page.wait_for_timeout(300)
		assert node(page, "end").count() == 0
		page.keyboard.press("Control+z")
		node(page, "wait").locator(".mf-node-label").click()
		page.locator(".mf-side-panel .mf-duplicate").click()
		node(page, "wait_2").wait_for(timeout=5000)
		node(page, "wait_2").locator(".mf-node-warning").wait_for(timeout=15000)  # can't be reached
		# typing in a field: Delete edits the text, not the canvas
		label = panel_field(page, "label")
		label.click()
		page.keyboard.press("Delete")
		assert node(page, "wait_2").count() == 1
		node(page, "wait_2").locator(".mf-node-label").click()
		page.locator(".mf-side-panel .mf-set-start").click()
		page.wait_for_timeout(300)
		assert node(page, "wait_2").locator(".mf-start-badge").count() == 1
		screenshot(page, "designer-undo-duplicate")
		page.locator(".page-head .primary-action:visible").click()
		page.wait_for_selector(".modal.show:has-text('can\\'t be reached')", timeout=20000)
		screenshot(page, "designer-save-refused")
	except Exception as e:
		screenshot(page, "designer-undo-failed")
		raise AssertionError(f"{e}; page errors: {errors}") from e
	page.close()
	frappe.db.rollback()
	assert [s.step_id for s in frappe.get_doc("Marketing Flow", flow.name).steps] == ["wait", "end"]
	assert not errors, errors


def test_split_branches_are_handles_of_the_split_step(browser, desk_url, people):
	"""A Split's branches (rows of the flow's `branches` table) are output handles
	the branch key next to `else`; connecting one changes that row's next step."""

	def tag(step_id):
		return {
			"step_id": step_id,
			"step_type": "Update Participant",
			"update_field": "designation",
			"update_value": step_id,
		}

	flow = frappe.get_doc(
		{
			"doctype": "Marketing Flow",
			"flow_name": unique("Split"),
			"steps": [
				{"step_id": "split", "step_type": "Split", "else_step": "rest"},
				tag("vip"),
				tag("member"),
				tag("rest"),
			],
			"branches": [
				{
					"step_id": "split",
					"branch_label": "Board",
					"condition_type": "Field",
					"condition_filters": '[["department", "=", "Board"]]',
					"next_step": "vip",
				},
				{
					"step_id": "split",
					"branch_label": "Sales",
					"condition_type": "Field",
					"condition_filters": '[["department", "=", "Sales"]]',
					"next_step": "member",
				},
			],
		}
	).insert()
	frappe.db.commit()
	page = login(browser, desk_url, people["admin"], PASSWORD)
	errors = watch_errors(page)
	page.goto(f"{desk_url}/app/marketing-flow-designer/{flow.name}")
	try:
		split = node(page, "split")
		split.wait_for(timeout=30000)
		for handle in ("board", "sales", "else"):
			assert split.locator(f"[data-handleid='{handle}']").count() == 1, handle
		assert split.locator("[data-handleid='next']").count() == 0
		assert page.locator(".vue-flow__edge").count() == 3
		split.locator(".mf-node-label").click()
		page.wait_for_selector(".mf-side-panel [data-fieldname='branches']", timeout=10000)
		screenshot(page, "designer-split")
		connect(page, "split", "sales", "rest")
		node(page, "member").locator(".mf-node-warning").wait_for(timeout=15000)  # unreachable now
		connect(page, "split", "else", "member")
		page.wait_for_function("() => !document.querySelector('.mf-node-warning')", timeout=15000)
		page.locator(".page-head .primary-action:visible").click()
		page.wait_for_selector("text=Saved", timeout=20000)
	except Exception as e:
		screenshot(page, "designer-split-failed")
		raise AssertionError(f"{e}; page errors: {errors}") from e
	page.close()
	frappe.db.rollback()
	saved = frappe.get_doc("Marketing Flow", flow.name)
	assert {b.branch_key: b.next_step for b in saved.branches} == {"board": "vip", "sales": "rest"}
	assert saved.steps[0].else_step == "member"
	assert not errors, errors
