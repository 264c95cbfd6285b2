"""Each person's clock in the desk, in a real browser (Playwright driving Debian's chromium against
`bench serve`): the designer's flow panel sets whose clock the flow's times are on, the flow's
time zone (picked from the zones the server accepts), the holidays to skip and quiet hours, and
a Wait at a time of day says so on its node; the Contact form has the Time Zone field and refuses
a zone that is none; the flow's Participants tab shows the zone each person's clock is in (and
where it was found), and their timeline why they wait. The people are enrolled and run by the
engine itself (a real worker). Screenshots go to the artifacts dir (conftest.screenshot)."""

from __future__ import annotations

import frappe
import pytest
from frappe.utils import get_system_timezone

from conftest import login, node, open_tab, panel_field, screenshot, text_of, watch_errors
from factories import end, make_contact, make_flow, make_user, participant, step, unique

PASSWORD = "Flows-Zones-2026!"


@pytest.fixture(scope="module")
def admin():
	# a marketer who also keeps the contacts
	user = make_user(["Flow Administrator", "Sales User"], "zonesadmin", PASSWORD)
	frappe.db.commit()
	return user


def node_summary(page, step_id: str) -> str:
	return text_of(node(page, step_id).locator(".mf-node-summary"))


def wait_for_summary(page, step_id: str, text: str) -> None:
	page.wait_for_function(
		"([id, text]) => { const e = document.querySelector("
		"`.vue-flow__node[data-id='${id}'] .mf-node-summary`);"
		" return e && e.innerText.replace(/\\s+/g, ' ').trim() === text; }",
		arg=[step_id, text],
		timeout=10000,
	)


