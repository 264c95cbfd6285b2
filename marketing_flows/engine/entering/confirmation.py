"""Double opt-in for flows that a public Web Form starts (`require_confirmation`).

Anyone may type any address into a public form: before a flow emails it, its owner confirms
it. The form's submission records a Pending *Marketing Email Confirmation* and emails the
address one signed link (one email per address until it is confirmed, however often the form
is sent with it); the link's page POSTs the confirmation, which records when and from where
(the evidence of consent), marks every pending request of that address Confirmed and enrols
each person in their flow, in a job. An address confirmed before enters at once.
"""

from __future__ import annotations

from email.utils import formataddr, parseaddr
from typing import TYPE_CHECKING

import frappe
from frappe import _
from frappe.utils import get_url, now_datetime

from marketing_flows.engine.entering import eligibility, enrolment
from marketing_flows.engine.hosts import owners, person_records
from marketing_flows.engine.measuring import tracking
from marketing_flows.engine.running.participants import LIVE_FLOW_STATUSES
from marketing_flows.engine.sending import links, mailer, render

if TYPE_CHECKING:
	from frappe.email.doctype.email_account.email_account import EmailAccount
	from frappe.email.doctype.email_queue.email_queue import EmailQueue
	from frappe.model.document import Document

	from marketing_flows.engine.doctypes import MarketingFlow, MarketingFlowContent

DOCTYPE = "Marketing Email Confirmation"
ACTION = "confirm"


def problem(flow: MarketingFlow) -> str | None:
	"""Why the flow's double opt-in settings can't work (None: they can)."""
	if not flow.get("require_confirmation"):
		return None
	if flow.trigger_type != "Web Form":
		return _("Only a flow started by a Web Form asks for confirmation of the address.")
	content = flow.get("confirmation_content")
	if content and frappe.db.get_value("Marketing Flow Content", content, "channel") != "Email":
		return _("The confirmation email must be an Email content.")
	return None


def confirm_url(name: str, email: str) -> str:
	signature = links.sign(ACTION, name, email)
	return f"{get_url().rstrip('/')}/api/method/marketing_flows.api.tracking.confirm?c={name}&sig={signature}"


def is_confirmed(email: str) -> bool:
	return bool(frappe.db.exists(DOCTYPE, {"email_address": email, "status": "Confirmed"}))


def request(flow: MarketingFlow, person: str, source: str) -> str:
	"""The Web Form proposed `person` to `flow`, which asks for confirmation: enrol them if their
	address was confirmed before, else record the request and (once per address) ask."""
	person_doctype = flow.person_doctype
	row = person_records.person_rows(
		person_doctype, [person], person_records.person_fields(person_doctype)
	).get(person)
	email = ((row or {}).get("email_id") or "").strip().lower()
	if not row or not email:
		return "no address"
	if is_confirmed(email):
		enrolment.enroll(flow, [person], source=source)
		return "enrolled"
	if frappe.db.exists(DOCTYPE, {"email_address": email, "flow": flow.name, "status": "Pending"}):
		return "waiting"
	already_asked = frappe.db.exists(
		DOCTYPE, {"email_address": email, "status": "Pending", "confirmation_sent": 1}
	)
	doc = frappe.get_doc(
		{
			"doctype": DOCTYPE,
			"email_address": email,
			"flow": flow.name,
			"person_doctype": person_doctype,
			"person": person,
			"source": (source or "")[:140],
			"requested_on": now_datetime(),
		}
	).insert(ignore_permissions=True)
	if already_asked:
		return "waiting"
	queued = _send(flow, doc, row)
	doc.db_set({"confirmation_sent": 1, "email_queue": queued.name if queued else None})
	if queued:  # out at once, not at the next flush: the person is waiting for it
		name = queued.name
		frappe.db.after_commit.add(lambda: frappe.get_doc("Email Queue", name).send())
	return "asked"


