"""Tracking: signed open / click / unsubscribe links hit on a real `bench serve`, and delivery
outcomes read from Email Queue rows that Frappe really sent (or failed to send) over SMTP."""

from __future__ import annotations

import re
import time
from html import unescape
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

import frappe
import pytest
import requests

from factories import enrolled, make_flow, participant, unique
from marketing_flows.engine.entering import enrolment
from marketing_flows.engine.sending import delivery
from marketing_flows.engine.sending import links as signed
from receivers import free_port

HTML = """<html><head><link rel="stylesheet" href="https://cdn.example.com/style.css"></head>
<body><p>Hello</p>
<a href="https://example.com/offer?utm_source=flow&amp;id=7#top">Offer</a>
<a class="btn" href='http://example.org/plain'>Plain</a>
<A HREF=https://example.net/bare>Bare</A>
<a href="mailto:sales@example.com">Mail us</a>
<a href="tel:+15550100">Call</a>
<a href="#section">Jump</a>
<a href="/relative/page">Relative</a>
<a name="section">Anchor</a>
</body></html>"""


# --- helpers -------------------------------------------------------------------------------


def hit(desk_url: str, url: str, method: str = "GET", **kwargs) -> requests.Response:
	"""Request a link built by tracking (absolute URL of the site) on the test server."""
	parts = urlsplit(url)
	server = urlsplit(desk_url)
	target = f"http://127.0.0.1:{server.port}{parts.path}" + (f"?{parts.query}" if parts.query else "")
	headers = {"Host": server.hostname, "User-Agent": BROWSER, **kwargs.pop("headers", {})}
	return requests.request(method, target, headers=headers, allow_redirects=False, timeout=30, **kwargs)


# a person's mail client (scripted clients and mail gateways' scanners are told apart)
BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"


def links(html: str, endpoint: str) -> list[str]:
	"""Tracking URLs for `endpoint` found in `html` (attribute values, HTML-unescaped)."""
	return [
		unescape(m)
		for m in re.findall(r'(?:href|src)="([^"]*)"', html, re.IGNORECASE)
		if f"marketing_flows.api.tracking.{endpoint}?" in unescape(m)
	]


def with_params(link: str, **changes) -> str:
	parts = urlsplit(link)
	params = dict(parse_qsl(parts.query))
	params.update(changes)
	return parts._replace(query=urlencode(params)).geturl()


def log_rows(participant: str, event: str | None = None) -> list[frappe._dict]:
	filters = {"participant": participant}
	if event:
		filters["event"] = event
	return frappe.get_all(
		"Marketing Flow Log", filters=filters, fields=["event", "step_id", "url", "message"], order_by="name"
	)


def email_queue(**values):
	"""An Email Queue row (inserted as is: nothing is sent)."""
	return frappe.get_doc({"doctype": "Email Queue", **values}).insert(ignore_permissions=True)


# --- prepare_html --------------------------------------------------------------------------


def test_prepare_html_rewrites_http_links_only_and_adds_pixel():
	out = signed.prepare_html(HTML, "P-1", "Flow-1", "email_1")
	clicks = links(out, "click")
	targets = [parse_qs(urlsplit(u).query)["url"][0] for u in clicks]
	assert targets == [
		"https://example.com/offer?utm_source=flow&id=7#top",  # &amp; in the HTML is & in the URL
		"http://example.org/plain",
		"https://example.net/bare",
	]
	base = frappe.utils.get_url()
	for u in clicks:
		assert u.startswith(base + "/api/method/marketing_flows.api.tracking.click?")
		q = parse_qs(urlsplit(u).query)
		assert q["participant"] == ["P-1"] and q["step_id"] == ["email_1"]
		assert signed.verify(q["sig"][0], "click", "P-1", "email_1", q["url"][0])
		assert not signed.verify(q["sig"][0], "click", "P-2", "email_1", q["url"][0])
		assert not signed.verify(q["sig"][0], "click", "P-1", "email_1", "https://evil.example.com/")
	for untouched in (
		'href="mailto:sales@example.com"',
		'href="tel:+15550100"',
		'href="#section"',
		'href="/relative/page"',
		'<link rel="stylesheet" href="https://cdn.example.com/style.css">',
		'class="btn" href=',
	):
		assert untouched in out
	assert "example.org/plain'" not in out  # the rewritten value is requoted
	pixels = links(out, "open")
	assert len(pixels) == 1
	assert out.index("tracking.open?") < out.index("</body>")
	q = parse_qs(urlsplit(pixels[0]).query)
	assert signed.verify(q["sig"][0], "open", "P-1", "email_1")
	# a click signature is not an open signature
	assert not signed.verify(parse_qs(urlsplit(clicks[0]).query)["sig"][0], "open", "P-1", "email_1")


