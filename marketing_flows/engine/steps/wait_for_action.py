"""Wait for Action step: wait until the person does something (clicks a link of this flow's
emails, replies to one, submits a web form, or their record comes to match conditions), at most
until a timeout (`wait_amount` / `wait_unit`, 7 days when empty). The action's branch is
`next_step`; the timeout's is `timeout_step`, or out of the flow ("No action") when empty.

While waiting the participant is Waiting at this step with the timeout as `next_run_at`, like a
Wait. The action's source releases it (measuring/actions.py: "Action Taken" logged, due now);
when the runner wakes it, `wait_over` decides from what was logged since the wait started."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import frappe
from frappe import _
from frappe.utils import cint, now_datetime

from marketing_flows.engine.measuring import actions
from marketing_flows.engine.queries import filters
from marketing_flows.engine.steps.base import Outcome, StepContext, StepType
from marketing_flows.engine.steps.wait import wait_end

if TYPE_CHECKING:
	from marketing_flows.engine.doctypes import MarketingFlow, MarketingFlowStep

WAIT_FOR_ACTION = actions.WAIT_FOR_ACTION
DEFAULT_AMOUNT, DEFAULT_UNIT = 7, "Days"  # the timeout when the step sets none


def timeout_of(step: MarketingFlowStep) -> tuple[int, str]:
	"""(amount, unit) of the step's timeout."""
	amount = cint(step.get("wait_amount"))
	if amount <= 0:
		return DEFAULT_AMOUNT, DEFAULT_UNIT
	return amount, step.get("wait_unit") or DEFAULT_UNIT


def what(step: MarketingFlowStep) -> str:
	return _("Wait for Action step '{0}'").format(step.step_id)


@dataclass
class WaitEnd:
	"""How a wait for an action ends: where the participant goes (None: the flow ends there),
	what to log now (None: nothing, the action was logged at its source)."""

	next_step: str | None
	event: str | None = None
	message: str = ""
	branch: str | None = None
	exit_reason: str | None = None  # the participant leaves the flow (no timeout step)


def wait_over(ctx: StepContext) -> WaitEnd:
	"""The participant waiting at `ctx.step` is due: the action's branch when an action was
	logged since the wait started (or a state it waits for holds now: a change no watched save
	reported), else the timeout's."""
	step, p = ctx.step, ctx.participant
	since, taken = actions.wait_log(p["name"], step.step_id, ctx.events())
	if taken is not None:
		return WaitEnd(step.get("next_step") or None, branch=actions.ACTION_BRANCH)
	found = _state_now(ctx, since)
	if found:
		return WaitEnd(
			step.get("next_step") or None,
			actions.ACTION_TAKEN,
			actions.taken_message(*found),
			actions.ACTION_BRANCH,
		)
	amount, unit = timeout_of(step)
	message = _("No action within {0} {1}").format(amount, _(unit))
	if step.get("timeout_step"):
		return WaitEnd(step.timeout_step, actions.TIMED_OUT, message, actions.TIMEOUT_BRANCH)
	return WaitEnd(None, actions.TIMED_OUT, message, actions.TIMEOUT_BRANCH, exit_reason=_("No action"))


def _state_now(ctx: StepContext, since: datetime | None) -> tuple[str, str] | None:
	"""A web form submitted or the record matching, asked once more at the timeout. A failure
	here (a field deleted since the flow was saved) counts as no action: the wait ends on time."""
	try:
		return actions.state_action(ctx.flow.person_doctype, ctx.step, ctx.participant, since)
	except Exception:
		if not ctx.dry_run:
			frappe.log_error(
				title=f"Marketing Flows: the actions of step {ctx.step.step_id} could not be checked"
			)
		return None


class WaitForAction(StepType):
	name = WAIT_FOR_ACTION
	writes = False
	may_change_goals = False

	def validate(self, step: MarketingFlowStep, flow: MarketingFlow) -> list[str]:
		label = what(step)
		if not actions.chosen(step):
			return [
				_(
					"{0}: choose at least one action to wait for: a click, a reply, a web form or "
					"conditions on the record."
				).format(label)
			]
		errors = []
		if cint(step.get("wait_amount")) < 0:
			errors.append(_("{0}: the timeout can't be negative.").format(label))
		else:
			amount, unit = timeout_of(step)
			try:
				wait_end(amount, unit, now_datetime())
			except (OverflowError, ValueError):
				errors.append(
					_("{0}: a timeout of {1} {2} would end after the year 9999.").format(
						label, amount, _(unit)
					)
				)
		if step.get("action_filters"):
			conds = filters.parse(step.get("action_filters"), _("{0}: Action Filters").format(label))
			filters.check_fields(flow.person_doctype, conds, label)
		form = step.get("action_web_form")
		if form and not frappe.db.get_value("Web Form", form, "doc_type"):
			errors.append(_("{0}: web form {1} does not exist or has no doctype.").format(label, form))
		return errors

	def execute(self, ctx: StepContext) -> Outcome:
		step = ctx.step
		person = ctx.participant.get("person")
		if (
			step.get("action_filters")
			and person
			and person in actions.record_matches(ctx.flow.person_doctype, step, [person])
		):  # nothing to wait for: the record matches already
			return Outcome(
				ctx.next_step,
				event=actions.ACTION_TAKEN,
				message=actions.taken_message(actions.RECORD),
				branch=actions.ACTION_BRANCH,
			)
		amount, unit = timeout_of(step)
		try:
			until = wait_end(amount, unit, ctx.now, ctx.clock)
		except (OverflowError, ValueError) as e:  # saved before the check at save existed
			raise frappe.ValidationError(
				_("{0}: a timeout of {1} {2} would end after the year 9999.").format(
					what(step), amount, _(unit)
				)
			) from e
		return Outcome(
			ctx.next_step,
			run_at=until,
			message=_("Waiting for {0}, at most until {1}").format(
				actions.describe(step), f"{until:%Y-%m-%d %H:%M}"
			),
		)


HANDLERS = (WaitForAction(),)
