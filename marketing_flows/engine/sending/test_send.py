"""Send a test: a content rendered for a chosen person, sent only to the user who asks.

The email is built exactly as a flow's (mailer.Mailer: the same Jinja render, layout, From and
Reply-To), then sent at once over the Sender Account's SMTP session, as the app's sender does
(sender.py: CRLF, DKIM, the account's address as envelope sender). It is marked as a test
(subject "[Test] ", header X-Marketing-Flows-Test) and leaves no trace in the flow: no
participant, no Email Queue row of a participant (so nothing counts in the figures), no
Marketing Flow Log, no tracked links or open pixel, no unsubscribe link (it would unsubscribe
the person, not the tester). The content's attached files go with it, as with a flow's email.
An SMS goes to the user's own mobile number through SMS Settings. A comment on the content says
who tested it, for whom.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import frappe
from frappe import _
from frappe.email.smtp import SMTPServer

from marketing_flows.engine.hosts import company_links, doctype_roles, person_records
from marketing_flows.engine.sending import mailer, render, sender, sms

if TYPE_CHECKING:
	from marketing_flows.engine.doctypes import MarketingFlowContent

TEST_HEADER = "X-Marketing-Flows-Test"


def test_prefix() -> str:
	return _("[Test]") + " "


def template_context(person_doctype: str, person: str, flow: str | None) -> dict[str, Any]:
	"""What Jinja sees in a real send (StepContext.template_context), for `person` outside any
	participation: the participant is a stand-in with the person's address and company."""
	rows = person_records.person_rows(person_doctype, [person])
	if person not in rows:
		frappe.throw(_("{0} {1} does not exist.").format(_(person_doctype), person), frappe.DoesNotExistError)
	row = rows[person]
	company_dt = doctype_roles.doctype_for("company")
	company_name = company_links.companies_of([person], person_doctype).get(person)
	company = (
		frappe.db.get_value(company_dt, company_name, "*", as_dict=True)
		if company_dt and company_name
		else None
	)
	flow_row = (
		frappe.db.get_value("Marketing Flow", flow, ["name", "flow_name"], as_dict=True) if flow else None
	)
	participant = frappe._dict(
		name=None,
		flow=flow,
		person_doctype=person_doctype,
		person=person,
		contact=person if person_doctype == "Contact" else None,
		email=row.get("email_id"),
		mobile_no=row.get("mobile_no"),
		company=company_name,
		company_doctype=company_dt if company_name else None,
		status="Active",
	)
	return {
		"person": row,
		"contact": row,
		"lead": row if person_doctype != "Contact" else None,
		"company": company,
		"participant": participant,
		"flow": {"name": flow_row.name, "flow_name": flow_row.flow_name}
		if flow_row
		else {"name": "", "flow_name": ""},
	}


def send_email(content: MarketingFlowContent, ctx_vars: dict, recipient: str) -> dict:
	"""Build the email as a flow would (no tracking) and send it to `recipient` now; returns
	what it was sent as (to, from, reply_to, subject)."""
	if frappe.are_emails_muted():
		frappe.throw(_("Emails are muted on this site: no test can be sent."))
	problem = mailer.sender_problem(content.sender)
	if problem:
		frappe.throw(_("This email can't be sent: {0}.").format(problem), title=_("No sender"))
	outgoing = mailer.Mailer()
	outgoing.queue(
		content,
		ctx_vars,
		recipient,
		"",
		headers={TEST_HEADER: "yes"},
		subject_prefix=test_prefix(),
	)
	row = dict(zip(mailer.QUEUE_COLUMNS, outgoing.queue_rows[0], strict=True))
	account = frappe.get_doc("Email Account", row["email_account"])
	message = row["message"]
	if row["attachments"]:  # the content's files, added as Frappe adds them to a queued email
		unsaved = frappe.get_doc(
			{
				"doctype": "Email Queue",
				"message": message,
				"attachments": row["attachments"],
				"recipients": [{"recipient": recipient}],
			}
		)
		message = sender.with_attachments(unsaved, recipient)
	data = sender._wire(message)
	if key := sender._dkim_key(account):
		data = sender.dkim_signed(data, *key)
	session = SMTPServer(**account.sendmail_config()).session
	try:
		session.sendmail(account.email_id, [recipient], data)
	finally:
		try:
			session.quit()
		except Exception:
			pass
	headers = _headers_of(row["message"])
	return {
		"to": recipient,
		"from": headers.get("From"),
		"reply_to": headers.get("Reply-To"),
		"subject": headers.get("Subject"),
	}


def _headers_of(message: str) -> dict[str, str]:
	import email
	from email import policy

	parsed = email.message_from_string(message, policy=policy.default)
	return {k: str(parsed[k]) for k in ("From", "Reply-To", "Subject") if parsed[k]}


def send_sms(content: MarketingFlowContent, ctx_vars: dict, number: str) -> dict:
	text = test_prefix() + frappe.utils.strip_html(render.render(content.body, ctx_vars)).strip()
	sms.send_through_sms_settings(number, text)
	return {"to": number, "text": text}


def send_test(
	content: MarketingFlowContent,
	person_doctype: str,
	person: str,
	user: str,
	flow: str | None = None,
) -> dict:
	"""Send `content`, rendered for `person`, to `user` only (its email; an SMS to its mobile
	number). The caller checked the permissions. Returns what was sent, for the message."""
	user_row = frappe.db.get_value("User", user, ["email", "mobile_no"], as_dict=True) or frappe._dict()
	ctx_vars = template_context(person_doctype, person, flow)
	if content.channel == "SMS":
		if not user_row.mobile_no:
			frappe.throw(
				_("Your user has no mobile number: add one to your user settings to receive a test SMS."),
				title=_("No mobile number"),
			)
		sent = send_sms(content, ctx_vars, user_row.mobile_no)
	else:
		if not user_row.email or user in ("Guest",):
			frappe.throw(
				_("Your user has no email address to send the test to."), title=_("No email address")
			)
		sent = send_email(content, ctx_vars, user_row.email)
	content.add_comment(
		"Info",
		_("Test sent to {0}, rendered for {1} {2}.").format(sent["to"], _(person_doctype), person),
	)
	return sent
