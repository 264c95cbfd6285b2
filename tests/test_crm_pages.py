"""Frappe CRM's own pages (/crm) in a real browser (Playwright driving Debian's chromium against
`bench serve`): the CRM Form Scripts "Marketing Flows: CRM Lead" / "…: CRM Deal" as a sales rep
sees them. A rep with the Flow Administrator role gets *Add to flow* and *Flows (n)* on a lead's
and a deal's page; a rep without a Marketing Flows role gets neither. Converting the lead with
CRM's own button keeps its participation and meets the flow's Lead Converted goal.

Runs in the Frappe CRM host run of scripts/test.sh; skipped where CRM or its frontend (built by
hand: README, host preparation) is missing. Screenshots: logs/test-artifacts/crm-*.png.
"""

from __future__ import annotations

import re

import frappe
import pytest

from conftest import BENCH_DIR, login, screenshot
from factories import make_contact, make_user, participant, running_flow, step, unique

PASSWORD = "Flows-Test-Pass-2026!"
CRM_APP = BENCH_DIR / "apps" / "crm" / "crm"


@pytest.fixture(scope="module", autouse=True)
def crm_frontend(site):
	if "crm" not in frappe.get_installed_apps():
		pytest.skip("Frappe CRM is not installed on this site (its pages are tested on the CRM host site)")
	missing = [
		str(path.relative_to(BENCH_DIR))
		for path in (CRM_APP / "www" / "crm.html", CRM_APP / "public" / "frontend")
		if not path.exists()
	]
	if missing:
		pytest.skip(
			f"Frappe CRM's frontend is not built in this bench ({', '.join(missing)} missing): see the"
			" README's notes on preparing the hosts"
		)


@pytest.fixture(scope="module")
def reps():
	users = {
		"admin": make_user(["Sales User", "Flow Administrator"], "crmadmin", PASSWORD),
		"plain": make_user(["Sales User"], "crmrep", PASSWORD),
		"danish": make_user(["Sales User", "Flow Administrator"], "crmdansk", PASSWORD),
	}
	frappe.db.set_value("User", users["danish"], "language", "da")
	frappe.db.commit()
	return users


def make_lead(**values) -> str:
	first = values.pop("first_name", unique("Lead"))
	doc = frappe.get_doc(
		{"doctype": "CRM Lead", "first_name": first, "email": f"{first.lower()}@example.com", **values}
	)
	doc.insert(ignore_permissions=True)
	return doc.name


def lead_flow(**values):
	"""A running manual flow of CRM Leads: wait three days (people stay in it)."""
	return running_flow(
		[step("w", "Wait", label="Three days", wait_amount=3, wait_unit="Days")],
		flow_name=unique("Leads"),
		person_doctype="CRM Lead",
		**values,
	)


def open_page(browser, desk_url, user: str, path: str):
	"""The CRM page `path` as `user`, once its form scripts have asked the server (the header's
	buttons are there) and the record_context answer has come."""
	page = login(browser, desk_url, user, PASSWORD)
	errors: list[str] = []
	page.on("pageerror", lambda e: errors.append(str(e)))
	page.mf_errors = errors
	with page.expect_response(
		lambda r: "marketing_flows.api.crm.record_context" in r.url, timeout=60000
	) as answer:
		page.goto(f"{desk_url}/crm/{path}")
	page.mf_context = answer.value
	header(page).get_by_role("button").first.wait_for(timeout=30000)
	page.wait_for_timeout(500)  # the script's buttons render right after its answer
	return page


def shot(page, name: str) -> None:
	"""A screenshot once the dialogs' transitions (150 ms) are over."""
	page.wait_for_timeout(400)
	screenshot(page, name)


def header(page):
	return page.locator("#app-header")


def button(page, label: str):
	return header(page).get_by_role("button", name=label, exact=True)


def dialog(page, title: str):
	return page.get_by_role("dialog").filter(has=page.get_by_role("heading", name=title))


def flows_button(page):
	return header(page).get_by_role("button", name=re.compile(r"^Flows \(\d+\)$"))


def open_panel(page, count: int):
	button(page, f"Flows ({count})").click()
	panel = dialog(page, f"Flows ({count})")
	panel.wait_for(timeout=10000)
	return panel


def rows(panel) -> list[list[str]]:
	"""The panel's participations: [flow, person, status, current step, succeeded]."""
	return [
		[cell.inner_text().strip() for cell in row.locator("td").all()]
		for row in panel.locator("tr.mf-participation").all()
	]


