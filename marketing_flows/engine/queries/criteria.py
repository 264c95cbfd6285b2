"""Success criteria: does a person meet a flow's goal? One batched query per criterion type.

Record changes anywhere in the CRM (a rep in the desk, the API, an import, the flow itself)
count the same: the criteria are queries on the data, asked before every step by the runner
and, after a watched document changes, by a background job (see watch.py). Only questions
live here; acting on a met goal is goals.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, TypeAlias

import frappe
from frappe import _

from marketing_flows.engine.hosts import company_links, doctype_roles, person_records, record_fields
from marketing_flows.engine.queries import filters

if TYPE_CHECKING:
	from marketing_flows.engine.doctypes import MarketingFlow, MarketingFlowSuccessCriterion, ParticipantRow

	# a row of the flow's success_criteria, or that row read with frappe.get_all
	CriterionRow: TypeAlias = MarketingFlowSuccessCriterion | frappe._dict

# Criterion type -> the Marketing Flow Settings role whose doctype it looks at.
ROLE_OF = {"Deal Created": "deal", "Appointment Created": "appointment", "Issue Created": "issue"}
# Criteria that are events after enrolment (creation time counts) rather than states.
TIMED = {"Deal Created", "Appointment Created", "Issue Created", "Added to Email Group", "Web Form Submitted"}


@dataclass
class Person:
	key: str  # participant name, or the person's name at enrolment
	person: str | None  # name of the flow's person doctype (a Contact or a lead)
	email: str | None
	company: str | None
	since: datetime | None  # enrolment time: timed criteria count only what came after
	contact: str | None = None  # the Contact a lead converted to (the person, for a Contact)

	@classmethod
	def of(cls, participant: ParticipantRow) -> Person:
		"""The participant as a person the criteria ask about, since their enrolment."""
		return cls(
			participant["name"],
			participant.get("person") or participant.get("contact"),
			participant.get("email"),
			participant.get("company"),
			participant.get("enrolled_on"),
			participant.get("contact"),
		)


def label(criterion: CriterionRow) -> str:
	return criterion.get("label") or criterion.criterion_type


def target_doctype(criterion: CriterionRow, person_dt: str = "Contact") -> str | None:
	"""The doctype a criterion of a flow of `person_dt` queries (None for those that are not
	about documents)."""
	kind = criterion.criterion_type
	if kind in ROLE_OF:
		return doctype_roles.doctype_for(ROLE_OF[kind])
	if kind in ("Person Updated", "Lead Converted"):
		return person_dt
	if kind == "Added to Email Group":
		return "Email Group Member"
	if kind == "Web Form Submitted" and criterion.get("web_form"):
		return frappe.get_cached_value("Web Form", criterion.web_form, "doc_type")
	if kind == "Document Condition":
		return criterion.get("reference_doctype")
	return None


def validate(flow: MarketingFlow) -> list[str]:
	"""Messages for criteria that can't be evaluated on this site."""
	errors = []
	person_dt = flow.person_doctype
	for row in flow.get("success_criteria") or []:
		what = _("Success criterion {0} ({1})").format(row.idx, _(row.criterion_type))
		if row.criterion_type == "Lead Converted" and not doctype_roles.is_lead(person_dt):
			errors.append(
				_("{0}: only a flow of leads can have this goal; this flow enrols {1}.").format(
					what, _(person_dt)
				)
			)
			continue
		if row.criterion_type in ROLE_OF and not target_doctype(row, person_dt):
			errors.append(
				_("{0}: no {1} doctype is set in Marketing Flow Settings.").format(
					what, role_label(ROLE_OF[row.criterion_type])
				)
			)
			continue
		if row.criterion_type == "Document Condition" and not row.reference_doctype:
			errors.append(_("{0}: choose the Document Type.").format(what))
			continue
		if row.criterion_type == "Web Form Submitted" and not row.web_form:
			errors.append(_("{0}: choose the Web Form.").format(what))
			continue
		doctype = target_doctype(row, person_dt)
		if doctype and row.conditions:
			filters.check_fields(doctype, filters.parse(row.conditions, what), what)
		if doctype and row.criterion_type not in ("Person Updated", "Lead Converted", "Added to Email Group"):
			scope = "company" if row.scope == "Company" else "person"
			only = row.get("link_field") or None
			if not paths_of(doctype, scope, only, person_dt) and not (
				scope == "person"
				and (paths_of(doctype, "email", only) or paths_of(doctype, "person", only, "Contact"))
			):
				if only:
					errors.append(
						_("{0}: '{1}' is not a field of {2} that names a {3}.").format(
							what, only, _(doctype), role_label(scope)
						)
					)
				else:
					errors.append(
						_("{0}: {1} has no field linking to a {2}.").format(
							what, _(doctype), role_label(scope)
						)
					)
	return errors


