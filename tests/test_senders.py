"""Who an email is from: content saved before any sender exists (Run says which steps lack one),
From = the person's owner with its fallbacks, Reply-To, and "Send a test to me" (only the
current user receives it; nothing of the flow counts it). Every email is read off a real SMTP
server, as its recipient sees it."""

from __future__ import annotations

import frappe
import pytest

from factories import (
	attach_file,
	end,
	events,
	make_contact,
	make_content,
	make_doctype,
	make_flow,
	make_user,
	participant,
	smtp_account,
	step,
	unique,
)
from marketing_flows.api.test_send import send_test

COMPANY = "MF Test Owned Company"
SETTINGS = "Marketing Flow Settings"


def no_sender_anywhere(settings) -> None:
	settings.set_default_email_account(None)
	settings.set(SETTINGS, default_sender=None)


def welcome_flow(content, **values):
	return make_flow(
		steps=[
			step("welcome", "Send Email", content=content.name, next_step="wait"),
			step("wait", "Wait", wait_amount=2, wait_unit="Days", next_step="end"),
			end(),
		],
		**values,
	)


# --- item 4: content first, sender later ----------------------------------------------------


def test_email_content_saves_without_any_sender_and_run_names_each_step_without_one(settings, smtp):
	no_sender_anywhere(settings)
	content = make_content("Email", content_name=unique("Welcome"), subject="Hi", body="Hello")
	assert frappe.db.exists("Marketing Flow Content", content.name)  # saved, no sender anywhere
	content.run_method("onload")
	assert "no sender" in content.get_onload().sender_problem  # the form's note
	flow = welcome_flow(content)  # a draft flow may use it too
	frappe.db.commit()
	with pytest.raises(frappe.ValidationError) as refused:
		flow.run()
	message = str(refused.value)
	assert f"Send Email step 'welcome' (content {content.name}): no sender" in message
	assert "Marketing Flow Settings" in message and "default outgoing" in message
	frappe.db.rollback()
	assert frappe.db.get_value("Marketing Flow", flow.name, "status") == "Draft"

	settings.set_default_email_account(smtp.account)  # a sender at last: the flow runs
	flow = frappe.get_doc("Marketing Flow", flow.name)
	flow.run()
	assert frappe.db.get_value("Marketing Flow", flow.name, "status") == "Running"


def test_a_named_sender_account_whose_outgoing_is_off_is_still_refused(smtp):
	off = smtp_account(
		"Marketing Flows Test Off",
		smtp.port,
		email_id="off@example.com",
		enable_outgoing=0,
		default_outgoing=0,
	)
	with pytest.raises(frappe.ValidationError, match="outgoing is off"):
		make_content("Email", subject="Hi", body="Hello", sender=off)


def test_resume_is_refused_when_the_sender_went_away_meanwhile(sink, smtp, settings):
	content = make_content("Email", subject="Hi", body="Hello", sender=sink.account)
	flow = welcome_flow(content)
	flow.run()
	flow.reload()
	flow.pause()
	frappe.db.commit()
	frappe.db.set_value("Email Account", sink.account, "enable_outgoing", 0)
	frappe.db.commit()
	try:
		flow.reload()
		with pytest.raises(frappe.ValidationError, match=r"Send Email step 'welcome'.*outgoing is off"):
			flow.run()
		frappe.db.rollback()
		assert frappe.db.get_value("Marketing Flow", flow.name, "status") == "Paused"
	finally:
		frappe.db.set_value("Email Account", sink.account, "enable_outgoing", 1)
		frappe.db.commit()


def test_the_confirmation_email_needs_a_sender_too(settings, smtp):
	no_sender_anywhere(settings)
	form = frappe.get_all("Web Form", pluck="name", limit=1)
	if not form:
		pytest.skip("no Web Form on this site")
	flow = make_flow(trigger_type="Web Form", trigger_web_form=form[0], require_confirmation=1)
	with pytest.raises(frappe.ValidationError, match="confirmation email: no sender"):
		flow.run()


def test_a_notify_by_email_step_needs_an_outgoing_account_at_run(settings, smtp):
	no_sender_anywhere(settings)
	flow = make_flow(
		steps=[
			step(
				"tell",
				"Notify by Email",
				notify_to="User",
				notify_user="Administrator",
				notify_message="Hi",
				next_step="end",
			),
			end(),
		]
	)
	frappe.db.commit()
	with pytest.raises(frappe.ValidationError, match=r"Notify by Email step 'tell': no sender"):
		flow.run()
	frappe.db.rollback()
	settings.set_default_email_account(smtp.account)
	flow = frappe.get_doc("Marketing Flow", flow.name)
	flow.run()
	assert frappe.db.get_value("Marketing Flow", flow.name, "status") == "Running"


