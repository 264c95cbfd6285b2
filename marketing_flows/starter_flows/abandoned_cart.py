"""Abandoned cart: a reminder a few hours after a shopper leaves a full cart, then one nudge;
never a second reminder within a week (the anti-spam condition), and done once they order."""

from __future__ import annotations

from frappe import _

from marketing_flows.starter_flows import FIRST_NAME, Content, Site, Starter, link, paragraphs, step

ORDER_DOCTYPE = "Sales Order"  # ERPNext's order: its customer's contact is `contact_person`
CART_URL = "https://www.example.com/cart"
ANTI_SPAM_DAYS = 7


def build(site: Site) -> Starter:
	if site.has(ORDER_DOCTYPE):
		goals = [
			{
				"criterion_type": "Document Condition",
				"reference_doctype": ORDER_DOCTYPE,
				"conditions": '[["docstatus", "=", 1]]',
				"label": _("Placed an order"),
			}
		]
		goal = _("The goal is met when the shopper places an order (a submitted {0}).").format(
			_(ORDER_DOCTYPE)
		)
	elif site.deal:
		goals = [{"criterion_type": "Deal Created", "label": _("Placed an order")}]
		goal = _(
			"The goal is met when a {0} is made for the shopper: this site records orders as deals "
			"(Marketing Flow Settings)."
		).format(_(site.deal))
	else:
		goals = [
			{"criterion_type": "Link Clicked", "url_pattern": "/cart", "label": _("Came back to the cart")}
		]
		goal = _(
			"This site has no orders or deals, so the goal is a click on the link back to the cart; "
			"change it to your order document (Document Condition) if you record orders."
		)
	return Starter(
		key="abandoned_cart",
		title=_("Abandoned cart"),
		description=" ".join(
			(
				_(
					"Reminds shoppers of the cart they left: an email after 3 hours and a second one a day "
					"later. A condition first checks whether the shopper had a cart reminder in the last {0} "
					"days, so nobody gets two reminders in a week however many carts they leave."
				).format(ANTI_SPAM_DAYS),
				goal,
				_(
					"Enrol each shopper when their cart is abandoned (Add to flow, or your shop through the "
					"API); replace the example link with your shop's cart and choose the sender before you "
					"run it."
				),
			)
		),
		flow={
			"trigger_type": "Manual",
			"person_doctype": site.person,
			"reenrollment": "After Previous Ends",  # a new cart, a new go
			"success_criteria": goals,
			"success_logic": "Any",
		},
		steps=[
			step(
				"recently",
				"Condition",
				_("Already reminded?"),
				0,
				0,
				condition_type="Emailed Recently",
				condition_step="reminder",
				condition_days=ANTI_SPAM_DAYS,
				no_step="wait_1",
			),
			step(
				"wait_1",
				"Wait",
				_("Wait 3 hours"),
				0,
				1,
				wait_amount=3,
				wait_unit="Hours",
				next_step="reminder",
			),
			step("reminder", "Send Email", _("Cart reminder"), 0, 2, content="reminder", next_step="wait_2"),
			step("wait_2", "Wait", _("Wait 1 day"), 0, 3, wait_amount=1, wait_unit="Days", next_step="nudge"),
			step("nudge", "Send Email", _("Second reminder"), 0, 4, content="nudge"),
		],
		contents=[
			Content(
				"reminder",
				_("Cart reminder"),
				"Email",
				subject=_("You left something in your cart"),
				body=paragraphs(
					_("Hi {0},").format(FIRST_NAME),
					_("You left a few items in your cart. We have kept them for you."),
					link(CART_URL, _("Go back to your cart")),
					_("Best regards"),
				),
			),
			Content(
				"nudge",
				_("Second reminder"),
				"Email",
				subject=_("Still thinking it over, {0}?").format(FIRST_NAME),
				body=paragraphs(
					_("Hi {0},").format(FIRST_NAME),
					_(
						"Your cart is still waiting. If you have a question about an item, delivery or "
						"payment, just reply to this email."
					),
					link(CART_URL, _("Complete your order")),
					_("Best regards"),
				),
			),
		],
	)
