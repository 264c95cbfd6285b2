# Copyright (c) 2026, marketing_flows contributors
# For license information, please see license.txt

from frappe.model.document import Document


class MarketingFlowSuccessCriterion(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		conditions: DF.Code | None
		criterion_type: DF.Literal[
			"Person Updated",
			"Lead Converted",
			"Deal Created",
			"Appointment Created",
			"Issue Created",
			"Added to Email Group",
			"Web Form Submitted",
			"Link Clicked",
			"Document Condition",
		]
		email_group: DF.Link | None
		label: DF.Data | None
		link_field: DF.Data | None
		parent: DF.Data
		parentfield: DF.Data
		parenttype: DF.Data
		reference_doctype: DF.Link | None
		scope: DF.Literal["Person", "Company"]
		url_pattern: DF.Data | None
		web_form: DF.Link | None
	# end: auto-generated types
	pass
