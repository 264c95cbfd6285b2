# Copyright (c) 2026, marketing_flows contributors
# For license information, please see license.txt

from frappe.model.document import Document


class MarketingFlowOutbox(Document):
	"""Written by engine/outbox.py on a connection of its own; read-only in the desk."""

	pass
