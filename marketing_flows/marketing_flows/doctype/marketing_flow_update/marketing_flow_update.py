# Copyright (c) 2026, marketing_flows contributors
# For license information, please see license.txt

from frappe.model.document import Document


class MarketingFlowUpdate(Document):
	"""One field change of an Update Participant step (validated with its flow)."""
