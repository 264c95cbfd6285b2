"""Which documents carry revenue on this site, and whose revenue a document is: ERPNext's
submitted Sales Invoice or Sales Order (Settings: `erpnext_revenue_doctype`) of a Customer,
Frappe CRM's won CRM Deal, and the doctypes an administrator maps in Settings
(`revenue_sources`: any doctype, its amount, date and person or company field, and when it
counts). The one place that knows them: engine/measuring/revenue.py asks here which doctypes to
watch, what a document is worth, when it happened and whom it names; it never names a doctype.

A document names people three ways (`People`): person records (a lead: (doctype, name)),
Contacts, and companies ((doctype, name)); a participant is one of them when its person, its
Contact or its company is named. A company names its Contacts (their Dynamic Links) and the
leads it was converted from (doctype_roles.PERSON_TYPES' conversions, e.g. a Customer's
`lead_name`), so an invoice of a Customer is also the revenue of its people.

Amounts are in the company currency: ERPNext's `base_net_total`; a CRM Deal's value times its
exchange rate where the deal has one (Frappe CRM v1.24 has none: its `annual_revenue`, labelled
Amount, is taken as it is); a mapped doctype's amount as it is."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

import frappe
from frappe import _
from frappe.utils import cstr, flt, get_datetime

from marketing_flows.engine.hosts.doctype_roles import CANDIDATES, PERSON_TYPES, person_doctype

if TYPE_CHECKING:
	from collections.abc import Iterable

	from marketing_flows.engine.hosts.doctype_roles import HasFields

SETTINGS = "Marketing Flow Settings"
CACHE_KEY = "marketing_flows:revenue_sources"
ERPNEXT_DOCTYPES = ("Sales Invoice", "Sales Order")
CRM_DEAL = "CRM Deal"
CRM_CONTACTS = "CRM Contacts"  # the deal's contacts (child table `contacts`)
CRM_STATUS_LOG = "CRM Status Change Log"  # the deal's status changes (child table `status_change_log`)
AMOUNT_TYPES = ("Currency", "Float", "Int")
DATE_TYPES = ("Date", "Datetime")
PERSON_FIELD_TYPES = ("Link", "Dynamic Link")
WON_FIELD_TYPES = ("Select", "Data", "Link", "Check", "Int")


class Source(NamedTuple):
	"""A doctype whose documents carry revenue, and how to read one."""

	doctype: str
	kind: str  # "erpnext", "crm" or "mapped"
	amount_field: str
	date_field: str | None  # None: the document's creation
	time_field: str | None  # with a Date field: the time of day (Sales Invoice's posting_time)
	date_only: bool  # the date has no time of day: the window is compared by dates
	won_field: str | None  # counts only when this field holds one of `won_values`
	won_values: tuple[str, ...]
	submittable: bool  # counts only while submitted
	person_field: str | None  # mapped: the Link / Dynamic Link naming the person or company
	person_target: str | None  # mapped: the doctype of that Link (None for a Dynamic Link)
	person_type_field: str | None  # mapped Dynamic Link: the field naming the linked doctype
	watched: tuple[str, ...]  # fields whose change moves the revenue of a document that counts


@dataclass
class People:
	"""Whom a document names: person records ((doctype, name)), Contacts, companies ((doctype, name))."""

	persons: set[tuple[str, str]] = field(default_factory=set)
	contacts: set[str] = field(default_factory=set)
	companies: set[tuple[str, str]] = field(default_factory=set)

	def add(self, other: People) -> None:
		self.persons |= other.persons
		self.contacts |= other.contacts
		self.companies |= other.companies

	def __bool__(self) -> bool:
		return bool(self.persons or self.contacts or self.companies)


class RevenueDocument(NamedTuple):
	"""A document that counts: its amount in the company currency, when it happened, whom it names."""

	doctype: str
	name: str
	amount: float
	moment: datetime
	date_only: bool
	currency: str | None
	people: People


# --- which doctypes carry revenue (cached: read on every save) ---------------------------------


def sources() -> dict[str, Source]:
	"""doctype -> Source, for every doctype that carries revenue on this site. Cached in Redis and
	the request (every document save asks); forgotten when the Settings change (`forget`) and with
	every cache clear (an app installed, a migration)."""
	found = frappe.cache.get_value(CACHE_KEY)
	if found is None:
		try:
			found = _build()
		except Exception:
			# every save of the site asks: never fail it for this (nothing counts until it works)
			frappe.log_error(title="Marketing Flows: could not read the revenue documents' settings")
			return {}
		frappe.cache.set_value(CACHE_KEY, found)
	return found


def forget() -> None:
	"""The Settings changed: build the map again (now, and once this transaction ends)."""
	frappe.cache.delete_value(CACHE_KEY)
	if getattr(frappe.local, "db", None):
		frappe.db.after_commit.add(_forget)
		frappe.db.after_rollback.add(_forget)


def _forget() -> None:
	frappe.cache.delete_value(CACHE_KEY)


def _build() -> dict[str, Source]:
	found: dict[str, Source] = {}
	if not frappe.db.table_exists("Marketing Flow Revenue Source"):
		return found  # before the app's tables exist (install, restore)
	settings = frappe.get_cached_doc(SETTINGS)
	erpnext_dt = settings.get("erpnext_revenue_doctype") or ERPNEXT_DOCTYPES[0]
	if erpnext_dt in ERPNEXT_DOCTYPES and _exists(erpnext_dt):
		invoice = erpnext_dt == "Sales Invoice"
		found[erpnext_dt] = Source(
			erpnext_dt,
			"erpnext",
			"base_net_total",
			"posting_date" if invoice else "transaction_date",
			"posting_time" if invoice else None,
			not invoice,
			None,
			(),
			True,
			None,
			None,
			None,
			(),
		)
	if _exists(CRM_DEAL):
		found[CRM_DEAL] = _crm_source()
	for row in settings.get("revenue_sources") or []:
		if source_problems(row, taken=found):
			continue  # an invalid row (its doctype changed since it was saved) counts nothing
		found[row.document_type] = _mapped_source(row)
	return found


def _exists(doctype: str) -> bool:
	return bool(frappe.db.exists("DocType", doctype))


def _crm_source() -> Source:
	"""Frappe CRM's deal: won when its status is Won (or, where statuses have a type, of type Won)."""
	meta = frappe.get_meta(CRM_DEAL)
	amount = "deal_value" if meta.has_field("deal_value") else "annual_revenue"
	won: tuple[str, ...] = ("Won",)
	if frappe.get_meta("CRM Deal Status").has_field("type"):
		won = tuple(frappe.get_all("CRM Deal Status", filters={"type": "Won"}, pluck="name")) or won
	watched = (amount, "exchange_rate", "currency", "organization", "lead", "contact", "contacts")
	return Source(
		CRM_DEAL,
		"crm",
		amount,
		None,
		None,
		False,
		"status",
		won,
		False,
		None,
		None,
		None,
		tuple(f for f in watched if meta.has_field(f)),
	)


