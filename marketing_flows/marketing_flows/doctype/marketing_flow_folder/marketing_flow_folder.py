# Copyright (c) 2026, marketing_flows contributors
# For license information, please see license.txt

from frappe.utils.nestedset import NestedSet


class MarketingFlowFolder(NestedSet):
	"""A folder of flows; the tree is Frappe's nested set, as Item Group's."""

	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		folder_name: DF.Data
		is_group: DF.Check
		lft: DF.Int
		old_parent: DF.Link | None
		parent_marketing_flow_folder: DF.Link | None
		rgt: DF.Int
	# end: auto-generated types

	nsm_parent_field = "parent_marketing_flow_folder"
