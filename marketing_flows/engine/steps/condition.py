"""Condition step: branch to `yes_step` or `no_step`."""

from __future__ import annotations

from typing import Any

from marketing_flows.engine import filters, hosts
from marketing_flows.engine.steps import register
from marketing_flows.engine.steps.base import StepType

NEEDS = {
	"Field": ("condition_filters", "Condition Filters"),
	"In Email Group": ("email_group", "Email Group"),
	"In Segment": ("segment", "Segment"),
}


class Condition(StepType):
	name = "Condition"
	required = (("condition_type", "Condition Type"),)

	def validate(self, step: Any, flow: Any) -> list[str]:
		errors = super().validate(step, flow)
		need = NEEDS.get(step.get("condition_type"))
		if need and not step.get(need[0]):
			errors.append(f"Condition step '{step.step_id}': {need[1]} is required for {step.condition_type}.")
		if step.get("condition_type") == "Field" and step.get("condition_filters"):
			person = hosts.doctype_for("person") or "Contact"
			what = f"Condition step '{step.step_id}'"
			filters.check_fields(person, filters.parse(step.condition_filters, what), what)
		if step.get("condition_step"):
			target = next((s for s in flow.steps if s.step_id == step.condition_step), None)
			if not target or target.step_type != "Send Email":
				errors.append(
					f"Condition step '{step.step_id}': '{step.condition_step}' is not a Send Email step of this flow."
				)
		return errors


register(Condition())
