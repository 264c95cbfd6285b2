# Copyright (c) 2026, marketing_flows contributors
# For license information, please see license.txt

from frappe.model.document import Document


class MarketingEmailConfirmation(Document):
	"""Written by the engine only (engine/confirmation.py): users read it, as evidence."""
