"""Test data and time travel, shared by every test module (no test module imports another).

Makers (they insert, the caller commits when a worker must see the data): `unique`,
`make_user`, `make_contact`, `make_content`, `simple_steps`, `make_flow`, `running_flow`.
Readers: `participant`, `events`. Time travel: `time_passes`.
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


def simple_steps() -> list[dict]:
	return [
		{"step_id": "wait", "step_type": "Wait", "wait_amount": 1, "wait_unit": "Days", "next_step": "end"},
		{"step_id": "end", "step_type": "End"},
	]


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


# --- readers ------------------------------------------------------------------------------


def participant(flow: str, contact: str) -> frappe._dict:
	"""The participant row of `contact` in `flow` (every field), or None."""
	return frappe.db.get_value(
		"Marketing Flow Participant", {"flow": flow, "contact": contact}, "*", as_dict=True
	)


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