# --- item 5: From = the person's owner, Reply-To ------------------------------------------------


@pytest.fixture(scope="module")
def owned_companies(module_settings):
	"""A company doctype with an account manager (as ERPNext's Customer has), playing Company."""
	make_doctype(
		COMPANY,
		[
			{"fieldname": "company_title", "fieldtype": "Data", "label": "Title"},
			{
				"fieldname": "account_manager",
				"fieldtype": "Link",
				"options": "User",
				"label": "Account Manager",
			},
		],
	)
	module_settings.set(SETTINGS, company_doctype=COMPANY)
	return COMPANY


def company_managed_by(user: str | None) -> str:
	doc = frappe.get_doc({"doctype": COMPANY, "company_title": unique("Co"), "account_manager": user})
	doc.insert(ignore_permissions=True)
	return doc.name


def person_at(company: str | None, first: str) -> str:
	links = [{"link_doctype": COMPANY, "link_name": company}] if company else []
	return make_contact(first_name=first, links=links)


def owner(first: str, enabled: int = 1) -> str:
	user = make_user(["Sales User"], first.lower())
	frappe.db.set_value(
		"User", user, {"first_name": first, "last_name": "Owner", "full_name": f"{first} Owner"}
	)
	if not enabled:
		frappe.db.set_value("User", user, "enabled", 0)
	return user


def received(sink, contact: str):
	email = frappe.db.get_value("Contact", contact, "email_id")
	got = sink.to(email)
	assert len(got) == 1, (email, [m["Subject"] for m in sink.messages])
	return got[0]


def test_from_the_persons_owner_through_the_sender_account_with_fallbacks(worker, sink, owned_companies):
	anna = owner("Anna")
	gone = owner("Gone", enabled=0)
	with_owner = person_at(company_managed_by(anna), unique("Ola"))
	owner_disabled = person_at(company_managed_by(gone), unique("Kari"))
	no_company = person_at(None, unique("Per"))
	bo = owner("Bo")
	assigned = person_at(None, unique("Eva"))  # a Contact owned by its assignment (the desk's)
	from frappe.desk.form import assign_to

	assign_to.add({"assign_to": [bo], "doctype": "Contact", "name": assigned, "description": "Yours"})
	content = make_content(
		"Email",
		subject="Hello {{ contact.first_name }}",
		body="<p>Hi</p>",
		sender_type="Person's Owner",
		sender=sink.account,
	)
	flow = welcome_flow(content)
	flow.run()
	flow.enroll([with_owner, owner_disabled, no_company, assigned])
	frappe.db.commit()
	worker()

	msg = received(sink, with_owner)
	assert msg["From"].addresses[0].display_name == "Anna Owner"
	assert msg["From"].addresses[0].addr_spec == anna
	assert msg["Reply-To"] is None  # replies go to From: the owner
	account = "Marketing Flows Test Sink <sink-sender@example.com>"
	for fallback in (owner_disabled, no_company):  # no owner, or a disabled one: the account
		msg = received(sink, fallback)
		assert str(msg["From"]) == account
		assert msg["Reply-To"] is None
	assert str(received(sink, assigned)["From"]) == f"Bo Owner <{bo}>"
	assert participant(flow.name, with_owner).last_sent_status == "Sent"


def test_an_account_that_forces_its_address_sends_as_the_owners_name_with_replies_to_the_owner(
	worker, sink, owned_companies
):
	anna = owner("Berit")
	contact = person_at(company_managed_by(anna), unique("Ola"))
	frappe.db.set_value("Email Account", sink.account, "always_use_account_email_id_as_sender", 1)
	frappe.db.commit()
	try:
		content = make_content(
			"Email", subject="Hi", body="<p>Hi</p>", sender_type="Person's Owner", sender=sink.account
		)
		flow = welcome_flow(content)
		flow.run()
		flow.enroll([contact])
		frappe.db.commit()
		worker()
	finally:
		frappe.db.set_value("Email Account", sink.account, "always_use_account_email_id_as_sender", 0)
		frappe.db.commit()
	msg = received(sink, contact)
	assert msg["From"].addresses[0].display_name == "Berit Owner"
	assert msg["From"].addresses[0].addr_spec == "sink-sender@example.com"
	assert msg["Reply-To"].addresses[0].addr_spec == anna


def test_reply_to_of_the_content(worker, sink):
	content = make_content(
		"Email", subject="Hi", body="<p>Hi</p>", sender=sink.account, reply_to="answers@example.com"
	)
	flow = welcome_flow(content)
	flow.run()
	contact = make_contact()
	flow.enroll([contact])
	frappe.db.commit()
	worker()
	msg = received(sink, contact)
	assert str(msg["From"]) == "Marketing Flows Test Sink <sink-sender@example.com>"
	assert str(msg["Reply-To"]) == "answers@example.com"


