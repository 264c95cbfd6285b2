"""Step types: one module each behind one small interface (see `base.StepType`).

`STEP_TYPES` maps the `step_type` value of Marketing Flow Step to its handler; the runner and
the validation only ever go through this registry.
"""

from __future__ import annotations

from marketing_flows.engine.steps.base import StepType

STEP_TYPES: dict[str, StepType] = {}


def register(handler: StepType) -> StepType:
	STEP_TYPES[handler.name] = handler
	return handler


def handler_for(step_type: str) -> StepType:
	if not STEP_TYPES:
		_load()
	return STEP_TYPES[step_type]


def _load() -> None:
	from marketing_flows.engine.steps import (  # noqa: F401  (modules register themselves)
		actions,
		condition,
		messages,
		wait,
	)