def _send(flow: MarketingFlow, doc: Document, person: dict) -> EmailQueue | None:
	url = confirm_url(doc.name, doc.email_address)
	context = {"contact": person, "person": person, "confirm_url": url, "flow": {"flow_name": flow.flow_name}}
	content = (
		frappe.get_cached_doc("Marketing Flow Content", flow.confirmation_content)
		if flow.get("confirmation_content")
		else None
	)
	if content:
		subject = render.render(content.subject, context)
		body = render.render(content.body, context, html=True)
		if url not in body:  # a content without the link can't confirm anything
			body += _link_paragraph(url)
	else:
		subject = _("Please confirm your email address")
		body = (
			"<p>"
			+ _("Please confirm that you want to receive emails from us at {0}.").format(
				frappe.utils.escape_html(doc.email_address)
			)
			+ "</p>"
			+ _link_paragraph(url)
			+ "<p>"
			+ _("If you did not ask for this, ignore this email: you will not hear from us again.")
			+ "</p>"
		)
	account = mailer.sender_account(content.get("sender") if content else None)
	sender, reply_to = _from_and_reply_to(content, account, doc)
	mailer.route_frappe_mail(sender, account)
	return frappe.sendmail(
		recipients=[doc.email_address],
		sender=sender,
		reply_to=reply_to,
		subject=subject,
		message=body,
		reference_doctype=DOCTYPE,
		reference_name=doc.name,
		delayed=True,
	)


def _from_and_reply_to(
	content: MarketingFlowContent | None, account: EmailAccount, doc: Document
) -> tuple[str, str | None]:
	"""From and Reply-To of the confirmation email, as the content says (mailer.from_and_reply_to).
	Frappe's own mail picks its account by the From address, so the address is always the
	Sender Account's: From = Person's Owner gives "Owner Name <account@...>" with replies to the
	owner (the person's own owner as stored now: one who just typed their address into a public
	form mostly has none yet, and the account sends as itself)."""
	if not content:
		return formataddr((account.name, account.email_id)), None
	owner = None
	if content.get("sender_type") == mailer.PERSONS_OWNER:
		user = owners.owner_of(doc.person_doctype, doc.person)
		owner = mailer.active_users().get(user) if user else None
	sender, reply_to = mailer.from_and_reply_to(content, account, owner)
	name, address = parseaddr(sender)
	if address != account.email_id:  # the owner's own address: Frappe would send it elsewhere
		reply_to = reply_to or address
		sender = formataddr((name, account.email_id))
	return sender, reply_to


def _link_paragraph(url: str) -> str:
	return f'<p><a href="{frappe.utils.escape_html(url)}">{frappe.utils.escape_html(_("Confirm my email address"))}</a></p>'


def confirm(name: str, ip: str | None, user_agent: str | None) -> str | None:
	"""The owner confirmed the address of request `name` (its signature was checked): every
	pending request of the address becomes Confirmed, with when and from where, and a job
	enrols each person. Returns the address, None when the request is gone."""
	email = frappe.db.get_value(DOCTYPE, name, "email_address")
	if not email:
		return None
	pending = frappe.get_all(DOCTYPE, filters={"email_address": email, "status": "Pending"}, pluck="name")
	for request_name in pending:
		frappe.db.set_value(
			DOCTYPE,
			request_name,
			{
				"status": "Confirmed",
				"confirmed_on": now_datetime(),
				"confirmed_ip": tracking.plain_text(ip, 140) or None,
				"confirmed_user_agent": tracking.plain_text(user_agent, 1000) or None,
			},
			update_modified=False,
		)
	if pending:
		frappe.enqueue(
			"marketing_flows.engine.entering.confirmation.enrol_confirmed",
			queue="short",
			requests=pending,
			enqueue_after_commit=True,
		)
	return email


def enrol_confirmed(requests: list[str]) -> None:
	"""Job: each confirmed request's person enters its flow (when the flow still runs), and the
	person's consent field (Marketing Flow Settings) is set."""
	frappe.set_user("Administrator")  # queued by a guest's confirmation; acts for the system
	consent = eligibility.consent_field()
	for row in frappe.get_all(DOCTYPE, filters={"name": ("in", requests)}, fields=["*"]):
		if not (row.flow and row.person and frappe.db.exists(row.person_doctype, row.person)):
			continue
		if consent and frappe.get_meta(row.person_doctype).has_field(consent):
			frappe.db.set_value(row.person_doctype, row.person, consent, 1)
		flow = (
			frappe.get_doc("Marketing Flow", row.flow)
			if frappe.db.exists("Marketing Flow", row.flow)
			else None
		)
		if flow and flow.status in LIVE_FLOW_STATUSES:
			enrolment.enroll(flow, [row.person], source=_("Confirmed {0}").format(row.email_address))