def _mapped_source(row: HasFields) -> Source:
	meta = frappe.get_meta(row.get("document_type"))
	date_df = meta.get_field(row.get("date_field")) if row.get("date_field") else None
	person_df = meta.get_field(row.get("person_field"))
	dynamic = person_df.fieldtype == "Dynamic Link"
	won_field = row.get("won_field") or None
	fields = (
		row.get("amount_field"),
		row.get("date_field"),
		row.get("person_field"),
		person_df.options if dynamic else None,
		won_field,
	)
	return Source(
		row.get("document_type"),
		"mapped",
		row.get("amount_field"),
		date_df.fieldname if date_df else None,
		None,
		bool(date_df and date_df.fieldtype == "Date"),
		won_field,
		(cstr(row.get("won_value")),) if won_field else (),
		bool(meta.is_submittable),
		person_df.fieldname,
		None if dynamic else person_df.options,
		person_df.options if dynamic else None,
		tuple(f for f in fields if f),
	)


# --- Settings rows --------------------------------------------------------------------------


def person_link_targets() -> set[str]:
	"""The doctypes a mapped document may link to: the person doctypes and the company doctypes."""
	return {person_doctype(), *PERSON_TYPES, *CANDIDATES["company"], *_configured_company()}


def _configured_company() -> list[str]:
	company = frappe.db.get_single_value(SETTINGS, "company_doctype")
	return [company] if company else []


def built_in(erpnext_doctype: str | None) -> set[str]:
	"""The doctypes that count without a Settings row: ERPNext's chosen one, Frappe CRM's deal."""
	return {dt for dt in (erpnext_doctype or ERPNEXT_DOCTYPES[0], CRM_DEAL) if _exists(dt)}


