"""Wait for Action: a wait that ends early when the person acts (a real click through the
tracking endpoint, a web form submitted, a reply pulled through Frappe's own inbound mail code,
a sales rep's save that makes the record match), released within one runner tick; the timeout's
branch, or out of the flow with "No action"; the first action wins; the Replied condition."""

from __future__ import annotations

import re
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from html import unescape
from urllib.parse import unquote, urlsplit

import frappe
import pytest
import requests
from frappe.email.receive import InboundMail
from frappe.utils import add_to_date, get_datetime, now_datetime

from conftest import run_scheduled
from factories import (
	end,
	enrol_and_run,
	events,
	make_doctype,
	make_flow,
	make_user,
	participant,
	running_flow,
	step,
	time_passes,
	unique,
)
from marketing_flows.engine.measuring import actions, tracking

TICK = "marketing_flows.engine.running.runner.schedule_due_participants"
# a person's mail client (scripted clients and mail gateways' scanners are told apart)
BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"
ACCEPT = "frappe.website.doctype.web_form.web_form.accept"


# --- helpers -------------------------------------------------------------------------------


def wait_for(step_id: str = "w", **fields) -> dict:
	return step(step_id, "Wait for Action", **fields)


def action_flow(content=None, **wait_fields):
	"""[Send Email ->] Wait for Action -> "acted" (the action's branch) / "late" (the timeout's)."""
	steps = [step("mail", "Send Email", content=content.name, next_step="w")] if content else []
	steps += [wait_for("w", next_step="acted", timeout_step="late", **wait_fields), end("acted"), end("late")]
	return running_flow(steps)


def log_rows(participant_name: str, event: str) -> list[frappe._dict]:
	return frappe.get_all(
		"Marketing Flow Log",
		filters={"participant": participant_name, "event": event},
		fields=["step_id", "message", "url", "branch", "reference_doctype", "reference_name"],
		order_by="name asc",
	)


def tick(worker) -> None:
	"""One scheduler tick of the runner, run by a real worker."""
	run_scheduled(TICK)
	worker()


def released(participant_name: str) -> bool:
	"""Due now (not at the timeout days away)."""
	return get_datetime(participant(name=participant_name).next_run_at) <= now_datetime()


def click_links(html: str) -> list[str]:
	"""The signed click-through URLs in an email's HTML."""
	return [
		unescape(m)
		for m in re.findall(r'href="([^"]*)"', html, re.IGNORECASE)
		if "marketing_flows.api.tracking.click?" in unescape(m)
	]


def hit(desk_url: str, url: str) -> requests.Response:
	"""Follow a link of the email on the test web server, as a reader's browser would."""
	parts, server = urlsplit(url), urlsplit(desk_url)
	target = f"http://127.0.0.1:{server.port}{parts.path}?{parts.query}"
	headers = {"Host": server.hostname, "User-Agent": BROWSER}
	return requests.get(target, headers=headers, allow_redirects=False, timeout=30)


def reply_to(sent, sender: str, subject: str | None = None, threaded: bool = True) -> bytes:
	"""A reader's answer to `sent` (the flow email as the SMTP server got it), as raw RFC 822:
	with In-Reply-To / References naming its Message-Id unless `threaded` is False."""
	msg = EmailMessage()
	msg["From"] = sender
	msg["To"] = str(sent["From"])
	msg["Subject"] = subject if subject is not None else f"Re: {sent['Subject']}"
	msg["Message-ID"] = make_msgid(domain="reader.example.org")
	msg["Date"] = formatdate(localtime=True)
	if threaded:
		msg["In-Reply-To"] = str(sent["Message-Id"])
		msg["References"] = str(sent["Message-Id"])
	msg.set_content("Yes, tell me more.")
	return msg.as_bytes()


def pull(raw: bytes, account: str):
	"""What Frappe's IMAP / POP pull does with one message of the mailbox."""
	return InboundMail(raw, frappe.get_doc("Email Account", account)).process()


# --- a click -------------------------------------------------------------------------------


def test_a_click_through_the_tracking_link_releases_the_wait_at_the_next_tick(
	worker, smtp, content, desk_url
):
	flow = action_flow(content, action_clicked=1, action_url="/offer", wait_amount=3, wait_unit="Days")
	contact, p = enrol_and_run(flow, worker, first_name=unique("Cleo"))
	assert (p.status, p.current_step) == ("Waiting", "w")
	assert get_datetime(p.next_run_at) > add_to_date(now_datetime(), days=2)  # the timeout, days away
	assert log_rows(p.name, "Step Executed")[-1].message.startswith("Waiting for a click")

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
	r = hit(desk_url, click)
	# the flow's campaign tags (on by default) ride along to the landing page
	assert r.status_code == 302 and r.headers["Location"].startswith(
		"https://example.com/offer?x=1&utm_source=marketing_flows&utm_medium=email"
	)
	frappe.db.rollback()

	taken = log_rows(p.name, "Action Taken")
	assert len(taken) == 1
	assert (taken[0].step_id, taken[0].branch) == ("w", "action")
	assert "https://example.com/offer?x=1" in taken[0].message
	assert released(p.name)  # due now: the next tick, not the timeout
	tick(worker)
	p = participant(name=p.name)
	assert (p.status, p.current_step) == ("Completed", "acted")
	assert not log_rows(p.name, "Action Timed Out")