def role_label(role: str) -> str:
	"""The translated word for a role in messages (deal, appointment, issue, person, company)."""
	return {
		"deal": _("deal"),
		"appointment": _("appointment"),
		"issue": _("issue"),
		"person": _("person"),
		"company": _("company"),
	}.get(role, role)


# --- evaluation --------------------------------------------------------------------------


def _met(flow: MarketingFlow, criterion: MarketingFlowSuccessCriterion, people: list[Person]) -> set[str]:
	"""Keys of `people` that meet one criterion."""
	if not people:
		return set()
	kind = criterion.criterion_type
	conds = filters.parse(criterion.conditions, label(criterion))
	person_dt = flow.person_doctype
	if kind in ("Person Updated", "Lead Converted"):
		if kind == "Lead Converted":
			rule = doctype_roles.person_type(person_dt).converted
			if not rule:
				return set()
			conds = [*conds, [person_dt, rule[0], "=", rule[1]]]
		matching = set(
			frappe.get_all(
				person_dt,
				filters=[[person_dt, "name", "in", [p.person for p in people]], *conds],
				pluck="name",
			)
		)
		return {p.key for p in people if p.person in matching}
	if kind == "Link Clicked":
		where = {"flow": flow.name, "event": "Clicked", "participant": ("in", [p.key for p in people])}
		if criterion.get("url_pattern"):
			where["url"] = ("like", f"%{criterion.url_pattern}%")
		return set(frappe.get_all("Marketing Flow Log", filters=where, pluck="participant", distinct=True))
	if kind == "Added to Email Group":
		by_email = _index(people, "email")
		where = {"email": ("in", list(by_email)), "unsubscribed": 0}
		if criterion.get("email_group"):
			where["email_group"] = criterion.email_group
		rows = (
			frappe.get_all(
				"Email Group Member", filters=[*_as_list(where), *conds], fields=["email", "creation"]
			)
			if by_email
			else []
		)
		return {p.key for r in rows for p in by_email.get(r.email.lower(), []) if _after(r.creation, p)}
	doctype = target_doctype(criterion, person_dt)
	if not doctype:
		return set()
	timed = kind in TIMED
	only = criterion.get("link_field") or None
	if criterion.get("scope") == "Company":
		return _linked(doctype, "company", _index(people, "company"), conds, timed, only)
	return _named(doctype, people, person_dt, conds, timed, only)


def _named(
	doctype: str, people: list[Person], person_dt: str, conds: list, timed: bool, only: str | None = None
) -> set[str]:
	"""Keys of people that a document of `doctype` names: by a link to the person, by a link to
	the Contact a lead converted to, or by their email."""
	met = _linked(doctype, "email", _index(people, "email"), conds, timed, only)
	met |= _linked(doctype, person_dt, _index(people, "person"), conds, timed, only)
	if person_dt != "Contact":
		met |= _linked(doctype, "Contact", _index(people, "contact"), conds, timed, only)
	return met


def _as_list(where: dict) -> list:
	return [[k, *v] if isinstance(v, tuple) else [k, "=", v] for k, v in where.items()]


def _index(people: list[Person], attr: str) -> dict[str, list[Person]]:
	found: dict[str, list[Person]] = {}
	for p in people:
		value = getattr(p, attr)
		if value:
			found.setdefault(value.lower() if attr == "email" else value, []).append(p)
	return found


def _after(created: datetime, person: Person) -> bool:
	return person.since is None or created >= person.since


