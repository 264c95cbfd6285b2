# Copyright (c) 2026, marketing_flows contributors
# For license information, please see license.txt

from frappe.model.document import Document


class MarketingFlowSuppression(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		email_group: DF.Link | None
		list_type: DF.Literal["Email Group", "Segment"]
		parent: DF.Data
		parentfield: DF.Data
		parenttype: DF.Data
		segment: DF.Link | None
	# end: auto-generated types
	pass
