"""Welcome series: three emails a few days apart for someone new, ending early once they book
a meeting or (where the site has deals) become a deal."""

from __future__ import annotations

from frappe import _

from marketing_flows.starter_flows import FIRST_NAME, Content, Site, Starter, paragraphs, step


def build(site: Site) -> Starter:
	goals = []
	if site.deal:
		goals.append({"criterion_type": "Deal Created", "label": _("Became a deal")})
	if site.appointment:
		goals.append({"criterion_type": "Appointment Created", "label": _("Booked a meeting")})
	if site.deal:
		goal = _("The goal is met when a deal is made for them or a meeting is booked with them.")
	else:
		goal = _("The goal is met when a meeting is booked with them.")
	return Starter(
		key="welcome_series",
		title=_("Welcome series"),
		description=" ".join(
			(
				_(
					"Greets new subscribers with three emails a few days apart: a welcome, useful tips, "
					"and an invitation to talk."
				),
				goal,
				_(
					"Add people with Add to flow, or set the trigger to Email Group to welcome everyone who "
					"joins your newsletter. Choose the sender of the emails before you run it."
				),
			)
		),
		flow={
			"trigger_type": "Manual",
			"person_doctype": site.person,
			"success_criteria": goals,
			"success_logic": "Any",
		},
		steps=[
			step("welcome", "Send Email", _("Welcome email"), 0, 0, content="welcome", next_step="wait_1"),
			step("wait_1", "Wait", _("Wait 3 days"), 0, 1, wait_amount=3, wait_unit="Days", next_step="tips"),
			step("tips", "Send Email", _("Tips email"), 0, 2, content="tips", next_step="wait_2"),
			step("wait_2", "Wait", _("Wait 4 days"), 0, 3, wait_amount=4, wait_unit="Days", next_step="talk"),
			step("talk", "Send Email", _("Invitation to talk"), 0, 4, content="talk"),
		],
		contents=[
			Content(
				"welcome",
				_("Welcome"),
				"Email",
				subject=_("Welcome, {0}!").format(FIRST_NAME),
				body=paragraphs(
					_("Hi {0},").format(FIRST_NAME),
					_("Thank you for signing up. We are glad to have you with us."),
					_("Over the next days we will send you a few short emails to help you get started."),
					_("Best regards"),
				),
			),
			Content(
				"tips",
				_("Tips"),
				"Email",
				subject=_("Three tips to get the most out of us"),
				body=paragraphs(
					_("Hi {0},").format(FIRST_NAME),
					_("Here are three things our customers find most useful:"),
					_("1. Tell us what you need, and we will find the right solution with you."),
					_("2. Follow our news to hear about new products and offers first."),
					_("3. Reply to this email whenever you have a question: a real person answers."),
					_("Best regards"),
				),
			),
			Content(
				"talk",
				_("Invitation to talk"),
				"Email",
				subject=_("Shall we talk, {0}?").format(FIRST_NAME),
				body=paragraphs(
					_("Hi {0},").format(FIRST_NAME),
					_(
						"We would love to hear what you are working on. Reply to this email to book a "
						"short call at a time that suits you."
					),
					_("Best regards"),
				),
			),
		],
	)
