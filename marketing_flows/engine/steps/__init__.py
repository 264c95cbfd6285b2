"""Doing a step: one class per step type behind one small interface (`base.StepType`), grouped
in one module per family (messages, wait, wait for action, condition, branching, person
changes, activities, records, notifications, ownership, integrations, flow control).

`STEP_TYPES` maps the `step_type` value of Marketing Flow Step to its handler; the runner and
the validation only ever go through `handler_for`. A new step type is a new class in the module
of its family, listed in that module's `HANDLERS`.
"""

from __future__ import annotations

from marketing_flows.engine.steps import (
	activities,
	branching,
	condition,
	flow_control,
	integrations,
	messages,
	notify,
	ownership,
	person_changes,
	records,
	wait,
	wait_for_action,
)
from marketing_flows.engine.steps.base import StepType

STEP_TYPES: dict[str, StepType] = {
	handler.name: handler
	for module in (
		messages,
		wait,
		wait_for_action,
		condition,
		branching,
		person_changes,
		activities,
		integrations,
		flow_control,
		records,
		notify,
		ownership,
	)
	for handler in module.HANDLERS
}


def handler_for(step_type: str) -> StepType:
	return STEP_TYPES[step_type]
