"""Steps that create work for sales and support: Create Request (the site's Issue doctype:
Issue or HD Ticket, with its status and category) and Create Sale (its Deal doctype:
Opportunity or CRM Deal, with its stage, amount and expected closing date), for the
participant, as a rep would; a sale made here counts for a Deal Created goal like any other.
Which field of each host takes what is record_fields.py's; a value the field does not accept is
refused when the flow is saved."""

from __future__ import annotations

from typing import TYPE_CHECKING

import frappe
from frappe import _
from frappe.utils import add_days, flt, getdate

from marketing_flows.engine.hosts import company_links, doctype_roles, record_fields
from marketing_flows.engine.sending import render
from marketing_flows.engine.steps.base import Outcome, StepContext, StepType

if TYPE_CHECKING:
	from datetime import datetime

	from frappe.model.document import Document

	from marketing_flows.engine.doctypes import MarketingFlow, MarketingFlowStep


class CreateRecord(StepType):
	role: str = ""  # the Marketing Flow Settings role of the doctype made: "issue" / "deal"
	required = (("record_title", "Subject / Title"),)

	def validate(self, step: MarketingFlowStep, flow: MarketingFlow) -> list[str]:
		errors = super().validate(step, flow)
		what = _("{0} step '{1}'").format(_(self.name), step.step_id)
		if not doctype_roles.doctype_for(self.role):
			errors.append(
				_("{0}: this site has no {1} doctype: choose one in Marketing Flow Settings.").format(
					what, _(self.role_label)
				)
			)
		if err := render.problem(step.get("record_title")):
			errors.append(_("{0}: the title's Jinja is invalid ({1}).").format(what, err))
		if (step.get("followup_days") or 0) < 0:
			errors.append(_("{0}: the follow-up can't be due in the past.").format(what))
		doctype = doctype_roles.doctype_for(self.role)
		if doctype and frappe.db.exists("DocType", doctype):
			details = self.details(step)
			errors += [f"{what}: {problem}" for problem in record_fields.detail_problems(doctype, details)]
			category_field = record_fields.detail_field(doctype, "category")
			if (
				details.get("category")
				and step.get("record_type")
				and step.record_type != details["category"]
				and category_field in record_fields.TYPE_FIELDS
			):
				errors.append(
					_("{0}: Type and Category both set the {1}'s {2}: keep one.").format(
						what, _(doctype), _(frappe.get_meta(doctype).get_label(category_field))
					)
				)
		return errors

	def details(self, step: MarketingFlowStep, now: datetime | None = None) -> dict:
		"""The request's or sale's details the step sets (record_fields.DETAIL_FIELDS keys);
		`now` dates the expected closing (without it: a stand-in date, for validation)."""
		return {}

	@property
	def role_label(self) -> str:
		return {"issue": "Issue", "deal": "Deal"}[self.role]

	def execute(self, ctx: StepContext) -> Outcome:
		doctype = doctype_roles.doctype_for(self.role)
		if not doctype:
			raise frappe.ValidationError(
				_("No {0} doctype is set in Marketing Flow Settings.").format(_(self.role_label))
			)
		step = ctx.step
		title = render.render(step.record_title, ctx.template_context()).strip()
		person_dt = ctx.flow.person_doctype
		# the company as the person's links say now (linked since enrolment: a retry finds it)
		company = ctx.participant.get("company") or company_links.companies_of(
			[ctx.participant.person], person_dt
		).get(ctx.participant.person)
		owner = (
			company_links.account_manager(ctx.contact, company, person_dt)
			if step.get("owner_is_account_manager")
			else None
		) or step.get("record_owner")
		values = record_fields.record_values(
			doctype,
			ctx.contact,
			company,
			title,
			kind=step.get("record_type"),
			priority=step.get("record_priority"),
			owner=owner,
			person_dt=person_dt,
		)
		values.update(record_fields.detail_values(doctype, self.details(step, ctx.now), values))
		doc = frappe.get_doc({"doctype": doctype, **values})
		doc.flags.ignore_permissions = True
		doc.flags.marketing_flow = ctx.flow.name  # this flow's own trigger must not fire on it
		try:
			doc.insert()
		except frappe.MandatoryError as e:
			raise frappe.ValidationError(self.missing_message(doc, ctx, person_dt, company) or str(e)) from e
		message = (
			_("would create {0} '{1}'").format(_(doctype), title)
			if ctx.dry_run  # made and undone: the insert's own checks ran, nothing is kept
			else _("{0} {1}").format(_(doctype), doc.name)
		)
		if owner and step.get("followup_todo"):
			todo = frappe.get_doc(
				{
					"doctype": "ToDo",
					"allocated_to": owner,
					"description": _("Follow up: {0}").format(title),
					"date": add_days(getdate(ctx.now), step.get("followup_days") or 0),
					"reference_type": doctype,
					"reference_name": doc.name,
				}
			)
			todo.flags.ignore_permissions = True
			todo.insert()
			message += _(", follow-up for {0}").format(owner)
		return Outcome(ctx.next_step, message=message, reference=(doctype, doc.name))

	def missing_message(self, doc: Document, ctx: StepContext, person_dt: str, company: str | None) -> str:
		"""Which of the record's mandatory fields the flow could not fill for this person, and
		what would let it (Frappe's own error names only field names), e.g. a deal doctype whose
		organization is mandatory, for a person linked to none. Empty when none is found."""
		missing = [
			_(row.meta.get_label(fieldname))
			for row in (doc, *doc.get_all_children())
			for fieldname, _msg in row._get_missing_mandatory_fields()
		]
		if not missing:
			return ""
		message = _("Can't create {0} for {1} {2}: {3} missing.").format(
			_(doc.doctype), _(person_dt), ctx.participant.person, ", ".join(missing)
		)
		company_dt = doctype_roles.doctype_for("company")
		if not company and company_dt:
			message += " " + _("The {0} is linked to no {1}: link one, and the step is tried again.").format(
				_(person_dt), _(company_dt)
			)
		return message


class CreateRequest(CreateRecord):
	name = "Create Request"
	role = "issue"

	def details(self, step: MarketingFlowStep, now: datetime | None = None) -> dict:
		return {
			"status": (step.get("record_status") or "").strip(),
			"category": (step.get("record_category") or "").strip(),
		}


class CreateSale(CreateRecord):
	name = "Create Sale"
	role = "deal"

	def validate(self, step: MarketingFlowStep, flow: MarketingFlow) -> list[str]:
		errors = super().validate(step, flow)
		what = _("{0} step '{1}'").format(_(self.name), step.step_id)
		if flt(step.get("record_amount")) < 0:
			errors.append(_("{0}: the amount can't be negative.").format(what))
		if (step.get("record_closing_days") or 0) < 0:
			errors.append(_("{0}: the expected closing can't be in the past.").format(what))
		return errors

	def details(self, step: MarketingFlowStep, now: datetime | None = None) -> dict:
		days = step.get("record_closing_days")
		closing = None
		if days not in (None, "") and int(days) > 0:  # empty or 0: none (the field's default 0)
			closing = add_days(getdate(now), int(days))
		return {
			"stage": (step.get("record_stage") or "").strip(),
			"amount": flt(step.get("record_amount")) or None,
			"closing": closing,
		}


HANDLERS = (CreateRequest(), CreateSale())
