"""Wait step: a duration, until a moment, or until a date field of the person."""

from __future__ import annotations

from typing import Any

import frappe

from marketing_flows.engine import hosts
from marketing_flows.engine.steps import register
from marketing_flows.engine.steps.base import StepType


class Wait(StepType):
	name = "Wait"

	def validate(self, step: Any, flow: Any) -> list[str]:
		ways = [bool(step.get("wait_amount")), bool(step.get("wait_until")), bool(step.get("wait_date_field"))]
		if sum(ways) == 0 and not step.get("use_sending_window"):
			return [f"Wait step '{step.step_id}': set a duration, a Wait Until moment or a date field."]
		if sum(ways) > 1:
			return [f"Wait step '{step.step_id}': use only one of duration, Wait Until and date field."]
		if (step.get("wait_amount") or 0) < 0:
			return [f"Wait step '{step.step_id}': the duration can't be negative."]
		field = step.get("wait_date_field")
		if field:
			meta = frappe.get_meta(hosts.doctype_for("person") or "Contact")
			df = meta.get_field(field)
			if not df or df.fieldtype not in ("Date", "Datetime"):
				return [f"Wait step '{step.step_id}': '{field}' is not a date field of {meta.name}."]
		return []


register(Wait())
