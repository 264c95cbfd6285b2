"""Desk endpoint behind "Add to flow" on Contact lists and forms."""

import frappe

from marketing_flows.engine.entering import enrolment


@frappe.whitelist(methods=["POST"])
def add_to_flow(flow: str, contacts: list[str] | str) -> dict:
	doc = frappe.get_doc("Marketing Flow", flow)
	doc.check_permission("read")
	return enrolment.enroll_manually(doc, contacts)
