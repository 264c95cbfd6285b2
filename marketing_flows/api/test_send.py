"""Desk endpoint behind "Send a test to me" (the content form, the designer's Send Email / Send
SMS step): the content rendered for a chosen person, sent only to the current user."""

from __future__ import annotations

import frappe
from frappe import _
from frappe.rate_limiter import rate_limit

from marketing_flows.engine.hosts import doctype_roles
from marketing_flows.engine.sending import test_send

CONTENT = "Marketing Flow Content"


@frappe.whitelist()
@rate_limit(limit=30, seconds=10 * 60)
def send_test(
	content: str | None = None,
	person: str | None = None,
	person_doctype: str | None = None,
	flow: str | None = None,
) -> dict:
	"""Who may edit the content may test it (Flow Content Editors too), for a person they may
	read. Only the current user receives it. POST only (a GET is refused after the checks)."""
	frappe.has_permission(CONTENT, "write", throw=True)
	if not content or not person:
		frappe.throw(_("Choose the content and the person to render it for."))
	doc = frappe.get_doc(CONTENT, content)
	doc.check_permission("write")
	if flow:
		frappe.get_doc("Marketing Flow", flow).check_permission("read")
		person_doctype = person_doctype or frappe.db.get_value("Marketing Flow", flow, "person_doctype")
	person_doctype = person_doctype or "Contact"
	if person_doctype not in doctype_roles.person_doctypes():
		frappe.throw(_("{0} can't be a flow's people on this site.").format(_(person_doctype)))
	frappe.has_permission(person_doctype, "read", doc=person, throw=True)
	if frappe.request and frappe.request.method != "POST":
		frappe.throw(_("Send a test with a POST request."), frappe.ValidationError)
	return test_send.send_test(doc, person_doctype, person or "", frappe.session.user, flow)
