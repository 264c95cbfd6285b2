# Copyright (c) 2026, marketing_flows contributors
# For license information, please see license.txt

import frappe
from frappe.model.document import Document


class MarketingFlowParticipant(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		active_key: DF.Data | None
		attempts: DF.Int
		company: DF.DynamicLink | None
		company_doctype: DF.Link | None
		contact: DF.Link
		current_step: DF.Data | None
		email: DF.Data | None
		email_queue: DF.Link | None
		ended_on: DF.Datetime | None
		enrolled_by: DF.Data | None
		enrolled_on: DF.Datetime | None
		exit_reason: DF.Data | None
		flow: DF.Link
		flow_version: DF.Int
		full_name: DF.Data | None
		last_engaged_on: DF.Datetime | None
		last_error: DF.SmallText | None
		last_sent: DF.Link | None
		last_sent_on: DF.Datetime | None
		last_sent_status: DF.Literal["", "Queued", "Sent", "Opened", "Clicked", "Bounced", "Failed"]
		mobile_no: DF.Data | None
		next_run_at: DF.Datetime | None
		person: DF.DynamicLink | None
		person_doctype: DF.Link | None
		revenue: DF.Currency
		revenue_documents: DF.Int
		sent_marketing_email: DF.Check
		status: DF.Literal["Active", "Waiting", "Completed", "Exited", "Stalled", "Held Out"]
		step_seq: DF.Int
		succeeded: DF.Check
		succeeded_on: DF.Datetime | None
		success_criterion: DF.Data | None
		time_zone: DF.Data | None
		time_zone_source: DF.Literal["", "Person", "Address", "Country", "Flow", "Site"]

	# end: auto-generated types
	def before_insert(self) -> None:
		"""Participants come from enrolment only (which writes them in bulk, with the person's
		data and the one-active-participation key): never by hand, the API or an import."""
		frappe.throw(
			frappe._("Add people to a flow with its Enrol action or 'Add to flow' on a Contact or lead."),
			title=frappe._("Use Enrol"),
		)


def on_doctype_update() -> None:
	"""Composite indexes: the runner finds due rows of a flow by (flow, status, next_run_at);
	per-flow figures and the one-active-participation rule go by (flow, status) and (flow,
	person) (the person is a Contact or a lead; patch drop_flow_contact_index). Every query of due rows names the flow, so there is no (status, next_run_at)
	index (patch drop_status_next_run_at_index): each step moves both columns, and every index
	on them is written again."""
	frappe.db.add_index(
		"Marketing Flow Participant", ["flow", "status", "next_run_at"], "flow_status_next_run_at"
	)
	frappe.db.add_index("Marketing Flow Participant", ["flow", "person"], "flow_person")
	# the runner's same-address re-check finds a batch's addresses among the flow's participants
	frappe.db.add_index("Marketing Flow Participant", ["flow", "email"], "flow_email")
	# the flow's screens: key figures (covering), who waits at which step, enrolments per day
	frappe.db.add_index(
		"Marketing Flow Participant",
		["flow", "status", "succeeded", "sent_marketing_email"],
		"flow_status_succeeded_emailed",
	)
	frappe.db.add_index("Marketing Flow Participant", ["flow", "current_step", "status"], "flow_step_status")
	frappe.db.add_index("Marketing Flow Participant", ["flow", "enrolled_on"], "flow_enrolled_on")
