"""What the CRM Form Scripts of Frappe CRM's lead and deal pages ask (see
integrations/frappe_crm.py): the flows of a record's people, and "Add to flow" for them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import frappe
from frappe import _
from frappe.utils import format_datetime

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
		.select(
			p.name,
			p.flow,
			p.person_doctype,
			p.person,
			p.contact,
			p.full_name,
			p.email,
			p.status,
			p.exit_reason,
			p.current_step,
			p.succeeded,
		)
		.where(condition)
		.orderby(p.enrolled_on, order=frappe.qb.desc)
		.limit(50)
		.run(as_dict=True)
	)
	return [r for r in rows if r.flow in visible]


TIMELINE_EVENTS = 30  # the last events of each participation shown on the page


def _step_labels(flows: set[str]) -> dict[tuple[str, str], str]:
	"""(flow, step_id) -> the step's label, for the steps that have one."""
	if not flows:
		return {}
	rows = frappe.get_all(
		"Marketing Flow Step",
		filters={"parenttype": "Marketing Flow", "parent": ("in", list(flows)), "label": ("is", "set")},
		fields=["parent", "step_id", "label"],
	)
	return {(r.parent, r.step_id): r.label for r in rows}


def _timelines(names: list[str], labels: dict[tuple[str, str], str]) -> dict[str, list[dict]]:
	"""participant -> its last events, oldest first (the log's participant index); steps by
	their labels."""
	if not names:
		return {}
	rows = frappe.get_all(
		"Marketing Flow Log",
		filters={"participant": ("in", names)},
		fields=["participant", "flow", "creation", "step_id", "event", "message"],
		order_by="creation desc, name desc",
		limit_page_length=TIMELINE_EVENTS * len(names),
	)
	out: dict[str, list[dict]] = {}
	for r in rows:
		events = out.setdefault(r.participant, [])
		if len(events) < TIMELINE_EVENTS:
			events.append(
				{
					"when": format_datetime(r.creation),
					"step": labels.get((r.flow, r.step_id)) or r.step_id or "",
					"event": _(r.event),
					"message": r.message or "",
				}
			)
	return {name: events[::-1] for name, events in out.items()}


def _shown(rows: list[frappe._dict]) -> list[dict]:
	"""What the page shows of each participation, translated here."""
	labels = _step_labels({r.flow for r in rows})
	timelines = _timelines([r.name for r in rows], labels)
	shown = []
	for r in rows:
		status = _(r.status)
		if r.exit_reason:
			status = f"{status} ({_(r.exit_reason)})"
		step = labels.get((r.flow, r.current_step)) or r.current_step or ""
		shown.append(
			{
				**r,
				"who": r.full_name or r.email or r.person or r.contact,
				"status_label": status,
				"step": step,
				"events": timelines.get(r.name, []),
			}
		)
	return shown


@frappe.whitelist()
def record_context(doctype: str, name: str) -> dict:
	"""The record's people's participations (status, current step, the last events of each),
	and the running manual flows a Flow Administrator may add them to. Users who see nothing
	of Marketing Flows get a PermissionError (the form script then shows nothing)."""
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
		"participations": _shown(participations),
		"flows": flows,
		"can_enrol": can_enrol,
		"labels": {
			"flows": _("Flows ({0})").format(len(participations)),
			"add_to_flow": _("Add to flow"),
			"choose": whom,
			"flow": _("Flow"),
			"person": _("Person"),
			"status": _("Status"),
			"step": _("Current Step"),
			"succeeded": _("Succeeded"),
			"yes": _("Yes"),
			"timeline": _("Timeline"),
			"no_events": _("No events yet."),
			"not_enrolled": _("Not enrolled:"),
		},
	}


def _title(doctype: str, name: str) -> str:
	field = frappe.get_meta(doctype).get_title_field()
	return (field != "name" and frappe.db.get_value(doctype, name, field)) or name


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
			"asked": 0,
			"message": _("This record names no {0}: {1} enrols {0}.").format(
				_(doc.person_doctype), doc.flow_name
			),
			"not_enrolled": [],
		}
	result = enrolment.enroll_manually(doc, people)
	enrolled = result.get("enrolled", 0)
	# who did not get in and why, by the names the rep knows them by
	not_enrolled = [
		f"{_title(doc.person_doctype, person)}: {why}"
		for person, why in sorted((result.get("not_enrolled") or {}).items())
	]
	if result.get("held_out"):  # the flow's control group: recorded, sent nothing
		not_enrolled.append(_("{0} held out (control group)").format(result["held_out"]))
	return {
		"enrolled": enrolled,
		"asked": len(people),
		"message": _("{0} of {1} enrolled in {2}").format(enrolled, len(people), doc.flow_name),
		"not_enrolled": not_enrolled,
	}
