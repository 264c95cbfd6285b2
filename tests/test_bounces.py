"""The mailbox's answers: bounce notices and complaints about flow emails, read by a real
incoming Email Account from a real IMAP server (Dovecot), reach the participants."""

from __future__ import annotations

import email
import shutil

import frappe
import pytest

from conftest import run_scheduled
from factories import events, make_contact, make_content, make_flow, participant, step, time_passes, unique
from marketing_flows.engine.measuring import figures
from marketing_flows.engine.sending import bounces
from receivers import IMAPServer

PARTICIPANT = "Marketing Flow Participant"

pytestmark = pytest.mark.skipif(
	not shutil.which("dovecot", path="/usr/sbin"), reason="dovecot-imapd not installed"
)


# --- notices, shaped like the ones mail servers send --------------------------------------


def dsn(recipient: str, message_id: str, action: str = "failed", status: str = "5.1.1") -> str:
	"""RFC 3464, as Postfix sends it (the original's headers as text/rfc822-headers)."""
	return f"""From: MAILER-DAEMON@mx.example.net (Mail Delivery System)
To: flows-sender@example.com
Subject: Undelivered Mail Returned to Sender
Message-ID: <{unique("dsn")}@mx.example.net>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B1"

--B1
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.example.net.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

<{recipient}>: host mail.example.com said: {status[0]}50 {status} User unknown

--B1
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net
Arrival-Date: Sat,  5 Dec 2026 10:00:00 +0000 (UTC)

Final-Recipient: rfc822; {recipient}
Original-Recipient: rfc822;{recipient}
Action: {action}
Status: {status}
Remote-MTA: dns; mail.example.com
Diagnostic-Code: smtp; {status[0]}50 {status} <{recipient}>: Recipient address
    rejected: mailbox unavailable

--B1
Content-Type: text/rfc822-headers

From: Flows <flows-sender@example.com>
To: {recipient}
Subject: Hello
Message-Id: <{message_id}>

--B1--
"""


def exim_notice(recipient: str, message_id: str) -> str:
	"""Exim's own format: no DSN, the failed address in X-Failed-Recipients, the original quoted."""
	return f"""From: Mail Delivery System <Mailer-Daemon@mx.example.org>
To: flows-sender@example.com
Subject: Mail delivery failed: returning message to sender
Message-Id: <{unique("exim")}@mx.example.org>
X-Failed-Recipients: {recipient}
Auto-Submitted: auto-replied
Content-Type: text/plain

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  {recipient}
    SMTP error from remote mail server after RCPT TO:<{recipient}>:
    550 5.1.1 <{recipient}>: Recipient address rejected: User unknown

------ This is a copy of the message, including all the headers. ------

Return-path: <flows-sender@example.com>
Message-Id: <{message_id}>
From: Flows <flows-sender@example.com>
To: {recipient}
Subject: Hello

Hello.
"""


def arf(recipient: str, message_id: str) -> str:
	"""RFC 5965, as a mailbox provider's feedback loop sends it."""
	return f"""From: <staff@feedback.example.net>
Date: Sat, 5 Dec 2026 10:20:30 +0000
Subject: FW: Hello
To: <abuse@example.com>
Message-ID: <{unique("arf")}@feedback.example.net>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="part1_13d.2e68ed54_boundary"

--part1_13d.2e68ed54_boundary
Content-Type: text/plain; charset="US-ASCII"
Content-Transfer-Encoding: 7bit

This is an email abuse report for an email message received from IP
192.0.2.1 on Sat, 5 Dec 2026 10:01:00 +0000.

--part1_13d.2e68ed54_boundary
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: SomeGenerator/1.0
Version: 1
Original-Mail-From: <flows-sender@example.com>
Original-Rcpt-To: <{recipient}>
Arrival-Date: Sat, 5 Dec 2026 10:01:00 +0000
Source-IP: 192.0.2.1

--part1_13d.2e68ed54_boundary
Content-Type: message/rfc822
Content-Disposition: inline

From: <flows-sender@example.com>
Received: from mailserver.example.net (mailserver.example.net [192.0.2.1])
        by example.com with ESMTP id M63d4137594e46;
        Sat, 5 Dec 2026 10:01:00 +0000
To: <{recipient}>
Subject: Hello
MIME-Version: 1.0
Content-type: text/plain
Message-ID: <{message_id}>
Date: Sat, 5 Dec 2026 10:00:00 +0000

Hello.

--part1_13d.2e68ed54_boundary--
"""


