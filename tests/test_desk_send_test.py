"""Content and its sender in the desk, in a real browser: an email saved before any sender
exists (a note, not an error), "Send a test to me" from the content form and from the
designer's Send Email step (only the user receives it, read off a real SMTP server), and the
Flow Content tab's list of the Web Forms the flow uses."""

from __future__ import annotations

import frappe

from conftest import login, node, open_tab, screenshot, text_of, watch_errors
from factories import end, make_contact, make_content, make_flow, make_user, step, unique

PASSWORD = "Send-Test-7x!"


def web_form() -> str:
	title = unique("MF Signup").lower()
	return (
		frappe.get_doc(
			{
				"doctype": "Web Form",
				"title": title,
				"route": title,
				"doc_type": "Contact",
				"module": "Custom",
				"is_standard": 0,
				"published": 1,
				"login_required": 1,
				"web_form_fields": [{"fieldname": "first_name", "fieldtype": "Data", "label": "First Name"}],
			}
		)
		.insert()
		.name
	)


def test_an_email_is_saved_before_any_sender_exists_with_a_gentle_note(browser, desk_url, settings):
	settings.set_default_email_account(None)
	settings.set("Marketing Flow Settings", default_sender=None)
	editor = make_user(["Flow Content Editor"], "no-sender", password=PASSWORD)
	frappe.db.commit()
	name = unique("Welcome")
	page = login(browser, desk_url, editor, PASSWORD)
	errors = watch_errors(page)
	try:
		page.goto(f"{desk_url}/app/marketing-flow-content/new")
		page.wait_for_function(
			"() => window.cur_frm && cur_frm.doc.doctype === 'Marketing Flow Content'", timeout=20000
		)
		page.evaluate(
			"""(name) => Promise.all([cur_frm.set_value('content_name', name),
				cur_frm.set_value('subject', 'Welcome {{ contact.first_name }}'),
				cur_frm.set_value('body', '<p>Hello {{ contact.first_name }}</p>')])""",
			name,
		)
		page.keyboard.press("Control+S")
		page.wait_for_url(lambda url: "/new" not in url, timeout=20000)
		note = page.locator(".form-message")
		note.filter(has_text="no sender").first.wait_for(timeout=20000)
		screenshot(page, "content-saved-without-sender")
		text = text_of(note.first)
		assert text.count("No sender: choose a Sender Account on the content") == 1  # said once
		assert "You can write and save this email now" in text
		assert page.locator(".modal.show .msgprint").count() == 0  # no error dialog
		assert frappe.db.exists("Marketing Flow Content", name)
		assert not errors, errors
	finally:
		page.close()


def test_send_a_test_to_me_from_the_content_form(browser, desk_url, sink):
	editor = make_user(["Flow Content Editor", "Sales User"], "tester", password=PASSWORD)
	first = unique("Nora")
	contact = make_contact(first_name=first)
	content = make_content(
		"Email",
		subject="Welcome {{ contact.first_name }}",
		body="<p>Hello {{ contact.first_name }}</p>",
		sender=sink.account,
	)
	frappe.db.commit()
	page = login(browser, desk_url, editor, PASSWORD)
	errors = watch_errors(page)
	try:
		page.goto(f"{desk_url}/app/marketing-flow-content/{content.name}")
		page.locator(".page-actions button:has-text('Send a test to me'):visible").first.click(timeout=20000)
		page.wait_for_function("() => window.cur_dialog && cur_dialog.fields_dict.person", timeout=10000)
		dialog = page.locator(".modal.show")
		assert editor in text_of(dialog)  # says who receives it
		page.evaluate("(c) => cur_dialog.set_value('person', c)", contact)
		page.wait_for_timeout(300)
		screenshot(page, "content-send-test-dialog")
		dialog.locator("button:has-text('Send test')").click()
		page.locator(".modal.show:has-text('Test sent')").wait_for(timeout=20000)
		screenshot(page, "content-send-test-sent")
		assert f"[Test] Welcome {first}" in text_of(page.locator(".modal.show:has-text('Test sent')"))
		assert not errors, errors
	finally:
		page.close()
	(msg,) = sink.to(editor)
	assert msg["Subject"] == f"[Test] Welcome {first}"
	assert f"Hello {first}" in sink.html(msg)
	assert sink.to(frappe.db.get_value("Contact", contact, "email_id")) == []


