"""The one place that knows which doctypes of Frappe, ERPNext, Frappe CRM and Helpdesk play
Person, Company, Deal, Issue, Appointment and Activity. Everything else asks here."""

from __future__ import annotations

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


def person_fields() -> list[str]:
	"""Columns of the person that enrolment copies onto the participant."""
	return ["name", "email_id", "mobile_no", "full_name", "unsubscribed"]


def companies_of(contacts: list[str]) -> dict[str, str]:
	"""contact -> company (of the mapped company doctype), from the Contact's links or, as Frappe
	CRM does it, from its `company_name`."""
	company_dt = doctype_for("company")
	if not company_dt or not contacts:
		return {}
	link = frappe.qb.DocType("Dynamic Link")
	rows = (
		frappe.qb.from_(link)
		.select(link.parent, link.link_name)
		.where(
			(link.parenttype == "Contact")
			& (link.link_doctype == company_dt)
			& link.parent.isin(contacts)
		)
		.orderby(link.idx)
		.run()
	)
	found: dict[str, str] = {}
	for parent, name in rows:
		found.setdefault(parent, name)
	missing = [c for c in contacts if c not in found]
	if missing:
		contact = frappe.qb.DocType("Contact")
		company = frappe.qb.DocType(company_dt)
		for parent, name in (
			frappe.qb.from_(contact)
			.join(company)
			.on(company.name == contact.company_name)
			.select(contact.name, company.name)
			.where(contact.name.isin(missing))
			.run()
		):
			found[parent] = name
	return found
