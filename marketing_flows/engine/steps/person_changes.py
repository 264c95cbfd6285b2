"""Steps that change the person: Update Participant (a field of the person's record) and Add to /
Remove from Email Group."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

import frappe
from frappe import _
from frappe.utils import add_days, cint, flt, getdate, now_datetime

from marketing_flows.engine.hosts import doctype_roles
from marketing_flows.engine.sending import render
from marketing_flows.engine.steps.base import Outcome, StepContext, StepType

if TYPE_CHECKING:
	from frappe.core.doctype.docfield.docfield import DocField

	from marketing_flows.engine.doctypes import MarketingFlow, MarketingFlowStep, MarketingFlowUpdate


NUMERIC = ("Int", "Float", "Currency", "Percent")
# action -> the field types it fits (None: any settable field)
ACTION_TYPES: dict[str, tuple[str, ...] | None] = {
	"Set": None,
	"Clear": None,
	"Add": NUMERIC,
	"Subtract": NUMERIC,
	"Add Days": ("Date", "Datetime"),
	"Check": ("Check",),
	"Uncheck": ("Check",),
}


def update_rows(flow: MarketingFlow, step: MarketingFlowStep) -> list[MarketingFlowUpdate]:
	"""The step's changes: its own field (`update_field` / `update_value`, a Set on the
	person) and its rows of the flow's `updates` table."""
	rows = []
	if step.get("update_field"):
		rows.append(
			frappe._dict(
				target="Person", field=step.update_field, action="Set", value=step.get("update_value"), idx=0
			)
		)
	rows.extend(r for r in flow.get("updates") or [] if r.step_id == step.step_id)
	return rows


def changed_value(df: DocField, action: str, current: Any, value: str) -> Any:
	"""The new value of a field for an action; `value` is already rendered. `current` and the
	result are the field's values, of whatever type its fieldtype has."""
	if action == "Clear":
		return None
	if action in ("Check", "Uncheck"):
		return 1 if action == "Check" else 0
	if action in ("Add", "Subtract"):
		amount = flt(value) if df.fieldtype != "Int" else cint(value)
		return (current or 0) + (amount if action == "Add" else -amount)
	if action == "Add Days":
		base = current or now_datetime()
		result = add_days(base, cint(value))
		return getdate(result) if df.fieldtype == "Date" else result
	return value


class UpdateParticipant(StepType):
	"""SuperOffice's "Update contact": fields of the person or of their company, each with an
	action fitting its type; one real save per record, so goals see one change."""

	name = "Update Participant"

	def validate(self, step: MarketingFlowStep, flow: MarketingFlow) -> list[str]:
		what = _("Update Participant step '{0}'").format(step.step_id)
		rows = update_rows(flow, step)
		if not rows:
			return [_("{0}: choose the field to update (Update Field, or rows in Updates).").format(what)]
		errors = []
		for row in rows:
			doctype = (
				flow.person_doctype
				if (row.target or "Person") == "Person"
				else doctype_roles.doctype_for("company")
			)
			if not doctype:
				errors.append(
					_("{0}: this site has no company doctype (Marketing Flow Settings).").format(what)
				)
				continue
			df = frappe.get_meta(doctype).get_field(row.field)
			action = row.action or "Set"
			author = frappe.session.user  # who saves (or runs, or checks) the flow now
			if not df:
				errors.append(_("{0}: {1} has no field '{2}'.").format(what, _(doctype), row.field))
			elif problem := unsettable(doctype, df, author):
				errors.append(_("{0}: '{1}' can't be set by a flow: {2}.").format(what, row.field, problem))
			elif action not in ACTION_TYPES:
				errors.append(_("{0}: '{1}' is not an action.").format(what, action))
			elif (fits := ACTION_TYPES[action]) and df.fieldtype not in fits:
				errors.append(
					_("{0}: '{1}' can't be used on '{2}' (a {3} field).").format(
						what, _(action), row.field, _(df.fieldtype)
					)
				)
			elif action == "Clear" and df.reqd:
				errors.append(_("{0}: '{1}' is mandatory: it can't be cleared.").format(what, row.field))
			elif action in ("Add", "Subtract", "Add Days") and not _is_number(row.value):
				errors.append(
					_("{0}: '{1}' needs a number, not '{2}'.").format(what, _(action), row.value or "")
				)
			if err := render.problem(row.get("value")):
				errors.append(_("{0}: the value's Jinja is invalid ({1}).").format(what, err))
		return errors

	def execute(self, ctx: StepContext) -> Outcome:
		"""A real save per record, so that everything watching it (goals included) sees it."""
		rows = update_rows(ctx.flow, ctx.step)
		targets = {
			"Person": (ctx.flow.person_doctype, ctx.participant["person"]),
			"Company": (doctype_roles.doctype_for("company"), ctx.participant.get("company")),
		}
		done, skipped = [], []
		for target in ("Person", "Company"):
			mine = [r for r in rows if (r.target or "Person") == target]
			doctype, name = targets[target]
			if not mine:
				continue
			if not (doctype and name):
				skipped.append(_("no company"))
				continue
			doc = frappe.get_doc(doctype, name)
			author = ctx.flow.get("modified_by") or "Administrator"  # the scheduler runs as Administrator
			for row in mine:
				df = doc.meta.get_field(row.field)
				problem = df and frappe.local_cache(  # once per job, not per participant
					"mf_unsettable", (doctype, row.field, author), partial(unsettable, doctype, df, author)
				)
				if not df or problem:  # checked at save too; rights change
					raise frappe.PermissionError(
						_("'{0}' of {1} can't be set by this flow: {2}.").format(
							row.field, _(doctype), problem if df else _("no such field")
						)
					)
				value = render.render(row.value, ctx.template_context()) if row.value else ""
				doc.set(row.field, changed_value(df, row.action or "Set", doc.get(row.field), value))
				done.append(f"{row.field} = {shown_value(df, doc.get(row.field))}")
			doc.flags.ignore_permissions = True
			doc.flags.marketing_flow = ctx.flow.name  # this flow's own trigger must not fire on it
			doc.save()
			if target == "Person":
				ctx.contact.update({r.field: doc.get(r.field) for r in mine})
		return Outcome(ctx.next_step, message="; ".join(done + skipped))


