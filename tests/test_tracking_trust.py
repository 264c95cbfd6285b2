"""Recipients and guests can trust the tracking endpoints (on a real `bench serve`):

- a signed unsubscribe always works: after its participant or flow was deleted, for a recipient
  logged in to the site, and for a mail provider's one-click POSTs from a few shared addresses;
- what a guest sends (a user agent) and what a link carries is stored without markup, so the
  desk shows it as text;
- a busy runner (participant rows locked) never turns a click, an open or an unsubscribe into an
  error page or a wait: the event is recorded later by a job.
"""

from __future__ import annotations

import re
import time
from contextlib import contextmanager
from html import unescape
from urllib.parse import urlsplit

import frappe
import pytest
import requests

from factories import enrolled, make_contact, make_flow, make_user, participant, unique
from marketing_flows.engine.entering import enrolment
from marketing_flows.engine.sending import links as signed

BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"
UNSUBSCRIBE = "/api/method/marketing_flows.api.tracking.unsubscribe"
ONE_CLICK = {"List-Unsubscribe": "One-Click"}
PASSWORD = "Trust-Tracking-2026!"


# --- helpers -------------------------------------------------------------------------------


def hit(
	desk_url: str,
	url: str,
	method: str = "GET",
	session: requests.Session | None = None,
	timeout: float = 30,
	**kwargs,
) -> requests.Response:
	"""Request a link built by tracking (absolute URL of the site, or a path) on the test server."""
	parts = urlsplit(url)
	server = urlsplit(desk_url)
	target = f"http://127.0.0.1:{server.port}{parts.path}" + (f"?{parts.query}" if parts.query else "")
	headers = {"Host": server.hostname, "User-Agent": BROWSER, **kwargs.pop("headers", {})}
	return (session or requests).request(
		method, target, headers=headers, allow_redirects=False, timeout=timeout, **kwargs
	)


def form_of(page: requests.Response) -> dict[str, str]:
	"""The hidden fields of the confirmation page's form."""
	assert page.status_code == 200 and 'method="post"' in page.text, page.status_code
	return dict(re.findall(r'name="([^"]+)" value="([^"]*)"', unescape(page.text)))


def log_rows(participant: str, event: str) -> list[frappe._dict]:
	return frappe.get_all(
		"Marketing Flow Log",
		filters={"participant": participant, "event": event},
		fields=["name", "event", "step_id", "url", "message"],
		order_by="name",
	)


def unsubscribed(contact: str) -> bool:
	return frappe.db.get_value("Contact", contact, "unsubscribed") == 1


@contextmanager
def rows_locked(*participants: str):
	"""Hold the participants' rows locked from the tests' own connection (as the runner does while
	it works on them) until the block ends."""
	frappe.db.rollback()
	for name in participants:
		frappe.db.sql("SELECT name FROM `tabMarketing Flow Participant` WHERE name = %s FOR UPDATE", name)
	try:
		yield
	finally:
		frappe.db.rollback()


@contextmanager
def guest_rate_limit(limit: int):
	from frappe.installer import update_site_config

	update_site_config("marketing_flows_guest_rate_limit", limit)
	frappe.cache.delete_keys("rl:marketing_flows.api.tracking*")
	try:
		yield
	finally:
		update_site_config("marketing_flows_guest_rate_limit", "None")
		frappe.cache.delete_keys("rl:marketing_flows.api.tracking*")


# --- 8. unsubscribe always works -------------------------------------------------------------


def test_unsubscribe_works_after_the_participant_was_deleted(desk_url):
	p = enrolled()
	other = enrolled(contact=p.contact)  # the same person in another flow
	group = frappe.get_doc({"doctype": "Email Group", "title": unique("News")}).insert()
	frappe.get_doc({"doctype": "Email Group Member", "email_group": group.name, "email": p.email}).insert()
	url = signed.unsubscribe_url(p.participant, p.email, "email_1")
	frappe.db.delete("Marketing Flow Participant", p.participant)  # e.g. removed by a marketer
	frappe.db.commit()

	page = hit(desk_url, url)
	assert page.status_code == 200 and p.email in unescape(page.text)  # the page still asks
	frappe.db.rollback()
	assert not unsubscribed(p.contact)  # a GET changes nothing
	r = hit(desk_url, UNSUBSCRIBE, method="POST", data=form_of(page))
	assert r.status_code == 200 and "Unsubscribed" in r.text and p.email in unescape(r.text)
	frappe.db.rollback()
	assert unsubscribed(p.contact)
	member = {"email_group": group.name, "email": p.email}
	assert frappe.db.get_value("Email Group Member", member, "unsubscribed") == 1
	row = participant(name=other.participant)
	assert (row.status, row.exit_reason) == ("Exited", "Unsubscribed")
	assert not frappe.db.exists("Email Unsubscribe", {"email": p.email, "global_unsubscribe": 1})
	assert enrolment.enroll(make_flow(), [p.contact]).enrolled == []


