"""Reading and writing the records of a person doctype under the engine's names (email_id,
mobile_no, full_name, unsubscribed): rows, lookup by email, new people, unsubscribes,
conversions of leads."""

from __future__ import annotations

import frappe
from frappe.contacts.doctype.contact.contact import get_contact_name

from marketing_flows.engine.hosts.doctype_roles import person_type


def own_fields(doctype: str) -> dict[str, str | None]:
	"""The engine's name of each person column -> the doctype's own field for it."""
	kind = person_type(doctype)
	return {
		"email_id": kind.email,
		"mobile_no": kind.mobile,
		"full_name": kind.full_name,
		"unsubscribed": kind.unsubscribed,
	}


def person_fields(doctype: str = "Contact") -> list[str]:
	"""Columns of the person that enrolment copies onto the participant, under the engine's
	names (email_id, mobile_no, full_name, unsubscribed) whatever the doctype calls them."""
	meta = frappe.get_meta(doctype)
	columns = ["name"]
	for canonical, own in own_fields(doctype).items():
		if own and meta.has_field(own):
			columns.append(own if own == canonical else f"{own} as {canonical}")
	return columns


def person_rows(doctype: str, names: list[str], fields: list[str] | None = None) -> dict[str, dict]:
	"""name -> row of the person doctype (all columns unless `fields`), with the engine's names
	(email_id, mobile_no, full_name, unsubscribed) filled from the doctype's own fields."""
	if not names:
		return {}
	rows = frappe.get_all(doctype, filters={"name": ("in", names)}, fields=fields or ["*"])
	own = own_fields(doctype)
	for row in rows:
		for canonical, field in own.items():
			if field and field != canonical and field in row:
				row[canonical] = row[field]
	return {r.name: r for r in rows}


def person_by_email(doctype: str, email: str) -> str | None:
	"""The person of `doctype` with this email (a Contact's any email; a lead's own field)."""
	if doctype == "Contact":
		return get_contact_name(email) or None
	field = person_type(doctype).email
	return frappe.db.get_value(doctype, {field: email}, "name", order_by="creation asc") or None


def new_person(doctype: str, email: str, first: str | None, last: str | None) -> str:
	"""A person of `doctype` for someone who only left an email (web form, email group)."""
	doc = frappe.new_doc(doctype)
	first = first or email.split("@")[0]
	if doctype == "Contact":
		doc.first_name, doc.last_name = first, last
		doc.append("email_ids", {"email_id": email, "is_primary": 1})
	else:
		kind = person_type(doctype)
		meta = frappe.get_meta(doctype)
		doc.set(kind.email, email)
		for field, value in (("first_name", first), ("last_name", last)):
			if meta.has_field(field):
				doc.set(field, value)
		if meta.has_field("lead_name") and not meta.has_field("first_name"):
			doc.lead_name = " ".join(p for p in (first, last) if p)
	doc.insert(ignore_permissions=True)
	return doc.name


def mark_unsubscribed(doctype: str, name: str | None, email: str | None) -> None:
	"""The person unsubscribed from marketing: their own `unsubscribed` flag where the doctype
	has one; else (Frappe CRM's lead) an Email Unsubscribe of that record only, which is not
	global, so mail about other things still reaches the address."""
	if not name:
		return
	field = person_type(doctype).unsubscribed
	if field and frappe.get_meta(doctype).has_field(field):
		frappe.db.set_value(doctype, name, field, 1)
		return
	if not email or frappe.db.exists(
		"Email Unsubscribe", {"reference_doctype": doctype, "reference_name": name, "email": email}
	):
		return
	frappe.get_doc(
		{
			"doctype": "Email Unsubscribe",
			"email": email,
			"reference_doctype": doctype,
			"reference_name": name,
			"global_unsubscribe": 0,
		}
	).insert(ignore_permissions=True)


def unsubscribed_by_record(doctype: str, names: list[str]) -> set[str]:
	"""People of a doctype without an `unsubscribed` flag that unsubscribed through a flow (an
	Email Unsubscribe of their record)."""
	field = person_type(doctype).unsubscribed
	if not names or (field and frappe.get_meta(doctype).has_field(field)):
		return set()
	return set(
		frappe.get_all(
			"Email Unsubscribe",
			filters={"reference_doctype": doctype, "reference_name": ("in", names)},
			pluck="reference_name",
		)
	)


def is_converted(doctype: str, row: dict) -> bool:
	"""Has this lead (a row with its `converted` field) converted?"""
	rule = person_type(doctype).converted
	return rule is not None and str(row.get(rule[0])) == str(rule[1])


def converted_contacts(doctype: str, leads: list[str]) -> dict[str, str]:
	"""lead -> the Contact it became, for those of `leads` that converted: Frappe CRM's deal
	made from the lead names it in its contacts; an ERPNext lead's contact links to the lead;
	else the Contact with the lead's email."""
	kind = person_type(doctype)
	if not kind.converted or not leads:
		return {}
	field, value = kind.converted
	rows = frappe.get_all(
		doctype, filters={"name": ("in", leads), field: value}, fields=["name", f"{kind.email} as email"]
	)
	found: dict[str, str] = {}
	converted = [r.name for r in rows]
	if not converted:
		return found
	if frappe.db.exists("DocType", "CRM Contacts") and doctype == "CRM Lead":
		deal = frappe.qb.DocType("CRM Deal")
		row = frappe.qb.DocType("CRM Contacts")
		for lead, contact in (
			frappe.qb.from_(deal)
			.join(row)
			.on((row.parent == deal.name) & (row.parenttype == "CRM Deal"))
			.select(deal.lead, row.contact)
			.where(deal.lead.isin(converted))
			.orderby(row.is_primary, order=frappe.qb.desc)
			.orderby(deal.creation)
			.run()
		):
			if contact:
				found.setdefault(lead, contact)
	link = frappe.qb.DocType("Dynamic Link")
	for contact, lead in (
		frappe.qb.from_(link)
		.select(link.parent, link.link_name)
		.where(
			(link.parenttype == "Contact")
			& (link.link_doctype == doctype)
			& link.link_name.isin([n for n in converted if n not in found])
		)
		.run()
		if len(found) < len(converted)
		else []
	):
		found.setdefault(lead, contact)
	for r in rows:
		if r.name not in found and r.email and (contact := person_by_email("Contact", r.email)):
			found[r.name] = contact
	return found