def test_prepare_html_options_and_untracked_links():
	unsubscribe = signed.unsubscribe_url("P-1", "a@example.com")
	html = f'<p><a href="https://example.com/x">x</a> <a href="{unsubscribe}">Unsubscribe</a></p>'
	assert signed.prepare_html(html, "P-1", "F", "s", track_opens=False, track_clicks=False) == html
	only_opens = signed.prepare_html(html, "P-1", "F", "s", track_clicks=False)
	assert links(only_opens, "click") == [] and len(links(only_opens, "open")) == 1
	assert only_opens.endswith(">") and only_opens.startswith(html)  # no </body>: appended
	only_clicks = signed.prepare_html(html, "P-1", "F", "s", track_opens=False)
	assert len(links(only_clicks, "click")) == 1 and links(only_clicks, "open") == []
	assert f'href="{unsubscribe}"' in only_clicks  # the unsubscribe link is not a click


def test_prepare_html_is_fast():
	"""Called once per recipient: 20 links in 20 KB must stay far above the 150 emails/s target."""
	paragraphs = "".join(
		f'<p>Paragraph {i} with <a href="https://example.com/p/{i}?a=1&amp;b=2">a link</a>.</p>'
		for i in range(20)
	)
	body = f"<html><body>{paragraphs}{'x' * 20000}</body></html>"
	start = time.perf_counter()
	for i in range(300):
		signed.prepare_html(body, f"P-{i}", "Flow", "email_1")
	rate = 300 / (time.perf_counter() - start)
	assert rate > 300, f"prepare_html: {rate:.0f} emails/s"


# --- endpoints on a real web server ----------------------------------------------------------


def test_open_pixel_logs_once_and_always_returns_gif(desk_url):
	p = enrolled()
	html = signed.prepare_html(HTML, p.participant, p.flow, "email_1")
	pixel = links(html, "open")[0]
	for _ in range(2):
		r = hit(desk_url, pixel)
		assert r.status_code == 200
		assert r.headers["Content-Type"].startswith("image/gif")
		assert r.content.startswith(b"GIF89a")
	frappe.db.rollback()
	opened = log_rows(p.participant, "Opened")
	assert [(o.event, o.step_id) for o in opened] == [("Opened", "email_1")]
	assert participant(name=p.participant).last_sent_status == "Opened"

	# a forged pixel (other step, same signature) still gets the image, and logs nothing
	r = hit(desk_url, with_params(pixel, step_id="email_2"))
	assert r.status_code == 200 and r.headers["Content-Type"].startswith("image/gif")
	r = hit(desk_url, with_params(pixel, participant="nobody"))
	assert r.status_code == 200 and r.content.startswith(b"GIF89a")
	frappe.db.rollback()
	assert len(log_rows(p.participant, "Opened")) == 1


def test_click_redirects_to_the_signed_url_and_logs(desk_url):
	p = enrolled()
	html = signed.prepare_html(HTML, p.participant, p.flow, "email_1")
	click = links(html, "click")[0]
	r = hit(desk_url, click)
	assert r.status_code == 302
	assert r.headers["Location"] == "https://example.com/offer?utm_source=flow&id=7#top"
	frappe.db.rollback()
	clicked = log_rows(p.participant, "Clicked")
	assert [(c.step_id, c.url) for c in clicked] == [
		("email_1", "https://example.com/offer?utm_source=flow&id=7#top")
	]
	# the click counts as an open too (images are often blocked)
	assert len(log_rows(p.participant, "Opened")) == 1
	assert participant(name=p.participant).last_sent_status == "Clicked"

	# a later open does not downgrade Clicked; the same click again redirects but logs no more
	assert hit(desk_url, links(html, "open")[0]).status_code == 200
	assert hit(desk_url, click).status_code == 302
	second = links(html, "click")[1]
	r = hit(desk_url, second)
	assert r.status_code == 302 and r.headers["Location"] == "http://example.org/plain"
	frappe.db.rollback()
	assert participant(name=p.participant).last_sent_status == "Clicked"
	assert [c.url for c in log_rows(p.participant, "Clicked")] == [
		"https://example.com/offer?utm_source=flow&id=7#top",
		"http://example.org/plain",
	]
	assert len(log_rows(p.participant, "Opened")) == 1