def test_the_confirmation_email_follows_the_contents_from_and_reply_to(sink):
	"""Double opt-in: From = Person's Owner gives "Owner Name <account address>" with replies to
	the owner (Frappe's mail picks its account by the From address); a content's Reply-To wins;
	a person without an owner gets the account as it is."""
	from frappe.desk.form import assign_to

	from marketing_flows.engine.entering import confirmation

	form = frappe.get_all("Web Form", pluck="name", limit=1)
	if not form:
		pytest.skip("no Web Form on this site")
	content = make_content(
		"Email",
		subject="Please confirm",
		body="<p>Confirm: {{ confirm_url }}</p>",
		sender=sink.account,
		sender_type="Person's Owner",
	)
	flow = make_flow(
		trigger_type="Web Form",
		trigger_web_form=form[0],
		require_confirmation=1,
		confirmation_content=content.name,
	)
	liv = owner("Liv")
	owned = make_contact()
	assign_to.add({"assign_to": [liv], "doctype": "Contact", "name": owned, "description": "Yours"})
	unowned = make_contact()

	def confirmation_of(contact: str):
		# the request sends its email as soon as it commits (the person waits for it): here, in
		# the test process, which then talks to SMTP as a web request does
		frappe.flags.testing_email = True
		try:
			assert confirmation.request(flow, contact, "test") == "asked"
			frappe.db.commit()
		finally:
			frappe.flags.testing_email = False
		return received(sink, contact)

	msg = confirmation_of(owned)
	assert str(msg["From"]) == "Liv Owner <sink-sender@example.com>"
	assert str(msg["Reply-To"]) == liv
	msg = confirmation_of(unowned)
	assert str(msg["From"]) == "Marketing Flows Test Sink <sink-sender@example.com>"
	assert str(msg["Reply-To"]) == "sink-sender@example.com"  # Frappe's mail always says Reply-To

	frappe.db.set_value("Marketing Flow Content", content.name, "reply_to", "optin@example.com")
	frappe.clear_document_cache("Marketing Flow Content", content.name)
	msg = confirmation_of(make_contact())
	assert str(msg["Reply-To"]) == "optin@example.com"


# --- item 14: Send a test to me ---------------------------------------------------------------


@pytest.fixture
def tester():
	user = make_user(["Flow Content Editor", "Sales User"], "tester")
	frappe.db.commit()
	yield user
	frappe.set_user("Administrator")


def test_send_a_test_renders_for_the_person_and_reaches_only_the_user(sink, tester):
	content = make_content(
		"Email",
		subject="Welcome {{ contact.first_name }}",
		body='<p>Hello {{ contact.first_name }}</p><p><a href="https://example.com/offer">Offer</a></p>',
		sender=sink.account,
		reply_to="answers@example.com",
	)
	first = unique("Siri")
	contact = make_contact(first_name=first)
	person_email = frappe.db.get_value("Contact", contact, "email_id")
	frappe.db.commit()
	queued_before = frappe.db.count("Email Queue")
	logs_before = frappe.db.count("Marketing Flow Log")
	frappe.set_user(tester)
	sent = send_test(content=content.name, person=contact)
	frappe.set_user("Administrator")
	assert sent["to"] == tester
	assert sink.to(person_email) == []  # never the person
	(msg,) = sink.to(tester)
	assert msg["Subject"] == f"[Test] Welcome {first}"
	assert msg["X-Marketing-Flows-Test"] == "yes"
	assert str(msg["From"]) == "Marketing Flows Test Sink <sink-sender@example.com>"
	assert str(msg["Reply-To"]) == "answers@example.com"
	html = sink.html(msg)
	assert f"Hello {first}" in html
	assert 'href="https://example.com/offer"' in html  # the link as written: no click tracking
	assert "marketing_flows.api.tracking" not in html  # no pixel, no unsubscribe link
	assert msg["List-Unsubscribe"] is None
	assert frappe.db.count("Email Queue") == queued_before  # nothing queued, nothing counted
	assert frappe.db.count("Marketing Flow Log") == logs_before
	assert not frappe.db.exists("Marketing Flow Participant", {"contact": contact})
	assert frappe.db.exists(
		"Comment", {"reference_doctype": "Marketing Flow Content", "reference_name": content.name}
	)