def source_problems(row: HasFields, taken: Iterable[str] = ()) -> list[str]:
	"""Why a Settings row (Marketing Flow Revenue Source) can't carry revenue: a missing or unfit
	doctype or field, or a doctype counted already (`taken`). Empty when it can."""
	doctype = row.get("document_type")
	if not doctype or not _exists(doctype):
		return [_("DocType {0} does not exist.").format(doctype or "")]
	if doctype in taken:
		return [_("{0} counts already: map each doctype once.").format(_(doctype))]
	meta = frappe.get_meta(doctype)
	if meta.istable or meta.issingle or meta.get("is_virtual"):
		return [
			_("{0} is a child table, single or virtual doctype: its records can't carry revenue.").format(
				_(doctype)
			)
		]
	app = frappe.db.get_value("Module Def", meta.module, "app_name")
	if not meta.custom and app in ("frappe", "marketing_flows"):
		return [
			_("{0} is one of Frappe's own doctypes: choose one whose records are sales.").format(_(doctype))
		]
	problems = []

	def check(fieldname: str | None, label: str, types: tuple[str, ...], required: bool = True) -> Any:
		if not fieldname:
			if required:
				problems.append(_("{0}: choose a field.").format(label))
			return None
		df = meta.get_field(fieldname)
		if not df:
			problems.append(_("{0}: {1} has no field {2}.").format(label, _(doctype), fieldname))
			return None
		if df.fieldtype not in types:
			problems.append(
				_("{0}: {1} is a {2} field; it must be one of {3}.").format(
					label, fieldname, df.fieldtype, ", ".join(types)
				)
			)
			return None
		return df

	check(row.get("amount_field"), _("Amount Field"), AMOUNT_TYPES)
	check(row.get("date_field"), _("Date Field"), DATE_TYPES, required=False)
	person_df = check(row.get("person_field"), _("Person or Company Field"), PERSON_FIELD_TYPES)
	if person_df and person_df.fieldtype == "Link" and person_df.options not in person_link_targets():
		problems.append(
			_("Person or Company Field: {0} links to {1}; it must link to one of {2}.").format(
				person_df.fieldname,
				_(person_df.options),
				", ".join(sorted(_(dt) for dt in person_link_targets() if _exists(dt))),
			)
		)
	won_df = check(row.get("won_field"), _("Counts When Field"), WON_FIELD_TYPES, required=False)
	if won_df:
		value = cstr(row.get("won_value"))
		if not value:
			problems.append(
				_("Has Value: say which value of {0} makes a record count.").format(won_df.fieldname)
			)
		elif won_df.fieldtype == "Select" and value not in (won_df.options or "").split("\n"):
			problems.append(
				_("Has Value: {0} is not an option of {1} ({2}).").format(
					value, won_df.fieldname, ", ".join(o for o in (won_df.options or "").split("\n") if o)
				)
			)
		elif won_df.fieldtype == "Check" and value not in ("0", "1"):
			problems.append(_("Has Value: {0} is a Check field: 1 or 0.").format(won_df.fieldname))
	return problems


# --- one document, in memory (the save hooks: no query) ---------------------------------------


def counts(source: Source, doc: HasFields) -> bool:
	"""Does this document (in memory, or a row with the source's fields) count as revenue now?"""
	if source.submittable and doc.get("docstatus") != 1:
		return False
	if source.won_field:
		return cstr(doc.get(source.won_field)) in source.won_values
	return True


def changed(source: Source, doc: HasFields, before: HasFields) -> bool:
	"""Did a field that moves the revenue of a counting document change (its amount, date, people)?"""
	return any(_comparable(doc.get(f)) != _comparable(before.get(f)) for f in source.watched)


def _comparable(value: Any) -> Any:
	"""A table's rows as the people they name (a CRM Deal's contacts), any other value as it is."""
	if isinstance(value, list):
		return tuple(sorted(cstr(row.get("contact") or row.get("name")) for row in value))
	return value


# --- documents from the database ------------------------------------------------------------


def read(doctype: str, names: Iterable[str]) -> dict[str, RevenueDocument]:
	"""name -> the document of `doctype` as revenue, for those of `names` that count now (a
	cancelled, lost, deleted or unmapped one is absent)."""
	source = sources().get(doctype)
	names = sorted(set(names))
	if not source or not names:
		return {}
	if source.kind == "erpnext":
		return _read_erpnext(source, names)
	if source.kind == "crm":
		return _read_crm(source, names)
	return _read_mapped(source, names)