def unsettable(doctype: str, df: DocField, user: str) -> str | None:
	"""Why a flow of `user` must not write field `df` of `doctype` (None: it may). A flow writes
	with the engine's rights, so it may only write what its author could write by hand in the
	form, and never what ties a record to a login or names it."""
	meta = frappe.get_meta(doctype)
	if df.fieldtype in frappe.model.table_fields or df.fieldtype in frappe.model.no_value_fields:
		return _("a table or layout field")
	if df.fieldtype in ("Password", "Dynamic Link") or (df.fieldtype == "Link" and df.options == "User"):
		return _("a password or a link to a user or any doctype")
	if df.fieldname in frappe.model.default_fields or df.fieldname in ("user", "docstatus", "owner"):
		return _("a field the system keeps")
	if df.read_only or df.set_only_once:
		return _("read-only or set only once")
	if (meta.autoname or "").replace(" ", "") == f"field:{df.fieldname}":
		return _("the record's name comes from it")
	if not frappe.has_permission(doctype, "write", user=user):
		return _("{0} may not edit {1}").format(user, _(doctype))
	if (df.permlevel or 0) > 0 and df.permlevel not in meta.get_permlevel_access("write", user=user):
		return _("{0} may not edit this field").format(user)
	return None


def shown_value(df: DocField, value: Any) -> str:
	"""What the step's log shows of a value written (of any field's type): never that of a hidden
	field."""
	return "…" if df.hidden or df.fieldtype == "Password" else str(value)


def _is_number(value: Any) -> bool:  # a value typed in the flow (str) or a field's
	try:
		float(str(value).strip())
		return True
	except ValueError:
		return "{{" in str(value)  # Jinja: checked when rendered


class AddToEmailGroup(StepType):
	name = "Add to Email Group"
	required = (("email_group", "Email Group"),)

	def execute(self, ctx: StepContext) -> Outcome:
		email = ctx.participant.get("email")
		if not email:
			return Outcome(ctx.next_step, event="Step Skipped", message=_("No email address"))
		add_to_email_group(ctx.required("email_group"), email)
		return Outcome(ctx.next_step, message=_("{0} in {1}").format(email, ctx.step.email_group))


def add_to_email_group(group: str, email: str) -> bool:
	"""Make `email` a member of the Email Group `group` (a real insert, so that flows triggered by
	the group see it); True when it was not one yet. Also an early exit's move (running/moves.py)."""
	if frappe.db.exists("Email Group Member", {"email_group": group, "email": email}):
		return False
	frappe.get_doc({"doctype": "Email Group Member", "email_group": group, "email": email}).insert(
		ignore_permissions=True
	)
	return True


class RemoveFromEmailGroup(StepType):
	name = "Remove from Email Group"
	required = (("email_group", "Email Group"),)

	def execute(self, ctx: StepContext) -> Outcome:
		"""The person's email leaves the group (its member row is removed, as Frappe's own
		"remove from group" does); nothing happens when it was not in it."""
		email = ctx.participant.get("email")
		if not email:
			return Outcome(ctx.next_step, event="Step Skipped", message=_("No email address"))
		members = frappe.get_all(
			"Email Group Member", filters={"email_group": ctx.step.email_group, "email": email}, pluck="name"
		)
		for name in members:
			frappe.delete_doc("Email Group Member", name, ignore_permissions=True)
		message = (
			_("{0} removed from {1}").format(email, ctx.step.email_group)
			if members
			else _("{0} was not in {1}").format(email, ctx.step.email_group)
		)
		return Outcome(ctx.next_step, message=message)


HANDLERS = (
	UpdateParticipant(),
	AddToEmailGroup(),
	RemoveFromEmailGroup(),
)