def test_tampered_click_links_are_refused(desk_url):
	p = enrolled()
	html = signed.prepare_html(HTML, p.participant, p.flow, "email_1")
	click = links(html, "click")[0]
	sig = parse_qs(urlsplit(click).query)["sig"][0]
	forged = [
		with_params(click, url="https://evil.example.com/phish"),  # open redirect attempt
		with_params(click, url="https://example.com/offer?utm_source=flow&id=7#top2"),
		with_params(click, participant="someone-else"),
		with_params(click, step_id="email_2"),
		with_params(click, sig=sig[:-1] + ("0" if sig[-1] != "0" else "1")),
		with_params(click, sig=""),
		with_params(click, url="javascript:alert(1)"),
	]
	for url in forged:
		r = hit(desk_url, url)
		assert 400 <= r.status_code < 500, (url, r.status_code)
		assert "Location" not in r.headers
		assert "evil.example.com" not in r.text
	# an open link's signature is no click signature
	pixel = links(html, "open")[0]
	q = dict(parse_qsl(urlsplit(pixel).query))
	r = hit(desk_url, with_params(click, sig=q["sig"]))
	assert r.status_code == 400 and "Location" not in r.headers
	frappe.db.rollback()
	assert log_rows(p.participant, "Clicked") == []
	assert log_rows(p.participant, "Opened") == []
	assert participant(name=p.participant).last_sent_status is None


def test_unsubscribe_is_a_persons_act_scoped_to_marketing(desk_url):
	flow = make_flow()
	p = enrolled(flow)
	other_flow = make_flow()
	other = enrolment.enroll(other_flow, [p.contact]).enrolled[0]
	group = frappe.get_doc({"doctype": "Email Group", "title": unique("News")}).insert()
	frappe.get_doc({"doctype": "Email Group Member", "email_group": group.name, "email": p.email}).insert()
	frappe.db.commit()
	url = signed.unsubscribe_url(p.participant, p.email)

	# tampering with the email (someone else's address) is refused and changes nothing
	r = hit(desk_url, with_params(url, email="victim@example.com"))
	assert r.status_code == 400 and "Location" not in r.headers
	frappe.db.rollback()
	assert participant(name=p.participant).status == "Active"

	# a GET (what a mail gateway's link scanner does) only asks
	for _ in range(2):
		r = hit(desk_url, url)
		assert r.status_code == 200 and "<form" in r.text and 'method="post"' in r.text
	frappe.db.rollback()
	assert participant(name=p.participant).status == "Active"
	assert frappe.db.get_value("Contact", p.contact, "unsubscribed") == 0

	# the page's button POSTs the form back
	form = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', unescape(r.text)))
	r = hit(desk_url, "/api/method/marketing_flows.api.tracking.unsubscribe", method="POST", data=form)
	assert r.status_code == 200 and "Unsubscribed" in r.text and p.email in r.text
	frappe.db.rollback()
	assert frappe.db.get_value("Contact", p.contact, "unsubscribed") == 1
	assert (
		frappe.db.get_value(
			"Email Group Member", {"email_group": group.name, "email": p.email}, "unsubscribed"
		)
		== 1
	)
	assert not frappe.db.exists("Email Unsubscribe", {"email": p.email})  # invoices still reach them
	row = participant(name=p.participant)
	assert (row.status, row.exit_reason, row.active_key, row.next_run_at) == (
		"Exited",
		"Unsubscribed",
		None,
		None,
	)
	assert [r.event for r in log_rows(p.participant) if r.event != "Enrolled"] == ["Unsubscribed", "Exited"]
	assert log_rows(p.participant, "Unsubscribed")[0].message == p.email
	row = participant(name=other)  # the contact's other flows end too
	assert (row.status, row.exit_reason, row.active_key) == ("Exited", "Unsubscribed", None)

	# RFC 8058 one-click POST of mail clients works too, and again changes nothing more
	assert hit(desk_url, url, method="POST", data={"List-Unsubscribe": "One-Click"}).status_code == 200
	frappe.db.rollback()
	assert len(log_rows(p.participant, "Unsubscribed")) == 1
	assert enrolment.enroll(make_flow(), [p.contact]).enrolled == []  # can't be enrolled again