def test_one_click_unsubscribe_works_after_the_flow_was_deleted(desk_url):
	p = enrolled()
	url = signed.unsubscribe_url(p.participant, p.email)
	frappe.delete_doc("Marketing Flow", p.flow)  # a Draft flow: its participants and log go too
	frappe.db.commit()
	assert not participant(name=p.participant)

	r = hit(desk_url, url, method="POST", data=ONE_CLICK)
	assert r.status_code == 200 and "Unsubscribed" in r.text
	frappe.db.rollback()
	assert unsubscribed(p.contact)


def test_a_recipient_logged_in_to_the_site_can_press_the_button(desk_url):
	user = make_user(["Flow Content Editor"], prefix="recipient", password=PASSWORD)
	p = enrolled(contact=make_contact(email_id=user))  # a colleague who gets the newsletter
	url = signed.unsubscribe_url(p.participant, p.email)
	browser = requests.Session()
	r = hit(desk_url, "/api/method/login", "POST", session=browser, data={"usr": user, "pwd": PASSWORD})
	assert r.status_code == 200, r.text
	assert (
		hit(desk_url, "/app", session=browser).status_code == 200
	)  # the desk gives the session a CSRF token

	page = hit(desk_url, url, session=browser)
	r = hit(desk_url, UNSUBSCRIBE, method="POST", session=browser, data=form_of(page))
	assert r.status_code == 200 and "Unsubscribed" in r.text, r.text[:500]
	frappe.db.rollback()
	assert unsubscribed(p.contact)
	assert participant(name=p.participant).status == "Exited"

	# the session's CSRF check still stands for everything else
	r = hit(
		desk_url, "/api/method/frappe.client.get_count", "POST", session=browser, data={"doctype": "ToDo"}
	)
	assert r.status_code == 400


def test_one_click_posts_from_a_providers_shared_address_are_never_rate_limited(desk_url):
	people = [enrolled() for _ in range(5)]
	google = {"X-Forwarded-For": "66.102.1.1"}  # one mail provider, many recipients
	with guest_rate_limit(3):
		codes = [
			hit(
				desk_url,
				signed.unsubscribe_url(p.participant, p.email),
				"POST",
				data=ONE_CLICK,
				headers=google,
			).status_code
			for p in people
		]
		# the provider's image proxy fetches every recipient's pixel from the same address
		pixels = [hit(desk_url, signed.open_url(p.participant, "email_1"), headers=google) for p in people]
		# unsigned guesses from that address are still limited
		forged = [
			hit(desk_url, signed.unsubscribe_url(f"nobody-{i}", "x@example.com") + "0", headers=google)
			for i in range(5)
		]
	assert codes == [200] * 5
	assert all(r.status_code == 200 and r.content.startswith(b"GIF89a") for r in pixels)
	assert [r.status_code for r in forged] == [400, 400, 400, 429, 429]
	frappe.db.rollback()
	for p in people:
		assert unsubscribed(p.contact)
		assert participant(name=p.participant).status == "Exited"
		assert len(log_rows(p.participant, "Opened")) == 1


def test_a_replayed_one_click_is_limited_per_link_not_lost(desk_url):
	p = enrolled()
	url = signed.unsubscribe_url(p.participant, p.email)
	with guest_rate_limit(3):
		codes = [hit(desk_url, url, "POST", data=ONE_CLICK).status_code for _ in range(5)]
		page = hit(desk_url, url)  # GETs (link scanners) are counted apart from the POSTs
	assert codes == [200, 200, 200, 429, 429]
	assert page.status_code == 200
	frappe.db.rollback()
	assert unsubscribed(p.contact)
	assert len(log_rows(p.participant, "Unsubscribed")) == 1


# --- 9. guest input is stored clean ----------------------------------------------------------

ATTACK_AGENT = "Mozilla/5.0 (compatible; bot) <img src=x onerror=alert(document.domain)>"
# (Frappe itself refuses `<` in a guest's query string; quotes and spaces get through)
ATTACK_URL = 'https://example.com/offer?q=" onmouseover="alert(document.cookie)&a=\'b c'


