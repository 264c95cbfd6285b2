# Copyright (c) 2026, marketing_flows contributors
# For license information, please see license.txt

from frappe.model.document import Document


class MarketingFlowUpdate(Document):
	"""One field change of an Update Participant step (validated with its flow)."""

	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		action: DF.Literal["Set", "Clear", "Add", "Subtract", "Add Days", "Check", "Uncheck"]
		field: DF.Data
		parent: DF.Data
		parentfield: DF.Data
		parenttype: DF.Data
		step_id: DF.Data
		target: DF.Literal["Person", "Company"]
		value: DF.Data | None
	# end: auto-generated types