def test_notices_are_read_for_what_they_say():
	mid = "abc123@site.example"
	hard = bounces.read(email.message_from_string(dsn("a@example.com", mid)))
	assert (hard.kind, hard.message_ids, hard.permanent) == ("bounce", [mid], {"a@example.com"})
	assert "5.1.1" in hard.detail and "mailbox unavailable" in hard.detail
	# an outsider's text, shown in the desk: its <...> is kept as text, never as markup
	assert "a@example.com" in hard.detail and "<" not in hard.detail and ">" not in hard.detail
	full = bounces.read(email.message_from_string(dsn("b@example.com", mid, "failed", "4.2.2")))
	assert (full.permanent, full.temporary) == (set(), {"b@example.com"})  # gave up, but may work later
	delayed = bounces.read(email.message_from_string(dsn("c@example.com", mid, "delayed", "4.4.1")))
	assert delayed.temporary == {"c@example.com"}
	exim = bounces.read(email.message_from_string(exim_notice("d@example.com", mid)))
	assert (exim.kind, exim.permanent, exim.message_ids) == ("bounce", {"d@example.com"}, [mid])
	complaint = bounces.read(email.message_from_string(arf("e@example.com", mid)))
	assert (complaint.kind, complaint.message_ids) == ("complaint", [mid])
	assert complaint.detail.startswith("abuse")
	hello = email.message_from_string("From: a@b.example\nTo: c@d.example\nSubject: Hi\n\nThanks!\n")
	assert bounces.read(hello) is None  # a reply is not a notice


@pytest.fixture
def imap():
	server = IMAPServer().start()
	yield server
	server.stop()


@pytest.fixture
def bounce_account(imap):
	"""The incoming Email Account that reads the bounce mailbox (saved through its own
	validation, which logs in to the IMAP server)."""
	name = "Marketing Flows Test Bounces"
	if frappe.db.exists("Email Account", name):
		frappe.delete_doc("Email Account", name, force=True, ignore_permissions=True)
	account = frappe.get_doc(
		{
			"doctype": "Email Account",
			"email_account_name": name,
			"email_id": imap.user,
			"password": imap.password,
			"enable_incoming": 1,
			"use_imap": 1,
			"email_server": "127.0.0.1",
			"incoming_port": imap.port,
			"use_ssl": 0,
			"use_starttls": 0,
			"enable_outgoing": 0,
			"email_sync_option": "UNSEEN",
			"initial_sync_count": "100",
			"imap_folder": [{"folder_name": "INBOX"}],
		}
	)
	account.insert(ignore_permissions=True)
	frappe.db.commit()
	yield account
	frappe.db.rollback()
	frappe.delete_doc("Email Account", name, force=True, ignore_permissions=True)
	frappe.db.commit()


def sent_flow(sink, people: int, worker):
	content = make_content(
		"Email",
		content_name=unique("Bounce"),
		subject="Hello",
		body="<p>Hello {{ contact.first_name }}.</p>",
		sender=sink.account,
	)
	flow = make_flow(
		steps=[
			step("mail", "Send Email", content=content.name, next_step="wait"),
			step("wait", "Wait", wait_amount=1, wait_unit="Days", next_step="again"),
			step("again", "Send Email", content=content.name),
		]
	)
	flow.run()
	contacts = [make_contact(email_id=f"{unique('rcpt').lower()}@example.com") for _ in range(people)]
	assert flow.enroll(contacts)["enrolled"] == people
	worker()
	assert len(sink.messages) == people
	return flow, contacts


def address(contact: str) -> str:
	return frappe.db.get_value("Contact", contact, "email_id")


