"""Send Email and Send SMS steps."""

from __future__ import annotations

from typing import Any

import frappe

from marketing_flows.engine.steps import register
from marketing_flows.engine.steps.base import StepType


class _MessageStep(StepType):
	required = (("content", "Content"),)

	def validate(self, step: Any, flow: Any) -> list[str]:
		errors = super().validate(step, flow)
		if step.get("content"):
			channel = frappe.db.get_value("Marketing Flow Content", step.content, "channel")
			if channel is None:
				errors.append(f"{self.name} step '{step.step_id}': content '{step.content}' does not exist.")
			elif channel != self.channel:
				errors.append(
					f"{self.name} step '{step.step_id}': content '{step.content}' is {channel} content, not {self.channel}."
				)
		return errors


class SendEmail(_MessageStep):
	name = "Send Email"
	channel = "Email"


class SendSMS(_MessageStep):
	name = "Send SMS"
	channel = "SMS"


register(SendEmail())
register(SendSMS())
