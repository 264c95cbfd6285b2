"""How any document points at a person, an email or a company (read from its meta), and the
field values of a record a flow creates for a person (Create Request, Create Sale): which field
of each host's doctype takes a request's status and category, a sale's stage, amount and
expected closing date, and whether a value is one the field accepts."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import frappe
from frappe import _

from marketing_flows.engine.hosts import owners
from marketing_flows.engine.hosts.doctype_roles import (
	PERSON_TYPES,
	doctype_for,
	is_lead,
	person_doctype,
	person_type,
)

if TYPE_CHECKING:
	from frappe.model.document import Document
	from frappe.model.meta import Meta

# --- how any document points at a person or a company ---------------------------------------

EMAIL_FIELDS = ("email_id", "email", "contact_email", "raised_by", "email_address", "customer_email")


class LinkPath(NamedTuple):
	"""A field that names a person, an email or a company, on the document or on a child row."""

	child: str | None  # child doctype, None for a field of the document itself
	table_field: str | None  # the document's table field holding those rows
	field: str
	type_field: str | None  # for a Dynamic Link: the field holding the linked doctype
	target: str | None = None  # for a Link: the doctype it links to


def _person_doctypes_known() -> set[str]:
	return {person_doctype(), *PERSON_TYPES}


def link_paths(doctype: str) -> dict[str, list[LinkPath]]:
	"""Where documents of `doctype` name a person (a Contact or a lead), an email or a company,
	read from the meta (no query once the meta is cached)."""
	people = _person_doctypes_known()
	company = doctype_for("company")
	paths: dict[str, list[LinkPath]] = {"person": [], "email": [], "company": []}

	def scan(meta: Meta, child: str | None, table_field: str | None) -> None:
		for df in meta.fields:
			here = (child, table_field, df.fieldname)
			if df.fieldtype == "Link" and df.options in people:
				paths["person"].append(LinkPath(*here, None, df.options))
			elif df.fieldtype == "Link" and company and df.options == company:
				paths["company"].append(LinkPath(*here, None, df.options))
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


def person_paths(doctype: str, person: str) -> list[LinkPath]:
	"""The fields of `doctype` that can name a record of the person doctype `person`."""
	return [p for p in link_paths(doctype)["person"] if p.target in (None, person)]


def refs_of(doc: Document) -> dict[str, set[str]]:
	"""The people (Contacts and leads), emails and companies an in-memory document names (no
	query): whom a change of this document can make successful, or convert."""
	people = _person_doctypes_known()
	company = doctype_for("company")
	found: dict[str, set[str]] = {"person": set(), "email": set(), "company": set()}
	if doc.doctype in people:
		found["person"].add(doc.name)
		email = doc.get(person_type(doc.doctype).email)
		if email:
			found["email"].add(email.lower())
	for kind, paths in link_paths(doc.doctype).items():
		for path in paths:
			rows = doc.get(path.table_field) if path.table_field else [doc]
			for row in rows or []:
				value = row.get(path.field)
				if not value:
					continue
				if path.type_field:
					linked = row.get(path.type_field)
					if (kind == "person" and linked not in people) or (
						kind == "company" and linked != company
					):
						continue
				found[kind].add(value.lower() if kind == "email" else value)
	return found


# --- records a flow creates for a person (Create Request, Create Sale) ----------------------

TITLE_FIELDS = ("subject", "title", "opportunity_title")
TYPE_FIELDS = ("issue_type", "ticket_type", "opportunity_type", "deal_type")
PRIORITY_FIELDS = ("priority",)
RECORD_EMAIL_FIELDS = ("raised_by", "contact_email", "email")

# A value of a new record: a Data / Link / Select value, or the rows of a table field.
FieldValue = str | int | list[dict[str, str | int]] | None


def record_values(
	doctype: str,
	person: dict,
	company: str | None,
	title: str,
	kind: str | None = None,
	priority: str | None = None,
	owner: str | None = None,
	person_dt: str = "Contact",
) -> dict[str, FieldValue]:
	"""Field values for a request or sale of `doctype` made for `person` (a row of the person
	doctype with `name` and `email_id`): only the fields the doctype has, read from its meta, so
	one step works on Issue, HD Ticket, Opportunity and CRM Deal alike."""
	meta = frappe.get_meta(doctype)
	company_dt = doctype_for("company")
	values: dict[str, FieldValue] = {}

	def put(fields: tuple[str, ...], value: str | None) -> None:
		for fieldname in fields:
			if value and meta.has_field(fieldname):
				values[fieldname] = value

	put(TITLE_FIELDS, title[:140])
	put(("description",), title)
	put(TYPE_FIELDS, kind)
	put(PRIORITY_FIELDS, priority)
	if owner and (owner_field := owners.owner_field(doctype)):
		values[owner_field] = owner
	put(RECORD_EMAIL_FIELDS, person.get("email_id"))
	for df in meta.fields:
		if df.fieldtype == "Link" and df.options == person_dt:
			values[df.fieldname] = person["name"]
		elif df.fieldtype == "Link" and company and df.options == company_dt:
			values[df.fieldname] = company
		elif df.fieldtype == "Link" and df.options == "Company" and df.reqd:
			# ERPNext: the user's or the site's default company, as a new form would fill it
			values[df.fieldname] = frappe.defaults.get_user_default("Company") or frappe.db.get_value(
				"Company", {}, "name", order_by="creation"
			)
		elif df.fieldtype == "Table" and df.options:
			# Frappe CRM's deal names its people in rows of its contacts table
			child = frappe.get_meta(df.options)
			link = next((f for f in child.fields if f.fieldtype == "Link" and f.options == person_dt), None)
			if link:
				row: dict[str, str | int] = {link.fieldname: person["name"]}
				if child.has_field("is_primary"):
					row["is_primary"] = 1
				values[df.fieldname] = [row]
		elif df.fieldtype == "Dynamic Link" and df.options and not values.get(df.fieldname):
			# Opportunity: opportunity_from (a Link to DocType) + party_name: the company, or
			# the lead itself when the person is a lead (an Opportunity from a Lead)
			type_df = meta.get_field(df.options)
			if not type_df or type_df.fieldtype not in ("Link", "Select"):
				continue
			if company:
				values[df.options] = company_dt
				values[df.fieldname] = company
			elif is_lead(person_dt) and df.fieldname == "party_name":
				values[df.options] = person_dt
				values[df.fieldname] = person["name"]
	return values


# --- a request's status and category, a sale's stage, amount and expected closing ------------

# Per value, the fields that may take it, best first: the first one the doctype has is used.
# Issue: status, issue_type; HD Ticket: status, ticket_type (or its category); Opportunity:
# sales_stage, opportunity_amount, expected_closing; Frappe CRM's deal: status (its stages are
# CRM Deal Statuses), deal_value (annual_revenue, "Amount", before CRM 1.30), expected_closure_date
# (close_date before).
DETAIL_FIELDS: dict[str, tuple[str, ...]] = {
	"status": ("status",),
	"category": ("category", "issue_type", "ticket_type"),
	"stage": ("sales_stage", "deal_stage", "status"),
	"amount": ("opportunity_amount", "deal_value", "expected_deal_value", "annual_revenue", "amount"),
	"closing": ("expected_closing", "expected_closure_date", "close_date", "closing_date"),
}
DETAIL_LABELS = {
	"status": "Status",
	"category": "Category",
	"stage": "Stage",
	"amount": "Amount",
	"closing": "Expected Closing",
}


def detail_field(doctype: str, what: str) -> str | None:
	"""The field of `doctype` that takes a request's or sale's `what` (a key of DETAIL_FIELDS)."""
	meta = frappe.get_meta(doctype)
	return next((f for f in DETAIL_FIELDS[what] if meta.has_field(f)), None)


def detail_values(
	doctype: str, details: dict[str, FieldValue], record: dict[str, FieldValue] | None = None
) -> dict[str, FieldValue]:
	"""fieldname -> value for the details given (None / "" left out) that the doctype has a field
	for. An amount comes with its currency where the doctype has one and `record` (the other
	values) names none: the record's company's (ERPNext), else the site's default currency."""
	values: dict[str, FieldValue] = {}
	for what, value in details.items():
		if value in (None, ""):
			continue
		if field := detail_field(doctype, what):
			values[field] = value
	record = record or {}
	if (
		details.get("amount")
		and frappe.get_meta(doctype).has_field("currency")
		and not record.get("currency")
	):
		company = record.get("company")
		currency = (
			frappe.db.get_value("Company", company, "default_currency")
			if company and frappe.db.exists("DocType", "Company")
			else None
		) or frappe.db.get_default("currency")
		if currency:
			values["currency"] = currency
	return values