# --- a web form ----------------------------------------------------------------------------


@pytest.fixture
def web_form():
	doctype = make_doctype(
		"MF Action Form Entry",
		[{"fieldname": "email", "fieldtype": "Data", "options": "Email", "label": "Email"}],
		permissions=[
			{"role": "System Manager", "read": 1, "write": 1, "create": 1},
			{"role": "Guest", "read": 1, "create": 1},
		],
	)
	title = unique("mf-demo-request")
	return frappe.get_doc(
		{
			"doctype": "Web Form",
			"title": title,
			"route": title,
			"doc_type": doctype,
			"module": "Custom",
			"is_standard": 0,
			"published": 1,
			"anonymous": 1,
			"login_required": 0,
			"web_form_fields": [
				{"fieldname": "email", "fieldtype": "Data", "options": "Email", "label": "Email"}
			],
		}
	).insert()


def submit(form, email: str) -> None:
	"""A visitor's POST to the form (Frappe's accept, as a Guest, with the form in form_dict)."""
	from frappe.website.doctype.web_form.web_form import accept

	payload = frappe.as_json({"doctype": form.doc_type, "email": email})
	frappe.set_user("Guest")
	frappe.local.form_dict = frappe._dict(cmd=ACCEPT, web_form=form.name, data=payload)
	try:
		accept(web_form=form.name, data=payload)
	finally:
		frappe.flags.in_web_form = False
		frappe.local.form_dict = frappe._dict()
		frappe.set_user("Administrator")


def test_a_web_form_submission_releases_the_wait(worker, web_form):
	flow = action_flow(action_web_form=web_form.name, wait_amount=2, wait_unit="Days")
	contact, p = enrol_and_run(flow, worker)
	other, q = enrol_and_run(flow, worker)
	assert p.status == q.status == "Waiting"

	submit(web_form, p.email)
	worker()  # the job queued after the submission's commit
	taken = log_rows(p.name, "Action Taken")
	assert len(taken) == 1 and web_form.name in taken[0].message
	assert released(p.name) and not released(q.name)  # only the person who submitted
	tick(worker)
	assert participant(name=p.name).current_step == "acted"
	assert participant(name=q.name).status == "Waiting"


# --- a reply -------------------------------------------------------------------------------


def test_a_reply_pulled_by_frappe_releases_the_wait_and_the_replied_condition_sees_it(worker, smtp, content):
	flow = running_flow(
		[
			step("mail", "Send Email", content=content.name, next_step="w"),
			wait_for("w", action_replied=1, next_step="check", timeout_step="late"),
			step(
				"check",
				"Condition",
				condition_type="Replied",
				condition_step="mail",
				yes_step="acted",
				no_step="no",
			),
			end("acted"),
			end("no"),
			end("late"),
		]
	)
	contact, p = enrol_and_run(flow, worker, first_name=unique("Rita"))
	assert p.status == "Waiting"
	sent = smtp.to(p.email)[-1]

	comm = pull(reply_to(sent, p.email), smtp.account)
	# Frappe itself threads it by its In-Reply-To: the Email Queue row of the flow email
	assert (comm.reference_doctype, comm.reference_name) == ("Marketing Flow Participant", p.name)
	worker()  # the reply job, queued after the Communication's commit
	replied = log_rows(p.name, "Replied")
	assert [(r.step_id, r.reference_doctype, r.reference_name) for r in replied] == [
		("mail", "Communication", comm.name)
	]
	taken = log_rows(p.name, "Action Taken")
	assert len(taken) == 1 and taken[0].message.startswith("Replied")
	assert released(p.name)

	tick(worker)
	p = participant(name=p.name)
	assert (p.status, p.current_step) == ("Completed", "acted")
	assert ("check", "Branch Yes") in events(flow.name, contact)


def test_a_reply_without_threading_headers_is_matched_by_its_sender_and_subject(worker, smtp, content):
	flow = action_flow(content, action_replied=1)
	contact, p = enrol_and_run(flow, worker, first_name=unique("Sven"))
	sent = smtp.to(p.email)[-1]
	# none of these answers the flow email: another subject, another sender, no reply prefix
	pull(reply_to(sent, p.email, subject="A question about something else", threaded=False), smtp.account)
	pull(reply_to(sent, "someone-else@example.com", threaded=False), smtp.account)
	pull(reply_to(sent, p.email, subject=str(sent["Subject"]), threaded=False), smtp.account)
	worker()
	assert not log_rows(p.name, "Replied") and not released(p.name)

	comm = pull(reply_to(sent, p.email, subject=f"AW: Re: {sent['Subject']}", threaded=False), smtp.account)
	assert not comm.reference_doctype  # Frappe could not thread it
	worker()
	assert [(r.step_id, r.reference_name) for r in log_rows(p.name, "Replied")] == [("mail", comm.name)]
	assert released(p.name)
	tick(worker)
	assert participant(name=p.name).current_step == "acted"


