"""Small factories for test data: users with roles, contacts, flows."""

from __future__ import annotations

import frappe


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


def simple_steps() -> list[dict]:
	return [
		{"step_id": "wait", "step_type": "Wait", "wait_amount": 1, "wait_unit": "Days", "next_step": "end"},
		{"step_id": "end", "step_type": "End"},
	]


def make_flow(steps: list[dict] | None = None, **values) -> frappe.model.document.Document:
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


# --- moved from test_engine so that no test module imports another -----------------------

def participant(flow: str, contact: str) -> frappe._dict:
	return frappe.db.get_value("Marketing Flow Participant", {"flow": flow, "contact": contact}, "*", as_dict=True)


def events(flow: str, contact: str | None = None) -> list[tuple[str, str]]:
	filters = {"flow": flow}
	if contact:
		filters["contact"] = contact
	return [
		(r.step_id, r.event)
		for r in frappe.get_all("Marketing Flow Log", filters=filters, fields=["step_id", "event"], order_by="name asc")
	]


def time_passes(flow: str) -> None:
	"""Move the clock forward for a flow's waiting participants: everything waiting is due now."""
	from frappe.utils import add_to_date, now_datetime

	frappe.db.sql(
		"""UPDATE `tabMarketing Flow Participant` SET next_run_at = %s
		WHERE flow = %s AND status = 'Waiting'""",
		(add_to_date(now_datetime(), minutes=-1), flow),
	)


def running_flow(steps, **values):
	flow = make_flow(steps=steps, **values)
	flow.run()
	return flow
