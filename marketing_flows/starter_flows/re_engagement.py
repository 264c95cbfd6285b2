"""Re-engagement of the inactive: a "we miss you" email; those who do not open it get a last
chance, and those who do not click that are no longer mailed (their Unsubscribed is checked), so
the list stays healthy. The goal is a click on any link of the flow's emails."""

from __future__ import annotations

from frappe import _

from marketing_flows.starter_flows import FIRST_NAME, Content, Site, Starter, link, paragraphs, step

WAIT_DAYS = 7


def build(site: Site) -> Starter:
	steps = [
		step("miss_you", "Send Email", _("We miss you"), 0, 0, content="miss_you", next_step="wait_1"),
		step(
			"wait_1",
			"Wait",
			_("Wait 7 days"),
			0,
			1,
			wait_amount=WAIT_DAYS,
			wait_unit="Days",
			next_step="opened",
		),
		step(
			"opened",
			"Condition",
			_("Opened it?"),
			0,
			2,
			condition_type="Opened",
			condition_step="miss_you",
			no_step="last_chance",
		),
		step("last_chance", "Send Email", _("Last chance"), 1, 3, content="last_chance", next_step="wait_2"),
		step(
			"wait_2",
			"Wait",
			_("Wait 7 days"),
			1,
			4,
			wait_amount=WAIT_DAYS,
			wait_unit="Days",
			next_step="clicked",
		),
		step(
			"clicked",
			"Condition",
			_("Clicked a link?"),
			1,
			5,
			condition_type="Clicked",
			condition_step="last_chance",
			no_step="stop_mailing" if site.unsubscribed else None,
		),
	]
	if site.unsubscribed:
		steps.append(
			step(
				"stop_mailing",
				"Update Participant",
				_("Stop mailing them"),
				1,
				6,
				update_field=site.unsubscribed,
				update_value="1",  # checked
			)
		)
		ending = _(
			"Those who do not click the last chance are no longer mailed (their Unsubscribed is checked)."
		)
	else:
		ending = _("Those who do not click the last chance leave the flow.")
	return Starter(
		key="re_engagement",
		title=_("Re-engagement of the inactive"),
		description=" ".join(
			(
				_(
					'Wins back people who stopped reading: a "we miss you" email, and for those who do '
					"not open it, a last chance a week later."
				),
				ending,
				_(
					"The goal is met when they click a link in one of the emails. Enrol the inactive with "
					"Add to flow, e.g. from a segment of people who have not opened an email in 90 days, "
					"and choose the sender before you run it."
				),
			)
		),
		flow={
			"trigger_type": "Manual",
			"person_doctype": site.person,
			"success_criteria": [{"criterion_type": "Link Clicked", "label": _("Clicked a link")}],
		},
		steps=steps,
		contents=[
			Content(
				"miss_you",
				_("We miss you"),
				"Email",
				subject=_("We miss you, {0}").format(FIRST_NAME),
				body=paragraphs(
					_("Hi {0},").format(FIRST_NAME),
					_("It has been a while since we heard from you. A lot has happened since: have a look!"),
					link("https://www.example.com/news", _("See what is new")),
					_("Best regards"),
				),
			),
			Content(
				"last_chance",
				_("Last chance"),
				"Email",
				subject=_("Do you still want to hear from us?"),
				body=paragraphs(
					_("Hi {0},").format(FIRST_NAME),
					_(
						"We don't want to fill your inbox with emails you don't read. Click below if you "
						"want to keep hearing from us; otherwise this is our last email."
					),
					link("https://www.example.com/stay", _("Yes, keep me posted")),
					_("Best regards"),
				),
			),
		],
	)
