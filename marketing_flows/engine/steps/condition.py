"""Condition step: branch to `yes_step` or `no_step`."""

from __future__ import annotations

from typing import Any

from datetime import timedelta

import frappe

from marketing_flows.engine import filters, hosts, segments
from marketing_flows.engine.steps import register
from marketing_flows.engine.steps.base import Outcome, StepContext, StepType

ENGAGEMENT = {"Opened": ("Opened", "Clicked"), "Clicked": ("Clicked",), "Emailed Recently": ("Email Sent",)}

NEEDS = {
	"Field": ("condition_filters", "Condition Filters"),
	"In Email Group": ("email_group", "Email Group"),
	"In Segment": ("segment", "Segment"),
}


class Condition(StepType):
	name = "Condition"
	writes = False
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


	def execute(self, ctx: StepContext) -> Outcome:
		answer = self.holds(ctx)
		return Outcome(
			ctx.step.yes_step if answer else ctx.step.no_step,
			event="Branch Yes" if answer else "Branch No",
			message=ctx.step.condition_type,
		)

	def holds(self, ctx: StepContext) -> bool:
		step, contact = ctx.step, ctx.participant["contact"]
		kind = step.condition_type
		if kind == "Field":
			person = hosts.doctype_for("person") or "Contact"
			conds = filters.parse(step.condition_filters, "Condition Filters")
			return bool(frappe.get_all(person, filters=[[person, "name", "=", contact], *conds], limit=1))
		if kind in ENGAGEMENT:
			where = {"participant": ctx.participant["name"], "event": ("in", ENGAGEMENT[kind])}
			if step.condition_step and kind != "Emailed Recently":
				where["step_id"] = step.condition_step
			days = step.condition_days or (7 if kind == "Emailed Recently" else 0)
			if days:
				where["creation"] = (">=", ctx.now - timedelta(days=days))
			return bool(frappe.get_all("Marketing Flow Log", filters=where, limit=1))
		if kind == "In Email Group":
			email = ctx.participant.get("email")
			return bool(
				email
				and frappe.db.exists(
					"Email Group Member", {"email_group": step.email_group, "email": email, "unsubscribed": 0}
				)
			)
		if kind == "In Segment":
			segment = frappe.get_cached_doc("Marketing Segment", step.segment)
			return contact in segments.members_among(segment, [contact])
		raise frappe.ValidationError(f"Unknown condition type {kind!r}")


register(Condition())
