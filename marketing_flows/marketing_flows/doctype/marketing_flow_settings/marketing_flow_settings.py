# Copyright (c) 2026, marketing_flows contributors
# For license information, please see license.txt

import frappe
from frappe import _
from frappe.model.document import Document

from marketing_flows.engine import hosts, watch


class MarketingFlowSettings(Document):
	def validate(self) -> None:
		for role in hosts.CANDIDATES:
			value = self.get(f"{role}_doctype")
			if value and (problem := hosts.role_doctype_problem(role, value)):
				frappe.throw(problem)
		for fieldname in ("batch_size", "max_attempts"):
			if (self.get(fieldname) or 0) < 1:
				frappe.throw(_("{0} must be at least 1.").format(_(self.meta.get_label(fieldname))))
		limits = (
			"max_sends_per_hour",
			"retry_backoff_minutes",
			"max_emails_per_person_per_day",
			"max_emails_per_person_per_week",
		)
		if any((self.get(f) or 0) < 0 for f in limits):
			frappe.throw(_("Limits can't be negative."))

	def on_update(self) -> None:
		frappe.clear_document_cache(self.doctype, self.name)
		watch.flows_changed()  # the person / deal / ... doctypes the map is keyed on may have changed

	@frappe.whitelist()
	def detect_doctypes(self) -> dict:
		frappe.has_permission(self.doctype, "write", throw=True)
		return hosts.detect_and_save()
