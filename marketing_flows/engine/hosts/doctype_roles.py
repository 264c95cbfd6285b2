"""Which doctype plays each role (Person, Company, Deal, Issue, Appointment, Activity) on this
site, and how each known person doctype (Contact, ERPNext's Lead, Frappe CRM's lead) names its
fields. The one place that knows the host apps' doctypes; the other hosts modules build on it.
Outside hosts/, the engine names only Frappe's own Contact (the default person), ToDo and Event
(Create Activity's fallback and its appointments)."""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

import frappe

# Role -> candidate doctypes, best first. A dedicated app (CRM, Helpdesk) wins over ERPNext's
# generic doctype because that is where its users do their work.
CANDIDATES: dict[str, tuple[str, ...]] = {
	"person": ("Contact",),
	"company": ("CRM Organization", "Customer"),
	"deal": ("CRM Deal", "Opportunity"),
	"issue": ("HD Ticket", "Issue"),
	"appointment": ("Event",),
	"activity": ("CRM Task", "ToDo"),
}


SETTINGS = "Marketing Flow Settings"


class PersonType(NamedTuple):
	"""How one doctype plays the person: which of its fields hold what the engine needs.
	`company` is the person's own field naming the company (None: the Contact's links);
	`converted` is (field, value) when the person is a lead that converts; `conversions` are the
	(doctype, field) pairs whose new document marks the conversion and names the lead."""

	doctype: str
	email: str
	mobile: str
	full_name: str
	company: str | None
	unsubscribed: str | None
	converted: tuple[str, str | int] | None
	conversions: tuple[tuple[str, str], ...]


PERSON_TYPES: dict[str, PersonType] = {
	"Contact": PersonType("Contact", "email_id", "mobile_no", "full_name", None, "unsubscribed", None, ()),
	# ERPNext: a Customer made from the lead sets its status to Converted (a db.set_value)
	"Lead": PersonType(
		"Lead",
		"email_id",
		"mobile_no",
		"lead_name",
		"company_name",
		"unsubscribed",
		("status", "Converted"),
		(("Customer", "lead_name"),),
	),
	# Frappe CRM: convert_to_deal saves the lead with converted = 1 and makes a CRM Deal
	"CRM Lead": PersonType(
		"CRM Lead",
		"email",
		"mobile_no",
		"lead_name",
		"organization",
		None,
		("converted", 1),
		(("CRM Deal", "lead"),),
	),
}


def detect() -> dict[str, str | None]:
	"""The best installed doctype for each role (None when no candidate is installed)."""
	found: dict[str, str | None] = {}
	for role, candidates in CANDIDATES.items():
		found[role] = next((dt for dt in candidates if frappe.db.exists("DocType", dt)), None)
	return found


def detect_and_save(only_empty: bool = False) -> dict[str, str | None]:
	"""Store detected defaults in Marketing Flow Settings; keep an admin's choices when `only_empty`."""
	settings = frappe.get_single(SETTINGS)
	detected = detect()
	for role, doctype in detected.items():
		field = f"{role}_doctype"
		current = settings.get(field)
		if only_empty and current and frappe.db.exists("DocType", current):
			continue
		settings.set(field, doctype)
	settings.flags.ignore_permissions = True
	settings.flags.ignore_mandatory = True
	settings.save()
	return detected


def doctype_for(role: str) -> str | None:
	"""The doctype configured for `role` ("person", "company", "deal", "issue", ...)."""
	if role not in CANDIDATES:
		raise ValueError(f"Unknown role {role!r}")
	return frappe.db.get_single_value(SETTINGS, f"{role}_doctype", cache=True) or None


def role_doctype_problem(role: str, doctype: str) -> str | None:
	"""Why `doctype` can't play `role` (None when it can). A flow reads and updates what plays
	these roles, so only the role's known candidates qualify, or a regular doctype (not a
	table, single or virtual one) made in the desk or by an app other than Frappe itself and
	this one: never User, Role, DocType or another of Frappe's own doctypes."""
	from frappe import _

	if doctype in CANDIDATES.get(role, ()) or (role == "person" and doctype in PERSON_TYPES):
		return None
	if not frappe.db.exists("DocType", doctype):
		return _("DocType {0} does not exist.").format(doctype)
	meta = frappe.get_meta(doctype)
	app = frappe.db.get_value("Module Def", meta.module, "app_name")
	if (
		meta.istable
		or meta.issingle
		or meta.get("is_virtual")
		or (not meta.custom and app in ("frappe", "marketing_flows"))
	):
		return _("{0} can't play the {1} in flows: choose one of {2}, or a doctype of your own.").format(
			_(doctype), _(role), ", ".join(_(dt) for dt in CANDIDATES.get(role, ()))
		)
	return None


class HasFields(Protocol):
	"""A document or a frappe._dict row, read by field name."""

	def get(self, key: str, /) -> Any: ...  # Any: a field's value is of whatever type its field has


def person_doctype(record: HasFields | None = None) -> str:
	"""The doctype whose records are the people of `record` (a flow, a segment or a row of one
	that may lack the field: its `person_doctype`); without one, the site's default for new
	flows (Contact unless configured otherwise). Where a saved flow is at hand, read its
	`person_doctype` (mandatory) instead."""
	if record is not None and record.get("person_doctype"):
		return record.get("person_doctype")
	return doctype_for("person") or "Contact"


def person_doctypes() -> list[str]:
	"""The doctypes a flow may choose as its people on this site: Contact (or the configured
	person doctype) and the leads of the installed hosts."""
	found = [person_doctype()]
	found += [dt for dt in PERSON_TYPES if dt not in found and frappe.db.exists("DocType", dt)]
	return found


def person_type(doctype: str) -> PersonType:
	"""How `doctype` plays the person; a configured doctype that is not a known one is read
	like a Contact."""
	return PERSON_TYPES.get(doctype) or PERSON_TYPES["Contact"]._replace(doctype=doctype)


def is_lead(doctype: str) -> bool:
	return person_type(doctype).converted is not None