ALLOWED_SHOWN = 20  # allowed values named in a message, at most


def detail_problems(doctype: str, details: dict[str, FieldValue]) -> list[str]:
	"""Why the details can't be set on a new `doctype` record: a detail it has no field for, a
	value that is not one of a Select's options or not a record of a Link's doctype (naming the
	values it accepts). Empty: all fine."""
	meta = frappe.get_meta(doctype)
	problems = []
	for what, value in details.items():
		if value in (None, ""):
			continue
		label = _(DETAIL_LABELS[what])
		field = detail_field(doctype, what)
		if not field:
			problems.append(_("{0} has no field for the {1}.").format(_(doctype), label))
			continue
		df = meta.get_field(field)
		allowed: list[str] | None = None
		if df.fieldtype == "Select":
			allowed = [o for o in (df.options or "").split("\n") if o]
		elif df.fieldtype == "Link" and df.options:
			if frappe.db.exists(df.options, value):
				continue
			allowed = frappe.get_all(df.options, pluck="name", order_by="name asc", limit=ALLOWED_SHOWN + 1)
		if allowed is None or value in allowed:
			continue
		shown = ", ".join(str(a) for a in allowed[:ALLOWED_SHOWN]) + (
			", ..." if len(allowed) > ALLOWED_SHOWN else ""
		)
		problems.append(
			_("'{0}' is not a {1} of {2} ({3}): choose one of {4}.").format(
				value, label, _(doctype), _(df.label or field), shown or _("(none set up)")
			)
		)
	return problems