def paths_of(doctype: str, kind: str, only: str | None = None, person_dt: str = "Contact") -> list:
	"""The fields of `doctype` that name a `kind` (person, email, company; a person of
	`person_dt`); with `only` (the criterion's Link Field), just that field (of the document or
	of a table of it)."""
	paths = (
		record_fields.person_paths(doctype, person_dt)
		if kind == "person"
		else record_fields.link_paths(doctype)[kind]
	)
	if only:
		paths = [p for p in paths if only in (p.field, p.table_field)]
	return paths


def _linked(
	doctype: str,
	kind: str,
	by_value: dict[str, list[Person]],
	conds: list,
	timed: bool,
	only: str | None = None,
) -> set[str]:
	"""Keys of people named (as `kind`: a person doctype such as Contact or CRM Lead, email or
	company) by a document of `doctype` that matches `conds`, created after their enrolment
	when `timed`."""
	if not by_value:
		return set()
	if kind in ("email", "company"):
		target = doctype_roles.doctype_for("company") if kind == "company" else None
		paths = paths_of(doctype, kind, only)
	else:
		target = kind
		paths = paths_of(doctype, "person", only, kind)
	met: set[str] = set()
	for path in paths:
		table = path.child or doctype
		where = [[table, path.field, "in", list(by_value)], *conds]
		if path.type_field:
			where.append([table, path.type_field, "=", target])
		rows = frappe.get_all(
			doctype,
			filters=where,
			fields=[f"`tab{table}`.`{path.field}` as matched", f"`tab{doctype}`.`creation` as created"],
		)
		for row in rows:
			for person in by_value.get(row.matched.lower() if kind == "email" else row.matched, []):
				if not timed or _after(row.created, person):
					met.add(person.key)
	return met


def names_person(doctype: str, person: Person, person_dt: str = "Contact") -> bool:
	"""Does a document of `doctype` created since `person.since` name this person (by a link
	to the person or by their email)? What a Web Form Submitted condition asks."""
	return bool(_named(doctype, [person], person_dt, [], True))


def _evaluate(flow: MarketingFlow, people: list[Person], include_clicks: bool) -> dict[str, str]:
	"""key -> label of what was met, applying the flow's Any / All logic."""
	criteria = [
		c for c in flow.get("success_criteria") or [] if include_clicks or c.criterion_type != "Link Clicked"
	]
	if not criteria or not people:
		return {}
	if (flow.success_logic or "Any") == "All":
		keys = {p.key for p in people}
		for criterion in criteria:
			keys &= _met(flow, criterion, [p for p in people if p.key in keys])
		return {k: _("All criteria") for k in keys}
	found: dict[str, str] = {}
	for criterion in criteria:
		remaining = [p for p in people if p.key not in found]
		for key in _met(flow, criterion, remaining):
			found[key] = label(criterion)
	return found


def already_successful(flow: MarketingFlow, names: list[str]) -> set[str]:
	"""People (of the flow's person doctype) that meet the flow's criteria already: not
	enrolled (HubSpot's goal rule)."""
	if not names or not flow.get("success_criteria"):
		return set()
	person_dt = flow.person_doctype
	rows = person_records.person_rows(person_dt, names, fields=person_records.person_fields(person_dt))
	companies = company_links.companies_of(names, person_dt)
	contacts = (
		dict.fromkeys(names)
		if person_dt == "Contact"
		else person_records.converted_contacts(person_dt, names)
	)
	people = [
		Person(
			name,
			name,
			r.get("email_id"),
			companies.get(name),
			None,
			name if person_dt == "Contact" else contacts.get(name),
		)
		for name, r in rows.items()  # keyed by the row's name
	]
	return set(_evaluate(flow, people, include_clicks=False))


def newly_successful(flow: MarketingFlow, participants: Sequence[ParticipantRow]) -> dict[str, str]:
	"""participant -> label of the criterion met, for those not yet marked successful."""
	people = [Person.of(p) for p in participants if not p.get("succeeded")]
	return _evaluate(flow, people, include_clicks=True)


def reset_figures(flow_name: str) -> None:
	"""All criteria removed: nobody counts as successful any more (as HubSpot does)."""
	p = frappe.qb.DocType("Marketing Flow Participant")
	(
		frappe.qb.update(p)
		.set(p.succeeded, 0)
		.set(p.succeeded_on, None)
		.set(p.success_criterion, None)
		.where(p.flow == flow_name)
	).run()
