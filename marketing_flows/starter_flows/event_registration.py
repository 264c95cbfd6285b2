"""Event registration with SMS reminders: a confirmation email when someone registers, an SMS
the day before and on the morning of the event, and a thank-you email the day after. The event's
moment is a placeholder three weeks ahead that the marketer sets in the two waits."""

from __future__ import annotations

from frappe import _
from frappe.utils import add_days, today

from marketing_flows.starter_flows import FIRST_NAME, Content, Site, Starter, paragraphs, step

WEEKS_AHEAD = 3  # where the placeholder event is, from the day the starter is made


def build(site: Site) -> Starter:
	event_day = add_days(today(), WEEKS_AHEAD * 7)
	return Starter(
		key="event_registration",
		title=_("Event registration with SMS reminders"),
		description=" ".join(
			(
				_(
					"Confirms each registration by email, reminds by SMS the day before and on the "
					"morning of the event, and thanks them the day after."
				),
				_(
					"Set your event's date in the two Wait Until steps (they are set three weeks ahead), "
					"and to enrol everyone who registers on your site set the trigger to Web Form and "
					"pick your registration form. People without a mobile number get the emails only."
				),
				_("Choose the sender of the emails and check the SMS Settings before you run it."),
			)
		),
		flow={"trigger_type": "Manual", "person_doctype": site.person},
		steps=[
			step(
				"confirm",
				"Send Email",
				_("Registration confirmed"),
				0,
				0,
				content="confirm",
				next_step="day_before",
			),
			step(
				"day_before",
				"Wait",
				_("Wait until the day before, 09:00"),
				0,
				1,
				wait_until=f"{add_days(event_day, -1)} 09:00:00",
				next_step="sms_tomorrow",
			),
			step(
				"sms_tomorrow",
				"Send SMS",
				_("SMS: see you tomorrow"),
				0,
				2,
				content="sms_tomorrow",
				next_step="morning",
			),
			step(
				"morning",
				"Wait",
				_("Wait until the event's morning, 08:00"),
				0,
				3,
				wait_until=f"{event_day} 08:00:00",
				next_step="sms_today",
			),
			step("sms_today", "Send SMS", _("SMS: today"), 0, 4, content="sms_today", next_step="day_after"),
			step(
				"day_after",
				"Wait",
				_("Wait 1 day"),
				0,
				5,
				wait_amount=1,
				wait_unit="Days",
				next_step="thanks",
			),
			step("thanks", "Send Email", _("Thank you for coming"), 0, 6, content="thanks"),
		],
		contents=[
			Content(
				"confirm",
				_("Registration confirmed"),
				"Email",
				subject=_("You are registered, {0}!").format(FIRST_NAME),
				body=paragraphs(
					_("Hi {0},").format(FIRST_NAME),
					_("Thank you for registering. Your place is booked, and we look forward to seeing you."),
					_("We will send you a reminder by SMS the day before."),
					_("Best regards"),
				),
			),
			Content(
				"sms_tomorrow",
				_("SMS: see you tomorrow"),
				"SMS",
				body=_("Hi {0}, a reminder: our event is tomorrow. See you there!").format(FIRST_NAME),
			),
			Content(
				"sms_today",
				_("SMS: today"),
				"SMS",
				body=_("Hi {0}, we start today. Welcome!").format(FIRST_NAME),
			),
			Content(
				"thanks",
				_("Thank you for coming"),
				"Email",
				subject=_("Thank you for coming, {0}").format(FIRST_NAME),
				body=paragraphs(
					_("Hi {0},").format(FIRST_NAME),
					_("Thank you for joining us. We hope it was worth your time."),
					_("Reply to this email to tell us what you thought, or what you would like next time."),
					_("Best regards"),
				),
			),
		],
	)
