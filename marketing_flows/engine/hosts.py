"""The one place that knows which doctypes of Frappe, ERPNext, Frappe CRM and Helpdesk play
Person, Company, Deal, Issue, Appointment and Activity. Everything else asks here."""

from __future__ import annotations

from typing import Any, NamedTuple

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


def person_doctype() -> str:
	"""The doctype whose records are the flows' people (Contact unless configured otherwise)."""
	return doctype_for("person") or "Contact"


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


# --- how any document points at a person or a company ---------------------------------------

EMAIL_FIELDS = ("email_id", "email", "contact_email", "raised_by", "email_address", "customer_email")


class LinkPath(NamedTuple):
	"""A field that names a person, an email or a company, on the document or on a child row."""

	child: str | None  # child doctype, None for a field of the document itself
	table_field: str | None  # the document's table field holding those rows
	field: str
	type_field: str | None  # for a Dynamic Link: the field holding the linked doctype


def link_paths(doctype: str) -> dict[str, list[LinkPath]]:
	"""Where documents of `doctype` name a person, an email or a company, read from the meta
	(no query once the meta is cached)."""
	person = person_doctype()
	company = doctype_for("company")
	paths: dict[str, list[LinkPath]] = {"person": [], "email": [], "company": []}

	def scan(meta: Any, child: str | None, table_field: str | None) -> None:
		for df in meta.fields:
			here = (child, table_field, df.fieldname)
			if df.fieldtype == "Link" and df.options == person:
				paths["person"].append(LinkPath(*here, None))
			elif df.fieldtype == "Link" and company and df.options == company:
				paths["company"].append(LinkPath(*here, None))
			elif df.fieldtype == "Dynamic Link":
				paths["person"].append(LinkPath(*here, df.options))
				if company:
					paths["company"].append(LinkPath(*here, df.options))
			elif df.fieldtype == "Data" and (df.options == "Email" or df.fieldname in EMAIL_FIELDS):
				paths["email"].append(LinkPath(*here, None))
			elif df.fieldtype in ("Table", "Table MultiSelect") and child is None:
				scan(frappe.get_meta(df.options), df.options, df.fieldname)

	scan(frappe.get_meta(doctype), None, None)
	return paths


def refs_of(doc: Any) -> dict[str, set[str]]:
	"""The people, emails and companies an in-memory document names (no query): whom a change
	of this document can make successful."""
	person = person_doctype()
	company = doctype_for("company")
	found: dict[str, set[str]] = {"person": set(), "email": set(), "company": set()}
	if doc.doctype == person:
		found["person"].add(doc.name)
		if doc.get("email_id"):
			found["email"].add(doc.email_id.lower())
	for kind, paths in link_paths(doc.doctype).items():
		target = person if kind == "person" else company
		for path in paths:
			rows = doc.get(path.table_field) if path.table_field else [doc]
			for row in rows or []:
				value = row.get(path.field)
				if not value or (path.type_field and row.get(path.type_field) != target):
					continue
				found[kind].add(value.lower() if kind == "email" else value)
	return found


# --- records a flow creates for a person (Create Request, Create Sale) ----------------------

TITLE_FIELDS = ("subject", "title", "opportunity_title")
TYPE_FIELDS = ("issue_type", "ticket_type", "opportunity_type", "deal_type")
PRIORITY_FIELDS = ("priority",)
OWNER_FIELDS = ("opportunity_owner", "deal_owner", "lead_owner")
RECORD_EMAIL_FIELDS = ("raised_by", "contact_email", "email")
ACCOUNT_MANAGER_FIELDS = ("account_manager", "lead_owner", "deal_owner")


def record_values(
	doctype: str,
	person: dict,
	company: str | None,
	title: str,
	kind: str | None = None,
	priority: str | None = None,
	owner: str | None = None,
) -> dict[str, Any]:
	"""Field values for a request or sale of `doctype` made for `person` (a row of the person
	doctype with `name` and `email_id`): only the fields the doctype has, read from its meta, so
	one step works on Issue, HD Ticket, Opportunity and CRM Deal alike."""
	meta = frappe.get_meta(doctype)
	person_dt, company_dt = person_doctype(), doctype_for("company")
	values: dict[str, Any] = {}

	def put(fields: tuple[str, ...], value: Any) -> None:
		for fieldname in fields:
			if value and meta.has_field(fieldname):
				values[fieldname] = value

	put(TITLE_FIELDS, title[:140])
	put(("description",), title)
	put(TYPE_FIELDS, kind)
	put(PRIORITY_FIELDS, priority)
	put(OWNER_FIELDS, owner)
	put(RECORD_EMAIL_FIELDS, person.get("email_id"))
	for df in meta.fields:
		if df.fieldtype == "Link" and df.options == person_dt:
			values[df.fieldname] = person["name"]
		elif df.fieldtype == "Link" and company and df.options == company_dt:
			values[df.fieldname] = company
		elif df.fieldtype == "Dynamic Link" and company and df.options:
			# Opportunity: opportunity_from (a Link to DocType) + party_name
			type_df = meta.get_field(df.options)
			if type_df and type_df.fieldtype in ("Link", "Select") and not values.get(df.fieldname):
				values[df.options] = company_dt
				values[df.fieldname] = company
	return values


def account_manager(person: dict, company: str | None) -> str | None:
	"""The user who looks after this person where the host has one: the company's account
	manager (ERPNext Customer), else the person's own."""
	company_dt = doctype_for("company")
	if company and company_dt:
		meta = frappe.get_meta(company_dt)
		for fieldname in ACCOUNT_MANAGER_FIELDS:
			if meta.has_field(fieldname) and (user := frappe.db.get_value(company_dt, company, fieldname)):
				return user
	meta = frappe.get_meta(person_doctype())
	for fieldname in ACCOUNT_MANAGER_FIELDS:
		if meta.has_field(fieldname) and (user := person.get(fieldname)):
			return user
	return None
