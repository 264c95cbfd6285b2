"""Steps that move the person between flows: Enroll in Flow, End."""

from __future__ import annotations

from typing import TYPE_CHECKING

import frappe
from frappe import _

from marketing_flows.engine.entering import enrolment
from marketing_flows.engine.hosts import doctype_roles
from marketing_flows.engine.steps.base import Outcome, StepContext, StepType

if TYPE_CHECKING:
	pass
	from marketing_flows.engine.doctypes import MarketingFlow, MarketingFlowStep


class EnrollInFlow(StepType):
	name = "Enroll in Flow"
	required = (("target_flow", "Target Flow"),)

	def validate(self, step: MarketingFlowStep, flow: MarketingFlow) -> list[str]:
		errors = super().validate(step, flow)
		if step.get("target_flow") and step.target_flow == flow.name:
			errors.append(
				_("Enroll in Flow step '{0}': a flow can't enrol into itself.").format(step.step_id)
			)
		return errors

	def execute(self, ctx: StepContext) -> Outcome:
		target = frappe.get_cached_doc("Marketing Flow", ctx.step.target_flow)
		names = enrolment.names_for(target, [ctx.participant])
		if not names:
			why = _("it enrols {0}, and this person is not one").format(
				_(doctype_roles.person_doctype(target))
			)
		else:
			result = enrolment.enroll(target, names, source=f"Flow {ctx.flow.name}")
			why = result.not_enrolled.get(names[0]) or result.held_out.get(names[0])  # a control group
		return Outcome(
			ctx.next_step,
			message=_("Enrolled in {0}").format(target.name)
			if not why
			else _("Not enrolled in {0}: {1}").format(target.name, why),
		)


class End(StepType):
	name = "End"
	writes = False
	may_change_goals = False

	def execute(self, ctx: StepContext) -> Outcome:
		return Outcome(None, event="Completed")


HANDLERS = (
	EnrollInFlow(),
	End(),
)
