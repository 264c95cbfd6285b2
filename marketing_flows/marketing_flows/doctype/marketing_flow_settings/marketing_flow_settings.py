# Copyright (c) 2026, marketing_flows contributors
# For license information, please see license.txt

import frappe
from frappe import _
from frappe.model.document import Document

from marketing_flows.engine.entering import watch
from marketing_flows.engine.hosts import doctype_roles, revenue_documents
from marketing_flows.engine.sending import calendar, send_times


class MarketingFlowSettings(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		from marketing_flows.marketing_flows.doctype.marketing_flow_holiday.marketing_flow_holiday import (
			MarketingFlowHoliday,
		)
		from marketing_flows.marketing_flows.doctype.marketing_flow_quiet_hours.marketing_flow_quiet_hours import (
			MarketingFlowQuietHours,
		)
		from marketing_flows.marketing_flows.doctype.marketing_flow_revenue_source.marketing_flow_revenue_source import (
			MarketingFlowRevenueSource,
		)
		from marketing_flows.marketing_flows.doctype.marketing_flow_sending_limit.marketing_flow_sending_limit import (
			MarketingFlowSendingLimit,
		)

		activity_doctype: DF.Link | None
		appointment_doctype: DF.Link | None
		batch_size: DF.Int
		company_doctype: DF.Link | None
		company_holidays: DF.Table[MarketingFlowHoliday]
		consent_field: DF.Data | None
		deal_doctype: DF.Link | None
		default_sender: DF.Link | None
		erpnext_revenue_doctype: DF.Literal["Sales Invoice", "Sales Order"]
		global_holdout_percent: DF.Percent
		holiday_country: DF.Link | None
		holiday_list: DF.Data | None
		issue_doctype: DF.Link | None
		keep_sent_emails_days: DF.Int
		max_attempts: DF.Int
		max_emails_per_person_per_day: DF.Int
		max_emails_per_person_per_week: DF.Int
		max_emails_per_second: DF.Float
		max_sends_per_hour: DF.Int
		min_group_size: DF.Int
		parallel_jobs: DF.Int
		person_doctype: DF.Link
		quiet_hours: DF.Table[MarketingFlowQuietHours]
		require_approval: DF.Check
		retry_backoff_minutes: DF.Int
		revenue_sources: DF.Table[MarketingFlowRevenueSource]
		sender_jobs: DF.Int
		sending_limits: DF.Table[MarketingFlowSendingLimit]
		smtp_connections: DF.Int
		track_clicks: DF.Check
		track_opens: DF.Check
		webhook_allowed_hosts: DF.SmallText | None

	# end: auto-generated types
	def validate(self) -> None:
		for role in doctype_roles.CANDIDATES:
			value = self.get(f"{role}_doctype")
			if value and (problem := doctype_roles.role_doctype_problem(role, value)):
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
		self.validate_revenue_sources()
		self.validate_local_time()

	def validate_local_time(self) -> None:
		"""Quiet hours that leave room to send; a Holiday List that exists (with ERPNext)."""
		problems = send_times.quiet_hours_problems(self.quiet_hours)
		if problem := calendar.holiday_list_problem(self):
			problems.append(problem)
		if problems:
			frappe.throw("<br>".join(frappe.utils.escape_html(p) for p in problems))

	def validate_revenue_sources(self) -> None:
		"""Each mapped doctype once, with fields that exist and fit (amount, date, person or
		company link, the field and value that make a record count)."""
		taken = revenue_documents.built_in(self.erpnext_revenue_doctype)
		for row in self.revenue_sources:
			problems = revenue_documents.source_problems(row, taken)
			if problems:
				frappe.throw(
					"<br>".join(frappe.utils.escape_html(p) for p in problems),
					title=_("Other Revenue Documents, row {0}").format(row.idx),
				)
			taken.add(row.document_type)

	def on_update(self) -> None:
		frappe.clear_document_cache(self.doctype, self.name)
		watch.flows_changed()  # the person / deal / ... doctypes the map is keyed on may have changed
		revenue_documents.forget()  # the doctypes that carry revenue may have changed

	@frappe.whitelist()
	def detect_doctypes(self) -> dict:
		frappe.has_permission(self.doctype, "write", throw=True)
		return doctype_roles.detect_and_save()