def test_one_click_post_unsubscribes_straight_away(desk_url):
	p = enrolled()
	url = signed.unsubscribe_url(p.participant, p.email, "email_1")
	r = hit(desk_url, url, method="POST", data={"List-Unsubscribe": "One-Click"})
	assert r.status_code == 200
	frappe.db.rollback()
	assert participant(name=p.participant).status == "Exited"
	assert log_rows(p.participant, "Unsubscribed")[0].step_id == "email_1"


def test_scanners_are_logged_as_such_and_meet_no_click_goal(desk_url):
	flow = make_flow(success_criteria=[{"criterion_type": "Link Clicked"}])
	p = enrolled(flow)
	html = signed.prepare_html(HTML, p.participant, p.flow, "email_1")
	first, second = links(html, "click")[:2]
	assert hit(desk_url, first, method="HEAD").status_code == 302
	r = hit(
		desk_url, second, headers={"User-Agent": "Mozilla/5.0 (compatible; Microsoft Office; Safe Links)"}
	)
	assert r.status_code == 302
	assert hit(desk_url, links(html, "open")[0], method="HEAD").status_code == 200
	frappe.db.rollback()
	assert log_rows(p.participant, "Clicked") == [] and log_rows(p.participant, "Opened") == []
	assert {r.message.split(":")[0] for r in log_rows(p.participant, "Scanned")} >= {
		"HEAD request",
		"scanner user agent",
	}
	row = participant(name=p.participant)
	assert row.last_sent_status is None and not row.succeeded


def test_a_click_seconds_after_delivery_is_a_scanner(desk_url):
	p = enrolled()
	queue = email_queue(
		sender="a@example.com",
		message="x",
		status="Sent",
		reference_doctype="Marketing Flow Participant",
		reference_name=p.participant,
	)
	from marketing_flows.engine import log

	log.write(
		p.flow,
		p.participant,
		p.contact,
		"email_1",
		"Email Sent",
		reference_doctype="Email Queue",
		reference_name=queue.name,
	)
	frappe.db.commit()
	html = signed.prepare_html(HTML, p.participant, p.flow, "email_1")
	assert hit(desk_url, links(html, "click")[0]).status_code == 302
	frappe.db.rollback()
	assert log_rows(p.participant, "Clicked") == []
	assert "delivery" in log_rows(p.participant, "Scanned")[0].message


def test_guest_endpoints_never_error(desk_url):
	p = enrolled()
	html = signed.prepare_html(HTML, p.participant, p.flow, "email_1")
	click, pixel = links(html, "click")[0], links(html, "open")[0]
	unsubscribe = signed.unsubscribe_url(p.participant, p.email)
	errors_before = frappe.db.count("Error Log")
	for url in (click, unsubscribe):
		for bad in (
			with_params(url, sig="ü" * 32),
			with_params(url, sig="%%%"),
			with_params(url, participant=""),
		):
			r = hit(desk_url, bad)
			assert r.status_code == 400, (bad, r.status_code)
		r = hit(desk_url, url.split("?")[0])  # no parameters at all
		assert r.status_code == 400
	for bad in (
		with_params(pixel, sig="ü" * 32),
		pixel.split("?")[0],
		with_params(pixel, participant="x" * 500),
	):
		r = hit(desk_url, bad)
		assert r.status_code == 200 and r.content.startswith(b"GIF89a")
	# the participant is gone: 404 for a click, still the pixel for the pixel, and the
	# unsubscribe page still asks (the signed address can always unsubscribe)
	frappe.db.delete("Marketing Flow Participant", p.participant)
	frappe.db.commit()
	assert hit(desk_url, click).status_code == 404
	r = hit(desk_url, unsubscribe)
	assert r.status_code == 200 and 'method="post"' in r.text
	assert hit(desk_url, pixel).content.startswith(b"GIF89a")
	frappe.db.rollback()
	assert frappe.db.count("Error Log") == errors_before


