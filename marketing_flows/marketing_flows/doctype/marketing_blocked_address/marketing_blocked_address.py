# Copyright (c) 2026, marketing_flows contributors
# For license information, please see license.txt

from frappe.model.document import Document
from frappe.utils import now_datetime


class MarketingBlockedAddress(Document):
	def before_insert(self) -> None:
		self.email_address = (self.email_address or "").strip().lower()
		self.blocked_on = self.blocked_on or now_datetime()
