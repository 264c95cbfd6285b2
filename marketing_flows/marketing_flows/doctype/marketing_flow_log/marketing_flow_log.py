# Copyright (c) 2026, marketing_flows contributors
# For license information, please see license.txt

import frappe
from frappe.model.document import Document


class MarketingFlowLog(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		branch: DF.Data | None
		contact: DF.Link | None
		event: DF.Literal[
			"Enrolled",
			"Step Executed",
			"Step Skipped",
			"Email Sent",
			"SMS Sent",
			"Opened",
			"Clicked",
			"Bounced",
			"Unsubscribed",
			"Branch Yes",
			"Branch No",
			"Goal Met",
			"Exited",
			"Completed",
			"Error",
			"Retry",
			"Scanned",
			"Lead Converted",
			"Complained",
			"Action Taken",
			"Action Timed Out",
			"Replied",
			"Moved",
			"Held Out",
			"Revenue",
			"Time Zone",
			"Notified",
			"Owner Assigned",
		]
		flow: DF.Link
		flow_version: DF.Int
		message: DF.SmallText | None
		name: DF.Int | None
		participant: DF.Link | None
		reference_doctype: DF.Link | None
		reference_name: DF.DynamicLink | None
		step_id: DF.Data | None
		url: DF.Data | None
	# end: auto-generated types
	pass


def on_doctype_update() -> None:
	"""Per-step statistics and segments read the log by (flow, step_id, event); who took which
	branch or A/B variant (an A/B test's progress in every batch, its figures and revenue per
	variant) by (flow, step_id, event, branch, participant), which covers those reads (patch
	log_branch_index); a participant's events by (participant, event); "Emailed Recently" a
	person's emails of every flow by (contact, event, creation)."""
	frappe.db.add_index("Marketing Flow Log", ["flow", "step_id", "event"], "flow_step_event")
	frappe.db.add_index(
		"Marketing Flow Log", ["flow", "step_id", "event", "branch", "participant"], "flow_step_event_branch"
	)
	frappe.db.add_index("Marketing Flow Log", ["participant", "event"], "participant_event")
	frappe.db.add_index("Marketing Flow Log", ["contact", "event", "creation"], "contact_event_creation")
