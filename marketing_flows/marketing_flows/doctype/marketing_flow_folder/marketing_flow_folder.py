# Copyright (c) 2026, marketing_flows contributors
# For license information, please see license.txt

import frappe
from frappe import _
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

	def validate(self) -> None:
		# every folder may hold subfolders: the tree has no leaves that refuse them
		self.is_group = 1

	def on_trash(self, allow_root_deletion: bool = False) -> None:
		"""A folder that still holds flows or subfolders is not deleted: its flows would lose
		their place (Frappe's link check refuses too, naming one flow; this says how many)."""
		flows = frappe.db.count("Marketing Flow", {"folder": self.name})
		if flows:
			frappe.throw(
				_("The folder {0} holds {1} flows: move them to another folder first.").format(
					frappe.bold(self.name), flows
				),
				frappe.LinkExistsError,
				title=_("Folder not empty"),
			)
		super().on_trash(allow_root_deletion)