def test_guest_endpoints_are_rate_limited(desk_url):
	from frappe.installer import update_site_config

	p = enrolled()
	url = signed.unsubscribe_url(p.participant, p.email)
	update_site_config("marketing_flows_guest_rate_limit", 3)
	frappe.cache.delete_keys("rl:marketing_flows.api.tracking*")  # earlier tests' hits
	try:
		codes = [hit(desk_url, url).status_code for _ in range(5)]
	finally:
		update_site_config("marketing_flows_guest_rate_limit", "None")
		frappe.cache.delete_keys("rl:marketing_flows.api.tracking*")
	assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]


# --- delivery status from Email Queue ------------------------------------------------------


@pytest.fixture(scope="module")
def mail_accounts():
	"""An SMTP server that refuses recipients starting with "bounce-", an Email Account using it,
	and one pointing at a port where nothing listens."""
	from aiosmtpd.controller import Controller

	class Handler:
		async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
			if address.lower().startswith("bounce-"):
				return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
			envelope.rcpt_tos.append(address)
			return "250 OK"

		async def handle_DATA(self, server, session, envelope):
			return "250 OK"

	port = free_port()
	controller = Controller(Handler(), hostname="127.0.0.1", port=port)
	controller.start()
	accounts = {}
	for key, smtp_port in (("live", port), ("dead", free_port())):
		name = unique(f"MF Tracking {key}")
		account = frappe.get_doc(
			{
				"doctype": "Email Account",
				"email_account_name": name,
				"email_id": f"{name.lower().replace(' ', '-')}@example.com",
				"enable_outgoing": 1,
				"default_outgoing": 0,
				"smtp_server": "127.0.0.1",
				"smtp_port": smtp_port,
				"use_tls": 0,
				"use_ssl_for_outgoing": 0,
				"enable_incoming": 0,
				"no_smtp_authentication": 1,
			}
		)
		account.flags.ignore_validate = True
		account.flags.ignore_mandatory = True
		account.insert(ignore_permissions=True)
		accounts[key] = account
	frappe.db.commit()
	yield accounts
	controller.stop()


def send_through(account, recipient: str) -> str:
	"""Queue an email for `recipient` on `account` and let Frappe send it now, on its last try."""
	from frappe.email.doctype.email_queue.email_queue import get_email_retry_limit

	queue = frappe.sendmail(
		recipients=[recipient], sender=account.email_id, subject="Hello", message="<p>Hello</p>", delayed=True
	)
	frappe.db.set_value(
		"Email Queue", queue.name, {"email_account": account.name, "retry": get_email_retry_limit()}
	)
	queue = frappe.get_doc("Email Queue", queue.name)
	frappe.flags.testing_email = True
	try:
		queue.send()
	except Exception:
		pass  # Frappe records the failure on the queue row, then re-raises
	finally:
		frappe.flags.testing_email = False
	return queue.name


def queued(p: frappe._dict, email_queue: str, status: str = "Queued", step_id: str | None = None) -> None:
	"""Point the participant at its Email Queue row as the Send Email step does; with `step_id`,
	the row names the participant and an "Email Sent" log names the row, as the step writes them."""
	frappe.db.set_value(
		"Marketing Flow Participant", p.participant, {"email_queue": email_queue, "last_sent_status": status}
	)
	if step_id:
		frappe.db.set_value(
			"Email Queue",
			email_queue,
			{"reference_doctype": "Marketing Flow Participant", "reference_name": p.participant},
		)
		from marketing_flows.engine import log

		log.write(
			p.flow,
			p.participant,
			p.contact,
			step_id,
			"Email Sent",
			reference_doctype="Email Queue",
			reference_name=email_queue,
		)


