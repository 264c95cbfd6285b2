"""The desk in a real browser (Playwright driving Debian's chromium) against `bench serve`."""

import frappe
import pytest

from conftest import login, screenshot
from factories import make_flow, make_user

PASSWORD = "Flows-Test-Pass-2026!"


@pytest.fixture(scope="module")
def people():
	users = {
		"admin": make_user(
			["Flow Administrator", "Sales User"], "deskadmin", PASSWORD
		),  # a marketer also works with contacts
		"editor": make_user(["Flow Content Editor"], "deskeditor", PASSWORD),
		"nobody": make_user(["Blogger"], "desknobody", PASSWORD),
	}
	flow = make_flow(flow_name=f"Desk Flow {frappe.generate_hash(length=6)}")
	frappe.db.commit()
	return {**users, "flow": flow.name}


def test_administrator_sees_the_marketing_flows_workspace(browser, desk_url):
	page = login(browser, desk_url, "Administrator", "admin")
	page.goto(f"{desk_url}/app/marketing-flows")
	page.wait_for_selector("text=Running Flows", timeout=20000)
	assert page.locator(".sidebar-item-label", has_text="Marketing Flows").count() >= 1
	screenshot(page, "workspace-administrator")
	page.close()


def test_flow_administrator_gets_run_button_and_status_indicator(browser, desk_url, people):
	page = login(browser, desk_url, people["admin"], PASSWORD)
	page.goto(f"{desk_url}/app/marketing-flow")
	page.wait_for_selector(f"text={people['flow']}", timeout=20000)
	assert page.locator(".indicator-pill", has_text="Draft").count() >= 1
	page.goto(f"{desk_url}/app/marketing-flow/{people['flow']}")
	page.wait_for_selector("button:has-text('Run')", timeout=20000)
	screenshot(page, "flow-form-flow-administrator")
	page.locator("a[data-fieldname='steps_tab']").dispatch_event("click")
	page.wait_for_selector(".vue-flow__node", timeout=20000)
	assert page.locator(".vue-flow__node").count() == 2  # the read-only diagram shows both steps
	assert page.locator(".mf-palette-item").count() == 0
	page.locator(".vue-flow__node[data-id='wait'] .mf-node-label").click()
	page.wait_for_selector(".modal.show:has-text('Step wait')", timeout=10000)
	screenshot(page, "flow-diagram")
	page.close()


def test_content_editor_sees_flows_but_no_run_button(browser, desk_url, people):
	page = login(browser, desk_url, people["editor"], PASSWORD)
	page.goto(f"{desk_url}/app/marketing-flow/{people['flow']}")
	page.wait_for_selector(".form-layout", timeout=20000)
	page.wait_for_timeout(1000)
	assert page.locator(".page-actions button:has-text('Run')").count() == 0
	screenshot(page, "flow-form-content-editor")
	page.close()


def test_user_without_a_flow_role_is_not_permitted(browser, desk_url, people):
	page = login(browser, desk_url, people["nobody"], PASSWORD)
	page.goto(f"{desk_url}/app/marketing-flow")
	page.wait_for_timeout(3000)
	body = page.inner_text("body")
	assert people["flow"] not in body
	# Frappe answers a doctype the user may not read with "not found" (or "Not Permitted").
	assert "page marketing-flow not found" in body.lower() or "not permitted" in body.lower()
	screenshot(page, "flow-list-no-role")
	page.goto(f"{desk_url}/app")
	page.wait_for_timeout(3000)
	assert page.locator(".sidebar-item-label", has_text="Marketing Flows").count() == 0
	page.close()


