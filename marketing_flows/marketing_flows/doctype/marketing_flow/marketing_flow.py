# Copyright (c) 2026, marketing_flows contributors
# For license information, please see license.txt

import frappe
from frappe import _
from frappe.model.document import Document
from frappe.utils import cint

from marketing_flows.engine.changing import approval, versions
from marketing_flows.engine.entering import confirmation, enrolment, watch
from marketing_flows.engine.hosts import doctype_roles
from marketing_flows.engine.measuring import earnings, figures, revenue
from marketing_flows.engine.permissions import (
	is_flow_operator,
	on_stored,
	require_system_manager_for_scripts,
)
from marketing_flows.engine.queries import criteria
from marketing_flows.engine.running import dry_run, lifecycle, validation
from marketing_flows.engine.steps import notify


class MarketingFlow(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		from marketing_flows.marketing_flows.doctype.marketing_flow_branch.marketing_flow_branch import (
			MarketingFlowBranch,
		)
		from marketing_flows.marketing_flows.doctype.marketing_flow_quiet_hours.marketing_flow_quiet_hours import (
			MarketingFlowQuietHours,
		)
		from marketing_flows.marketing_flows.doctype.marketing_flow_removal.marketing_flow_removal import (
			MarketingFlowRemoval,
		)
		from marketing_flows.marketing_flows.doctype.marketing_flow_step.marketing_flow_step import (
			MarketingFlowStep,
		)
		from marketing_flows.marketing_flows.doctype.marketing_flow_success_criterion.marketing_flow_success_criterion import (
			MarketingFlowSuccessCriterion,
		)
		from marketing_flows.marketing_flows.doctype.marketing_flow_suppression.marketing_flow_suppression import (
			MarketingFlowSuppression,
		)
		from marketing_flows.marketing_flows.doctype.marketing_flow_update.marketing_flow_update import (
			MarketingFlowUpdate,
		)

		add_utm_tags: DF.Check
		approval_status: DF.Literal["", "Pending", "Approved", "Rejected"]
		attribution_from: DF.Literal["Enrolment", "Last Open or Click"]
		attribution_window_days: DF.Int
		audience_filters: DF.Code | None
		branches: DF.Table[MarketingFlowBranch]
		confirmation_content: DF.Link | None
		description: DF.SmallText | None
		exit_email_group: DF.Link | None
		exit_flow: DF.Link | None
		flow_name: DF.Data
		folder: DF.Link | None
		holdout_percent: DF.Percent
		last_error: DF.SmallText | None
		on_success: DF.Literal["Stop", "Continue"]
		paused_on: DF.Datetime | None
		person_doctype: DF.Link
		quiet_hours: DF.Table[MarketingFlowQuietHours]
		reenrollment: DF.Literal["Never", "After Previous Ends"]
		reenrollment_gap_days: DF.Int
		remove_from_flows: DF.TableMultiSelect[MarketingFlowRemoval]
		require_confirmation: DF.Check
		requires_consent: DF.Check
		resume_policy: DF.Literal["Send Overdue", "Skip Overdue"]
		send_on_friday: DF.Check
		send_on_monday: DF.Check
		send_on_saturday: DF.Check
		send_on_sunday: DF.Check
		send_on_thursday: DF.Check
		send_on_tuesday: DF.Check
		send_on_wednesday: DF.Check
		skip_holidays: DF.Literal["", "Person's Country", "Company Calendar", "Both"]
		started_on: DF.Datetime | None
		status: DF.Literal["Draft", "Running", "Paused", "Stopped"]
		steps: DF.Table[MarketingFlowStep]
		stopped_on: DF.Datetime | None
		success_criteria: DF.Table[MarketingFlowSuccessCriterion]
		success_flow: DF.Link | None
		success_logic: DF.Literal["Any", "All"]
		suppression_lists: DF.Table[MarketingFlowSuppression]
		time_zone: DF.Autocomplete | None
		times_in: DF.Literal["Person's Time Zone", "Flow's Time Zone"]
		trigger_conditions: DF.Code | None
		trigger_date_field: DF.Data | None
		trigger_date_offset: DF.Int
		trigger_date_time: DF.Literal[
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
		trigger_doctype: DF.Link | None
		trigger_email_group: DF.Link | None
		trigger_event: DF.Literal["Insert", "Update", "Insert or Update"]
		trigger_flow: DF.Link | None
		trigger_link_url: DF.Data | None
		trigger_person_field: DF.Data | None
		trigger_segment: DF.Link | None
		trigger_type: DF.Literal[
			"Manual",
			"Document Event",
			"Web Form",
			"Email Group",
			"Segment",
			"Date Field",
			"Flow Goal",
			"Link Clicked",
		]
		trigger_web_form: DF.Link | None
		updates: DF.Table[MarketingFlowUpdate]
		use_sending_window: DF.Check
		utm_campaign: DF.Data | None
		utm_medium: DF.Data | None
		utm_source: DF.Data | None
		version: DF.Int
		version_plan: DF.Code | None
		window_end: DF.Time | None
		window_start: DF.Time | None

	# end: auto-generated types
	def onload(self) -> None:
		"""The form's figures (Overview, Flow, Reports) come with the document: no extra call; so
		does whether the user may operate flows (the form's and the designer's actions)."""
		if not self.is_new():
			self.set_onload("figures", self.figures_with_earnings())
		self.set_onload("person_doctypes", doctype_roles.person_doctypes())
		# a Company Field condition's filters are on this doctype (the designer's filter editor)
		self.set_onload("company_doctype", doctype_roles.doctype_for("company"))
		if frappe.has_permission("Marketing Flow", "write", self):
			# the roles a Notify step may name: a Flow Administrator may not read Role itself
			self.set_onload("notify_roles", notify.role_choices())
		self.set_onload("is_flow_operator", is_flow_operator())
		if not self.is_new() and approval.is_required():  # the form's approval state (approval.js)
			self.set_onload("approval", state := approval.state(self))
			self.approval_status = state["status"]
		used = sorted({s.content for s in self.steps if s.get("content")})
		if used:
			self.set_onload(
				"contents",
				frappe.get_all(
					"Marketing Flow Content",
					filters={"name": ("in", used)},
					fields=["name", "content_name", "channel", "subject"],
				),
			)

	def validate(self) -> None:
		validation.fill_branch_keys(self)
		validation.keep_engine_owned(self, self.get_doc_before_save())
		require_system_manager_for_scripts(self, self.get_doc_before_save())
		approval.refresh_status(self)
		self.validate_status_change()
		self.validate_steps_frozen_while_running()
		if self.flags.status_change_allowed and self.status in ("Paused", "Stopped"):
			return  # pausing or stopping is always possible, even when a setting broke meanwhile
		validation.validate_flow(self)
		if problem := confirmation.problem(self):
			frappe.throw(problem)
		versions.check_plan(self, self.get_doc_before_save())

	def validate_status_change(self) -> None:
		"""Status changes only through run() / pause() / stop()."""
		if self.is_new():
			if self.status != "Draft" and not self.flags.status_change_allowed:
				self.status = "Draft"
			return
		if self.has_value_changed("status") and not self.flags.status_change_allowed:
			frappe.throw(
				_("The status of a flow changes only through Run, Pause and Stop."),
				title=_("Status can't be set"),
			)

	def validate_steps_frozen_while_running(self) -> None:
		before = self.get_doc_before_save()
		if not before or before.status != "Running" or self.flags.status_change_allowed:
			return
		if validation.step_signature(before) != validation.step_signature(self):
			frappe.throw(_("Pause the flow before editing its steps."), title=_("Flow is running"))

	def on_update(self) -> None:
		watch.flows_changed()
		before = self.get_doc_before_save()
		versions.publish_on_save(self, before)
		if before and before.success_criteria and not self.success_criteria:
			criteria.reset_figures(self.name)  # no goal, no successes (as HubSpot does)
		if before and (
			cint(before.attribution_window_days) != cint(self.attribution_window_days)
			or (before.attribution_from or "Enrolment") != (self.attribution_from or "Enrolment")
		):
			revenue.queue_recompute(self.name)  # its credits follow the new window

	def before_rename(self, old: str, new: str, merge: bool = False) -> None:
		"""The one-active-participation guard is keyed on the flow's name (the flow is named by
		its flow_name): renaming would let a person into the same flow twice."""
		frappe.throw(_("A flow can't be renamed: duplicate it under the new name instead."))

	def on_trash(self) -> None:
		if self.status == "Running":
			frappe.throw(_("Stop the flow before deleting it."))
		frappe.db.delete("Marketing Flow Participant", {"flow": self.name})
		frappe.db.delete("Marketing Flow Log", {"flow": self.name})
		# its approvals and versions go with it (else their links would keep it from deletion)
		frappe.db.delete("Marketing Flow Approval", {"flow": self.name})
		frappe.db.delete("Marketing Flow Version", {"flow": self.name})
		frappe.db.delete("Marketing Flow Attribution", {"flow": self.name})  # its revenue credits
		# its own emails and SMS texts (a copy's, a starter's) stay, no longer tied to a flow: they
		# may be reused, and other flows' steps may send them
		frappe.db.set_value("Marketing Flow Content", {"flow": self.name}, "flow", None)
		watch.flows_changed()

	@frappe.whitelist()
	@on_stored("read")
	def run(self) -> dict:
		return lifecycle.run(self)

	@frappe.whitelist()
	@on_stored("read")
	def pause(self) -> dict:
		return lifecycle.pause(self)

	@frappe.whitelist()
	@on_stored("read")
	def stop(self) -> dict:
		return lifecycle.stop(self)

	@frappe.whitelist()
	@on_stored("read")
	def retry_stalled(self) -> dict:
		return lifecycle.retry_stalled(self)

	@frappe.whitelist()
	@on_stored("read")
	def enroll(self, contacts: list[str] | str) -> dict:
		"""Enrol people (names of the flow's person doctype: Contacts, or leads); returns how
		many got in and, for the others, why not."""
		return enrolment.enroll_manually(self, contacts)

	@frappe.whitelist()
	@on_stored("read")
	def remove_participants(self, participants: list[str] | str) -> dict:
		return enrolment.remove_participants(self, participants)

	@frappe.whitelist()
	@on_stored("read")
	def test_flow(self, contacts: list[str] | str | None = None, segment: str | None = None) -> list[dict]:
		"""Dry run: each person's path through the flow now, with nothing sent or saved."""
		return dry_run.test_flow(self, contacts, segment)

	@frappe.whitelist()
	@on_stored("read")
	def get_figures(self, version: int | str | None = None) -> dict:
		version = cint(version) or None
		return {
			**figures.flow_figures(self.name, version),
			"steps": figures.step_figures(self.name, version),
			"branches": figures.branch_figures(self.name, version),
			"variants": figures.variant_figures(self),
		}

	@frappe.whitelist()
	@on_stored("read")
	def get_all_figures(self, version: int | str | None = None) -> dict:
		"""What `onload` sends, for a refresh without reloading the form; with a `version`, that
		version's figures only."""
		return self.figures_with_earnings(cint(version) or None)

	def figures_with_earnings(self, version: int | None = None) -> dict:
		"""All figures, and the Overview's "earned beyond the control group" (`earnings`: the
		groups and the lift; None for a flow without a control group, which then costs nothing)."""
		out = figures.all_figures(self, version)
		has_control = out.get("held_out") or self.get("holdout_percent")
		out["earnings"] = (
			earnings.summary(self, version, with_revenue=earnings.may_see_revenue()) if has_control else None
		)
		return out

	@frappe.whitelist()
	@on_stored("read")
	def get_earnings(self, version: int | str | None = None) -> dict:
		"""What the flow earns beyond its control group (enrolled against held out: goal rates,
		lift with its interval, revenue, over time, per step and branch); with a `version`, that
		version's. Revenue only for who may read Marketing Flow Attribution. With them, the A/B
		tests' figures per variant (the Reports tab's, not read when the form opens)."""
		return {
			**earnings.earnings(self, cint(version) or None, with_revenue=earnings.may_see_revenue()),
			"variants": figures.variant_figures(self),
		}

	@frappe.whitelist()
	def validate_design(self) -> dict:
		"""The designer's check as you build: the same validation as the form's save, run on the
		unsaved document the designer sends; nothing is written. Only for who may save it: the
		check answers questions about the data the flow names (as its save would)."""
		if self.is_new() or not frappe.db.exists(self.doctype, self.name):
			frappe.has_permission(self.doctype, "create", throw=True)
		else:
			frappe.has_permission(self.doctype, "write", frappe.get_doc(self.doctype, self.name), throw=True)
		return validation.design_errors(self)

	@frappe.whitelist(methods=["POST"])
	@on_stored("write")
	def save_positions(self, positions: dict | str | None = None) -> dict:
		"""Where the designer shows each step (step_id -> [x, y]): saved even while the flow
		runs, as moving a box changes nothing a participant sees."""
		positions = frappe.parse_json(positions) or {}
		saved = 0
		for step in self.steps:
			if step.step_id in positions:
				x, y = positions[step.step_id]
				frappe.db.set_value(
					"Marketing Flow Step",
					step.name,
					{"position_x": float(x), "position_y": float(y)},
					update_modified=False,
				)
				saved += 1
		return {"saved": saved}

	@frappe.whitelist(methods=["POST"])
	@on_stored("read")
	def save_as_segment(self, outcome: str | None = None, step_id: str | None = None) -> dict:
		"""A Marketing Segment of the people with this outcome (at this step): "who clicked the
		welcome email" becomes a segment usable as trigger, filter or suppression."""
		frappe.has_permission("Marketing Segment", "create", throw=True)
		if outcome not in ("Step Processed", "Clicked", "Bounced", "Stalled", "Blocked", "Goal Met"):
			frappe.throw(_("Choose an outcome: processed, clicked, bounced, stalled or blocked."))
		step = next((s for s in self.steps if s.step_id == step_id), None) if step_id else None
		if step_id and not step:
			frappe.throw(_("Step '{0}' is not a step of this flow.").format(step_id))
		name = " · ".join(x for x in (self.flow_name, step and (step.label or step.step_id), _(outcome)) if x)
		base, n = name[:120], 1
		while frappe.db.exists("Marketing Segment", name):
			n += 1
			name = f"{base} ({n})"
		segment = frappe.get_doc(
			{
				"doctype": "Marketing Segment",
				"segment_name": name,
				"segment_type": "Flow Outcome",
				"flow": self.name,
				"outcome": outcome,
				"step_id": step_id or None,
			}
		).insert()
		return {"name": segment.name}

	@frappe.whitelist()
	@on_stored("read")
	def get_timeline(self, participant: str | None = None) -> list[dict]:
		"""Every event of one participation of this flow, in order, with its reason."""
		if not participant:
			return []
		return figures.timeline(self.name, participant)

	@frappe.whitelist()
	@on_stored("read")
	def get_versions(self) -> list[dict]:
		"""The flow's versions, newest first: who published each, when, what changed, how many
		people are on it."""
		return versions.list_versions(self)

	@frappe.whitelist()
	@on_stored("read")
	def version_differences(self, from_version: int | str, to_version: int | str | None = None) -> list[str]:
		"""What changed from one version to another (or to the flow as it is now), in words."""
		return versions.differences_between(self, from_version, to_version)

	@frappe.whitelist()
	def migration_proposal(self) -> dict:
		"""For the designer's save: the unsaved design the client sends against the live version:
		what changed, and for each step with people at it how many and where they would go. Only
		for who may save it; nothing is written."""
		if self.is_new() or not frappe.db.exists(self.doctype, self.name):
			frappe.has_permission(self.doctype, "create", throw=True)
			return versions.proposal(self, None)
		stored = frappe.get_doc(self.doctype, self.name)
		frappe.has_permission(self.doctype, "write", stored, throw=True)
		return versions.proposal(self, stored)

	@frappe.whitelist()
	@on_stored("read")
	def request_approval(self) -> dict:
		"""Ask the Flow Approvers to approve the flow as it is now (Require Approval)."""
		return approval.request(self)

	@frappe.whitelist()
	@on_stored("read")
	def approve(self, comment: str | None = None) -> dict:
		"""Approve the stored flow's open request (a Flow Approver who did not make the change)."""
		return approval.approve(self, comment)

	@frappe.whitelist()
	@on_stored("read")
	def reject(self, comment: str | None = None) -> dict:
		"""Reject the stored flow's open request, saying why."""
		return approval.reject(self, comment)

	@frappe.whitelist()
	@on_stored("read")
	def approval_state(self) -> dict:
		"""The approval state of the flow as it is now, what changed, who asked and decided."""
		return approval.state(self)
