"""Test data and time travel, shared by every test module (no test module imports another).

Makers (they insert, the caller commits when a worker must see the data): `unique`,
`make_user`, `make_contact`, `make_content`, `make_doctype`, the step builder `step` / `end`, `simple_steps`,
`make_flow`, `running_flow`, `late_sms_flow`, `enrolled`, `enrol_and_run`, and `smtp_account` (an outgoing
Email Account, also used by the benchmarks). Readers: `participant`, `events`,
`table_counts`. Time travel: `time_passes`.
"""

from __future__ import annotations

import frappe
from frappe.model.document import Document
from frappe.utils import add_to_date, now_datetime

# --- makers -------------------------------------------------------------------------------


def unique(prefix: str) -> str:
	return f"{prefix}-{frappe.generate_hash(length=8)}"


def make_user(roles: list[str], prefix: str = "user", password: str | None = None) -> str:
	email = f"{unique(prefix)}@example.com".lower()
	user = frappe.get_doc(
		{
			"doctype": "User",
			"email": email,
			"first_name": prefix,
			"send_welcome_email": 0,
			"user_type": "System User",
		}
	)
	user.append_roles(*roles)
	user.insert(ignore_permissions=True)
	if password:
		from frappe.utils.password import update_password

		update_password(email, password)
	return email


def make_contact(**values) -> str:
	"""A Contact with a unique first name and email (`email_id=None`: none); `mobile_no` becomes
	its primary mobile number. Returns its name."""
	first = values.pop("first_name", unique("Contact"))
	email = values.pop("email_id", f"{first.lower()}@example.com")
	mobile = values.pop("mobile_no", None)
	doc = frappe.get_doc({"doctype": "Contact", "first_name": first, **values})
	if email:
		doc.append("email_ids", {"email_id": email, "is_primary": 1})
	if mobile:  # Contact takes mobile_no from its primary phone row
		doc.append("phone_nos", {"phone": mobile, "is_primary_mobile_no": 1})
	doc.insert(ignore_permissions=True)
	return doc.name


CONTENT_DEFAULTS = {
	"Email": {
		"subject": "Hello {{ contact.first_name }}",
		"body": "<p>Hello {{ contact.first_name }}.</p>",
	},
	"SMS": {"body": "Hello {{ contact.first_name }}"},
}


def make_content(channel: str = "Email", **values) -> Document:
	"""Marketing Flow Content of `channel` ("Email" or "SMS") with a unique name and a default
	subject / body; any field can be given (`subject=None` leaves it empty). An email's sender is
	left empty (the default sender applies) unless given, e.g. `sender=smtp.account`."""
	doc = frappe.get_doc(
		{
			"doctype": "Marketing Flow Content",
			"content_name": values.pop("content_name", unique(channel)),
			"channel": channel,
			**CONTENT_DEFAULTS.get(channel, {}),
			**values,
		}
	)
	doc.insert()
	return doc


def attach_file(content: Document, name: str, data: bytes) -> Document:
	"""A private File `name` holding `data`, attached to the Marketing Flow Content `content`."""
	return frappe.get_doc(
		{
			"doctype": "File",
			"file_name": name,
			"content": data,
			"attached_to_doctype": "Marketing Flow Content",
			"attached_to_name": content.name,
			"is_private": 1,
		}
	).insert()


def first_company() -> str:
	"""ERPNext's first Company; on a site set up without the wizard, "MF Test Company" (USD, the
	standard chart of accounts) is made, with the Transit warehouse type a new Company needs."""
	company = frappe.db.get_value("Company", {}, "name", order_by="creation")
	if company:
		return company
	if not frappe.db.exists("Warehouse Type", "Transit"):
		frappe.get_doc({"doctype": "Warehouse Type", "name": "Transit"}).insert(ignore_permissions=True)
	return (
		frappe.get_doc(
			{
				"doctype": "Company",
				"company_name": "MF Test Company",
				"abbr": "MFTC",
				"default_currency": "USD",
				"country": "United States",
				"create_chart_of_accounts_based_on": "Standard Template",
				"chart_of_accounts": "Standard",
			}
		)
		.insert(ignore_permissions=True)
		.name
	)


def step(step_id: str, step_type: str, **fields) -> dict:
	"""One row of a flow's `steps`: `step("mail", "Send Email", content=c.name, next_step="end")`."""
	return {"step_id": step_id, "step_type": step_type, **fields}


def end(step_id: str = "end") -> dict:
	"""An End step."""
	return step(step_id, "End")


def make_doctype(name: str, fields: list[dict], permissions: list[dict] | None = None, **values) -> str:
	"""A doctype made in the desk, as a Frappe-only user would (custom, module Custom, named by
	hash), unless it exists; System Manager may read, write and create its records unless
	`permissions` are given. Committed (creating its table commits anyway). Returns `name`."""
	if not frappe.db.exists("DocType", name):
		frappe.get_doc(
			{
				"doctype": "DocType",
				"name": name,
				"module": "Custom",
				"custom": 1,
				"autoname": "hash",
				"fields": fields,
				"permissions": permissions
				or [{"role": "System Manager", "read": 1, "write": 1, "create": 1}],
				**values,
			}
		).insert()
		frappe.db.commit()
	return name