def message_id(flow, contact: str) -> str:
	queue = participant(flow.name, contact).email_queue
	return frappe.db.get_value("Email Queue", queue, "message_id")


def pull(worker) -> None:
	"""Frappe's own scheduled pull of incoming Email Accounts, in a real worker."""
	run_scheduled("frappe.email.doctype.email_account.email_account.pull")
	worker()


def test_bounces_and_complaints_in_the_mailbox_reach_the_flow(worker, sink, imap, bounce_account):
	flow, (hard, odd, full, spam, other) = sent_flow(sink, 5, worker)
	imap.append(dsn(address(hard), message_id(flow, hard)))
	imap.append(exim_notice(address(odd), message_id(flow, odd)))
	imap.append(dsn(address(full), message_id(flow, full), "failed", "4.2.2"))
	imap.append(arf(address(spam), message_id(flow, spam)))
	stranger = f"<{unique('invoice')}@elsewhere.example>"
	imap.append(dsn("customer@example.org", stranger.strip("<>")))  # about mail that is not a flow's
	pull(worker)

	for contact in (hard, odd):
		p = participant(flow.name, contact)
		assert p.last_sent_status == "Bounced"
		assert ("mail", "Bounced") in events(flow.name, contact)
		assert (
			frappe.db.get_value("Marketing Blocked Address", address(contact).lower(), "reason")
			== "Hard Bounce"
		)
	# mailbox full: sent again later, not blocked
	q = participant(flow.name, full).email_queue
	row = frappe.db.get_value("Email Queue", q, ["status", "retry", "send_after", "error"], as_dict=True)
	assert (row.status, row.retry) == ("Not Sent", 1) and "Soft bounce" in row.error
	assert row.send_after > frappe.utils.now_datetime()
	assert ("mail", "Retry") in events(flow.name, full)
	assert not frappe.db.exists("Marketing Blocked Address", address(full).lower())
	# the complaint unsubscribes, as the person's own unsubscribe would
	p = participant(flow.name, spam)
	assert (p.status, p.exit_reason) == ("Exited", "Unsubscribed")
	assert frappe.db.get_value("Contact", spam, "unsubscribed") == 1
	assert ("mail", "Complained") in events(flow.name, spam)
	assert participant(flow.name, other).last_sent_status == "Sent"
	# the notices about flow emails are the flow's; the other one is mail, as before
	subjects = frappe.get_all(
		"Communication", filters={"email_account": bounce_account.name}, pluck="subject"
	)
	assert subjects == ["Undelivered Mail Returned to Sender"]
	# the flow's figures count them
	shown = figures.all_figures(frappe.get_doc("Marketing Flow", flow.name))
	assert (shown["bounced"], shown["steps"]["mail"]["Bounced"]) == (2, 2)
	assert shown["steps"]["mail"]["Complained"] == 1

	# the soft bounce's retry, when due, goes out again (same Message-Id)
	frappe.db.set_value("Email Queue", q, "send_after", frappe.utils.add_to_date(None, seconds=-1))
	run_scheduled("marketing_flows.engine.sending.sender.schedule_sender")
	worker()
	again = [m for m in sink.messages if m["Message-Id"].strip("<>") == message_id(flow, full)]
	assert len(again) == 2
	assert participant(flow.name, full).last_sent_status == "Sent"


def test_a_blocked_address_is_skipped_by_later_emails(worker, sink, imap, bounce_account):
	flow, (hard, fine) = sent_flow(sink, 2, worker)
	imap.append(dsn(address(hard), message_id(flow, hard)))
	pull(worker)
	time_passes(flow.name)
	run_scheduled("marketing_flows.engine.running.runner.schedule_due_participants")
	worker()
	assert len(sink.to(address(hard))) == 1  # only the first email, before the bounce
	assert len(sink.to(address(fine))) == 2
	skipped = [e for e in events(flow.name, hard) if e == ("again", "Step Skipped")]
	assert skipped
	message = frappe.db.get_value(
		"Marketing Flow Log",
		{"participant": participant(flow.name, hard).name, "step_id": "again", "event": "Step Skipped"},
		"message",
	)
	assert "blocked" in message.lower()