def of_people(people: People, since: datetime, until: datetime) -> list[RevenueDocument]:
	"""The documents of every source that count, name one of `people` and are dated within
	[since, until] (whole days for date-only sources): what a flow's participants may be
	credited with (revenue.recompute)."""
	found: list[RevenueDocument] = []
	for source in sources().values():
		names = _names_of_people(source, people, since, until)
		found += [
			d
			for d in read(source.doctype, names).values()
			if (since.date() if d.date_only else since) <= (d.moment.date() if d.date_only else d.moment)
			and (d.moment.date() <= until.date() if d.date_only else d.moment <= until)
		]
	return found


def _moment(value: Any, at: Any = None) -> datetime:
	"""A document's date (and time of day, when it has one apart) as a datetime."""
	if at not in (None, ""):
		return get_datetime(f"{value} {at}")
	return get_datetime(value)


def _company_currency(company: str | None) -> str | None:
	if company:
		currency = frappe.get_cached_value("Company", company, "default_currency")
		if currency:
			return currency
	return default_currency()


def currency_of(doctype: str, name: str) -> str | None:
	"""The company currency of a revenue document (it may no longer count, or exist)."""
	source = sources().get(doctype)
	if source and source.kind == "erpnext":
		return _company_currency(frappe.db.get_value(doctype, name, "company"))
	return default_currency()


def default_currency() -> str | None:
	"""The site's currency (its default, else ERPNext's first company's)."""
	currency = frappe.db.get_default("currency")
	if not currency and _exists("Company"):
		currency = frappe.db.get_value("Company", {}, "default_currency", order_by="creation")
	return currency or None


def _read_erpnext(source: Source, names: list[str]) -> dict[str, RevenueDocument]:
	date_fields = [source.date_field] + ([source.time_field] if source.time_field else [])
	rows = frappe.get_all(
		source.doctype,
		filters={"name": ("in", names), "docstatus": 1},
		fields=["name", "customer", "contact_person", "company", source.amount_field, *date_fields],
	)
	companies = companies_people("Customer", {r.customer for r in rows if r.customer})
	found: dict[str, RevenueDocument] = {}
	for r in rows:
		people = People()
		if r.customer:
			people.add(companies.get(r.customer, People()))
		if r.contact_person:
			people.contacts.add(r.contact_person)
		at = r.get(source.time_field) if source.time_field else None
		found[r.name] = RevenueDocument(
			source.doctype,
			r.name,
			flt(r.get(source.amount_field)),
			_moment(r.get(source.date_field), at),
			source.date_only,
			_company_currency(r.company),
			people,
		)
	return found


def _read_crm(source: Source, names: list[str]) -> dict[str, RevenueDocument]:
	meta = frappe.get_meta(CRM_DEAL)
	fields = ["name", "status", "modified", source.amount_field]
	fields += [
		f for f in ("currency", "exchange_rate", "lead", "organization", "contact") if meta.has_field(f)
	]
	rows = [
		r
		for r in frappe.get_all(CRM_DEAL, filters={"name": ("in", names)}, fields=fields)
		if counts(source, r)
	]
	if not rows:
		return {}
	won = [r.name for r in rows]
	contacts: dict[str, set[str]] = {}
	for parent, contact in frappe.get_all(
		CRM_CONTACTS,
		filters={"parenttype": CRM_DEAL, "parent": ("in", won)},
		fields=["parent", "contact"],
		as_list=True,
	):
		if contact:
			contacts.setdefault(parent, set()).add(contact)
	won_on = _crm_won_on(source, won)
	organizations = companies_people(
		"CRM Organization", {r.organization for r in rows if r.get("organization")}
	)
	currency = default_currency()
	found: dict[str, RevenueDocument] = {}
	for r in rows:
		people = People(contacts=set(contacts.get(r.name, ())))
		if r.get("contact"):
			people.contacts.add(r.contact)
		if r.get("lead"):
			people.persons.add(("CRM Lead", r.lead))
		if r.get("organization"):
			people.add(organizations.get(r.organization, People()))
		found[r.name] = RevenueDocument(
			CRM_DEAL,
			r.name,
			_crm_amount(source, r, currency),
			won_on.get(r.name) or get_datetime(r.modified),
			False,
			currency,
			people,
		)
	return found


