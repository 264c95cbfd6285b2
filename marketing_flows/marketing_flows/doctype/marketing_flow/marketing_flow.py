# Copyright (c) 2026, marketing_flows contributors
# For license information, please see license.txt

import frappe
from frappe import _
from frappe.model.document import Document

from marketing_flows.engine import criteria, dry_run, enrolment, figures, lifecycle, validation, watch


class MarketingFlow(Document):
	def validate(self) -> None:
		validation.fill_branch_keys(self)
		validation.keep_engine_owned(self, self.get_doc_before_save())
		self.validate_status_change()
		self.validate_steps_frozen_while_running()
		if self.flags.status_change_allowed and self.status in ("Paused", "Stopped"):
			return  # pausing or stopping is always possible, even when a setting broke meanwhile
		validation.validate_flow(self)

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
		if before and before.success_criteria and not self.success_criteria:
			criteria.reset_figures(self.name)  # no goal, no successes (as HubSpot does)

	def before_rename(self, old: str, new: str, merge: bool = False) -> None:
		"""The one-active-participation guard is keyed on the flow's name (the flow is named by
		its flow_name): renaming would let a person into the same flow twice."""
		frappe.throw(_("A flow can't be renamed: duplicate it under the new name instead."))

	def on_trash(self) -> None:
		if self.status == "Running":
			frappe.throw(_("Stop the flow before deleting it."))
		frappe.db.delete("Marketing Flow Participant", {"flow": self.name})
		frappe.db.delete("Marketing Flow Log", {"flow": self.name})
		watch.flows_changed()

	@frappe.whitelist()
	def run(self) -> dict:
		return lifecycle.run(self)

	@frappe.whitelist()
	def pause(self) -> dict:
		return lifecycle.pause(self)

	@frappe.whitelist()
	def stop(self) -> dict:
		return lifecycle.stop(self)

	@frappe.whitelist()
	def retry_stalled(self) -> dict:
		return lifecycle.retry_stalled(self)

	@frappe.whitelist()
	def enroll(self, contacts: list[str] | str) -> dict:
		"""Enrol Contacts by name; returns how many got in and, for the others, why not."""
		return enrolment.enroll_manually(self, contacts)

	@frappe.whitelist()
	def remove_participants(self, participants: list[str] | str) -> dict:
		return enrolment.remove_participants(self, participants)

	@frappe.whitelist()
	def test_flow(self, contacts: list[str] | str | None = None, segment: str | None = None) -> list[dict]:
		"""Dry run: each person's path through the flow now, with nothing sent or saved."""
		return dry_run.test_flow(self, contacts, segment)

	@frappe.whitelist()
	def get_figures(self) -> dict:
		return {
			**figures.flow_figures(self.name),
			"steps": figures.step_figures(self.name),
			"branches": figures.branch_figures(self.name),
			"variants": figures.variant_figures(self),
		}
