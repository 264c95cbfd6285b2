"""Wait step: a duration, until a moment, or until a date field of the person; then, if asked, to
a time of day (on a working day) and into the sending window, on the person's clock."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

import frappe
from frappe import _
from frappe.utils import get_datetime, get_time, getdate, now_datetime

from marketing_flows.engine.sending import window
from marketing_flows.engine.steps.base import Outcome, StepContext, StepType

if TYPE_CHECKING:
	from marketing_flows.engine.doctypes import MarketingFlow, MarketingFlowStep
	from marketing_flows.engine.sending.send_times import Clock

UNITS = {"Minutes": "minutes", "Hours": "hours", "Days": "days", "Weeks": "weeks"}
# Minutes and hours are real elapsed time (a 2-hour wait lasts 2 hours when the clocks change
# in between); days and weeks are calendar days: the wait ends at the same wall-clock time of
# the person's clock (or the flow's: an email sent at 09:00 is followed up at 09:00, summer
# time or not, where the person is).
ELAPSED_UNITS = ("Minutes", "Hours")


def wait_end(amount: int, unit: str | None, start: datetime, clock: Clock | None = None) -> datetime:
	"""When a wait of `amount` `unit` started at `start` (naive site time) ends, as naive site
	time; days and weeks on `clock` (None: the site's wall clock). OverflowError when that is
	past the year 9999 (MariaDB's last year, less a week for a sending window)."""
	unit = unit or "Days"
	delta = timedelta(**{UNITS[unit]: amount})
	if unit in ELAPSED_UNITS:
		end = window.add_elapsed(start, delta)
	elif clock is not None:
		end = clock.add_days(start, delta.days)
	else:
		end = start + delta
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
		if sum(ways) == 0 and not (
			step.get("use_sending_window") or step.get("wait_at_time") or step.get("wait_working_day")
		):
			return [
				_(
					"Wait step '{0}': set a duration, a Wait Until moment, a date field or a time of day."
				).format(step.step_id)
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
		step, now, clock = ctx.step, ctx.now, ctx.clock
		until: datetime = now
		if step.get("wait_amount"):
			try:
				until = wait_end(step.wait_amount, step.wait_unit, now, clock)
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
				until = self.date_field_moment(value, step, clock)
			except (OverflowError, ValueError) as e:
				raise frappe.ValidationError(offset_too_far(step)) from e
		at = get_time(step.wait_at_time) if step.get("wait_at_time") else None
		working = bool(step.get("wait_working_day"))
		if step.get("wait_date_field") and at is not None:
			if working:  # on the date at that time already; a weekend or holiday moves it on
				until = clock.at_time_of_day(until, at, working_day=True)
		elif at is not None or working:
			start = max(until, now)
			until = clock.at_time_of_day(start, at or clock.local(start).time(), working)
		if step.get("use_sending_window"):
			until, _why = clock.next_send(max(until, now), "")
		until = max(until, now)
		local = clock.local(until)
		where = "" if clock.same_as_site else f" ({clock.zone_name})"
		return Outcome(
			ctx.next_step,
			run_at=until,
			message=_("Waiting until {0}").format(f"{local:%Y-%m-%d %H:%M}{where}"),
		)

	@staticmethod
	def date_field_moment(value: date | datetime | str, step: MarketingFlowStep, clock: Clock) -> datetime:
		"""The date field's moment (± offset days); at the step's time of day on that day of the
		person's clock when one is set (a Date is the person's day; a Datetime is read on their
		clock)."""
		offset = step.wait_date_offset or 0
		if not step.get("wait_at_time"):
			return shifted(get_datetime(value), offset)
		moment = get_datetime(value)
		is_date = (
			isinstance(value, date)
			and not isinstance(value, datetime)
			or (isinstance(value, str) and len(value.strip()) <= 10)
		)
		day = getdate(value) if is_date else clock.local(moment).date()
		day = shifted(datetime.combine(day, datetime.min.time()), offset).date()
		return clock.on_local_date(day, get_time(step.wait_at_time))


HANDLERS = (Wait(),)
