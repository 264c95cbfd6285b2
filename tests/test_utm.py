"""Campaign tags (UTM) on the links of flow emails: which links get them and with what values,
and, end to end, the email a real worker delivered over SMTP whose links, followed through the
click endpoint of a real `bench serve`, land on the tagged URL."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, parse_qsl, urlsplit

import frappe
import requests

from factories import make_contact, make_content, make_flow, participant, step, unique
from marketing_flows.engine.sending import links as signed

TAGS = "utm_source=marketing_flows&utm_medium=email&utm_campaign=Spring&utm_content=mail1"


# the test HTTP client of test_tracking.py: a link of the site requested on the test server, as
# a person's mail client (scripted clients and scanners are told apart)
BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"


def hit(desk_url: str, url: str) -> requests.Response:
	parts = urlsplit(url)
	server = urlsplit(desk_url)
	target = f"http://127.0.0.1:{server.port}{parts.path}" + (f"?{parts.query}" if parts.query else "")
	headers = {"Host": server.hostname, "User-Agent": BROWSER}
	return requests.get(target, headers=headers, allow_redirects=False, timeout=30)


def links(html: str, endpoint: str) -> list[str]:
	"""Tracking URLs for `endpoint` found in `html` (attribute values, HTML-unescaped)."""
	return [
		unescape(m)
		for m in re.findall(r'(?:href|src)="([^"]*)"', html, re.IGNORECASE)
		if f"marketing_flows.api.tracking.{endpoint}?" in unescape(m)
	]


def targets(html: str) -> list[str]:
	"""The URLs the click links of `html` lead to, in order."""
	return [parse_qs(urlsplit(u).query)["url"][0] for u in links(html, "click")]


def utm(url: str) -> dict[str, str]:
	return {k: v for k, v in parse_qsl(urlsplit(url).query) if k.startswith("utm_")}


# --- which links, what values (no worker) ----------------------------------------------------


def test_tags_are_added_to_tracked_links_only_and_signed_with_them():
	own_api = frappe.utils.get_url() + "/api/method/frappe.www.me.get"
	html = (
		"<html><body>"
		'<a href="https://example.com/offer">offer</a>'
		'<a href="https://example.com/p?x=1&amp;y=2#part">query and fragment</a>'
		'<a href="https://example.com/q?">empty query</a>'
		'<a href="https://example.com/kept?UTM_Campaign=mine&amp;x=1">has utm</a>'
		f'<a href="{own_api}">own api</a>'
		'<a href="https://other.example.com/api/v1/x">other site api</a>'
		'<a href="mailto:sales@example.com">mail</a><a href="tel:+15550100">call</a>'
		'<a href="#top">anchor</a><a href="/relative">relative</a>'
		f'<a href="{signed.unsubscribe_url("P-1", "a@example.com", "mail1")}">Unsubscribe</a>'
		"</body></html>"
	)
	out = signed.prepare_html(html, "P-1", "F", "mail1", tags=TAGS)
	assert targets(out) == [
		f"https://example.com/offer?{TAGS}",
		f"https://example.com/p?x=1&y=2&{TAGS}#part",  # before the fragment
		f"https://example.com/q?{TAGS}",
		"https://example.com/kept?UTM_Campaign=mine&x=1",  # any utm_ parameter: left as it is
		own_api,  # the site's own API: tracked, not tagged
		f"https://other.example.com/api/v1/x?{TAGS}",
	]
	for u in links(out, "click"):  # the signature covers the tagged URL
		q = parse_qs(urlsplit(u).query)
		assert signed.verify(q["sig"][0], "click", "P-1", "mail1", q["url"][0])
	for untouched in (
		'href="mailto:sales@example.com"',
		'href="tel:+15550100"',
		'href="#top"',
		'href="/relative"',
	):
		assert untouched in out
	assert "utm_" not in out.split("tracking.unsubscribe")[1].split('"')[0]  # the unsubscribe link

	# click tracking off: the links are tagged all the same (not wrapped)
	plain = signed.prepare_html(html, "P-1", "F", "mail1", track_clicks=False, tags=TAGS)
	assert links(plain, "click") == []
	assert f'href="https://example.com/p?x=1&amp;y=2&amp;{TAGS.replace("&", "&amp;")}#part"' in plain
	assert 'href="https://example.com/kept?UTM_Campaign=mine&amp;x=1"' in plain
	# no tags: what it always was
	assert targets(signed.prepare_html(html, "P-1", "F", "mail1"))[0] == "https://example.com/offer"


def test_campaign_tags_default_to_the_flow_and_the_step():
	flow = make_flow()
	assert flow.add_utm_tags == 1  # on by default
	assert dict(parse_qsl(signed.campaign_tags(flow, "mail1"))) == {
		"utm_source": "marketing_flows",
		"utm_medium": "email",
		"utm_campaign": flow.flow_name,
		"utm_content": "mail1",
	}
	flow.update({"utm_source": " newsletter ", "utm_medium": "e-mail", "utm_campaign": "Spring & Sale"})
	tags = signed.campaign_tags(flow, "mail1")
	assert "utm_campaign=Spring%20%26%20Sale" in tags  # encoded, spaces as %20
	assert dict(parse_qsl(tags)) == {
		"utm_source": "newsletter",
		"utm_medium": "e-mail",
		"utm_campaign": "Spring & Sale",
		"utm_content": "mail1",
	}
	flow.add_utm_tags = 0
	assert signed.campaign_tags(flow, "mail1") is None


def test_a_step_on_a_variants_path_names_the_variant():
	steps = [
		step("ab", "A/B Test"),
		step("a1", "Send Email", next_step="wait_a"),
		step("wait_a", "Wait", wait_amount=1, wait_unit="Days", next_step="a2"),
		step("a2", "Send Email", next_step="join"),
		step("b1", "Send Email", next_step="inner"),
		step("inner", "A/B Test"),
		step("b1x", "Send Email", next_step="join"),
		step("b1y", "Send Email", next_step="join"),
		step("join", "Send Email"),
	]
	branches = [
		{"step_id": "ab", "branch_key": "short", "next_step": "a1"},
		{"step_id": "ab", "branch_key": "long", "next_step": "b1"},
		{"step_id": "inner", "branch_key": "x", "next_step": "b1x"},
		{"step_id": "inner", "branch_key": "y", "next_step": "b1y"},
	]
	of = {s["step_id"]: signed.variant_of(steps, branches, s["step_id"]) for s in steps}
	assert of == {
		"ab": None,
		"a1": "short",
		"wait_a": "short",
		"a2": "short",  # further down the variant's path
		"b1": "long",
		"inner": "long",
		"b1x": "x",  # nested tests: the nearest variant
		"b1y": "y",
		"join": None,  # where the variants meet again
	}
	# a step that two variants lead to belongs to neither
	branches[1]["next_step"] = "a1"
	assert signed.variant_of(steps, branches, "a1") is None
	assert signed.variant_of(steps, branches, "missing") is None


# --- delivered, clicked, landed (real worker, SMTP sink, web server) ----------------------------


def offer_content(smtp, own_api: str):
	return make_content(
		"Email",
		content_name=unique("Offer"),
		subject="Offer",
		body=(
			'<p><a href="https://shop.example.com/offer?id=7">Offer</a></p>'
			'<p><a href="https://shop.example.com/spring?utm_campaign=spring_sale&amp;id=8">Spring</a></p>'
			f'<p><a href="{own_api}">Me</a> <a href="mailto:shop@example.com">Mail us</a></p>'
		),
		sender=smtp.account,
	)


def delivered(smtp, flow, contact: str) -> str:
	email = frappe.db.get_value("Contact", contact, "email_id")
	received = smtp.to(email)
	assert len(received) == 1, f"{len(received)} emails to {email}"
	return smtp.html(received[0])


def landing(desk_url: str, click: str) -> str:
	r = hit(desk_url, click)
	assert r.status_code == 302, (click, r.status_code)
	return r.headers["Location"]


def test_delivered_links_land_on_the_tagged_url(worker, smtp, desk_url):
	own_api = frappe.utils.get_url() + "/api/method/frappe.www.me.get"
	content = offer_content(smtp, own_api)
	flow = make_flow(steps=[step("mail1", "Send Email", content=content.name)], utm_medium="newsletter")
	flow.run()
	contact = make_contact()
	flow.enroll([contact])
	worker()
	html = delivered(smtp, flow, contact)
	assert "mailto:shop@example.com" in html
	clicks = links(html, "click")
	assert len(clicks) == 3
	offer, spring, me = (landing(desk_url, c) for c in clicks)
	assert offer.startswith("https://shop.example.com/offer?id=7&utm_")
	assert utm(offer) == {
		"utm_source": "marketing_flows",
		"utm_medium": "newsletter",
		"utm_campaign": flow.flow_name,
		"utm_content": "mail1",
	}
	assert spring == "https://shop.example.com/spring?utm_campaign=spring_sale&id=8"  # its own kept
	assert me == own_api
	frappe.db.rollback()
	p = participant(flow.name, contact)
	logged = frappe.get_all(
		"Marketing Flow Log",
		filters={"participant": p.name, "event": ("in", ("Clicked", "Scanned"))},
		pluck="url",
	)
	assert offer in logged  # the click is logged with the URL it went to

	# a link signed before tags existed (an email already sent) still leads where it led
	old = links(
		signed.prepare_html('<a href="https://shop.example.com/old">x</a>', p.name, flow.name, "mail1"),
		"click",
	)
	assert landing(desk_url, old[0]) == "https://shop.example.com/old"


def test_no_tags_when_the_flow_turns_them_off(worker, smtp, desk_url):
	content = offer_content(smtp, frappe.utils.get_url() + "/api/method/frappe.www.me.get")
	flow = make_flow(steps=[step("mail1", "Send Email", content=content.name)], add_utm_tags=0)
	flow.run()
	contact = make_contact()
	flow.enroll([contact])
	worker()
	html = delivered(smtp, flow, contact)
	assert landing(desk_url, links(html, "click")[0]) == "https://shop.example.com/offer?id=7"


def test_a_variants_links_name_the_variant(worker, smtp, desk_url):
	content = make_content(
		"Email",
		content_name=unique("Variant"),
		subject="Hi",
		body='<p><a href="https://shop.example.com/offer">Offer</a></p>',
		sender=smtp.account,
	)
	flow = make_flow(
		steps=[
			step("ab", "A/B Test"),
			step("mail_a", "Send Email", content=content.name, next_step="after"),
			step("mail_b", "Send Email", content=content.name, next_step="after"),
			step("after", "Wait", wait_amount=3, wait_unit="Days"),
		],
		branches=[
			{"step_id": "ab", "branch_label": "Short subject", "percentage": 50, "next_step": "mail_a"},
			{"step_id": "ab", "branch_label": "Long subject", "percentage": 50, "next_step": "mail_b"},
		],
	)
	flow.run()
	people = [make_contact() for _ in range(16)]
	flow.enroll(people)
	worker()
	seen = set()
	for contact in people:
		p = participant(flow.name, contact)
		branch = frappe.db.get_value(
			"Marketing Flow Log", {"participant": p.name, "step_id": "ab", "event": "Step Executed"}, "branch"
		)
		mail = {"short_subject": "mail_a", "long_subject": "mail_b"}[branch]
		tags = utm(landing(desk_url, links(delivered(smtp, flow, contact), "click")[0]))
		assert tags["utm_content"] == f"{mail}-{branch}", contact
		assert tags["utm_campaign"] == flow.flow_name
		seen.add(branch)
	assert seen == {"short_subject", "long_subject"}