def test_designer_sets_the_flows_clock_quiet_hours_and_holidays(browser, desk_url, admin):
	"""The Wait step gets At Time of Day 09:00 on a working day: its node says "Wait 1 day, then
	09:00 on a working day (person's time)". The flow's panel: Times Are In the flow's time zone,
	America/New_York picked from the zones, public holidays and the company calendar skipped, SMS
	quiet 21:00-08:00 every day and email all Sunday; the node now names New York's clock. A Date Field trigger shows
	its time of day. Saved, the flow holds all of it."""
	flow = make_flow(
		steps=[
			step("wait", "Wait", label="Follow-up wait", wait_amount=1, wait_unit="Days", next_step="end"),
			end(),
		],
		flow_name=unique("Clock"),
	).name
	frappe.db.commit()
	page = login(browser, desk_url, admin, PASSWORD)
	errors = watch_errors(page)
	page.goto(f"{desk_url}/app/marketing-flow-designer/{flow}")
	try:
		node(page, "wait").wait_for(timeout=30000)
		assert node_summary(page, "wait") == "Wait 1 day"
		node(page, "wait").locator(".mf-node-label").click()
		page.locator(".mf-side-panel [data-fieldname='wait_at_time']").first.wait_for(timeout=10000)
		panel_field(page, "wait_at_time").select_option("09:00")
		panel_field(page, "wait_working_day").check()
		wait_for_summary(page, "wait", "Wait 1 day, then 09:00 on a working day (person's time)")
		page.locator(".mf-side-panel [data-fieldname='wait_working_day']").first.scroll_into_view_if_needed()
		screenshot(page, "time-zones-designer-wait")

		# the flow's panel (an empty corner of the canvas)
		pane = page.locator(".mf-designer .vue-flow__pane")
		pane.click(position={"x": pane.bounding_box()["width"] - 30, "y": 30})
		page.locator(".mf-side-panel [data-fieldname='times_in']").first.wait_for(timeout=10000)
		panel_field(page, "times_in").select_option("Flow's Time Zone")
		zone = panel_field(page, "time_zone")
		zone.click()
		zone.press_sequentially("New_Y", delay=20)
		page.locator(".mf-side-panel [data-fieldname='time_zone'] .awesomplete li").filter(
			has_text="America/New_York"
		).first.click(timeout=10000)
		page.wait_for_timeout(300)
		assert zone.input_value() == "America/New_York"
		panel_field(page, "skip_holidays").select_option("Both")
		wait_for_summary(page, "wait", "Wait 1 day, then 09:00 on a working day (America/New_York)")

		# SMS quiet from 21:00 to 08:00, every day
		grid = page.locator(".mf-side-panel [data-fieldname='quiet_hours']").first
		grid.locator(".grid-add-row").click()
		row = grid.locator(".grid-body .grid-row").first
		row.wait_for(timeout=5000)
		row.locator("[data-fieldname='channel']").first.click()
		row.locator("[data-fieldname='channel'] select").select_option("SMS")
		row.locator("[data-fieldname='quiet_from']").first.click()
		row.locator("[data-fieldname='quiet_from'] select").select_option("21:00")
		row.locator("[data-fieldname='quiet_to']").first.click()
		row.locator("[data-fieldname='quiet_to'] select").select_option("08:00")
		# and no email on Sundays: no From and To, the whole day
		grid.locator(".grid-add-row").click()
		row = grid.locator(".grid-body .grid-row").nth(1)
		row.wait_for(timeout=5000)
		row.locator("[data-fieldname='channel']").first.click()
		row.locator("[data-fieldname='channel'] select").select_option("Email")
		row.locator("[data-fieldname='days']").first.click()
		row.locator("[data-fieldname='days'] select").select_option("Sunday")
		page.locator(".mf-side-panel .mf-panel-title").click()  # the row's pickers closed
		page.locator(".mf-side-panel [data-fieldname='quiet_hours']").first.scroll_into_view_if_needed()
		page.wait_for_timeout(500)
		screenshot(page, "time-zones-designer-flow-panel")

		# a date trigger starts the people of the day at a time of day
		panel_field(page, "trigger_type").select_option("Date Field")
		page.locator(".mf-side-panel [data-fieldname='trigger_date_time'] select").first.wait_for(
			state="visible", timeout=5000
		)
		page.locator(".mf-side-panel [data-fieldname='trigger_date_time']").first.scroll_into_view_if_needed()
		screenshot(page, "time-zones-designer-date-trigger")
		panel_field(page, "trigger_type").select_option("Manual")

		page.wait_for_function("() => !document.querySelector('.mf-node-warning')", timeout=15000)
		page.locator(".page-head .primary-action:visible").click()
		page.wait_for_selector("text=Saved", timeout=20000)
		page.wait_for_timeout(500)
		wait_for_summary(page, "wait", "Wait 1 day, then 09:00 on a working day (America/New_York)")
		# the flow as loaded again after the save: its panel shows what was stored
		assert panel_field(page, "times_in").input_value() == "Flow's Time Zone"
		assert panel_field(page, "time_zone").input_value() == "America/New_York"
		assert panel_field(page, "skip_holidays").input_value() == "Both"
		rows = page.locator(".mf-side-panel [data-fieldname='quiet_hours'] .grid-body .grid-row")
		assert [" ".join(t.split()) for t in rows.all_inner_texts()] == [
			"SMS Every Day 21:00 08:00",
			"Email Sunday",
		]
		page.locator(".mf-side-panel [data-fieldname='quiet_hours']").first.scroll_into_view_if_needed()
		page.wait_for_timeout(300)
		screenshot(page, "time-zones-designer-saved")
	except Exception as e:
		screenshot(page, "time-zones-designer-failed")
		raise AssertionError(f"{e}; page errors: {errors}") from e
	page.close()
	frappe.db.rollback()
	saved = frappe.get_doc("Marketing Flow", flow)
	assert (saved.times_in, saved.time_zone, saved.skip_holidays) == (
		"Flow's Time Zone",
		"America/New_York",
		"Both",
	)
	assert saved.trigger_type == "Manual"
	assert [(q.channel, q.days, q.quiet_from or "", q.quiet_to or "") for q in saved.quiet_hours] == [
		("SMS", "Every Day", "21:00", "08:00"),
		("Email", "Sunday", "", ""),  # the whole day
	]
	wait = next(s for s in saved.steps if s.step_id == "wait")
	assert (wait.wait_at_time, wait.wait_working_day) == ("09:00", 1)
	assert not errors, errors