# --- the record ----------------------------------------------------------------------------


def test_a_sales_reps_save_of_the_contact_releases_a_wait_for_the_record(worker):
	flow = action_flow(action_filters='[["department", "=", "Board"]]', wait_amount=2, wait_unit="Days")
	contact, p = enrol_and_run(flow, worker)
	assert p.status == "Waiting"
	# a person whose record matches already does not wait at all
	board, b = enrol_and_run(flow, worker, department="Board")
	assert (b.status, b.current_step) == ("Completed", "acted")
	assert len(log_rows(b.name, "Action Taken")) == 1

	rep = make_user(["Sales User"], "rep")
	frappe.db.commit()
	frappe.set_user(rep)
	try:
		doc = frappe.get_doc("Contact", contact)
		doc.department = "Board"
		doc.save()  # a normal save, with the rep's permissions
	finally:
		frappe.set_user("Administrator")
	worker()  # the job queued after the save's commit
	taken = log_rows(p.name, "Action Taken")
	assert len(taken) == 1 and "matches" in taken[0].message
	assert released(p.name)
	tick(worker)
	assert participant(name=p.name).current_step == "acted"


# --- the timeout ---------------------------------------------------------------------------


def test_the_timeout_takes_the_no_action_branch_or_leaves_the_flow(worker):
	with_branch = action_flow(action_replied=1, wait_amount=1, wait_unit="Days")
	without = running_flow([wait_for("w", action_clicked=1, next_step="acted"), end("acted")])
	a, pa = enrol_and_run(with_branch, worker)
	b, pb = enrol_and_run(without, worker)
	now = now_datetime()
	assert add_to_date(now, hours=23) < get_datetime(pa.next_run_at) <= add_to_date(now, days=1)
	# no timeout set: 7 days
	assert add_to_date(now, days=6, hours=23) < get_datetime(pb.next_run_at) <= add_to_date(now, days=7)

	tick(worker)  # not due yet: nothing moves
	assert participant(name=pa.name).status == participant(name=pb.name).status == "Waiting"
	time_passes(with_branch.name)
	time_passes(without.name)
	tick(worker)
	pa, pb = participant(name=pa.name), participant(name=pb.name)
	assert (pa.status, pa.current_step) == ("Completed", "late")
	assert (pb.status, pb.exit_reason, pb.current_step) == ("Exited", "No action", "w")
	for name in (pa.name, pb.name):
		timed_out = log_rows(name, "Action Timed Out")
		assert [(t.step_id, t.branch) for t in timed_out] == [("w", "timeout")]
		assert not log_rows(name, "Action Taken")


# --- several actions -----------------------------------------------------------------------


def test_the_first_action_wins_and_later_ones_change_nothing(worker):
	flow = action_flow(
		action_clicked=1,
		action_url="/pricing",
		action_replied=1,
		action_filters='[["department", "=", "Board"]]',
	)
	contact, p = enrol_and_run(flow, worker)
	tracking.record_click(p.name, None, "https://example.com/blog")  # not the link it waits for
	frappe.db.commit()
	assert not log_rows(p.name, "Action Taken") and not released(p.name)

	tracking.record_click(p.name, None, "https://example.com/pricing?plan=pro")
	frappe.db.commit()
	due = participant(name=p.name).next_run_at
	assert released(p.name)
	# then the record comes to match, and a reply arrives: too late, the click won
	doc = frappe.get_doc("Contact", contact)
	doc.department = "Board"
	doc.save()
	worker()
	assert actions.release(p.name, actions.REPLIED, "Re: pricing") is False
	frappe.db.commit()
	taken = log_rows(p.name, "Action Taken")
	assert len(taken) == 1 and "/pricing" in taken[0].message
	assert participant(name=p.name).next_run_at == due

	tick(worker)
	assert participant(name=p.name).current_step == "acted"
	tracking.record_click(p.name, None, "https://example.com/pricing?plan=team")  # after the wait
	frappe.db.commit()
	assert len(log_rows(p.name, "Action Taken")) == 1
	assert participant(name=p.name).status == "Completed"


# --- validation ----------------------------------------------------------------------------


def test_a_wait_for_action_needs_an_action_and_its_branches_are_steps_of_the_flow():
	with pytest.raises(frappe.ValidationError, match="choose at least one action to wait for"):
		make_flow([wait_for("w", next_step="e"), end("e")])
	with pytest.raises(frappe.ValidationError, match="'nowhere', which is not a step of this flow"):
		make_flow([wait_for("w", action_replied=1, next_step="e", timeout_step="nowhere"), end("e")])
	with pytest.raises(frappe.ValidationError, match="has no field 'no_such_field'"):
		make_flow([wait_for("w", action_filters='[["no_such_field", "=", 1]]', next_step="e"), end("e")])
	# the timeout's branch is a way on: a step reached only through it is reachable
	make_flow([wait_for("w", action_clicked=1, next_step="a", timeout_step="b"), end("a"), end("b")])
	frappe.db.rollback()