def _crm_won_on(source: Source, deals: list[str]) -> dict[str, datetime]:
	"""deal -> when it last became won: the start of its latest won stretch in its status change
	log (Frappe CRM writes one row per status, `from` the status). The row's `creation` (the save
	that made it, in the site's time zone) rather than its `from_date`, which Frappe CRM takes from
	the server's clock (datetime.now()): on a site whose time zone is not the server's, that
	is hours off."""
	if not _exists(CRM_STATUS_LOG):
		return {}
	log = frappe.qb.DocType(CRM_STATUS_LOG)
	rows = (
		frappe.qb.from_(log)
		.select(log.parent, frappe.qb.functions("MAX", log.creation))
		.where(
			(log.parenttype == CRM_DEAL) & log.parent.isin(deals) & log["from"].isin(list(source.won_values))
		)
		.groupby(log.parent)
		.run()
	)
	return {parent: get_datetime(moment) for parent, moment in rows if moment}


def _crm_amount(source: Source, row: HasFields, currency: str | None) -> float:
	"""The deal's value in the company currency: times its exchange rate where the deal has one;
	else, with ERPNext installed, converted at ERPNext's rate of the day; else as it is."""
	amount = flt(row.get(source.amount_field))
	if row.get("exchange_rate"):
		return amount * flt(row.get("exchange_rate"))
	deal_currency = row.get("currency")
	if (
		amount
		and deal_currency
		and currency
		and deal_currency != currency
		and "erpnext" in frappe.get_installed_apps()
	):
		from erpnext.setup.utils import get_exchange_rate

		rate = flt(get_exchange_rate(deal_currency, currency))
		if rate:
			return amount * rate
	return amount


def _read_mapped(source: Source, names: list[str]) -> dict[str, RevenueDocument]:
	fields: set[str] = {"name", "creation", source.amount_field}
	fields |= {
		f for f in (source.person_field, source.date_field, source.won_field, source.person_type_field) if f
	}
	if source.submittable:
		fields.add("docstatus")
	rows = [
		r
		for r in frappe.get_all(source.doctype, filters={"name": ("in", names)}, fields=sorted(fields))
		if counts(source, r)
	]
	linked: dict[str, set[str]] = {}  # linked doctype -> names
	for r in rows:
		target = _target(source, r)
		if target and r.get(source.person_field):
			linked.setdefault(target, set()).add(r.get(source.person_field))
	companies = {
		target: companies_people(target, values)
		for target, values in linked.items()
		if not _is_person_doctype(target)
	}
	currency = default_currency()
	found: dict[str, RevenueDocument] = {}
	for r in rows:
		people = People()
		target, value = _target(source, r), r.get(source.person_field)
		if target and value:
			if target == "Contact":
				people.contacts.add(value)
			elif _is_person_doctype(target):
				people.persons.add((target, value))
			else:
				people.add(companies.get(target, {}).get(value, People()))
		found[r.name] = RevenueDocument(
			source.doctype,
			r.name,
			flt(r.get(source.amount_field)),
			_moment(r.get(source.date_field) if source.date_field else r.creation),
			source.date_only,
			currency,
			people,
		)
	return found


def _target(source: Source, row: HasFields) -> str | None:
	return source.person_target or (row.get(source.person_type_field) if source.person_type_field else None)


def _is_person_doctype(doctype: str) -> bool:
	return doctype in PERSON_TYPES or doctype == person_doctype()


# --- companies and the people they name -------------------------------------------------------


def companies_people(doctype: str, names: Iterable[str]) -> dict[str, People]:
	"""company -> whom it names: itself, its Contacts (Dynamic Links) and the leads it was
	converted from (a Customer's `lead_name`: doctype_roles.PERSON_TYPES' conversions)."""
	names = sorted({n for n in names if n})
	found = {name: People(companies={(doctype, name)}) for name in names}
	if not names:
		return found
	link = frappe.qb.DocType("Dynamic Link")
	for contact, company in (
		frappe.qb.from_(link)
		.select(link.parent, link.link_name)
		.where((link.parenttype == "Contact") & (link.link_doctype == doctype) & link.link_name.isin(names))
		.run()
	):
		found[company].contacts.add(contact)
	meta = frappe.get_meta(doctype)
	for person_dt, kind in PERSON_TYPES.items():
		for conversion_dt, fieldname in kind.conversions:
			if conversion_dt != doctype or not meta.has_field(fieldname):
				continue
			for company, lead in frappe.get_all(
				doctype, filters={"name": ("in", names)}, fields=["name", fieldname], as_list=True
			):
				if lead:
					found[company].persons.add((person_dt, lead))
	return found