def test_user_agents_and_urls_are_stored_without_markup(desk_url):
	p = enrolled()
	scanned = hit(
		desk_url,
		signed.click_url(p.participant, "email_1", "https://example.com/a"),
		headers={"User-Agent": ATTACK_AGENT},
	)
	clicked = hit(desk_url, signed.click_url(p.participant, "email_1", ATTACK_URL))
	assert scanned.status_code == 302 and clicked.status_code == 302
	frappe.db.rollback()
	[scan] = log_rows(p.participant, "Scanned")
	assert not set("<>&") & set(scan.message)
	assert "img src=x onerror=alert(document.domain)" in scan.message  # still readable, as text
	[click] = log_rows(p.participant, "Clicked")
	assert not set("<>\"' ") & set(click.url)
	assert click.url == "https://example.com/offer?q=%22%20onmouseover=%22alert(document.cookie)&a=%27b%20c"
	# the same click again is still the same click (no second log row)
	assert hit(desk_url, signed.click_url(p.participant, "email_1", ATTACK_URL)).status_code == 302
	frappe.db.rollback()
	assert len(log_rows(p.participant, "Clicked")) == 1


def test_the_desk_shows_a_hostile_user_agent_as_text(desk_url, browser):
	from conftest import login

	p = enrolled()
	hit(
		desk_url,
		signed.click_url(p.participant, "email_1", "https://example.com/a"),
		headers={"User-Agent": ATTACK_AGENT},
	)
	hit(desk_url, signed.click_url(p.participant, "email_1", ATTACK_URL))
	admin = make_user(["Flow Administrator"], prefix="flow-admin", password=PASSWORD)
	frappe.db.commit()
	[scan] = log_rows(p.participant, "Scanned")
	[click] = log_rows(p.participant, "Clicked")

	page = login(browser, desk_url, admin, PASSWORD)
	dialogs = []
	page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
	try:
		page.goto(f"{desk_url}/app/marketing-flow-log/{scan.name}")
		message = page.locator('.frappe-control[data-fieldname="message"]')
		message.wait_for(state="visible", timeout=20000)
		page.wait_for_timeout(500)
		assert "img src=x onerror=alert(document.domain)" in message.inner_text()
		page.goto(f"{desk_url}/app/marketing-flow-log/{click.name}")
		page.locator('.frappe-control[data-fieldname="url"]').wait_for(state="visible", timeout=20000)
		page.goto(f"{desk_url}/app/marketing-flow-log?participant={p.participant}")
		page.locator(".list-row").first.wait_for(state="visible", timeout=20000)
		page.wait_for_timeout(500)
		assert page.locator('img[src="x"]').count() == 0
	finally:
		page.close()
	assert dialogs == []


# --- 10. a busy runner never turns a click into an error page -------------------------------


def test_locked_participants_get_their_redirect_pixel_and_page_at_once(desk_url, worker):
	reader, leaver = enrolled(), enrolled()
	click = signed.click_url(reader.participant, "email_1", "https://example.com/offer")
	pixel = signed.open_url(reader.participant, "email_2")
	one_click = signed.unsubscribe_url(leaver.participant, leaver.email, "email_1")
	timings = {}
	with rows_locked(reader.participant, leaver.participant):
		for name, url, method, data in (
			("click", click, "GET", None),
			("pixel", pixel, "GET", None),
			("unsubscribe", one_click, "POST", ONE_CLICK),
		):
			start = time.monotonic()
			try:
				r = hit(desk_url, url, method, data=data, timeout=10)
			except requests.Timeout:
				pytest.fail(f"{name}: no answer within 10 s while the runner holds the participant")
			timings[name] = (time.monotonic() - start, r)
	for name, (seconds, _) in timings.items():
		assert seconds < 3, f"{name} took {seconds:.1f} s"
	assert timings["click"][1].status_code == 302
	assert timings["click"][1].headers["Location"] == "https://example.com/offer"
	assert timings["pixel"][1].content.startswith(b"GIF89a")
	r = timings["unsubscribe"][1]
	assert r.status_code == 200 and "Unsubscribed" in r.text

	worker()  # the jobs record what the endpoints could not
	assert [c.url for c in log_rows(reader.participant, "Clicked")] == ["https://example.com/offer"]
	assert {o.step_id for o in log_rows(reader.participant, "Opened")} == {"email_1", "email_2"}
	assert participant(name=reader.participant).last_sent_status == "Clicked"
	assert unsubscribed(leaver.contact)
	row = participant(name=leaver.participant)
	assert (row.status, row.exit_reason) == ("Exited", "Unsubscribed")
	assert log_rows(leaver.participant, "Unsubscribed")[0].step_id == "email_1"
