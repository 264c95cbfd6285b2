"""A person's company (by the Contact's links or the person's own field) and who looks after it."""

from __future__ import annotations

import frappe

from marketing_flows.engine.hosts import owners
from marketing_flows.engine.hosts.doctype_roles import doctype_for, person_type


def companies_of(people: list[str], doctype: str = "Contact") -> dict[str, str]:
	"""person -> company (of the mapped company doctype). A Contact's from its links or, as
	Frappe CRM does it, from its `company_name`; a lead's from its own company field when that
	names a record of the company doctype."""
	company_dt = doctype_for("company")
	if not company_dt or not people:
		return {}
	own = person_type(doctype).company
	if own:
		if not frappe.get_meta(doctype).has_field(own):
			return {}
		rows = frappe.get_all(doctype, filters={"name": ("in", people)}, fields=["name", own], as_list=True)
		values = {name: value for name, value in rows if value}
		existing = set(
			frappe.get_all(company_dt, filters={"name": ("in", list(set(values.values())))}, pluck="name")
			if values
			else []
		)
		return {name: value for name, value in values.items() if value in existing}
	contacts = people
	link = frappe.qb.DocType("Dynamic Link")
	rows = (
		frappe.qb.from_(link)
		.select(link.parent, link.link_name)
		.where(
			(link.parenttype == "Contact") & (link.link_doctype == company_dt) & link.parent.isin(contacts)
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


def account_manager(person: dict, company: str | None, person_dt: str = "Contact") -> str | None:
	"""The user who looks after this person where the host has one: the company's account
	manager (ERPNext Customer) or owner, else the person's own (owners.py knows which field)."""
	return owners.account_manager(person_dt, person, doctype_for("company"), company)
