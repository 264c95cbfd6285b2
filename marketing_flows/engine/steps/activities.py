"""Create Activity: a task for the person's owner (ToDo or Frappe CRM's task)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import frappe
from frappe import _
from frappe.utils import add_days, getdate

from marketing_flows.engine.hosts import doctype_roles
from marketing_flows.engine.sending import render
from marketing_flows.engine.steps.base import Outcome, StepContext, StepType

if TYPE_CHECKING:
	pass
	from marketing_flows.engine.doctypes import MarketingFlow, MarketingFlowStep


class CreateActivity(StepType):
	name = "Create Activity"
	required = (("activity_description", "Activity Description"),)

	def validate(self, step: MarketingFlowStep, flow: MarketingFlow) -> list[str]:
		errors = super().validate(step, flow)
		if err := render.problem(step.get("activity_description")):
			errors.append(
				_("Create Activity step '{0}': the description's Jinja is invalid ({1}).").format(
					step.step_id, err
				)
			)
		return errors

	def execute(self, ctx: StepContext) -> Outcome:
		doctype = doctype_roles.doctype_for("activity") or "ToDo"
		person = ctx.flow.person_doctype
		contact = ctx.participant["person"]
		description = render.render(ctx.step.activity_description, ctx.template_context())
		owner = (
			ctx.step.assign_to or ctx.contact.get("lead_owner") or ctx.contact.get("owner") or "Administrator"
		)
		due = add_days(getdate(ctx.now), ctx.step.activity_due_days or 0)
		doc = frappe.new_doc(doctype)
		if doctype == "Event":
			doc.update(
				{
					"subject": description[:140],
					"description": description,
					"starts_on": ctx.now,
					"event_type": "Private",
				}
			)
			doc.append("event_participants", {"reference_doctype": person, "reference_docname": contact})
		else:
			meta = frappe.get_meta(doctype)
			values = {
				"description": description,
				"title": description[:140],
				"allocated_to": owner,
				"assigned_to": owner,
				"date": due,
				"due_date": due,
				"reference_type": person,
				"reference_name": contact,
				"reference_doctype": person,
				"reference_docname": contact,
			}
			doc.update({k: v for k, v in values.items() if meta.has_field(k)})
		doc.flags.ignore_permissions = True
		doc.insert()
		return Outcome(
			ctx.next_step,
			message=_("{0} {1} for {2}").format(_(doctype), doc.name, owner),
			reference=(doctype, doc.name),
		)


HANDLERS = (CreateActivity(),)