def test_send_a_test_to_me_from_the_designers_send_email_step(browser, desk_url, sink):
	admin = make_user(["Flow Administrator", "Sales User"], "designer-tester", password=PASSWORD)
	first = unique("Ida")
	contact = make_contact(first_name=first)
	content = make_content(
		"Email", subject="News for {{ contact.first_name }}", body="<p>News</p>", sender=sink.account
	)
	flow = make_flow(
		steps=[step("welcome", "Send Email", content=content.name, label="Welcome", next_step="end"), end()]
	)
	frappe.db.commit()
	page = login(browser, desk_url, admin, PASSWORD)
	errors = watch_errors(page)
	try:
		page.goto(f"{desk_url}/app/marketing-flow-designer/{flow.name}")
		node(page, "welcome").locator(".mf-node-label").click(timeout=20000)
		button = page.locator(".mf-side-panel .mf-send-test")
		button.wait_for(timeout=10000)
		node(page, "end").locator(".mf-node-label").click()
		assert page.locator(".mf-side-panel .mf-send-test").count() == 0  # only steps that send
		node(page, "welcome").locator(".mf-node-label").click()
		screenshot(page, "designer-send-test-button")
		button.click()
		page.wait_for_function("() => window.cur_dialog && cur_dialog.fields_dict.person", timeout=10000)
		page.evaluate("(c) => cur_dialog.set_value('person', c)", contact)
		page.wait_for_timeout(300)
		page.locator(".modal.show button:has-text('Send test')").click()
		page.locator(".modal.show:has-text('Test sent')").wait_for(timeout=20000)
		screenshot(page, "designer-send-test-sent")
		assert not errors, errors
	finally:
		page.close()
	(msg,) = sink.to(admin)
	assert msg["Subject"] == f"[Test] News for {first}"
	assert frappe.db.get_value("Marketing Flow", flow.name, "status") == "Draft"


def test_the_flow_content_tab_lists_the_web_forms_the_flow_uses(browser, desk_url, sink):
	trigger_form, goal_form, asked_form = web_form(), web_form(), web_form()
	content = make_content("Email", subject="Hi", body="<p>Hi</p>", sender=sink.account)
	flow = make_flow(
		steps=[
			step("welcome", "Send Email", content=content.name, label="Welcome", next_step="asked"),
			step(
				"asked",
				"Condition",
				label="Asked again?",
				condition_type="Web Form Submitted",
				web_form=asked_form,
				yes_step="end",
				no_step="end",
			),
			end(),
		],
		trigger_type="Web Form",
		trigger_web_form=trigger_form,
		success_criteria=[
			{"criterion_type": "Web Form Submitted", "web_form": goal_form, "label": "Signed up"}
		],
	)
	frappe.db.commit()
	page = login(browser, desk_url, "Administrator", "admin")
	errors = watch_errors(page)
	try:
		page.goto(f"{desk_url}/app/marketing-flow/{flow.name}")
		page.wait_for_function("() => window.cur_frm && cur_frm.doc.name", timeout=20000)
		open_tab(page, "content_tab")
		forms = page.locator(".mf-forms")
		forms.wait_for(timeout=20000)
		screenshot(page, "flow-content-tab-forms")
		assert content.name in text_of(page.locator(".mf-contents"))
		trigger_row = forms.locator(f"tr[data-web-form='{trigger_form}']")
		assert "Trigger" in text_of(trigger_row)
		assert trigger_row.locator("a").get_attribute("href") == f"/app/web-form/{trigger_form}"
		assert "Success criterion Signed up" in text_of(forms.locator(f"tr[data-web-form='{goal_form}']"))
		assert "Condition Asked again?" in text_of(forms.locator(f"tr[data-web-form='{asked_form}']"))
		assert not errors, errors
	finally:
		page.close()
