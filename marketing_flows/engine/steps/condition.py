"""Condition step: branch to `yes_step` or `no_step`; and the one evaluator of a condition
(a Condition step's or a Split branch's fields), shared by both."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import frappe
from frappe import _

from marketing_flows.engine import log as marketing_log
from marketing_flows.engine.hosts import doctype_roles
from marketing_flows.engine.queries import criteria, filters, segments
from marketing_flows.engine.steps.base import Outcome, StepContext, StepType

if TYPE_CHECKING:
	from marketing_flows.engine.doctypes import MarketingFlow, MarketingFlowBranch, MarketingFlowStep

	ConditionSpec = MarketingFlowStep | MarketingFlowBranch  # a Condition step or a Split branch

ENGAGEMENT = {
	"Opened": ("Opened", "Clicked"),
	"Clicked": ("Clicked",),
	"Replied": ("Replied",),
	"Emailed Recently": ("Email Sent",),
}

# condition type -> (field it needs, its label)
NEEDS = {
	"Field": ("condition_filters", "Condition Filters"),
	"Company Field": ("condition_filters", "Condition Filters"),
	"In Email Group": ("email_group", "Email Group"),
	"In Segment": ("segment", "Segment"),
	"Web Form Submitted": ("web_form", "Web Form"),
}
CONDITION_TYPES = (
	"Field",
	"Company Field",
	"Opened",
	"Clicked",
	"In Email Group",
	"In Segment",
	"Emailed Recently",
	"Web Form Submitted",
	"Replied",
)


def condition_problems(spec: ConditionSpec, flow: MarketingFlow, what: str) -> list[str]:
	"""What is missing or wrong in a condition's fields; `what` names the step (or branch)."""
	kind = spec.get("condition_type")
	if not kind:
		return [_("{0}: {1} is required.").format(what, _("Condition Type"))]
	if kind not in CONDITION_TYPES:
		return [_("{0}: '{1}' is not a condition type.").format(what, kind)]
	errors: list[str] = []
	need = NEEDS.get(kind)
	if need and not spec.get(need[0]):
		errors.append(_("{0}: {1} is required for {2}.").format(what, _(need[1]), _(kind)))
	if kind == "Field" and spec.get("condition_filters"):
		person = flow.person_doctype
		filters.check_fields(person, filters.parse(spec.condition_filters, what), what)
	if kind == "Company Field" and spec.get("condition_filters"):
		company = doctype_roles.doctype_for("company")
		if not company:
			errors.append(_("{0}: this site has no company doctype (Marketing Flow Settings).").format(what))
		else:
			filters.check_fields(company, filters.parse(spec.condition_filters, what), what)
	if spec.get("condition_step") and kind in ENGAGEMENT:
		target = next((s for s in flow.steps if s.step_id == spec.condition_step), None)
		if not target or target.step_type != "Send Email":
			errors.append(
				_("{0}: '{1}' is not a Send Email step of this flow.").format(what, spec.condition_step)
			)
	return errors


def describe(spec: ConditionSpec) -> str:
	"""The condition in words, for the log: why a participant took a branch."""
	kind = spec.condition_type
	email = f" '{spec.condition_step}'" if spec.get("condition_step") else ""
	days = _(" within {0} days").format(spec.condition_days) if spec.get("condition_days") else ""
	if kind == "Opened":
		return _("opened{0}{1}").format(email, days)
	if kind == "Clicked":
		link = _(" a link containing '{0}'").format(spec.condition_url) if spec.get("condition_url") else ""
		return _("clicked{0}{1}{2}").format(link, email, days)
	if kind == "Replied":
		return _("replied{0}{1}").format(email, days)
	if kind == "Emailed Recently":
		return _("emailed{0}{1}").format(email, days)
	if kind == "In Email Group":
		return _("in email group {0}").format(spec.email_group)
	if kind == "In Segment":
		return _("in segment {0}").format(spec.segment)
	if kind == "Web Form Submitted":
		return _("submitted {0}{1}").format(spec.web_form, days)
	return f"{_(kind)}: {spec.get('condition_filters') or ''}"


