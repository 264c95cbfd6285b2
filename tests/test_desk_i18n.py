"""The desk in Danish, German, Norwegian and Swedish (issue 10), in a real browser.

A Flow Administrator whose language is da / de / no / sv opens the workspace and a flow and
sees them in that language. Screenshots: desk-i18n-<lang>-*.png in the test artifacts.
"""

import frappe
import pytest

from conftest import login, screenshot
from factories import make_flow, make_user

PASSWORD = "Flows-Test-Pass-2026!"

# What the page must show in each language (from the app's catalogues), and English it must not.
SEEN = {
	"da": {
		"workspace": "Marketing-flows",
		"shortcut": "Aktive flows",
		"run": "Kør",
		"tab": "Udløser og målgruppe",
	},
	"de": {
		"workspace": "Marketing-Flows",
		"shortcut": "Laufende Flows",
		"run": "Starten",
		"tab": "Auslöser & Zielgruppe",
	},
	"no": {
		"workspace": "Markedsføringsflyter",
		"shortcut": "Aktive flyter",
		"run": "Kjør",
		"tab": "Utløser og målgruppe",
	},
	"sv": {
		"workspace": "Marknadsföringsflöden",
		"shortcut": "Aktiva flöden",
		"run": "Kör",
		"tab": "Utlösare och målgrupp",
	},
}


@pytest.fixture(scope="module")
def flow():
	name = make_flow(flow_name=f"I18n Flow {frappe.generate_hash(length=6)}").name
	frappe.db.commit()
	return name


def user_in(lang: str) -> str:
	if not frappe.db.exists("Language", lang):
		frappe.get_doc({"doctype": "Language", "language_code": lang, "language_name": lang}).insert(
			ignore_permissions=True
		)
	email = make_user(["Flow Administrator", "Sales User"], f"desk{lang}", PASSWORD)
	frappe.db.set_value("User", email, "language", lang)
	frappe.db.commit()
	return email


@pytest.mark.parametrize("lang", sorted(SEEN))
def test_the_desk_speaks_the_users_language(browser, desk_url, flow, lang):
	seen = SEEN[lang]
	page = login(browser, desk_url, user_in(lang), PASSWORD)
	page.goto(f"{desk_url}/app/marketing-flows")
	page.wait_for_selector(f"text={seen['shortcut']}", timeout=20000)
	assert page.locator(".sidebar-item-label", has_text=seen["workspace"]).count() >= 1
	body = page.inner_text(".layout-main-section")
	assert "Running Flows" not in body and "Stalled Participants" not in body
	screenshot(page, f"desk-i18n-{lang}-workspace")

	page.goto(f"{desk_url}/app/marketing-flow/{flow}")
	page.wait_for_selector(f".page-actions button:has-text('{seen['run']}')", timeout=20000)
	assert page.locator(".page-actions button", has_text="Run").count() == 0
	assert page.locator("a[data-fieldname='trigger_tab']").inner_text().strip() == seen["tab"]
	screenshot(page, f"desk-i18n-{lang}-flow")
	page.locator("a[data-fieldname='steps_tab']").dispatch_event("click")
	page.wait_for_selector(".vue-flow__node[data-id='wait']", timeout=20000)
	# the diagram's own words come from the catalogues too ("End of the flow")
	assert "End of the flow" not in page.inner_text(".vue-flow__node[data-id='end']")
	screenshot(page, f"desk-i18n-{lang}-steps")
	page.close()
