"""Send Email steps: delivered over real SMTP, rendered in the sandbox, exactly once even with
two workers at once or a worker killed mid-batch."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import frappe
from frappe.utils.background_jobs import get_job

from conftest import BENCH_DIR, flush_email_queue, kill_worker, run_scheduled, worker_env
from factories import (
	end,
	enrol_and_run,
	events,
	make_contact,
	make_content,
	make_flow,
	participant,
	step,
	unique,
)


def email_flow(content, **values):
	flow = make_flow(
		steps=[
			step("mail1", "Send Email", content=content.name, next_step="wait"),
			step("wait", "Wait", wait_amount=2, wait_unit="Days", next_step="end"),
			end(),
		],
		**values,
	)
	flow.run()
	return flow


def queue_rows(participant_name: str) -> list[str]:
	return frappe.get_all(
		"Email Queue",
		filters={"reference_doctype": "Marketing Flow Participant", "reference_name": participant_name},
		pluck="name",
	)


def test_email_is_delivered_over_smtp_rendered_and_tracked(worker, smtp, content):
	flow = email_flow(content)
	first = unique("Eve")
	contact = make_contact(first_name=first)
	email = frappe.db.get_value("Contact", contact, "email_id")
	flow.enroll([contact])
	worker()
	p = participant(flow.name, contact)
	assert (p.status, p.current_step) == ("Waiting", "wait")  # while waiting: the Wait step
	# the flow's sender took the email as soon as the batch committed, in the same worker run:
	# "Sent" means the SMTP server accepted it
	assert (p.last_sent, p.last_sent_status, p.sent_marketing_email) == (content.name, "Sent", 1)
	assert p.last_sent_on and p.email_queue
	assert queue_rows(p.name) == [p.email_queue]
	assert ("mail1", "Email Sent") in events(flow.name, contact)

	flush_email_queue()  # Frappe's own flush leaves flow emails to the sender: nothing twice
	worker()
	received = smtp.to(email)
	assert len(received) == 1
	msg = received[0]
	assert msg["Subject"] == f"Welcome {first}!"
	html = smtp.html(msg)
	assert f"Hello {first} from {flow.flow_name}." in html
	assert "marketing_flows.api.tracking.click" in html  # links are signed click-through links
	assert "https://example.com/offer" not in html.split("tracking.click")[0][-50:]
	assert "marketing_flows.api.tracking.open" in html  # open pixel
	assert "marketing_flows.api.tracking.unsubscribe" in html
	assert "marketing_flows.api.tracking.unsubscribe" in msg["List-Unsubscribe"]
	assert frappe.db.get_value("Email Queue", p.email_queue, "status") == "Sent"


def test_jinja_sandbox_sees_only_the_participant_context(worker, smtp):
	evil = make_content(
		"Email",
		content_name=unique("Evil"),
		subject="Hi",
		body="[{{ frappe }}][{{ frappe.db }}][{{ range }}][{{ contact.first_name }}]",
		sender=smtp.account,
	)
	flow = email_flow(evil)
	first = unique("Fay")
	contact = make_contact(first_name=first)
	flow.enroll([contact])
	worker()
	import email
	from email import policy

	raw = frappe.db.get_value("Email Queue", participant(flow.name, contact).email_queue, "message")
	html = email.message_from_string(raw, policy=policy.default).get_body(("html",)).get_content()
	assert f"[][][][{first}]" in html


def test_no_email_address_skips_the_step_and_says_why(worker, content):
	flow = email_flow(content)
	contact, p = enrol_and_run(flow, worker, email_id=None)
	assert p.current_step == "wait" and not p.sent_marketing_email
	assert ("mail1", "Step Skipped") in events(flow.name, contact)
	assert (
		frappe.db.get_value("Marketing Flow Log", {"participant": p.name, "event": "Step Skipped"}, "message")
		== "No email address"
	)


def _start_workers(n: int) -> list[subprocess.Popen]:
	bench = os.environ.get("MF_BENCH_CLI", str(Path.home() / ".bench-cli/bin/bench"))
	return [
		subprocess.Popen(
			[bench, "worker", "--queue", "short,default,long", "--burst"],
			cwd=BENCH_DIR,
			stdout=subprocess.DEVNULL,
			stderr=subprocess.DEVNULL,
			env=worker_env(),
			start_new_session=True,
		)
		for _ in range(n)
	]


def test_two_workers_at_once_send_each_email_exactly_once(worker, content, settings, http_receiver):
	settings.set("Marketing Flow Settings", batch_size=20, parallel_jobs=2)
	# a slow webhook after the email (20 ms a call): one worker can't finish all six batches
	# before the other starts, however fast the sends are
	flow = make_flow(
		steps=[
			step("mail1", "Send Email", content=content.name, next_step="hook"),
			step("hook", "Webhook", webhook_url=http_receiver.url + "/two", next_step="wait"),
			step("wait", "Wait", wait_amount=2, wait_unit="Days"),
		]
	)
	flow.run()
	contacts = [make_contact() for _ in range(120)]
	assert flow.enroll(contacts)["enrolled"] == 120
	frappe.db.commit()
	http_receiver.delay = 0.02
	try:
		procs = _start_workers(2)
		for proc in procs:
			assert proc.wait(timeout=300) == 0
	finally:
		http_receiver.delay = 0
	# both workers really claimed rows: each slot's job ran in its own worker and did work
	jobs = [get_job(f"marketing_flows:run:{flow.name}:{slot}") for slot in (0, 1)]
	assert all(jobs) and all(job.return_value() for job in jobs), [
		j and (j.return_value(), str(j.started_at), str(j.ended_at), j.worker_name) for j in jobs
	]
	assert len({job.worker_name for job in jobs}) == 2
	worker()  # anything left over
	rows = frappe.db.sql(
		"""SELECT p.name, COUNT(q.name) FROM `tabMarketing Flow Participant` p
		LEFT JOIN `tabEmail Queue` q ON q.reference_doctype = 'Marketing Flow Participant' AND q.reference_name = p.name
		WHERE p.flow = %s GROUP BY p.name""",
		flow.name,
	)
	assert len(rows) == 120
	assert {count for _name, count in rows} == {1}
	assert (
		frappe.db.count(
			"Marketing Flow Participant", {"flow": flow.name, "status": "Waiting", "current_step": "wait"}
		)
		== 120
	)
	assert frappe.db.count("Marketing Flow Log", {"flow": flow.name, "event": "Email Sent"}) == 120


def test_worker_killed_mid_batch_loses_nothing_and_sends_nothing_twice(worker, content, http_receiver):
	"""A slow webhook after the email keeps the worker inside its batch transaction; killing it
	rolls the batch back (no email queued), and the next worker does everything once."""
	http_receiver.delay = 0.3
	try:
		flow = make_flow(
			steps=[
				step("mail1", "Send Email", content=content.name, next_step="hook"),
				step("hook", "Webhook", webhook_url=f"{http_receiver.url}/slow", next_step="end"),
				end(),
			]
		)
		flow.run()
		contacts = [make_contact() for _ in range(20)]
		flow.enroll(contacts)
		frappe.db.commit()
		proc = _start_workers(1)[0]
		deadline = time.monotonic() + 60
		while len(http_receiver.received("/slow")) < 3 and time.monotonic() < deadline:
			time.sleep(0.1)
		kill_worker(proc)
		frappe.db.rollback()
		assert len(http_receiver.received("/slow")) >= 3  # it really was mid-batch
		names = frappe.get_all("Marketing Flow Participant", filters={"flow": flow.name}, pluck="name")
		assert frappe.db.count("Email Queue", {"reference_name": ("in", names)}) == 0  # rolled back
		assert (
			frappe.db.count("Marketing Flow Participant", {"flow": flow.name, "current_step": "mail1"}) == 20
		)

		http_receiver.delay = 0
		# the killed job is still "started" in RQ: the tick must enqueue the flow's slots anyway
		run_scheduled("marketing_flows.engine.running.runner.schedule_due_participants")
		worker()
		assert frappe.db.count("Marketing Flow Participant", {"flow": flow.name, "status": "Completed"}) == 20
		for name in names:
			assert len(queue_rows(name)) == 1
		keys = [r["headers"]["idempotency-key"] for r in http_receiver.received("/slow")]
		assert len(set(keys)) == 20  # every participant called
		# a call is made again only when its outcome was unknown (in flight at the kill), with the
		# same key, and the outbox counted it; a confirmed call is never made again
		unknown = sum(
			frappe.get_all("Marketing Flow Outbox", filters={"flow": flow.name}, pluck="unknown_outcomes")
		)
		assert len(keys) == 20 + unknown and unknown <= 1
	finally:
		http_receiver.delay = 0


def test_a_queued_flow_email_stays_small(worker, smtp, content):
	"""A million-person flow queues millions of emails: the stored message of a short email is
	a few kilobytes (the layout is not Frappe's CSS-inlined template stored again per email)."""
	flow = email_flow(content)
	contact, p = enrol_and_run(flow, worker)
	raw = frappe.db.get_value("Email Queue", p.email_queue, "message")
	assert len(raw.encode()) <= 3584  # with its Email Queue and recipient rows: under 4 KB
	import email
	from email import policy

	# what a mail client decodes: the signed links intact (quoted-printable, not raw text)
	message = email.message_from_string(raw, policy=policy.default)
	html = message.get_body(("html",)).get_content()
	text = message.get_body(("plain",)).get_content()
	for part in (html, text):
		assert f"participant={p.name}&" in part.replace("&amp;", "&")
		assert "marketing_flows.api.tracking.unsubscribe" in part
	assert "marketing_flows.api.tracking.open" in html


def test_sent_flow_emails_leave_the_email_queue_after_the_retention_period(worker, smtp, content, settings):
	settings.set("Marketing Flow Settings", keep_sent_emails_days=3)
	flow = email_flow(content)
	old, recent = make_contact(), make_contact()
	flow.enroll([old, recent])
	worker()
	flush_email_queue()
	worker()
	old_p, recent_p = participant(flow.name, old), participant(flow.name, recent)
	assert frappe.db.get_value("Email Queue", old_p.email_queue, "status") == "Sent"
	frappe.db.sql(
		"UPDATE `tabEmail Queue` SET modified = NOW() - INTERVAL 4 DAY WHERE name = %s", old_p.email_queue
	)
	frappe.db.commit()

	run_scheduled("marketing_flows.engine.sending.delivery.purge_sent_emails")
	worker()

	assert not frappe.db.exists("Email Queue", old_p.email_queue)
	assert not frappe.db.exists("Email Queue Recipient", {"parent": old_p.email_queue})
	assert frappe.db.exists("Email Queue", recent_p.email_queue)  # within the period: kept
	# what the flow's figures and the participant show stays
	assert participant(flow.name, old).last_sent_status == "Sent"
	assert ("mail1", "Email Sent") in events(flow.name, old)

	settings.set("Marketing Flow Settings", keep_sent_emails_days=0)  # 0: this app removes nothing
	frappe.db.sql(
		"UPDATE `tabEmail Queue` SET modified = NOW() - INTERVAL 400 DAY WHERE name = %s",
		recent_p.email_queue,
	)
	frappe.db.commit()
	run_scheduled("marketing_flows.engine.sending.delivery.purge_sent_emails")
	worker()
	assert frappe.db.exists("Email Queue", recent_p.email_queue)
