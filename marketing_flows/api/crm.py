"""What the CRM Form Scripts of Frappe CRM's lead and deal pages ask (see
integrations/frappe_crm.py): the flows of a record's people, and "Add to flow" for them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import frappe
from frappe import _

from marketing_flows.engine import permissions
from marketing_flows.engine.entering import enrolment
from marketing_flows.engine.hosts import doctype_roles, person_records, record_fields

if TYPE_CHECKING:
	from marketing_flows.engine.doctypes import MarketingFlow

RECORD_DOCTYPES = ("CRM Lead", "CRM Deal")


def _people(doctype: str, name: str) -> dict[str, list[str]]:
	"""person doctype -> the persons the record names (a lead itself; a deal's contacts and its
	lead), for a user who may read the record."""
	if doctype not in RECORD_DOCTYPES:
		frappe.throw(_("Flows can't be shown for {0}.").format(doctype))
	doc = frappe.get_doc(doctype, name)
	doc.check_permission("read")
	found: dict[str, set[str]] = {doctype: {doc.name}} if doctype in doctype_roles.PERSON_TYPES else {}
	for path in record_fields.link_paths(doctype)["person"]:
		rows = doc.get(path.table_field) if path.table_field else [doc]
		for row in rows or []:
			target = row.get(path.type_field) if path.type_field else path.target
			if row.get(path.field) and target in doctype_roles.PERSON_TYPES:
				found.setdefault(target, set()).add(row.get(path.field))
	if doctype == "CRM Lead" and (
		contact := person_records.converted_contacts(doctype, [doc.name]).get(doc.name)
	):
		found.setdefault("Contact", set()).add(contact)
	return {dt: sorted(names) for dt, names in found.items()}


def _participations(people: dict[str, list[str]]) -> list[frappe._dict]:
	p = frappe.qb.DocType("Marketing Flow Participant")
	condition = None
	for doctype, names in people.items():
		part = (p.person_doctype == doctype) & p.person.isin(names)
		if doctype == "Contact":
			part = part | p.contact.isin(names)
		condition = part if condition is None else condition | part
	if condition is None:
		return []
	visible = set(frappe.get_list("Marketing Flow", pluck="name", limit=0))
	rows = (
		frappe.qb.from_(p)
		.select(p.flow, p.person_doctype, p.person, p.contact, p.status, p.current_step, p.succeeded)
		.where(condition)
		.orderby(p.enrolled_on, order=frappe.qb.desc)
		.limit(50)
		.run(as_dict=True)
	)
	return [r for r in rows if r.flow in visible]


@frappe.whitelist()
def record_context(doctype: str, name: str) -> dict:
	"""The record's people's participations, and the running flows a Flow Administrator may
	add them to. Users who see nothing of Marketing Flows get a PermissionError (the form script
	then shows nothing)."""
	frappe.has_permission("Marketing Flow", "read", throw=True)
	people = _people(doctype, name)
	participations = _participations(people)
	can_enrol = permissions.is_flow_operator()
	flows = (
		frappe.get_list(
			"Marketing Flow",
			filters={"status": "Running", "trigger_type": "Manual", "person_doctype": ("in", list(people))},
			fields=["name", "flow_name", "person_doctype"],
			order_by="flow_name asc",
			limit=50,
		)
		if can_enrol and people
		else []
	)
	whom = _("Enrol this lead in:") if doctype == "CRM Lead" else _("Enrol this deal's contacts in:")
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
			"choose": whom,
		},
	}


@frappe.whitelist(methods=["POST"])
def add_record_to_flow(doctype: str, name: str, flow: str) -> dict:
	"""Enrol the record's people of the flow's kind (the lead; a deal's contacts, or its lead)
	in `flow`: the answer says how many got in and why not the others."""
	doc: MarketingFlow = frappe.get_doc("Marketing Flow", flow)  # `flow`: the endpoint's parameter
	permissions.require_flow_operator(doc)
	people = _people(doctype, name).get(doc.person_doctype) or []
	if not people:
		return {
			"enrolled": 0,
			"message": _("This record names no {0}: {1} enrols {0}.").format(
				_(doc.person_doctype), doc.flow_name
			),
		}
	result = enrolment.enroll_manually(doc, people)
	enrolled = result.get("enrolled", 0)
	message = _("{0} of {1} enrolled in {2}").format(enrolled, len(people), doc.flow_name)
	reasons = sorted(set((result.get("not_enrolled") or {}).values()))
	if result.get("held_out"):  # the flow's control group: recorded, sent nothing
		reasons.append(_("{0} held out (control group)").format(result["held_out"]))
	if reasons:
		message += ": " + "; ".join(reasons)
	return {"enrolled": enrolled, "message": message}