def company_names(doctype: str, people: People) -> set[str]:
	"""The records of the company doctype `doctype` that `people` belong to: named as their
	company, linked from their Contacts, or converted from their leads (the reverse of
	`companies_people`)."""
	names = {name for dt, name in people.companies if dt == doctype}
	if people.contacts:
		names.update(
			frappe.get_all(
				"Dynamic Link",
				filters={
					"parenttype": "Contact",
					"link_doctype": doctype,
					"parent": ("in", sorted(people.contacts)),
				},
				pluck="link_name",
			)
		)
	meta = frappe.get_meta(doctype)
	for person_dt, kind in PERSON_TYPES.items():
		leads = sorted(name for dt, name in people.persons if dt == person_dt)
		for conversion_dt, fieldname in kind.conversions:
			if leads and conversion_dt == doctype and meta.has_field(fieldname):
				names.update(frappe.get_all(doctype, filters={fieldname: ("in", leads)}, pluck="name"))
	return names


def _names_of_people(source: Source, people: People, since: datetime, until: datetime) -> list[str]:
	"""Names of the documents of `source` that may name one of `people` within the dates (the
	caller reads them and keeps those that count)."""
	if source.kind == "erpnext":
		customers = company_names("Customer", people)
		dates = (source.date_field, "between", [since.date(), until.date()])
		found: set[str] = set()
		if customers:
			found.update(
				frappe.get_all(
					source.doctype,
					filters=[("customer", "in", sorted(customers)), ("docstatus", "=", 1), dates],
					pluck="name",
				)
			)
		if people.contacts:
			found.update(
				frappe.get_all(
					source.doctype,
					filters=[("contact_person", "in", sorted(people.contacts)), ("docstatus", "=", 1), dates],
					pluck="name",
				)
			)
		return sorted(found)
	if source.kind == "crm":
		return _crm_names_of_people(source, people, since)
	return _mapped_names_of_people(source, people, since, until)


def _crm_names_of_people(source: Source, people: People, since: datetime) -> list[str]:
	meta = frappe.get_meta(CRM_DEAL)
	found: set[str] = set()
	# a deal became won at or before its last change: older changes can't be in the window
	base = [("status", "in", list(source.won_values)), ("modified", ">=", since)]
	contacts = sorted(people.contacts)
	if contacts:
		rows = frappe.get_all(
			CRM_CONTACTS,
			filters={"parenttype": CRM_DEAL, "contact": ("in", contacts)},
			pluck="parent",
		)
		found.update(rows)
		if meta.has_field("contact"):
			found.update(frappe.get_all(CRM_DEAL, filters=[*base, ("contact", "in", contacts)], pluck="name"))
	leads = sorted(name for dt, name in people.persons if dt == "CRM Lead")
	if leads and meta.has_field("lead"):
		found.update(frappe.get_all(CRM_DEAL, filters=[*base, ("lead", "in", leads)], pluck="name"))
	organizations = company_names("CRM Organization", people) if _exists("CRM Organization") else set()
	if organizations:
		found.update(
			frappe.get_all(
				CRM_DEAL, filters=[*base, ("organization", "in", sorted(organizations))], pluck="name"
			)
		)
	return sorted(found)


def _mapped_names_of_people(source: Source, people: People, since: datetime, until: datetime) -> list[str]:
	date_field = source.date_field or "creation"
	dates = (
		(date_field, "between", [since.date(), until.date()])
		if source.date_only
		else (date_field, "between", [since, until])
	)
	targets = (
		[source.person_target]
		if source.person_target
		else sorted(person_link_targets())  # a Dynamic Link: any person or company doctype
	)
	found: set[str] = set()
	for target in targets:
		if target == "Contact":
			values = set(people.contacts)
		elif _is_person_doctype(target):
			values = {name for dt, name in people.persons if dt == target}
		elif _exists(target):
			values = company_names(target, people)
		else:
			continue
		if not values:
			continue
		filters: list[tuple] = [(source.person_field, "in", sorted(values)), dates]
		if source.person_type_field:
			filters.append((source.person_type_field, "=", target))
		found.update(frappe.get_all(source.doctype, filters=filters, pluck="name"))
	return sorted(found)