def test_a_lead_page_adds_the_lead_to_a_flow_and_lists_its_flows(browser, desk_url, reps):
	flow = lead_flow()
	contacts_flow = running_flow(None, flow_name=unique("Contacts"))  # not for a lead
	lead = make_lead()
	frappe.db.commit()

	page = open_page(browser, desk_url, reps["admin"], f"leads/{lead}")
	assert button(page, "Add to flow").is_visible()
	assert flows_button(page).count() == 0  # not in any flow yet
	shot(page, "crm-lead-page")

	button(page, "Add to flow").click()
	chooser = dialog(page, "Add to flow")
	chooser.wait_for(timeout=10000)
	assert chooser.get_by_text("Enrol this lead in:").is_visible()
	assert chooser.get_by_role("button", name=flow.flow_name).is_visible()
	assert chooser.get_by_role("button", name=contacts_flow.flow_name).count() == 0
	shot(page, "crm-lead-add-to-flow")

	chooser.get_by_role("button", name=flow.flow_name).click()
	page.get_by_text(f"1 of 1 enrolled in {flow.flow_name}").wait_for(timeout=20000)
	button(page, "Flows (1)").wait_for(timeout=20000)  # the page counts anew, no reload by hand
	shot(page, "crm-lead-enrolled")
	frappe.db.rollback()
	p = participant(flow.name, person=lead)
	assert (p.person_doctype, p.status) == ("CRM Lead", "Active")

	panel = open_panel(page, 1)
	assert rows(panel) == [[flow.flow_name, p.full_name or p.email, "Active", "Three days", ""]]
	assert panel.get_by_role("link", name=flow.flow_name).get_attribute("href") == (
		f"/app/marketing-flow/{flow.name}"
	)
	panel.get_by_text("Timeline").click()
	assert panel.locator("tr.mf-timeline-row", has_text="Enrolled").is_visible()
	shot(page, "crm-lead-flows")

	# adding again says why not
	page.keyboard.press("Escape")
	panel.wait_for(state="hidden", timeout=10000)
	button(page, "Add to flow").click()
	dialog(page, "Add to flow").get_by_role("button", name=flow.flow_name).click()
	result = page.locator(".mf-enrol-result")
	result.wait_for(timeout=20000)
	assert result.inner_text() == f"0 of 1 enrolled in {flow.flow_name}"
	reason = page.get_by_role("dialog").get_by_role("listitem")
	assert reason.inner_text().endswith("already active in this flow")
	shot(page, "crm-lead-already-in")
	assert page.mf_errors == []
	page.close()


def test_a_deal_page_adds_its_contacts_and_lists_the_flows_of_its_lead(browser, desk_url, reps):
	leads = lead_flow()
	lead = make_lead()
	assert leads.enroll([lead])["enrolled"] == 1
	contacts_flow = running_flow(
		[step("w", "Wait", label="Welcome pause", wait_amount=1, wait_unit="Days")],
		flow_name=unique("Contacts"),
	)
	buyer = make_contact(first_name=unique("Buyer"))
	gone = make_contact(first_name=unique("Gone"), unsubscribed=1)
	deal = frappe.get_doc(
		{
			"doctype": "CRM Deal",
			"lead": lead,
			"contacts": [{"contact": buyer, "is_primary": 1}, {"contact": gone}],
		}
	).insert(ignore_permissions=True)
	frappe.db.commit()

	page = open_page(browser, desk_url, reps["admin"], f"deals/{deal.name}")
	assert button(page, "Add to flow").is_visible()
	assert button(page, "Flows (1)").is_visible()  # the flow of the deal's lead
	shot(page, "crm-deal-page")

	button(page, "Add to flow").click()
	chooser = dialog(page, "Add to flow")
	chooser.wait_for(timeout=10000)
	assert chooser.get_by_text("Enrol this deal's contacts in:").is_visible()
	chooser.get_by_role("button", name=contacts_flow.flow_name).click()
	result = page.locator(".mf-enrol-result")
	result.wait_for(timeout=20000)
	assert result.inner_text() == f"1 of 2 enrolled in {contacts_flow.flow_name}"
	reasons = [li.inner_text() for li in page.get_by_role("dialog").get_by_role("listitem").all()]
	assert len(reasons) == 1 and reasons[0].endswith(": unsubscribed") and "Gone" in reasons[0]
	shot(page, "crm-deal-add-to-flow")
	page.keyboard.press("Escape")

	button(page, "Flows (2)").wait_for(timeout=20000)
	panel = open_panel(page, 2)
	shot(page, "crm-deal-flows")
	frappe.db.rollback()
	bought = participant(contacts_flow.name, buyer)
	led = participant(leads.name, person=lead)
	assert bought.status == "Active" and not participant(contacts_flow.name, gone)
	assert sorted(rows(panel)) == sorted(
		[
			[contacts_flow.flow_name, bought.full_name, "Active", "Welcome pause", ""],
			[leads.flow_name, led.full_name or led.email, "Active", "Three days", ""],
		]
	)
	assert page.mf_errors == []
	page.close()