def test_sync_delivery_status_from_real_smtp_outcomes(mail_accounts):
	flow = make_flow()
	sent, failed, bounced, opened, moved_on = (enrolled(flow) for _ in range(5))
	q_sent = send_through(mail_accounts["live"], sent.email)
	q_failed = send_through(mail_accounts["dead"], failed.email)
	q_bounced = send_through(mail_accounts["live"], f"bounce-{unique('x')}@example.com")
	q_opened = send_through(mail_accounts["live"], opened.email)
	q_old = send_through(mail_accounts["dead"], moved_on.email)
	q_new = send_through(mail_accounts["live"], moved_on.email)
	queues = [q_sent, q_failed, q_bounced, q_opened, q_old, q_new]
	statuses = dict(
		frappe.get_all(
			"Email Queue", filters={"name": ("in", queues)}, fields=["name", "status"], as_list=True
		)
	)
	assert [statuses[q] for q in queues] == ["Sent", "Error", "Error", "Sent", "Error", "Sent"]
	queued(sent, q_sent, step_id="email_1")
	queued(failed, q_failed)  # a row without reference: found by the participant's email_queue
	queued(bounced, q_bounced, step_id="email_2")
	queued(opened, q_opened, "Opened", step_id="email_1")  # the pixel came in before the sync ran
	queued(moved_on, q_old, step_id="email_1")
	queued(moved_on, q_new, "Clicked", step_id="email_2")  # a newer email since the failed one

	changed = delivery.sync_delivery_status([*queues, "no-such-queue"])
	assert changed == {sent.participant: "Sent", failed.participant: "Failed", bounced.participant: "Bounced"}
	assert participant(name=sent.participant).last_sent_status == "Sent"
	assert participant(name=failed.participant).last_sent_status == "Failed"
	assert participant(name=bounced.participant).last_sent_status == "Bounced"
	assert participant(name=opened.participant).last_sent_status == "Opened"
	assert participant(name=moved_on.participant).last_sent_status == "Clicked"
	b = log_rows(bounced.participant, "Bounced")
	assert len(b) == 1 and "550" in b[0].message and b[0].step_id == "email_2"
	assert log_rows(failed.participant, "Bounced") == []
	assert len(log_rows(failed.participant, "Error")) == 1
	for p in (sent, opened, moved_on):
		assert log_rows(p.participant, "Bounced") == [] and log_rows(p.participant, "Error") == []

	# a second run changes and logs nothing
	assert delivery.sync_delivery_status(queues) == {}
	assert len(log_rows(bounced.participant, "Bounced")) == 1
	assert len(log_rows(failed.participant, "Error")) == 1


def test_sync_delivery_status_maps_an_error_row_to_failed():
	p = enrolled()
	queue = email_queue(
		sender="flows@example.com",
		message="Subject: x\n\nbody",
		status="Error",
		error="smtplib.SMTPServerDisconnected: Connection unexpectedly closed",
		recipients=[{"recipient": p.email, "status": "Not Sent"}],
	)
	pending = email_queue(
		sender="flows@example.com",
		message="Subject: x\n\nbody",
		status="Partially Sent",
		recipients=[{"recipient": p.email, "status": "Not Sent"}],
	)
	queued(p, pending.name)
	assert delivery.sync_delivery_status([pending.name]) == {}  # still retrying: no verdict
	assert participant(name=p.participant).last_sent_status == "Queued"
	queued(p, queue.name, step_id="email_1")
	assert delivery.sync_delivery_status([queue.name]) == {p.participant: "Failed"}
	assert participant(name=p.participant).last_sent_status == "Failed"
	assert log_rows(p.participant, "Bounced") == []
	errors = log_rows(p.participant, "Error")
	assert (
		len(errors) == 1
		and errors[0].step_id == "email_1"
		and "Connection unexpectedly closed" in errors[0].message
	)
	# retried by hand and sent: Failed becomes Sent
	frappe.db.set_value("Email Queue", queue.name, "status", "Sent")
	assert delivery.sync_delivery_status([queue.name]) == {p.participant: "Sent"}
	assert (
		delivery.delivery_status("Error", "SMTPRecipientsRefused: {'a@x': (550, b'5.1.1 User unknown')}")
		== "Bounced"
	)
	assert delivery.delivery_status("Not Sent", None) is None
