# Copyright (c) 2026, marketing_flows contributors
# For license information, please see license.txt

from frappe.model.document import Document
from frappe.utils import now_datetime


class MarketingBlockedAddress(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		blocked_on: DF.Datetime | None
		detail: DF.SmallText | None
		email_address: DF.Data
		email_queue: DF.Data | None
		reason: DF.Literal["Hard Bounce", "Complaint", "Blocked by Hand"]

	# end: auto-generated types
	def before_insert(self) -> None:
		self.email_address = (self.email_address or "").strip().lower()
		self.blocked_on = self.blocked_on or now_datetime()
