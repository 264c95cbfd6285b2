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
		activity_duration: DF.Int
		activity_kind: DF.Literal["Task", "Calendar Event"]
		activity_time: DF.Literal[
			"",
			"00:00",
			"00:15",
			"00:30",
			"00:45",
			"01:00",
			"01:15",
			"01:30",
			"01:45",
			"02:00",
			"02:15",
			"02:30",
			"02:45",
			"03:00",
			"03:15",
			"03:30",
			"03:45",
			"04:00",
			"04:15",
			"04:30",
			"04:45",
			"05:00",
			"05:15",
			"05:30",
			"05:45",
			"06:00",
			"06:15",
			"06:30",
			"06:45",
			"07:00",
			"07:15",
			"07:30",
			"07:45",
			"08:00",
			"08:15",
			"08:30",
			"08:45",
			"09:00",
			"09:15",
			"09:30",
			"09:45",
			"10:00",
			"10:15",
			"10:30",
			"10:45",
			"11:00",
			"11:15",
			"11:30",
			"11:45",
			"12:00",
			"12:15",
			"12:30",
			"12:45",
			"13:00",
			"13:15",
			"13:30",
			"13:45",
			"14:00",
			"14:15",
			"14:30",
			"14:45",
			"15:00",
			"15:15",
			"15:30",
			"15:45",
			"16:00",
			"16:15",
			"16:30",
			"16:45",
			"17:00",
			"17:15",
			"17:30",
			"17:45",
			"18:00",
			"18:15",
			"18:30",
			"18:45",
			"19:00",
			"19:15",
			"19:30",
			"19:45",
			"20:00",
			"20:15",
			"20:30",
			"20:45",
			"21:00",
			"21:15",
			"21:30",
			"21:45",
			"22:00",
			"22:15",
			"22:30",
			"22:45",
			"23:00",
			"23:15",
			"23:30",
			"23:45",
		]
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
		distribute_fallback: DF.Link | None
		distribute_only_unowned: DF.Check
		distribute_to: DF.Literal["Person", "Company"]
		distribute_users: DF.SmallText | None
		else_step: DF.Data | None
		email_group: DF.Link | None
		exit_if_no_mobile: DF.Check
		followup_days: DF.Int
		followup_todo: DF.Check
		label: DF.Data | None
		next_step: DF.Data | None
		no_step: DF.Data | None
		notify_fallback: DF.Link | None
		notify_message: DF.SmallText | None
		notify_role: DF.Link | None
		notify_subject: DF.Data | None
		notify_to: DF.Literal["User", "Role", "Person's Owner"]
		notify_user: DF.Link | None
		owner_is_account_manager: DF.Check
		parent: DF.Data
		parentfield: DF.Data
		parenttype: DF.Data
		position_x: DF.Float
		position_y: DF.Float
		record_amount: DF.Currency
		record_category: DF.Data | None
		record_closing_days: DF.Int
		record_owner: DF.Link | None
		record_priority: DF.Data | None
		record_stage: DF.Data | None
		record_status: DF.Data | None
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
			"Notify by Email",
			"Notify by SMS",
			"Distribute to Owner",
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
		wait_at_time: DF.Literal[
			"",
			"00:00",
			"00:15",
			"00:30",
			"00:45",
			"01:00",
			"01:15",
			"01:30",
			"01:45",
			"02:00",
			"02:15",
			"02:30",
			"02:45",
			"03:00",
			"03:15",
			"03:30",
			"03:45",
			"04:00",
			"04:15",
			"04:30",
			"04:45",
			"05:00",
			"05:15",
			"05:30",
			"05:45",
			"06:00",
			"06:15",
			"06:30",
			"06:45",
			"07:00",
			"07:15",
			"07:30",
			"07:45",
			"08:00",
			"08:15",
			"08:30",
			"08:45",
			"09:00",
			"09:15",
			"09:30",
			"09:45",
			"10:00",
			"10:15",
			"10:30",
			"10:45",
			"11:00",
			"11:15",
			"11:30",
			"11:45",
			"12:00",
			"12:15",
			"12:30",
			"12:45",
			"13:00",
			"13:15",
			"13:30",
			"13:45",
			"14:00",
			"14:15",
			"14:30",
			"14:45",
			"15:00",
			"15:15",
			"15:30",
			"15:45",
			"16:00",
			"16:15",
			"16:30",
			"16:45",
			"17:00",
			"17:15",
			"17:30",
			"17:45",
			"18:00",
			"18:15",
			"18:30",
			"18:45",
			"19:00",
			"19:15",
			"19:30",
			"19:45",
			"20:00",
			"20:15",
			"20:30",
			"20:45",
			"21:00",
			"21:15",
			"21:30",
			"21:45",
			"22:00",
			"22:15",
			"22:30",
			"22:45",
			"23:00",
			"23:15",
			"23:30",
			"23:45",
		]
		wait_date_field: DF.Data | None
		wait_date_offset: DF.Int
		wait_unit: DF.Literal["Minutes", "Hours", "Days", "Weeks"]
		wait_until: DF.Datetime | None
		wait_working_day: DF.Check
		web_form: DF.Link | None
		webhook_body: DF.Code | None
		webhook_method: DF.Literal["POST", "PUT"]
		webhook_timeout: DF.Int
		webhook_url: DF.Data | None
		yes_step: DF.Data | None
	# end: auto-generated types
	pass
