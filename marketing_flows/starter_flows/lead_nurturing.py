"""Lead nurturing: new leads get useful content over two weeks, those who engage get a call
from sales, and the flow is done once the lead is converted. Needs a lead doctype (Frappe CRM's
CRM Lead or ERPNext's Lead); on a site without one it is shown greyed out with the reason."""

from __future__ import annotations

from frappe import _

from marketing_flows.starter_flows import FIRST_NAME, Content, Site, Starter, paragraphs, step


def build(site: Site) -> Starter:
	leads = site.leads
	starter = Starter(
		key="lead_nurturing",
		title=_("Lead nurturing"),
		description=" ".join(
			(
				_(
					"Warms up new leads: an introduction, then a customer story for those who opened it "
					"or a second try for those who did not, and a call from sales for the interested."
				),
				_(
					"It starts by itself for every new {0}; the goal is met when the lead is converted."
				).format(_(leads or "Lead")),
				_("Choose the sender of the emails before you run it."),
			)
		),
		flow={
			"trigger_type": "Document Event",
			"trigger_doctype": leads,
			"trigger_event": "Insert",
			"person_doctype": leads,
			"success_criteria": [{"criterion_type": "Lead Converted", "label": _("Converted")}],
		},
		steps=[
			step("intro", "Send Email", _("Introduction"), 0.5, 0, content="intro", next_step="wait_1"),
			step(
				"wait_1",
				"Wait",
				_("Wait 3 days"),
				0.5,
				1,
				wait_amount=3,
				wait_unit="Days",
				next_step="opened",
			),
			step(
				"opened",
				"Condition",
				_("Opened the introduction?"),
				0.5,
				2,
				condition_type="Opened",
				condition_step="intro",
				yes_step="story",
				no_step="second_try",
			),
			step("story", "Send Email", _("Customer story"), 0, 3, content="story", next_step="wait_2"),
			step("wait_2", "Wait", _("Wait 4 days"), 0, 4, wait_amount=4, wait_unit="Days", next_step="call"),
			step(
				"call",
				"Create Activity",
				_("Call from sales"),
				0,
				5,
				activity_description=_("Call {0}: they read our emails about {1}.").format(
					"{{ person.lead_name or person.first_name }}", "{{ flow.flow_name }}"
				),
				activity_due_days=1,
			),
			step("second_try", "Send Email", _("Second try"), 1, 3, content="second_try"),
		],
		contents=[
			Content(
				"intro",
				_("Introduction"),
				"Email",
				subject=_("{0}, here is how we can help").format(FIRST_NAME),
				body=paragraphs(
					_("Hi {0},").format(FIRST_NAME),
					_("Thank you for your interest. Here is, in short, what we do and for whom."),
					_(
						"Reply to this email and tell us what you need: we will point you to the right answer."
					),
					_("Best regards"),
				),
			),
			Content(
				"story",
				_("Customer story"),
				"Email",
				subject=_("How a customer like you did it"),
				body=paragraphs(
					_("Hi {0},").format(FIRST_NAME),
					_(
						"One of our customers had the same question as you. Here is what they chose, and "
						"what it changed for them."
					),
					_("Would you like to hear how it could work for you? Reply and we will call you."),
					_("Best regards"),
				),
			),
			Content(
				"second_try",
				_("Second try"),
				"Email",
				subject=_("Did you see this, {0}?").format(FIRST_NAME),
				body=paragraphs(
					_("Hi {0},").format(FIRST_NAME),
					_("We wrote to you a few days ago and want to make sure our email reached you."),
					_("If now is not the right time, no problem: reply and tell us when suits you better."),
					_("Best regards"),
				),
			),
		],
	)
	if not leads:
		starter.unavailable = _(
			"Needs leads: install Frappe CRM or ERPNext, whose leads a flow can enrol and see converted."
		)
	return starter
