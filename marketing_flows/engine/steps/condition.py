"""Condition step: branch to `yes_step` or `no_step`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import frappe
from frappe import _

from marketing_flows.engine import filters, hosts, segments
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
	may_change_goals = False
	required = (("condition_type", "Condition Type"),)

	def validate(self, step: Any, flow: Any) -> list[str]:
		errors = super().validate(step, flow)
		need = NEEDS.get(step.get("condition_type"))
		if need and not step.get(need[0]):
			errors.append(
				_("Condition step '{0}': {1} is required for {2}.").format(
					step.step_id, _(need[1]), _(step.condition_type)
				)
			)
		if step.get("condition_type") == "Field" and step.get("condition_filters"):
			person = hosts.person_doctype()
			what = _("Condition step '{0}'").format(step.step_id)
			filters.check_fields(person, filters.parse(step.condition_filters, what), what)
		if step.get("condition_step"):
			target = next((s for s in flow.steps if s.step_id == step.condition_step), None)
			if not target or target.step_type != "Send Email":
				errors.append(
					_("Condition step '{0}': '{1}' is not a Send Email step of this flow.").format(
						step.step_id, step.condition_step
					)
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
			person = hosts.person_doctype()
			conds = filters.parse(step.condition_filters, "Condition Filters")
			return bool(frappe.get_all(person, filters=[[person, "name", "=", contact], *conds], limit=1))
		if kind in ENGAGEMENT:
			return self.engaged(ctx, kind)
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

	def engaged(self, ctx: StepContext, kind: str) -> bool:
		"""Opened / Clicked: this participation's email of `condition_step`, within
		`condition_days` when set. Emailed Recently: the person, across all their participations,
		got `condition_step`'s email (any marketing email of any flow when no step is set) within
		`condition_days` (7 when not set). Events of this same go count too."""
		step = ctx.step
		events = ENGAGEMENT[kind]
		days = step.condition_days or (7 if kind == "Emailed Recently" else 0)
		since = ctx.now - timedelta(days=days) if days else None
		for step_id, event, when in ctx.batch.events_of(ctx.participant["name"]):
			if event in events and (not step.condition_step or step_id == step.condition_step):
				if since is None or when >= since:
					return True
		log = frappe.qb.DocType("Marketing Flow Log")
		query = frappe.qb.from_(log).select(log.name).where(log.event.isin(events)).limit(1)
		if kind == "Emailed Recently":
			query = query.where(log.contact == ctx.participant["contact"])
			if step.condition_step:
				query = query.where((log.flow == ctx.flow.name) & (log.step_id == step.condition_step))
		else:
			query = query.where(log.participant == ctx.participant["name"])
			if step.condition_step:
				query = query.where(log.step_id == step.condition_step)
		if since is not None:
			query = query.where(log.creation >= since)
		return bool(query.run())


HANDLERS = (Condition(),)
