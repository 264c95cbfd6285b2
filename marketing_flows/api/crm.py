"""What the CRM Form Script of Frappe CRM's deal page asks (see integrations/frappe_crm.py):
the flows of a record's people, and "Add to flow" for them."""

from __future__ import annotations

import frappe
from frappe import _

from marketing_flows.engine import enrolment, hosts, permissions

RECORD_DOCTYPES = ("CRM Deal",)


def _people(doctype: str, name: str) -> list[str]:
	"""The persons the record names (a deal's contacts), readable by the user."""
	if doctype not in RECORD_DOCTYPES:
		frappe.throw(_("Flows can't be shown for {0}.").format(doctype))
	doc = frappe.get_doc(doctype, name)
	doc.check_permission("read")
	return sorted(hosts.refs_of(doc)["person"])


@frappe.whitelist()
def record_context(doctype: str, name: str) -> dict:
	"""The record's people's participations, and the running flows a Flow Administrator may
	add them to. Users who see nothing of Marketing Flows get a PermissionError (the form script
	then shows nothing)."""
	frappe.has_permission("Marketing Flow", "read", throw=True)
	people = _people(doctype, name)
	participations = frappe.get_list(
		"Marketing Flow Participant",
		filters={"contact": ("in", people or [""])},
		fields=["flow", "contact", "status", "current_step", "succeeded"],
		order_by="enrolled_on desc",
		limit=50,
	)
	can_enrol = permissions.is_flow_operator()
	flows = (
		frappe.get_list(
			"Marketing Flow",
			filters={"status": "Running", "trigger_type": "Manual"},
			fields=["name", "flow_name"],
			order_by="flow_name asc",
			limit=50,
		)
		if can_enrol and people
		else []
	)
	return {
		"participations": [
			{
				**p,
				"summary": _("{0}: {1}, step {2}").format(p.flow, _(p.status), p.current_step or "-")
				+ (" · " + _("Succeeded") if p.succeeded else ""),
			}
			for p in participations
		],
		"flows": flows,
		"can_enrol": can_enrol,
		"labels": {
			"flows": _("Flows ({0})").format(len(participations)),
			"add_to_flow": _("Add to flow"),
			"choose": _("Enrol this deal's contacts in:"),
		},
	}


@frappe.whitelist(methods=["POST"])
def add_record_to_flow(doctype: str, name: str, flow: str) -> dict:
	"""Enrol the record's people (a deal's contacts) in `flow`: the answer says how many got in
	and why not the others."""
	doc = frappe.get_doc("Marketing Flow", flow)
	permissions.require_flow_operator(doc)
	people = _people(doctype, name)
	if not people:
		return {"enrolled": 0, "message": _("This deal names no contact.")}
	result = enrolment.enroll_manually(doc, people)
	enrolled = result.get("enrolled", 0)
	message = _("{0} of {1} enrolled in {2}").format(enrolled, len(people), doc.flow_name)
	reasons = sorted(set((result.get("not_enrolled") or {}).values()))
	if reasons:
		message += ": " + "; ".join(reasons)
	return {"enrolled": enrolled, "message": message}
