# Copyright (c) 2026, marketing_flows contributors
# For license information, please see license.txt

from frappe.model.document import Document


class MarketingFlowVersion(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		approved_by: DF.Link | None
		changes: DF.LongText | None
		definition: DF.Code | None
		definition_hash: DF.Data | None
		drained: DF.Int
		flow: DF.Link
		moved: DF.Int
		plan: DF.Code | None
		published_by: DF.Link | None
		published_on: DF.Datetime | None
		status: DF.Literal["Live", "Draining", "Retired"]
		version: DF.Int
	# end: auto-generated types
	pass
