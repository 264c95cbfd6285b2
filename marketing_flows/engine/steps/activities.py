"""Create Activity: a task for the person's owner (ToDo or Frappe CRM's task), or a follow-up in
their calendar (an Event they own, with the person as its participant): at a time of day, or
in the first free slot of their working day that no Event of theirs overlaps (a working day:
Monday to Friday, not one of the company's holidays in Marketing Flow Settings).

Times are on the site's clock (System Settings' time zone), as Frappe's calendar stores them."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

import frappe
from frappe import _
from frappe.utils import add_days, cint, get_datetime, get_time, getdate

from marketing_flows.engine.hosts import doctype_roles, owners
from marketing_flows.engine.sending import calendar, render
from marketing_flows.engine.steps.base import Outcome, StepContext, StepType

if TYPE_CHECKING:
	from marketing_flows.engine.doctypes import MarketingFlow, MarketingFlowStep

CALENDAR_EVENT = "Calendar Event"
DAY_STARTS, DAY_ENDS = time(9, 0), time(17, 0)  # the working day a free slot is looked for in
SLOT_STEP = timedelta(minutes=15)  # free slots start on a quarter hour
DEFAULT_MINUTES = 30
DAYS_LOOKED_AT = 14  # a full day: the next days are looked at, up to this many


class CreateActivity(StepType):
	name = "Create Activity"
	required = (("activity_description", "Activity Description"),)

	def validate(self, step: MarketingFlowStep, flow: MarketingFlow) -> list[str]:
		errors = super().validate(step, flow)
		what = _("Create Activity step '{0}'").format(step.step_id)
		if err := render.problem(step.get("activity_description")):
			errors.append(_("{0}: the description's Jinja is invalid ({1}).").format(what, err))
		if (step.get("activity_due_days") or 0) < 0:
			errors.append(_("{0}: the activity can't be due in the past.").format(what))
		if problem := owners.user_problem(step.get("assign_to")):
			errors.append(f"{what}: {problem}")
		if step.get("activity_kind") == CALENDAR_EVENT:
			minutes = cint(step.get("activity_duration"))
			if step.get("activity_duration") not in (None, "") and not 5 <= minutes <= 8 * 60:
				errors.append(_("{0}: the duration must be 5 to 480 minutes.").format(what))
		return errors

	def execute(self, ctx: StepContext) -> Outcome:
		person_dt = ctx.flow.person_doctype
		description = render.render(ctx.step.activity_description, ctx.template_context())
		owner = self.assignee(ctx)
		due = add_days(getdate(ctx.now), ctx.step.activity_due_days or 0)
		if ctx.step.get("activity_kind") == CALENDAR_EVENT:
			return self.calendar_event(ctx, description, owner, getdate(due))
		doctype = doctype_roles.doctype_for("activity") or "ToDo"
		contact = ctx.participant["person"]
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
			doc.append("event_participants", {"reference_doctype": person_dt, "reference_docname": contact})
		else:
			meta = frappe.get_meta(doctype)
			values = {
				"description": description,
				"title": description[:140],
				"allocated_to": owner,
				"assigned_to": owner,
				"date": due,
				"due_date": due,
				"reference_type": person_dt,
				"reference_name": contact,
				"reference_doctype": person_dt,
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

	def assignee(self, ctx: StepContext) -> str:
		"""The step's user, else the person's owner (owners.py: theirs or their company's), else
		whoever made the person's record, else Administrator."""
		company_dt = ctx.participant.get("company_doctype") or doctype_roles.doctype_for("company")
		maker = ctx.contact.get("owner")
		return (
			ctx.step.get("assign_to")
			or owners.person_owner(
				ctx.flow.person_doctype, ctx.contact, company_dt, ctx.participant.get("company")
			)
			or (maker if maker and maker != "Guest" else None)
			or "Administrator"
		)

	def calendar_event(self, ctx: StepContext, description: str, user: str, day: date) -> Outcome:
		"""An Event owned by `user` (it is in their calendar) with the person as its participant,
		at the step's time of day or in the user's first free slot."""
		minutes = cint(ctx.step.get("activity_duration")) or DEFAULT_MINUTES
		length = timedelta(minutes=minutes)
		if ctx.step.get("activity_time"):
			starts = datetime.combine(day, get_time(ctx.step.activity_time))
			if starts < ctx.now:  # a time already gone today: tomorrow's
				starts += timedelta(days=1)
			how = _("at the time set")
		else:
			memo = ctx.memo
			if "company_holidays" not in memo:  # once per batch
				memo["company_holidays"] = calendar.company_holidays(ctx.settings)
			starts = first_free_slot(user, day, length, ctx.now, memo["company_holidays"])
			how = _("first free slot")
		person_dt = ctx.flow.person_doctype
		doc = frappe.get_doc(
			{
				"doctype": "Event",
				"subject": description[:140],
				"description": description,
				"event_category": "Call",
				"event_type": "Private",
				"starts_on": starts,
				"ends_on": starts + length,
				"event_participants": [
					{"reference_doctype": person_dt, "reference_docname": ctx.participant["person"]}
				],
			}
		)
		doc.flags.ignore_permissions = True
		doc.insert()
		# the user's own event, as if they had put it in their calendar (Frappe makes the
		# inserting user, the runner's, its owner)
		frappe.db.set_value("Event", doc.name, "owner", user, update_modified=False)
		return Outcome(
			ctx.next_step,
			message=_("Event {0} for {1} on {2} ({3})").format(
				doc.name, user, f"{starts:%Y-%m-%d %H:%M}", how
			),
			reference=("Event", doc.name),
		)


def busy_times(user: str, day: date) -> list[tuple[datetime, datetime]]:
	"""(start, end) of the user's Events on `day` (theirs, or shared with them; repeating ones
	too, as Frappe's calendar shows them); an Event without an end takes DEFAULT_MINUTES, an
	all-day one the whole day."""
	from frappe.desk.doctype.event.event import get_events

	busy = []
	for event in get_events(str(day), str(day), user=user):
		if event.get("event_type") == "Public" and event.get("owner") != user:
			continue  # someone else's public event: not in this user's way
		starts = get_datetime(event.starts_on)
		if event.get("all_day"):
			starts, ends = (
				datetime.combine(getdate(starts), time.min),
				datetime.combine(getdate(event.get("ends_on") or starts), time.max),
			)
		else:
			ends = (
				get_datetime(event.ends_on)
				if event.get("ends_on")
				else starts + timedelta(minutes=DEFAULT_MINUTES)
			)
		busy.append((starts, ends))
	return busy


def working_days(day: date, days_off: Collection[date], count: int) -> list[date]:
	"""The first `count` working days from `day` on: Monday to Friday, not in `days_off`."""
	days: list[date] = []
	current = day
	while len(days) < count:
		if current.weekday() < 5 and current not in days_off:
			days.append(current)
		current += timedelta(days=1)
	return days


def first_free_slot(
	user: str, day: date, length: timedelta, now: datetime, days_off: Collection[date] = ()
) -> datetime:
	"""The first moment on a quarter hour, from 09:00 to 17:00 of the first working day from `day`
	on (`working_days`) and not before `now`, when `length` fits between the user's Events; a
	full day: the next working days'. None free in DAYS_LOOKED_AT working days: 09:00 of the
	first (or the next quarter hour after `now`)."""
	days = working_days(day, days_off, DAYS_LOOKED_AT)
	for current in days:
		busy = busy_times(user, current)
		slot = datetime.combine(current, DAY_STARTS)
		closes = datetime.combine(current, DAY_ENDS)
		while slot + length <= closes:
			if slot >= now and not any(s < slot + length and slot < e for s, e in busy):
				return slot
			slot += SLOT_STEP
	fallback = datetime.combine(days[0], DAY_STARTS)
	while fallback < now:
		fallback += SLOT_STEP
	return fallback


HANDLERS = (CreateActivity(),)
