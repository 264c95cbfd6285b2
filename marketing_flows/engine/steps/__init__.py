"""Step types: one module each behind one small interface (see `base.StepType`).

`STEP_TYPES` maps the `step_type` value of Marketing Flow Step to its handler; the runner and
the validation only ever go through `handler_for`. A new step type is a new class in a module
here, listed in that module's `HANDLERS`.
"""

from __future__ import annotations

from marketing_flows.engine.steps import actions, branching, condition, messages, records, wait
from marketing_flows.engine.steps.base import StepType

STEP_TYPES: dict[str, StepType] = {
	handler.name: handler
	for module in (messages, wait, condition, branching, actions, records)
	for handler in module.HANDLERS
}


def handler_for(step_type: str) -> StepType:
	return STEP_TYPES[step_type]