def test_flow_form_offers_the_zones(browser, desk_url, admin):
	"""The flow form's Flow Time Zone suggests the zones the server accepts; empty, it shows the
	site's zone as its placeholder."""
	flow = make_flow(flow_name=unique("Form Clock")).name
	frappe.db.commit()
	site_zone = get_system_timezone()
	page = login(browser, desk_url, admin, PASSWORD)
	errors = watch_errors(page)
	try:
		page.goto(f"{desk_url}/app/marketing-flow/{flow}")
		page.wait_for_selector(".mf-figures .mf-enrolled", timeout=20000)
		open_tab(page, "trigger_tab")
		field = page.locator(".frappe-control[data-fieldname='time_zone'] input").first
		field.scroll_into_view_if_needed()
		assert field.get_attribute("placeholder") == site_zone
		field.click()
		field.press_sequentially("Oslo", delay=20)
		option = page.locator(".frappe-control[data-fieldname='time_zone'] .awesomplete li").filter(
			has_text="Europe/Oslo"
		)
		option.first.wait_for(timeout=10000)
		page.wait_for_timeout(300)
		screenshot(page, "time-zones-flow-form")
		option.first.click()
		page.wait_for_timeout(300)
		assert field.input_value() == "Europe/Oslo"
	except Exception as e:
		screenshot(page, "time-zones-flow-form-failed")
		raise AssertionError(f"{e}; page errors: {errors}") from e
	page.close()
	assert not errors, errors


def test_contact_form_has_the_time_zone_and_refuses_one_that_is_none(browser, desk_url, admin):
	"""The Contact form's Time Zone field: "Mars/Olympus" is refused with a message that says what
	a time zone looks like, and the contact keeps no zone; Asia/Singapore is saved."""
	contact = make_contact()
	frappe.db.commit()
	page = login(browser, desk_url, admin, PASSWORD)
	errors = watch_errors(page)
	try:
		page.goto(f"{desk_url}/app/contact/{contact}")
		field = page.locator(".frappe-control[data-fieldname='mf_time_zone'] input").first
		field.wait_for(timeout=20000)
		field.scroll_into_view_if_needed()
		field.click()
		field.fill("Mars/Olympus")
		field.press("Tab")
		page.keyboard.press("Control+s")
		message = page.locator(".modal.show .msgprint")
		message.wait_for(timeout=10000)
		said = text_of(message)
		assert "'Mars/Olympus' is not a time zone" in said and "Europe/Oslo" in said, said
		page.wait_for_timeout(300)
		screenshot(page, "time-zones-contact-refused")
		page.locator(".modal.show .btn-modal-close").first.click()
		page.wait_for_timeout(300)
		field.click()
		field.fill("")
		field.press_sequentially("Singap", delay=20)
		page.locator(".frappe-control[data-fieldname='mf_time_zone'] .awesomplete li").filter(
			has_text="Asia/Singapore"
		).first.click(timeout=10000)
		page.keyboard.press("Control+s")
		page.wait_for_function(
			"() => !document.querySelector('.indicator-pill.orange:not(.hide)') || !cur_frm.is_dirty()",
			timeout=10000,
		)
		page.wait_for_timeout(500)
		screenshot(page, "time-zones-contact-saved")
	except Exception as e:
		screenshot(page, "time-zones-contact-failed")
		raise AssertionError(f"{e}; page errors: {errors}") from e
	page.close()
	frappe.db.rollback()
	assert frappe.db.get_value("Contact", contact, "mf_time_zone") == "Asia/Singapore"
	assert not errors, errors


