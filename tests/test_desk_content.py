"""Flow content in the desk, in a real browser: an SMS text shows what it costs while it is typed."""

import frappe

from conftest import login, screenshot
from factories import unique


def test_sms_text_shows_its_length_and_segments_while_typing(browser, desk_url):
	sms = frappe.get_doc(
		{"doctype": "Marketing Flow Content", "content_name": unique("SMS"), "channel": "SMS", "body": "Hi"}
	).insert()
	frappe.db.commit()
	page = login(browser, desk_url, "Administrator", "admin")
	page.goto(f"{desk_url}/app/marketing-flow-content/{sms.name}")
	body = page.locator("[data-fieldname='body'] .ql-editor:not(.read-mode)")
	body.wait_for(timeout=20000)
	description = page.locator("[data-fieldname='body'] .help-box")
	page.wait_for_function(
		"() => document.querySelector(\"[data-fieldname='body'] .help-box\")?.innerText.includes('1 SMS')",
		timeout=10000,
	)
	assert "2 characters: 1 SMS" in description.inner_text()
	body.click()
	page.keyboard.press("Control+A")
	page.keyboard.type("a" * 161)  # one over a single SMS: 153 characters per part
	page.wait_for_function(
		"() => document.querySelector(\"[data-fieldname='body'] .help-box\")?.innerText.includes('161 characters')",
		timeout=10000,
	)
	assert "161 characters: 2 SMS" in description.inner_text()
	page.keyboard.type("ő")  # a character outside GSM-7: Unicode, 70 per SMS
	page.wait_for_function(
		"() => document.querySelector(\"[data-fieldname='body'] .help-box\")?.innerText.includes('Unicode')",
		timeout=10000,
	)
	assert "162 characters: 3 SMS" in description.inner_text()
	screenshot(page, "content-sms-segments")
	page.close()
