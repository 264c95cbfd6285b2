# Copyright (c) 2026, marketing_flows contributors
# For license information, please see license.txt

import frappe
from frappe.model.document import Document


class MarketingFlowOutbox(Document):
	"""Written by engine/outbox.py on a connection of its own; read-only in the desk."""

	pass


def on_doctype_update() -> None:
	"""The scheduler's retry of a met goal's follow-ups looks them up by channel and status."""
	frappe.db.add_index("Marketing Flow Outbox", ["channel", "status"])
