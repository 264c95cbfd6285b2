# Copyright (c) 2026, marketing_flows contributors
# For license information, please see license.txt

from frappe.model.document import Document


class MarketingFlowStep(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		ab_auto_winner: DF.Check
		ab_confidence: DF.Literal["90", "95", "99"]
		ab_decided_on: DF.Datetime | None
		ab_decision: DF.SmallText | None
		ab_fallback: DF.Literal["Keep Splitting", "First Variant"]
		ab_metric: DF.Literal["Open Rate", "Click Rate", "Goal Conversion"]
		ab_test_days: DF.Int
		ab_test_size: DF.Int
		ab_winner: DF.Data | None
		action_clicked: DF.Check
		action_filters: DF.Code | None
		action_replied: DF.Check
		action_url: DF.Data | None
		action_web_form: DF.Link | None
		activity_description: DF.SmallText | None
		activity_due_days: DF.Int
		assign_to: DF.Link | None
		condition_days: DF.Int
		condition_filters: DF.Code | None
		condition_step: DF.Data | None
		condition_type: DF.Literal[
			"Field",
			"Company Field",
			"Opened",
			"Clicked",
			"In Email Group",
			"In Segment",
			"Emailed Recently",
			"Web Form Submitted",
			"Replied",
		]
		condition_url: DF.Data | None
		content: DF.Link | None
		else_step: DF.Data | None
		email_group: DF.Link | None
		exit_if_no_mobile: DF.Check
		followup_days: DF.Int
		followup_todo: DF.Check
		label: DF.Data | None
		next_step: DF.Data | None
		no_step: DF.Data | None
		owner_is_account_manager: DF.Check
		parent: DF.Data
		parentfield: DF.Data
		parenttype: DF.Data
		position_x: DF.Float
		position_y: DF.Float
		record_owner: DF.Link | None
		record_priority: DF.Data | None
		record_title: DF.SmallText | None
		record_type: DF.Data | None
		run_as: DF.Link | None
		segment: DF.Link | None
		server_script: DF.Link | None
		step_id: DF.Data
		step_type: DF.Literal[
			"Send Email",
			"Send SMS",
			"Wait",
			"Wait for Action",
			"Condition",
			"Split",
			"A/B Test",
			"Update Participant",
			"Create Activity",
			"Create Request",
			"Create Sale",
			"Webhook",
			"Add to Email Group",
			"Remove from Email Group",
			"Enroll in Flow",
			"Run Server Script",
			"End",
		]
		target_flow: DF.Link | None
		timeout_step: DF.Data | None
		update_field: DF.Data | None
		update_value: DF.Data | None
		use_sending_window: DF.Check
		wait_amount: DF.Int
		wait_date_field: DF.Data | None
		wait_date_offset: DF.Int
		wait_unit: DF.Literal["Minutes", "Hours", "Days", "Weeks"]
		wait_until: DF.Datetime | None
		web_form: DF.Link | None
		webhook_body: DF.Code | None
		webhook_method: DF.Literal["POST", "PUT"]
		webhook_timeout: DF.Int
		webhook_url: DF.Data | None
		yes_step: DF.Data | None
	# end: auto-generated types
	pass
