"""Link Clicked as a trigger: a recipient's click on a tracked link of one flow's email (a real
click through the signed tracking URL on `bench serve`) enrols them into every running flow
triggered by such a click whose "Link Contains" the link's real target has, in a job after the
click (a real worker), through the usual enrolment rules; the flow's overview says so in words,
and the designer's flow panel shows the trigger's fields."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import unquote, urlsplit

import frappe
import pytest
import requests
from frappe.utils import add_to_date, now_datetime

from conftest import login, node, open_tab, panel_field, screenshot, text_of, watch_errors
from factories import (
	enrol_and_run,
	make_contact,
	make_flow,
	make_user,
	participant,
	running_flow,
	simple_steps,
	step,
	unique,
)
from marketing_flows.engine.entering import watch
from marketing_flows.engine.measuring import tracking

# a person's mail client (scripted clients and mail gateways' scanners are told apart)
BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"
PASSWORD = "Flows-Links-2026!"


def click_links(html: str) -> list[str]:
	"""The signed click-through URLs in an email's HTML."""
	return [
		unescape(m)
		for m in re.findall(r'href="([^"]*)"', html, re.IGNORECASE)
		if "marketing_flows.api.tracking.click?" in unescape(m)
	]


def hit(desk_url: str, url: str, method: str = "GET") -> requests.Response:
	"""Follow a link of the email on the test web server, as a reader's browser would."""
	parts, server = urlsplit(url), urlsplit(desk_url)
	target = f"http://127.0.0.1:{server.port}{parts.path}?{parts.query}"
	headers = {"Host": server.hostname, "User-Agent": BROWSER}
	return requests.request(method, target, headers=headers, allow_redirects=False, timeout=30)


def mail_flow(content) -> frappe._dict:
	"""A running flow that sends `content` (its link: https://example.com/offer?x=1), then waits."""
	return running_flow(
		[
			step("mail", "Send Email", content=content.name, next_step="wait"),
			step("wait", "Wait", wait_amount=1, wait_unit="Days"),
		],
		flow_name=unique("Offer mail"),
	)


def test_a_real_click_enrols_into_the_flows_triggered_by_that_link(worker, smtp, content, desk_url):
	source = mail_flow(content)
	offer = running_flow(
		simple_steps(),
		flow_name=unique("Offer clickers"),
		trigger_type="Link Clicked",
		trigger_flow=source.name,
		trigger_link_url="EXAMPLE.com/OFFER",  # ignoring case
	)
	any_link = running_flow(
		simple_steps(), flow_name=unique("Any click"), trigger_type="Link Clicked", trigger_flow=source.name
	)
	pricing = running_flow(
		simple_steps(),
		flow_name=unique("Pricing clickers"),
		trigger_type="Link Clicked",
		trigger_flow=source.name,
		trigger_link_url="/pricing",
	)
	# the real target is matched, not the signed redirect (which holds "marketing_flows")
	redirect_text = running_flow(
		simple_steps(),
		flow_name=unique("Redirect text"),
		trigger_type="Link Clicked",
		trigger_flow=source.name,
		trigger_link_url="tracking.click",
	)
	contact, p = enrol_and_run(source, worker, first_name=unique("Cleo"))
	assert p.status == "Waiting"
	assert participant(offer.name, contact) is None  # the email alone enrols nobody

	sent = smtp.to(p.email)[-1]
	click = next(u for u in click_links(smtp.html(sent)) if "example.com/offer" in unquote(u))
	# delivered a minute ago: a click seconds after delivery is taken for a link scanner's
	frappe.db.set_value(
		"Email Queue",
		p.email_queue,
		"modified",
		add_to_date(now_datetime(), minutes=-1),
		update_modified=False,
	)
	frappe.db.commit()
	started = now_datetime()
	r = hit(desk_url, click)
	assert r.status_code == 302 and r.headers["Location"].startswith("https://example.com/offer?x=1")
	frappe.db.rollback()
	assert participant(offer.name, contact) is None  # not in the click's request: in a job
	worker()

	joined = participant(offer.name, contact)
	assert joined is not None and joined.status == "Waiting"  # enrolled, and its first step (Wait) ran
	assert joined.enrolled_on >= started
	assert joined.enrolled_by.startswith(f"Clicked in {source.name}: https://example.com/offer?x=1")
	enrolled_log = frappe.get_all(
		"Marketing Flow Log", filters={"participant": joined.name, "event": "Enrolled"}, pluck="message"
	)
	assert enrolled_log == [joined.enrolled_by]
	assert participant(any_link.name, contact) is not None  # no Link Contains: any link
	assert participant(pricing.name, contact) is None
	assert participant(redirect_text.name, contact) is None

	# the same link clicked again: logged once, nobody enrolled twice
	hit(desk_url, click)
	worker()
	assert frappe.db.count("Marketing Flow Participant", {"flow": offer.name, "contact": contact}) == 1