def test_participants_tab_shows_each_persons_time_zone(browser, desk_url, admin, worker):
	"""A running flow whose first step waits until 09:00 on the person's clock: a contact with
	Asia/Singapore in their Time Zone field, one with an address in Norway, one with neither.
	The engine finds Asia/Singapore (the field), Europe/Oslo (the address's country) and the
	site's zone; the Participants tab shows them with where each came from on hover, and the
	Singapore contact's timeline says which zone and until when they wait."""
	flow = make_flow(
		steps=[
			step("morning", "Wait", label="Next morning", wait_at_time="09:00", next_step="end"),
			end(),
		],
		flow_name=unique("Zones"),
	)
	flow.run()
	singapore = make_contact(first_name=unique("Sing"), mf_time_zone="Asia/Singapore")
	oslo = make_contact(first_name=unique("Oslo"))
	frappe.get_doc(
		{
			"doctype": "Address",
			"address_title": unique("Oslo"),
			"address_type": "Billing",
			"address_line1": "Karl Johans gate 1",
			"city": "Oslo",
			"country": "Norway",
			"links": [{"link_doctype": "Contact", "link_name": oslo}],
		}
	).insert(ignore_permissions=True)
	nowhere = make_contact(first_name=unique("Nowhere"))
	flow = frappe.get_doc("Marketing Flow", flow.name)
	flow.enroll([singapore, oslo, nowhere])
	worker()
	site_zone = get_system_timezone()
	rows = {c: participant(flow.name, c) for c in (singapore, oslo, nowhere)}
	assert [(rows[c].time_zone, rows[c].time_zone_source) for c in (singapore, oslo, nowhere)] == [
		("Asia/Singapore", "Person"),
		("Europe/Oslo", "Address"),
		(site_zone, "Site"),
	]
	assert {r.status for r in rows.values()} == {"Waiting"}

	page = login(browser, desk_url, admin, PASSWORD)
	errors = watch_errors(page)
	try:
		page.goto(f"{desk_url}/app/marketing-flow/{flow.name}")
		page.wait_for_selector(".mf-figures .mf-enrolled", timeout=20000)
		open_tab(page, "participants_tab")
		page.wait_for_function(
			"() => document.querySelectorAll('.mf-participants tbody tr.mf-participant').length === 3",
			timeout=20000,
		)
		headers = [h.strip() for h in page.locator(".mf-participants thead th").all_inner_texts()]
		assert headers[:3] == ["Email", "Company", "Time Zone"], headers
		cells = {}
		for c in (singapore, oslo, nowhere):
			cell = page.locator(f".mf-participants tr[data-name='{rows[c].name}'] .mf-time-zone")
			cells[c] = (text_of(cell), cell.get_attribute("title"))
		assert cells == {
			singapore: ("Asia/Singapore", "From the person's Time Zone field"),
			oslo: ("Europe/Oslo", "From the country of the person's address"),
			nowhere: (site_zone, "The site's time zone"),
		}, cells
		# the site's zone stands in for one of the person's own: muted
		muted = {
			c: "text-muted"
			in page.locator(f".mf-participants tr[data-name='{rows[c].name}'] .mf-time-zone").get_attribute(
				"class"
			)
			for c in (singapore, oslo, nowhere)
		}
		assert muted == {singapore: False, oslo: False, nowhere: True}, muted
		page.locator(f".mf-participants tr[data-name='{rows[oslo].name}'] .mf-time-zone").hover()
		page.wait_for_timeout(300)
		screenshot(page, "time-zones-participants")

		page.locator(f".mf-participants tr[data-name='{rows[singapore].name}']").click()
		timeline = page.locator(".modal.show .mf-timeline")
		timeline.wait_for(timeout=10000)
		said = text_of(timeline)
		assert "Time zone Asia/Singapore (from the person's Time Zone field)" in said, said
		assert "09:00 (Asia/Singapore)" in said, said
		page.wait_for_timeout(300)
		screenshot(page, "time-zones-timeline")
	except Exception as e:
		screenshot(page, "time-zones-participants-failed")
		raise AssertionError(f"{e}; page errors: {errors}") from e
	page.close()
	assert not errors, errors
