# Copyright (c) 2026, marketing_flows contributors
# For license information, please see license.txt

from frappe.model.document import Document


class MarketingFlowBranch(Document):
	"""A branch of a Split step or a variant of an A/B Test step (validated with its flow)."""
