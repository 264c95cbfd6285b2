# Copyright (c) 2026, marketing_flows contributors
# For license information, please see license.txt

import frappe
from frappe.model.document import Document


class MarketingFlowOutbox(Document):
	"""Written by engine/sending/outbox.py on a connection of its own; read-only in the desk."""

	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		attempts: DF.Int
		channel: DF.Literal["Webhook", "SMS", "Server Script", "Goal Follow-up"]
		flow: DF.Link | None
		last_error: DF.SmallText | None
		participant: DF.Link | None
		result: DF.Data | None
		status: DF.Literal["Calling", "Confirmed", "Failed"]
		step_id: DF.Data | None
		target: DF.Data | None
		unknown_outcomes: DF.Int
	# end: auto-generated types
	pass


def on_doctype_update() -> None:
	"""The scheduler's retry of a met goal's follow-ups looks them up by channel and status."""
	frappe.db.add_index("Marketing Flow Outbox", ["channel", "status"])