def test_add_to_flow_from_the_contact_form(browser, desk_url, people):
	from factories import make_contact

	contact = make_contact(first_name=f"Desk{frappe.generate_hash(length=5)}")
	frappe.db.commit()
	page = login(browser, desk_url, people["admin"], PASSWORD)
	page.goto(f"{desk_url}/app/contact/{contact}")
	try:
		page.wait_for_selector("button:has-text('Actions')", timeout=30000)
	except Exception:
		screenshot(page, "contact-form-failed")
		raise
	page.click("button:has-text('Actions')")
	page.click("a.dropdown-item:has-text('Add to flow')")
	page.wait_for_selector(".modal.show input[data-fieldname='flow']", timeout=10000)
	page.wait_for_function("() => window.cur_dialog && cur_dialog.fields_dict.flow")
	screenshot(page, "contact-add-to-flow-dialog")
	page.evaluate("(flow) => cur_dialog.set_value('flow', flow)", people["flow"])
	page.wait_for_timeout(500)
	page.click(".modal.show button:has-text('Add')")
	page.wait_for_selector(f"text=1 of 1 added to {people['flow']}", timeout=20000)
	screenshot(page, "contact-add-to-flow")
	page.close()
	frappe.db.rollback()
	assert frappe.db.exists("Marketing Flow Participant", {"flow": people["flow"], "contact": contact})


def test_test_flow_shows_a_persons_path_and_sends_nothing(browser, desk_url, people):
	"""Actions → Test Flow on the form: choose a contact, see the path they would take now."""
	from factories import make_contact

	contact = make_contact(first_name=f"Dry-{frappe.generate_hash(length=5)}")
	frappe.db.commit()
	page = login(browser, desk_url, people["admin"], PASSWORD)
	errors: list[str] = []
	page.on("pageerror", lambda e: errors.append(str(e)))
	page.goto(f"{desk_url}/app/marketing-flow/{people['flow']}")
	actions = page.locator(".page-actions button:has-text('Actions'):visible").first
	actions.wait_for(timeout=20000)
	actions.click()
	page.locator(".dropdown-menu.show a:has-text('Test Flow')").first.click()
	dialog = page.locator(".modal.show")
	field = dialog.locator("input[data-fieldname='contact']")
	try:
		field.click(timeout=20000)
		field.press_sequentially(contact, delay=20)
		page.get_by_role("option").filter(has_text=contact).first.click(timeout=20000)
		dialog.locator(".btn-primary:has-text('Test')").click()
		result = page.locator(".modal.show:has-text('Ends')")
		result.wait_for(timeout=20000)
	except Exception as e:
		screenshot(page, "test-flow-failed")
		raise AssertionError(f"{e}; page errors: {errors}") from e
	assert result.locator("td", has_text="Waits").count() == 1  # the flow's first step is a 1-day wait
	screenshot(page, "test-flow-result")
	page.close()
	frappe.db.rollback()
	assert not frappe.db.exists("Marketing Flow Participant", {"flow": people["flow"], "contact": contact})


def test_the_operator_check_comes_from_the_server(people):
	"""The flow form and the designer take "may this user operate flows?" from the document's
	onload, the person forms from the desk's boot (both engine/permissions.py), and no desk
	script keeps a list of roles of its own."""
	from pathlib import Path

	for who, expected in (("admin", True), ("editor", False)):
		frappe.set_user(people[who])
		try:
			flow = frappe.get_doc("Marketing Flow", people["flow"])
			flow.run_method("onload")
			assert flow.get_onload().get("is_flow_operator") is expected, who
			# the person forms ("Add to flow") learn it at login, through the boot_session hook
			bootinfo = frappe._dict()
			for method in frappe.get_hooks("boot_session"):
				frappe.get_attr(method)(bootinfo)
			assert bootinfo.marketing_flows == {"is_flow_operator": expected}, who
		finally:
			frappe.set_user("Administrator")
	app = Path(frappe.get_app_path("marketing_flows"))
	scripts = [
		*app.glob("public/js/**/*.js"),
		*app.glob("public/js/**/*.vue"),
		*app.glob("**/doctype/*/*.js"),
	]
	assert scripts
	with_roles = [str(p.relative_to(app)) for p in scripts if "has_role(" in p.read_text()]
	assert not with_roles, with_roles
