"""Who owns a record, and how a flow gives it one: the one place that knows each host's owner
field (a Lead's or CRM Lead's `lead_owner`, a CRM Deal's `deal_owner`, an Opportunity's
`opportunity_owner`, a Customer's `account_manager`). A doctype without one (Contact, CRM
Organization, a doctype of the site's own) is owned through Frappe's assignment: its open ToDos,
kept in the record's `_assign`, and an assignment made here is a ToDo like one made in the desk."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import frappe
from frappe import _

if TYPE_CHECKING:
	from marketing_flows.engine.hosts.doctype_roles import HasFields

# The hosts' own owner fields.
OWNER_FIELDS: dict[str, str] = {
	"Lead": "lead_owner",
	"CRM Lead": "lead_owner",
	"CRM Deal": "deal_owner",
	"Opportunity": "opportunity_owner",
	"Customer": "account_manager",
}
# For a doctype the site configured that is none of the above: the first of these it has.
OWNER_FIELD_NAMES = ("account_manager", "lead_owner", "deal_owner", "opportunity_owner")
ASSIGNED = "_assign"  # Frappe's assignment: a JSON list of the users with an open ToDo


def owner_field(doctype: str) -> str | None:
	"""The field of `doctype` that names its owner (a Link to User); None: the doctype is owned
	through Frappe's assignment."""
	meta = frappe.get_meta(doctype)
	known = OWNER_FIELDS.get(doctype)
	if known and meta.has_field(known):
		return known
	for fieldname in OWNER_FIELD_NAMES:
		df = meta.get_field(fieldname)
		if df and df.fieldtype == "Link" and df.options == "User":
			return fieldname
	return None


# Technical accounts own nothing: ERPNext's Lead takes its creator as Lead Owner by default, so a
# lead made by a web form, an import or a flow (as Administrator or Guest) has no owner yet.
NOBODY = ("Administrator", "Guest")


def real(user: str | None) -> str | None:
	return user if user and user not in NOBODY else None


def owner_in(doctype: str, row: HasFields | None) -> str | None:
	"""The owner named by a record's row (all its columns, e.g. from `frappe.get_all(..., ["*"])`):
	its owner field, or the first user it is assigned to."""
	if not row:
		return None
	field = owner_field(doctype)
	if field:
		return real(row.get(field))
	return real(first_assignee(row.get(ASSIGNED)))


def first_assignee(assigned: str | None) -> str | None:
	try:
		users = json.loads(assigned or "[]")
	except ValueError:
		return None
	return next((u for u in users if u), None) if isinstance(users, list) else None


def owner_of(doctype: str, name: str, lock: bool = False) -> str | None:
	"""The owner of one record as stored now. `lock`: read it FOR UPDATE, so that another worker
	giving the same record an owner waits for this transaction and then sees its owner."""
	column = owner_field(doctype) or ASSIGNED
	value = frappe.db.get_value(doctype, name, column, for_update=lock)
	if column == ASSIGNED:
		return real(first_assignee(value))
	return real(value)


def person_owner(
	person_dt: str, person: HasFields | None, company_dt: str | None = None, company: str | None = None
) -> str | None:
	"""The user who looks after a person: the person's own owner, else their company's (read
	now: a step earlier in the same batch may have given the company one)."""
	if user := owner_in(person_dt, person):
		return user
	return owner_of(company_dt, company) if company_dt and company else None


def account_manager(
	person_dt: str, person: HasFields | None, company_dt: str | None = None, company: str | None = None
) -> str | None:
	"""The person's account manager: their company's owner (a Customer's account manager), else
	the person's own owner."""
	if company and company_dt and (user := owner_of(company_dt, company)):
		return user
	return owner_in(person_dt, person)


def assign(doctype: str, name: str, user: str, flow: str, description: str) -> None:
	"""Make `user` the owner of the record, as a user would in the host: its owner field saved
	through the document (the host's own reactions run: Frappe CRM assigns and shares the lead),
	or a Frappe assignment (a ToDo, `_assign`, shared when the user can't read it)."""
	field = owner_field(doctype)
	if field:
		doc = frappe.get_doc(doctype, name)
		doc.set(field, user)
		doc.flags.ignore_permissions = True
		doc.flags.marketing_flow = flow  # this flow's own trigger must not fire on it
		doc.save()
		return
	from frappe.desk.form import assign_to

	assign_to.add(
		{"assign_to": [user], "doctype": doctype, "name": name, "description": description},
		ignore_permissions=True,
	)


def role_users(role: str) -> list[str]:
	"""The enabled desk users who have `role`, by name; never Administrator or Guest (technical
	accounts: nobody reads their mail or bell)."""
	has = frappe.qb.DocType("Has Role")
	user = frappe.qb.DocType("User")
	return (
		frappe.qb.from_(has)
		.join(user)
		.on(user.name == has.parent)
		.select(user.name)
		.distinct()
		.where(
			(has.parenttype == "User")
			& (has.role == role)
			& (user.enabled == 1)
			& (user.user_type == "System User")
			& user.name.notin(NOBODY)
		)
		.orderby(user.name)
		.run(pluck=True)
	)


def enabled_users(users: list[str]) -> list[str]:
	"""Those of `users` that exist and are enabled, in the same order."""
	if not users:
		return []
	enabled = set(frappe.get_all("User", filters={"name": ("in", users), "enabled": 1}, pluck="name"))
	return [u for u in users if u in enabled]


def user_problem(user: str | None) -> str | None:
	"""Why `user` can't be given work (None: they can)."""
	if not user:
		return None
	enabled = frappe.db.get_value("User", user, "enabled")
	if enabled is None:
		return _("User {0} does not exist.").format(user)
	if not enabled:
		return _("User {0} is disabled.").format(user)
	return None
