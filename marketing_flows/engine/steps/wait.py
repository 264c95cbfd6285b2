"""Wait step: a duration, until a moment, or until a date field of the person."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import frappe
from frappe import _
from frappe.utils import get_datetime, now_datetime

from marketing_flows.engine.sending import window
from marketing_flows.engine.steps.base import Outcome, StepContext, StepType

if TYPE_CHECKING:
	from marketing_flows.engine.doctypes import MarketingFlow, MarketingFlowStep

UNITS = {"Minutes": "minutes", "Hours": "hours", "Days": "days", "Weeks": "weeks"}
# Minutes and hours are real elapsed time (a 2-hour wait lasts 2 hours when the clocks change
# in between); days and weeks are calendar days: the wait ends at the same wall-clock time of
# the site's time zone (an email sent at 09:00 is followed up at 09:00, summer time or not).
ELAPSED_UNITS = ("Minutes", "Hours")


def wait_end(amount: int, unit: str | None, start: datetime) -> datetime:
	"""When a wait of `amount` `unit` started at `start` (naive site time) ends, as naive site
	time. OverflowError when that is past the year 9999 (MariaDB's last year, less a week for
	a sending window)."""
	unit = unit or "Days"
	delta = timedelta(**{UNITS[unit]: amount})
	end = window.add_elapsed(start, delta) if unit in ELAPSED_UNITS else start + delta
	if end > window.LATEST:
		raise OverflowError(end)
	return end


def shifted(moment: datetime, days: int) -> datetime:
	"""`moment` moved by `days` calendar days (the date field's offset); OverflowError past the
	year 9999 or before the year 1."""
	if not days:
		return moment
	end = moment + timedelta(days=days)
	if end > window.LATEST:
		raise OverflowError(end)
	return end


def too_far(step: MarketingFlowStep) -> str:
	return _("Wait step '{0}': a wait of {1} {2} would end after the year 9999.").format(
		step.step_id, step.wait_amount, _(step.wait_unit or "Days")
	)


def offset_too_far(step: MarketingFlowStep) -> str:
	return _("Wait step '{0}': an offset of {1} days would end outside the years 1 to 9999.").format(
		step.step_id, step.wait_date_offset
	)


class Wait(StepType):
	name = "Wait"
	writes = False
	may_change_goals = False

	def validate(self, step: MarketingFlowStep, flow: MarketingFlow) -> list[str]:
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
		if step.get("wait_amount"):
			try:
				wait_end(step.wait_amount, step.wait_unit, now_datetime())
			except (OverflowError, ValueError):
				return [too_far(step)]
		if step.get("wait_date_offset"):
			try:
				shifted(now_datetime(), step.wait_date_offset)
			except (OverflowError, ValueError):
				return [offset_too_far(step)]
		field = step.get("wait_date_field")
		if field:
			meta = frappe.get_meta(flow.person_doctype)
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
			try:
				until = wait_end(step.wait_amount, step.wait_unit, now)
			except (OverflowError, ValueError) as e:  # saved before the check at save existed
				raise frappe.ValidationError(too_far(step)) from e
		elif step.get("wait_until"):
			until = get_datetime(step.wait_until)
		elif step.get("wait_date_field"):
			value = ctx.contact.get(step.get("wait_date_field"))
			if not value:
				return Outcome(
					ctx.next_step,
					event="Step Skipped",
					message=_("{0} is empty").format(step.wait_date_field),
				)
			try:
				until = shifted(get_datetime(value), step.wait_date_offset or 0)
			except (OverflowError, ValueError) as e:
				raise frappe.ValidationError(offset_too_far(step)) from e
		if step.get("use_sending_window"):
			until = window.next_open(ctx.flow, max(until, now))
		until = max(until, now)
		return Outcome(
			ctx.next_step, run_at=until, message=_("Waiting until {0}").format(f"{until:%Y-%m-%d %H:%M}")
		)


HANDLERS = (Wait(),)