def test_the_usual_enrolment_rules_apply_to_a_click(worker):
	"""Audience filters, unsubscribed, the re-enrolment policy: the click proposes, the flow
	decides. A scanner's hit proposes nobody."""
	source = running_flow(simple_steps(), flow_name=unique("Newsletter"))
	target = running_flow(
		simple_steps(),
		flow_name=unique("Clickers"),
		trigger_type="Link Clicked",
		trigger_flow=source.name,
		audience_filters='[["Contact", "first_name", "like", "Ann%"]]',
	)
	ann, bob = make_contact(first_name=unique("Ann")), make_contact(first_name=unique("Bob"))
	source.enroll([ann, bob])
	frappe.db.commit()
	rows = {c: participant(source.name, c) for c in (ann, bob)}
	tracking.record_scan(rows[ann].name, None, "https://example.com/a", "HEAD request")
	assert watch.pending() == {}  # a link scanner's hit is no click
	for c in (ann, bob):
		assert tracking.record_click(rows[c].name, None, "https://example.com/a")
	assert {key[0] for key in watch.pending()} == {target.name}
	worker()
	assert participant(target.name, ann) is not None
	assert participant(target.name, bob) is None  # outside the audience

	# Ann finishes the target flow; re-enrolment "Never": another new click doesn't bring her back
	frappe.db.set_value(
		"Marketing Flow Participant", participant(target.name, ann).name, "status", "Completed"
	)
	frappe.db.set_value("Marketing Flow Participant", participant(target.name, ann).name, "active_key", None)
	assert tracking.record_click(rows[ann].name, None, "https://example.com/b")
	worker()
	assert frappe.db.count("Marketing Flow Participant", {"flow": target.name, "contact": ann}) == 1


def test_a_link_clicked_trigger_names_another_flow():
	other = make_flow(flow_name=unique("Source"))
	flow = make_flow(flow_name=unique("Clicked"))
	flow.trigger_type = "Link Clicked"
	with pytest.raises(frappe.ValidationError, match="Trigger Flow"):
		flow.save()
	flow.reload()
	flow.trigger_type = "Link Clicked"
	flow.trigger_flow = flow.name
	with pytest.raises(frappe.ValidationError, match="its own emails"):
		flow.save()
	flow.reload()
	flow.trigger_type = "Link Clicked"
	flow.trigger_flow = other.name
	flow.save()
	assert frappe.db.get_value("Marketing Flow", flow.name, "trigger_flow") == other.name


@pytest.fixture(scope="module")
def admin():
	# a marketer who also keeps the contacts (as the designer's own tests): the designer froze
	# for a user with Flow Administrator alone (reported)
	user = make_user(["Flow Administrator", "Sales User"], "linkadmin", PASSWORD)
	frappe.db.commit()
	return user


def test_the_designer_and_the_overview_show_the_link_clicked_trigger(browser, desk_url, admin):
	"""Choosing Link Clicked in the designer's flow panel shows Trigger Flow and Link Contains;
	the flow form's overview says the trigger in words."""
	source = make_flow(flow_name=unique("Price list mail"))
	flow = make_flow(flow_name=unique("Price clickers"))
	frappe.db.commit()
	page = login(browser, desk_url, admin, PASSWORD)
	errors = watch_errors(page)
	page.goto(f"{desk_url}/app/marketing-flow-designer/{flow.name}")
	console: list[str] = []
	page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
	pane = page.locator(".mf-designer .vue-flow__pane")
	node(page, "wait").wait_for(timeout=30000)
	pane.click(position={"x": pane.bounding_box()["width"] - 30, "y": 30})  # no step: the flow's panel
	try:
		panel_field(page, "trigger_type").wait_for(timeout=10000)
	except Exception:
		print("\n".join(console[-30:]), errors)
		raise
	flow_field = page.locator(".mf-side-panel [data-fieldname='trigger_flow']").first
	link_field = page.locator(".mf-side-panel [data-fieldname='trigger_link_url']").first
	assert not flow_field.is_visible() and not link_field.is_visible()  # Manual: neither
	panel_field(page, "trigger_type").select_option("Link Clicked")
	flow_field.wait_for(state="visible", timeout=5000)
	link_field.wait_for(state="visible", timeout=5000)
	assert "Link Contains" in text_of(link_field)
	link_input = panel_field(page, "trigger_flow")
	link_input.fill(source.name)
	link_input.press("Tab")  # Frappe's Link control checks the name on blur
	page.wait_for_timeout(1000)
	assert link_input.input_value() == source.name
	panel_field(page, "trigger_link_url").fill("/pricing")
	page.locator(".mf-side-panel .mf-panel-title").click()
	link_field.scroll_into_view_if_needed()
	page.wait_for_timeout(500)
	screenshot(page, "link-trigger-designer-flow-panel")
	panel_field(page, "trigger_type").select_option("Flow Goal")
	link_field.wait_for(state="hidden", timeout=5000)
	assert flow_field.is_visible()  # Flow Goal keeps the flow, not the link
	assert not errors, errors
	page.close()

	flow.reload()
	flow.trigger_type, flow.trigger_flow, flow.trigger_link_url = "Link Clicked", source.name, "/pricing"
	flow.save()
	frappe.db.commit()
	page = login(browser, desk_url, admin, PASSWORD)
	errors = watch_errors(page)
	page.goto(f"{desk_url}/app/marketing-flow/{flow.name}")
	open_tab(page, "overview_tab")
	words = page.locator(".mf-in-words").first
	words.wait_for(timeout=20000)
	assert (
		f"Trigger: When someone clicks a link containing '/pricing' in an email of flow {source.name}."
		in text_of(words)
	)
	words.scroll_into_view_if_needed()
	screenshot(page, "link-trigger-overview")
	assert not errors, errors
	page.close()
