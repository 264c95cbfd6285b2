# Copyright (c) 2026, marketing_flows contributors
# For license information, please see license.txt

import frappe
from frappe.model.document import Document

from marketing_flows.engine.hosts import doctype_roles
from marketing_flows.engine.permissions import on_stored, readable
from marketing_flows.engine.queries import filters, segments

MAX_LISTED = 500  # people shown by "Show contacts"


class MarketingSegment(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		description: DF.SmallText | None
		filters: DF.Code | None
		flow: DF.Link | None
		outcome: DF.Literal["Step Processed", "Clicked", "Bounced", "Stalled", "Blocked", "Goal Met"]
		person_doctype: DF.Link | None
		segment_name: DF.Data
		segment_type: DF.Literal["Contact Filters", "Flow Outcome"]
		step_id: DF.Data | None

	# end: auto-generated types
	def validate(self) -> None:
		if not self.person_doctype:
			self.person_doctype = doctype_roles.person_doctype()
		if self.person_doctype not in doctype_roles.person_doctypes():
			frappe.throw(
				frappe._("{0} can't be a segment's people on this site: choose one of {1}.").format(
					self.person_doctype, ", ".join(doctype_roles.person_doctypes())
				)
			)
		if self.segment_type == "Contact Filters":
			person = self.person_doctype
			what = frappe._("Segment filters")
			filters.check_fields(person, filters.parse(self.filters, what), what)

	@frappe.whitelist()
	@on_stored("read")
	def get_contacts(self, limit: int = 20) -> list[str]:
		"""The first `limit` people of the segment the user may see (at most MAX_LISTED)."""
		limit = min(max(int(limit), 1), MAX_LISTED)
		person = segments.person_doctype(self)
		names = segments.contacts(self, limit=segments.MAX_EXPORT)
		shown: list[str] = []
		for start in range(0, len(names), 1000):
			chunk = names[start : start + 1000]
			visible = readable(person, chunk)  # only people the user may see
			shown.extend(n for n in chunk if n in visible)
			if len(shown) >= limit:
				break
		return shown[:limit]

	@frappe.whitelist(methods=["POST"])
	@on_stored("read")
	def export_to_email_group(self, email_group: str) -> dict:
		"""Only people the caller may read, into a group they may write, and at most
		`segments.MAX_EXPORT` of them."""
		frappe.has_permission("Email Group", "write", throw=True)
		frappe.has_permission("Email Group Member", "create", throw=True)
		if not frappe.db.exists("Email Group", email_group):
			frappe.throw(frappe._("Email Group {0} does not exist.").format(email_group))
		frappe.has_permission("Email Group", "write", email_group, throw=True)
		return segments.export_to_email_group(self, email_group)
