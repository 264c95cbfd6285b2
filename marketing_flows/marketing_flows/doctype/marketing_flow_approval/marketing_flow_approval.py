# Copyright (c) 2026, marketing_flows contributors
# For license information, please see license.txt

from frappe.model.document import Document


class MarketingFlowApproval(Document):
	"""Written only by engine/changing/approval.py (the flow's Request Approval, Approve and Reject);
	nobody has create or write permission on it."""

	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		changes: DF.LongText | None
		comment: DF.SmallText | None
		decided_by: DF.Link | None
		decided_on: DF.Datetime | None
		definition_hash: DF.Data | None
		flow: DF.Link
		requested_by: DF.Link | None
		requested_on: DF.Datetime | None
		status: DF.Literal["Pending", "Approved", "Rejected", "Superseded"]

	# end: auto-generated types
	pass