def test_a_rep_without_a_marketing_flows_role_sees_neither(browser, desk_url, reps):
	flow = lead_flow()
	lead = make_lead()
	flow.enroll([lead])
	deal = frappe.get_doc(
		{"doctype": "CRM Deal", "lead": lead, "contacts": [{"contact": make_contact()}]}
	).insert(ignore_permissions=True)
	frappe.db.commit()
	for path, name in ((f"leads/{lead}", "crm-lead-no-role"), (f"deals/{deal.name}", "crm-deal-no-role")):
		page = open_page(browser, desk_url, reps["plain"], path)
		assert page.mf_context.status == 403  # the server refused; the script shows nothing
		assert button(page, "Add to flow").count() == 0
		assert flows_button(page).count() == 0
		assert header(page).get_by_role("button", name="Convert to Deal").count() == (
			1 if "leads" in path else 0
		)
		shot(page, name)
		assert page.mf_errors == []
		page.close()


def test_converting_the_lead_on_its_page_keeps_the_participation_and_meets_the_goal(
	browser, desk_url, reps, worker
):
	flow = lead_flow(success_criteria=[{"criterion_type": "Lead Converted"}])
	lead = make_lead()
	assert flow.enroll([lead])["enrolled"] == 1
	frappe.db.commit()
	worker()  # the first step: waiting at "Three days"

	page = open_page(browser, desk_url, reps["admin"], f"leads/{lead}")
	button(page, "Flows (1)").wait_for(timeout=10000)
	button(page, "Convert to Deal").click()
	convert = dialog(page, "Convert to Deal")
	convert.wait_for(timeout=10000)
	shot(page, "crm-lead-convert")
	with page.expect_response(lambda r: "marketing_flows.api.crm.record_context" in r.url, timeout=60000):
		convert.get_by_role("button", name="Convert", exact=True).click()
		page.wait_for_url(re.compile(r"/crm/deals/"), timeout=30000)
	deal = page.url.split("/crm/deals/")[1].split("#")[0].split("?")[0]
	button(page, "Flows (1)").wait_for(timeout=20000)  # the lead's participation, now on the deal

	frappe.db.rollback()
	assert frappe.db.get_value("CRM Deal", deal, "lead") == lead
	assert frappe.db.get_value("CRM Lead", lead, "converted") == 1
	worker()  # the goal job the conversion queued
	p = participant(flow.name, person=lead)
	assert p.contact and p.succeeded == 1 and p.success_criterion == "Lead Converted"
	assert frappe.db.count("Marketing Flow Participant", {"flow": flow.name}) == 1

	with page.expect_response(lambda r: "marketing_flows.api.crm.record_context" in r.url, timeout=60000):
		page.reload()
	panel = open_panel(page, 1)
	[row] = rows(panel)
	assert row[0] == flow.flow_name and row[4] == "Yes", row
	assert row[2] == "Exited (Goal met)", row
	panel.get_by_text("Timeline").click()
	events = [r.inner_text() for r in panel.locator("tr.mf-timeline-row").all()]
	assert any("Lead Converted" in e for e in events) and any("Goal Met" in e for e in events), events
	assert any("Three days" in e and "Step Executed" in e for e in events), events  # steps by their labels
	shot(page, "crm-deal-converted-flows")
	assert page.mf_errors == []
	page.close()


def test_a_danish_rep_sees_danish_labels(browser, desk_url, reps):
	flow = lead_flow()
	lead = make_lead()
	flow.enroll([lead])
	frappe.db.commit()
	page = open_page(browser, desk_url, reps["danish"], f"leads/{lead}")
	assert button(page, "Føj til flow").is_visible()
	panel = open_panel(page, 1)
	assert [h.inner_text().strip() for h in panel.locator("th").all()] == [
		"Flow",
		"Person",
		"Status",
		"Nuværende trin",
		"Succesfulde",
	]
	assert panel.get_by_text("Tidslinje").is_visible()
	shot(page, "crm-lead-flows-da")
	page.keyboard.press("Escape")
	button(page, "Føj til flow").click()
	dialog(page, "Føj til flow").get_by_text("Tilmeld dette lead i:").wait_for(timeout=10000)
	shot(page, "crm-lead-add-to-flow-da")
	page.close()
