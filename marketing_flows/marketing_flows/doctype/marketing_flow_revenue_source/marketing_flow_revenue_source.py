# Copyright (c) 2026, marketing_flows contributors
# For license information, please see license.txt

from frappe.model.document import Document


class MarketingFlowRevenueSource(Document):
	"""A row of Marketing Flow Settings' "Other Revenue Documents": checked by the Settings'
	validate (engine/hosts/revenue_documents.source_problems), read by revenue_documents."""

	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		amount_field: DF.Data
		date_field: DF.Data | None
		document_type: DF.Link
		parent: DF.Data
		parentfield: DF.Data
		parenttype: DF.Data
		person_field: DF.Data
		won_field: DF.Data | None
		won_value: DF.Data | None
	# end: auto-generated types
	pass
