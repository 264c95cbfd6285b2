"""Steps that act on the CRM or the outside world: Update Participant, Create Activity, Webhook,
Add to Email Group, Enroll in Flow, End."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

import frappe

from marketing_flows.engine import hosts, render
from marketing_flows.engine.steps import register
from marketing_flows.engine.steps.base import StepType


class UpdateParticipant(StepType):
	name = "Update Participant"
	required = (("update_field", "Update Field"),)

	def validate(self, step: Any, flow: Any) -> list[str]:
		errors = super().validate(step, flow)
		if step.get("update_field"):
			person = hosts.doctype_for("person") or "Contact"
			df = frappe.get_meta(person).get_field(step.update_field)
			if not df:
				errors.append(f"Update Participant step '{step.step_id}': {person} has no field '{step.update_field}'.")
			elif df.fieldtype in frappe.model.table_fields or df.fieldtype in frappe.model.no_value_fields:
				errors.append(
					f"Update Participant step '{step.step_id}': '{step.update_field}' can't be set by a flow."
				)
		return errors


class CreateActivity(StepType):
	name = "Create Activity"
	required = (("activity_description", "Activity Description"),)

	def validate(self, step: Any, flow: Any) -> list[str]:
		errors = super().validate(step, flow)
		if err := render.syntax_error(step.get("activity_description")):
			errors.append(f"Create Activity step '{step.step_id}': the description's Jinja is invalid ({err}).")
		return errors


class Webhook(StepType):
	name = "Webhook"
	required = (("webhook_url", "URL"),)

	def validate(self, step: Any, flow: Any) -> list[str]:
		errors = super().validate(step, flow)
		url = step.get("webhook_url")
		if url:
			parsed = urlparse(url)
			if parsed.scheme not in ("http", "https") or not parsed.netloc:
				errors.append(f"Webhook step '{step.step_id}': '{url}' is not an http(s) URL.")
		if err := render.syntax_error(step.get("webhook_body")):
			errors.append(f"Webhook step '{step.step_id}': the body's Jinja is invalid ({err}).")
		if (step.get("webhook_timeout") or 0) < 0:
			errors.append(f"Webhook step '{step.step_id}': the timeout can't be negative.")
		return errors


class AddToEmailGroup(StepType):
	name = "Add to Email Group"
	required = (("email_group", "Email Group"),)


class EnrollInFlow(StepType):
	name = "Enroll in Flow"
	required = (("target_flow", "Target Flow"),)

	def validate(self, step: Any, flow: Any) -> list[str]:
		errors = super().validate(step, flow)
		if step.get("target_flow") and step.target_flow == flow.name:
			errors.append(f"Enroll in Flow step '{step.step_id}': a flow can't enrol into itself.")
		return errors


class End(StepType):
	name = "End"


for _handler in (UpdateParticipant(), CreateActivity(), Webhook(), AddToEmailGroup(), EnrollInFlow(), End()):
	register(_handler)