def simple_steps() -> list[dict]:
	"""Wait one day, then End."""
	return [step("wait", "Wait", wait_amount=1, wait_unit="Days", next_step="end"), end()]


def make_flow(steps: list[dict] | None = None, **values) -> Document:
	"""A Draft Marketing Flow (`simple_steps()` unless steps are given)."""
	doc = frappe.get_doc(
		{
			"doctype": "Marketing Flow",
			"flow_name": values.pop("flow_name", unique("Flow")),
			"steps": steps if steps is not None else simple_steps(),
			**values,
		}
	)
	doc.insert()
	return doc


def running_flow(steps, **values):
	"""A flow made with `make_flow` and Run."""
	flow = make_flow(steps=steps, **values)
	flow.run()
	return flow


def late_sms_flow(**values) -> Document:
	"""A Running flow: Wait an hour, Send SMS ("Late news"), End."""
	content = make_content("SMS", body="Late news")
	return running_flow(
		[
			step("w", "Wait", wait_amount=1, wait_unit="Hours", next_step="sms"),
			step("sms", "Send SMS", content=content.name, next_step="end"),
			end(),
		],
		**values,
	)


def enrolled(flow=None, contact: str | None = None) -> frappe._dict:
	"""A (fresh) contact enrolled into a (new, Draft) flow, committed so that a web server sees
	it: `flow` and `contact` (names), `participant` (its row's name) and `email`."""
	from marketing_flows.engine.entering import enrolment

	flow = flow or make_flow()
	contact = contact or make_contact()
	result = enrolment.enroll(flow, [contact])
	assert len(result.enrolled) == 1, result.not_enrolled
	frappe.db.commit()
	name = result.enrolled[0]
	return frappe._dict(
		flow=flow.name,
		contact=contact,
		participant=name,
		email=frappe.db.get_value("Marketing Flow Participant", name, "email"),
	)


def smtp_account(name: str, port: int, email_id: str = "flows@example.com", **values) -> str:
	"""An outgoing Email Account `name` that sends to 127.0.0.1:`port` without TLS or login
	(created, or updated when it exists; `values` set other fields, e.g. `default_outgoing=0`),
	committed. The tests' SMTP fixtures and the benchmarks' senders are made here."""
	values = {
		"email_id": email_id,
		"enable_outgoing": 1,
		"smtp_server": "127.0.0.1",
		"smtp_port": port,
		"use_tls": 0,
		"use_ssl_for_outgoing": 0,
		"use_imap": 0,
		"enable_incoming": 0,
		"no_smtp_authentication": 1,
		"login_id_is_different": 0,
		**values,
	}
	if frappe.db.exists("Email Account", name):
		account = frappe.get_doc("Email Account", name)
		account.update(values)
	else:
		account = frappe.get_doc({"doctype": "Email Account", "email_account_name": name, **values})
	account.flags.ignore_validate = True
	account.flags.ignore_mandatory = True
	account.save(ignore_permissions=True) if not account.is_new() else account.insert(ignore_permissions=True)
	frappe.db.commit()
	frappe.clear_document_cache("Email Account", name)
	return name


def enrol_and_run(flow, worker, **contact_values) -> tuple[str, frappe._dict]:
	"""A new contact (`make_contact(**contact_values)`) enrolled into a Running `flow`, and the
	`worker` fixture run: the contact's name and its participant row as the worker left it."""
	contact = make_contact(**contact_values)
	flow.enroll([contact])
	worker()
	return contact, participant(flow.name, contact)


# --- readers ------------------------------------------------------------------------------


def participant(
	flow: str | None = None, contact: str | None = None, *, person: str | None = None, name: str | None = None
) -> frappe._dict | None:
	"""A participant row (every field), or None: of `contact` (a Contact) or `person` (a record of
	the flow's person doctype, e.g. a Lead) in `flow`, or the row called `name`."""
	if name is not None:
		return frappe.db.get_value("Marketing Flow Participant", name, "*", as_dict=True)
	filters = {"flow": flow, "contact": contact} if person is None else {"flow": flow, "person": person}
	return frappe.db.get_value("Marketing Flow Participant", filters, "*", as_dict=True)


def events(flow: str, contact: str | None = None) -> list[tuple[str, str]]:
	"""(step_id, event) of the flow's log (of one contact), oldest first."""
	filters = {"flow": flow}
	if contact:
		filters["contact"] = contact
	return [
		(r.step_id, r.event)
		for r in frappe.get_all(
			"Marketing Flow Log", filters=filters, fields=["step_id", "event"], order_by="name asc"
		)
	]


# --- time travel --------------------------------------------------------------------------


def time_passes(flow: str) -> None:
	"""Move the clock forward for a flow's waiting participants: everything waiting is due now."""
	frappe.db.sql(
		"""UPDATE `tabMarketing Flow Participant` SET next_run_at = %s
		WHERE flow = %s AND status = 'Waiting'""",
		(add_to_date(now_datetime(), minutes=-1), flow),
	)


def table_counts() -> dict[str, int]:
	"""Rows of every table of the site: a dry run must leave each count as it was."""
	tables = frappe.db.sql_list("SHOW TABLES")
	return {t: frappe.db.sql(f"SELECT COUNT(*) FROM `{t}`")[0][0] for t in tables}
