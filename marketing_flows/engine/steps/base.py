"""The interface every step type implements, and what a step hands back to the runner."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar


@dataclass
class Outcome:
	"""What happened: where the participant goes next and when.

	`next_step` None ends the flow (Completed). `run_at` None means "now": the runner goes on
	with the next step in the same job.
	"""

	next_step: str | None
	run_at: datetime | None = None
	event: str = "Step Executed"
	message: str = ""
	extra_events: list[tuple[str, str]] = field(default_factory=list)


class StepType:
	"""One step type. `required` lists (fieldname, label) the step can't work without."""

	name: ClassVar[str] = ""
	required: ClassVar[tuple[tuple[str, str], ...]] = ()
	channel: ClassVar[str | None] = None  # "Email" / "SMS": needs an address and respects the sending window

	def validate(self, step: Any, flow: Any) -> list[str]:
		"""Messages for what is missing or wrong in this step's own fields."""
		return [
			f"{self.name} step '{step.step_id}': {label} is required."
			for fieldname, label in self.required
			if not step.get(fieldname)
		]

	def execute(self, ctx: Any) -> Outcome:  # pragma: no cover - every step type overrides it
		raise NotImplementedError
