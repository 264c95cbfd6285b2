"""Order shipped → review request: a few days after delivery, ask for a review, and remind once
those who did not click. Starts itself on sites with ERPNext's Delivery Note; elsewhere the
shipped customers are enrolled by hand or by the shop (the description says so)."""

from __future__ import annotations

from frappe import _

from marketing_flows.starter_flows import FIRST_NAME, Content, Site, Starter, link, paragraphs, step

DELIVERY_DOCTYPE = "Delivery Note"  # ERPNext: submitted when the order ships
REVIEW_URL = "https://www.example.com/review"


def build(site: Site) -> Starter:
	if site.has(DELIVERY_DOCTYPE) and site.person == "Contact":
		trigger = {
			"trigger_type": "Document Event",
			"trigger_doctype": DELIVERY_DOCTYPE,
			"trigger_event": "Insert or Update",
			"trigger_conditions": '[["docstatus", "=", 1]]',  # submitted: shipped
		}
		start = _("It starts by itself when a {0} is submitted, for the delivery's contact.").format(
			_(DELIVERY_DOCTYPE)
		)
	else:
		trigger = {"trigger_type": "Manual"}
		start = _(
			"This site has no delivery documents, so enrol customers when their order ships: with Add "
			"to flow, or from your shop through the API (on ERPNext it starts by itself when a "
			"Delivery Note is submitted)."
		)
	return Starter(
		key="review_request",
		title=_("Order shipped → review request"),
		description=" ".join(
			(
				_(
					"Asks customers for a review five days after their order shipped, when it has "
					"arrived, and reminds those who did not click the review link a week later."
				),
				start,
				_(
					"The goal is met when they click the review link. Replace the example link with your "
					"review page and choose the sender before you run it."
				),
			)
		),
		flow={
			**trigger,
			"person_doctype": site.person,
			"reenrollment": "After Previous Ends",  # every order may ask again
			"reenrollment_gap_days": 30,
			"success_criteria": [
				{"criterion_type": "Link Clicked", "url_pattern": "/review", "label": _("Wrote a review")}
			],
		},
		steps=[
			step("wait_1", "Wait", _("Wait 5 days"), 0, 0, wait_amount=5, wait_unit="Days", next_step="ask"),
			step("ask", "Send Email", _("Review request"), 0, 1, content="ask", next_step="wait_2"),
			step(
				"wait_2", "Wait", _("Wait 7 days"), 0, 2, wait_amount=7, wait_unit="Days", next_step="clicked"
			),
			step(
				"clicked",
				"Condition",
				_("Clicked the review link?"),
				0,
				3,
				condition_type="Clicked",
				condition_step="ask",
				condition_url="/review",
				no_step="remind",
			),
			step("remind", "Send Email", _("Review reminder"), 1, 4, content="remind"),
		],
		contents=[
			Content(
				"ask",
				_("Review request"),
				"Email",
				subject=_("How was your order, {0}?").format(FIRST_NAME),
				body=paragraphs(
					_("Hi {0},").format(FIRST_NAME),
					_("Your order should have arrived by now. We hope you like it!"),
					_("Would you take a minute to tell us and other customers what you think?"),
					link(REVIEW_URL, _("Write a review")),
					_("Thank you, and best regards"),
				),
			),
			Content(
				"remind",
				_("Review reminder"),
				"Email",
				subject=_("A minute for a review?"),
				body=paragraphs(
					_("Hi {0},").format(FIRST_NAME),
					_("Your opinion helps other customers choose, and helps us do better."),
					link(REVIEW_URL, _("Write a review")),
					_("Thank you, and best regards"),
				),
			),
		],
	)
