"""The one place that knows which doctypes of Frappe, ERPNext, Frappe CRM and Helpdesk play
Person, Company, Deal, Issue, Appointment and Activity. Everything else asks here."""

from __future__ import annotations

from typing import Any, NamedTuple

import frappe
from frappe.contacts.doctype.contact.contact import get_contact_name

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
	converted: tuple[str, Any] | None
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


def person_doctype(flow: Any = None) -> str:
	"""The doctype whose records are `flow`'s people (its `person_doctype`); without a flow, the
	site's default for new flows (Contact unless configured otherwise)."""
	if flow is not None and flow.get("person_doctype"):
		return flow.person_doctype
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
	return bool(rule) and str(row.get(rule[0])) == str(rule[1])


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

	def scan(meta: Any, child: str | None, table_field: str | None) -> None:
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


def refs_of(doc: Any) -> dict[str, set[str]]:
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
	person_dt: str = "Contact",
) -> dict[str, Any]:
	"""Field values for a request or sale of `doctype` made for `person` (a row of the person
	doctype with `name` and `email_id`): only the fields the doctype has, read from its meta, so
	one step works on Issue, HD Ticket, Opportunity and CRM Deal alike."""
	meta = frappe.get_meta(doctype)
	company_dt = doctype_for("company")
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
				row = {link.fieldname: person["name"]}
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


def account_manager(person: dict, company: str | None, person_dt: str = "Contact") -> str | None:
	"""The user who looks after this person where the host has one: the company's account
	manager (ERPNext Customer), else the person's own."""
	company_dt = doctype_for("company")
	if company and company_dt:
		meta = frappe.get_meta(company_dt)
		for fieldname in ACCOUNT_MANAGER_FIELDS:
			if meta.has_field(fieldname) and (user := frappe.db.get_value(company_dt, company, fieldname)):
				return user
	meta = frappe.get_meta(person_dt)
	for fieldname in ACCOUNT_MANAGER_FIELDS:
		if meta.has_field(fieldname) and (user := person.get(fieldname)):
			return user
	return None
