"""Wait step: a duration, until a moment, or until a date field of the person."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import frappe
from frappe import _
from frappe.utils import get_datetime

from marketing_flows.engine import hosts, window
from marketing_flows.engine.steps.base import Outcome, StepContext, StepType

UNITS = {"Minutes": "minutes", "Hours": "hours", "Days": "days", "Weeks": "weeks"}


class Wait(StepType):
	name = "Wait"
	writes = False
	may_change_goals = False

	def validate(self, step: Any, flow: Any) -> list[str]:
		ways = [
			bool(step.get("wait_amount")),
			bool(step.get("wait_until")),
			bool(step.get("wait_date_field")),
		]
		if sum(ways) == 0 and not step.get("use_sending_window"):
			return [
				_("Wait step '{0}': set a duration, a Wait Until moment or a date field.").format(
					step.step_id
				)
			]
		if sum(ways) > 1:
			return [
				_("Wait step '{0}': use only one of duration, Wait Until and date field.").format(
					step.step_id
				)
			]
		if (step.get("wait_amount") or 0) < 0:
			return [_("Wait step '{0}': the duration can't be negative.").format(step.step_id)]
		field = step.get("wait_date_field")
		if field:
			meta = frappe.get_meta(hosts.person_doctype(flow))
			df = meta.get_field(field)
			if not df or df.fieldtype not in ("Date", "Datetime"):
				return [
					_("Wait step '{0}': '{1}' is not a date field of {2}.").format(
						step.step_id, field, _(meta.name)
					)
				]
		return []

	def execute(self, ctx: StepContext) -> Outcome:
		step, now = ctx.step, ctx.now
		until: datetime = now
		if step.get("wait_amount"):
			until = now + timedelta(**{UNITS[step.wait_unit or "Days"]: step.wait_amount})
		elif step.get("wait_until"):
			until = get_datetime(step.wait_until)
		elif step.get("wait_date_field"):
			value = ctx.contact.get(step.wait_date_field)
			if not value:
				return Outcome(
					ctx.next_step,
					event="Step Skipped",
					message=_("{0} is empty").format(step.wait_date_field),
				)
			until = get_datetime(value) + timedelta(days=step.wait_date_offset or 0)
		if step.get("use_sending_window"):
			until = window.next_open(ctx.flow, max(until, now))
		until = max(until, now)
		return Outcome(
			ctx.next_step, run_at=until, message=_("Waiting until {0}").format(f"{until:%Y-%m-%d %H:%M}")
		)


HANDLERS = (Wait(),)