def test_send_a_test_carries_the_contents_attached_files(sink, tester):
	content = make_content("Email", subject="Price list", body="<p>Attached.</p>", sender=sink.account)
	attach_file(content, "prices.txt", b"widget: 10 EUR\n")
	content.attach_files = 1
	content.save()
	contact = make_contact()
	frappe.db.commit()
	frappe.set_user(tester)
	send_test(content=content.name, person=contact)
	frappe.set_user("Administrator")
	(msg,) = sink.to(tester)
	# a text part travels in canonical form (RFC 2046: CRLF line breaks); whether it arrives
	# base64 or quoted-printable depends on Frappe's process-wide utf-8 charset setting, which its
	# EMail class switches to quoted-printable once a process has built one
	files = {part.get_filename(): part.get_content().replace("\r\n", "\n") for part in msg.iter_attachments()}
	assert files == {"prices.txt": "widget: 10 EUR\n"}
	assert "Attached." in sink.html(msg)


def test_send_a_test_for_a_flows_person_uses_the_flows_jinja(sink):
	content = make_content("Email", subject="{{ flow.flow_name }}", body="<p>x</p>", sender=sink.account)
	flow = welcome_flow(content)
	contact = make_contact()
	frappe.db.commit()
	send_test(content=content.name, person=contact, flow=flow.name)
	admin_email = frappe.db.get_value("User", "Administrator", "email")
	assert [m["Subject"] for m in sink.to(admin_email)] == [f"[Test] {flow.flow_name}"]
	assert events(flow.name) == []


def test_send_a_test_needs_write_on_the_content_and_read_on_the_person(sink):
	content = make_content("Email", subject="Hi", body="<p>x</p>", sender=sink.account)
	contact = make_contact()
	reader_only = make_user(["Flow Content Editor"], "no-contacts")  # can't read Contacts
	nobody = make_user(["Sales User"], "no-content")  # reads Contacts, can't edit content
	frappe.db.commit()
	try:
		for user in (reader_only, nobody):
			frappe.set_user(user)
			with pytest.raises(frappe.PermissionError):
				send_test(content=content.name, person=contact)
	finally:
		frappe.set_user("Administrator")
	assert sink.messages == []


def test_send_a_test_sms_needs_the_users_mobile_number(sink, tester):
	sms = make_content("SMS", body="Hi {{ contact.first_name }}")
	contact = make_contact()
	frappe.db.commit()
	frappe.set_user(tester)
	try:
		with pytest.raises(frappe.ValidationError, match="no mobile number"):
			send_test(content=sms.name, person=contact)
	finally:
		frappe.set_user("Administrator")
	assert sink.messages == []


def test_send_a_test_sms_goes_to_the_users_mobile(http_receiver, settings, tester):
	settings.set(
		"SMS Settings",
		sms_gateway_url=f"{http_receiver.url}/sms-test",
		message_parameter="text",
		receiver_parameter="to",
		use_post=0,
		parameters=[],
	)
	mobile = "+4799" + str(int(frappe.generate_hash(length=6), 16) % 1000000).zfill(6)
	frappe.db.set_value("User", tester, "mobile_no", mobile)  # unique among users
	first = unique("Liv")
	contact = make_contact(first_name=first, mobile_no="+4711223344")
	sms = make_content("SMS", body="Hi {{ contact.first_name }}")
	frappe.db.commit()
	frappe.set_user(tester)
	try:
		send_test(content=sms.name, person=contact)
	finally:
		frappe.set_user("Administrator")
	got = http_receiver.received("/sms-test")
	assert [(r["query"]["to"], r["query"]["text"]) for r in got] == [(mobile, f"[Test] Hi {first}")]


def test_the_batch_path_resolves_owners_with_one_user_query(sink, owned_companies):
	"""A batch of Person's Owner emails asks for the owners once, not once per email."""
	from marketing_flows.engine.sending.mailer import Mailer

	anna = owner("Cecilie")
	company = frappe.db.get_value(COMPANY, company_managed_by(anna), "*", as_dict=True)
	content = make_content(
		"Email", subject="Hi", body="<p>x</p>", sender_type="Person's Owner", sender=sink.account
	)
	mailer = Mailer()
	ctx = {"person": {"name": "p"}, "contact": {}, "company": company, "participant": {}, "flow": {}}
	mailer.queue(content, ctx, "a@example.com", "p1")  # loads the users
	before = questions()
	for i in range(50):
		mailer.queue(content, ctx, f"r{i}@example.com", f"p{i}")
	assert questions() - before <= 1  # the status query itself: no query per email
	assert all("Cecilie Owner" in row[1] for row in mailer.queue_rows)


def questions() -> int:
	"""Statements this database session has run (MariaDB's own count)."""
	return int(frappe.db.sql("SHOW SESSION STATUS LIKE 'Questions'")[0][1])
