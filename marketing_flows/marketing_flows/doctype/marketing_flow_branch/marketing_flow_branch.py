# Copyright (c) 2026, marketing_flows contributors
# For license information, please see license.txt

from frappe.model.document import Document


class MarketingFlowBranch(Document):
	"""A branch of a Split step or a variant of an A/B Test step (validated with its flow)."""

	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		branch_key: DF.Data | None
		branch_label: DF.Data
		condition_days: DF.Int
		condition_filters: DF.Code | None
		condition_step: DF.Data | None
		condition_type: DF.Literal[
			"Field",
			"Company Field",
			"Opened",
			"Clicked",
			"In Email Group",
			"In Segment",
			"Emailed Recently",
			"Web Form Submitted",
		]
		condition_url: DF.Data | None
		email_group: DF.Link | None
		next_step: DF.Data | None
		parent: DF.Data
		parentfield: DF.Data
		parenttype: DF.Data
		percentage: DF.Percent
		segment: DF.Link | None
		step_id: DF.Data
		web_form: DF.Link | None
	# end: auto-generated types