def condition_holds(ctx: StepContext, spec: ConditionSpec) -> bool:
	"""Does the condition described by `spec` (a Condition step or a Split branch) hold for
	the participant now?"""
	name = ctx.participant["person"]
	kind = spec.condition_type
	if kind == "Field":
		person = ctx.flow.person_doctype
		conds = filters.parse(spec.condition_filters, "Condition Filters")
		return bool(frappe.get_all(person, filters=[[person, "name", "=", name], *conds], limit=1))
	if kind == "Company Field":
		company, doctype = ctx.participant.get("company"), doctype_roles.doctype_for("company")
		if not company or not doctype:
			return False
		conds = filters.parse(spec.condition_filters, "Condition Filters")
		return bool(frappe.get_all(doctype, filters=[[doctype, "name", "=", company], *conds], limit=1))
	if kind in ENGAGEMENT:
		return _engaged(ctx, spec, kind)
	if kind == "In Email Group":
		email = ctx.participant.get("email")
		return bool(
			email
			and frappe.db.exists(
				"Email Group Member", {"email_group": spec.email_group, "email": email, "unsubscribed": 0}
			)
		)
	if kind == "In Segment":
		segment = frappe.get_cached_doc("Marketing Segment", spec.segment)
		return name in segments.members_among(segment, [name])
	if kind == "Web Form Submitted":
		doctype = frappe.get_cached_value("Web Form", spec.web_form, "doc_type")
		since = ctx.now - timedelta(days=spec.condition_days) if spec.get("condition_days") else None
		who = criteria.Person.of(ctx.participant)
		who.since = since
		return bool(doctype) and criteria.names_person(doctype, who, ctx.flow.person_doctype)
	raise frappe.ValidationError(f"Unknown condition type {kind!r}")


def _engaged(ctx: StepContext, spec: ConditionSpec, kind: str) -> bool:
	"""Opened / Clicked / Replied: this participation's email of `condition_step` (any email of
	the flow when not set), within `condition_days` when set (Clicked: on a link containing
	`condition_url` when set; Replied: a reply logged by measuring/replies.py).
	Emailed Recently: the person, across all their participations, got `condition_step`'s
	email (any marketing email of any flow when no step is set) within `condition_days` (7 when
	not set). Events of this same go count too."""
	events = ENGAGEMENT[kind]
	days = spec.condition_days or (7 if kind == "Emailed Recently" else 0)
	since = ctx.now - timedelta(days=days) if days else None
	url = spec.get("condition_url") if kind == "Clicked" else None
	if not url:
		for step_id, event, when in ctx.events():
			if event in events and (not spec.condition_step or step_id == spec.condition_step):
				if since is None or when >= since:
					return True
	log = frappe.qb.DocType("Marketing Flow Log")
	query = frappe.qb.from_(log).select(log.name).where(log.event.isin(events)).limit(1)
	if kind == "Emailed Recently":
		query = query.where(marketing_log.of_person(log, ctx.participant))
		if spec.condition_step:
			query = query.where((log.flow == ctx.flow.name) & (log.step_id == spec.condition_step))
	else:
		query = query.where(log.participant == ctx.participant["name"])
		if spec.condition_step:
			query = query.where(log.step_id == spec.condition_step)
	if url:
		query = query.where(log.url.like(f"%{url}%"))
	if since is not None:
		query = query.where(log.creation >= since)
	return bool(query.run())


class Condition(StepType):
	name = "Condition"
	writes = False
	may_change_goals = False

	def validate(self, step: MarketingFlowStep, flow: MarketingFlow) -> list[str]:
		return condition_problems(step, flow, _("Condition step '{0}'").format(step.step_id))

	def execute(self, ctx: StepContext) -> Outcome:
		answer = condition_holds(ctx, ctx.step)
		reason = describe(ctx.step)
		return Outcome(
			ctx.step.yes_step if answer else ctx.step.no_step,
			event="Branch Yes" if answer else "Branch No",
			message=reason if answer else _("not {0}").format(reason),
		)


HANDLERS = (Condition(),)
