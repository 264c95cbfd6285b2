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
	updates: dict[str, Any] = field(default_factory=dict)  # participant fields to set
	reference: tuple[str, str] | None = None  # (doctype, name) of what the step created


class StepType:
	"""One step type. `required` lists (fieldname, label) the step can't work without."""

	name: ClassVar[str] = ""
	required: ClassVar[tuple[tuple[str, str], ...]] = ()
	channel: ClassVar[str | None] = None  # "Email" / "SMS": needs an address and respects the sending window
	writes: ClassVar[bool] = True  # writes to the database itself (the runner guards it with a savepoint)

	def validate(self, step: Any, flow: Any) -> list[str]:
		"""Messages for what is missing or wrong in this step's own fields."""
		return [
			f"{self.name} step '{step.step_id}': {label} is required."
			for fieldname, label in self.required
			if not step.get(fieldname)
		]

	def execute(self, ctx: StepContext) -> Outcome:  # pragma: no cover - every step type overrides it
		raise NotImplementedError


@dataclass
class StepContext:
	"""Everything a step may use for one participant. `batch` holds per-batch caches and the
	rows the runner writes in bulk when the batch commits."""

	flow: Any
	step: Any
	participant: dict
	contact: dict
	now: datetime
	batch: Any

	@property
	def next_step(self) -> str | None:
		return self.step.next_step

	def template_context(self) -> dict[str, Any]:
		"""What Jinja in flow content sees: the participant's own context and nothing else."""
		return {
			"contact": self.contact,
			"company": self.batch.company(self.participant),
			"participant": self.participant,
			"flow": {"name": self.flow.name, "flow_name": self.flow.flow_name},
		}

	def idempotency_key(self) -> str:
		"""Same for every retry of this step for this participation: lets receivers drop repeats."""
		import hashlib

		raw = f"{self.participant['name']}:{self.step.step_id}:{self.participant.get('enrolled_on')}"
		return hashlib.sha1(raw.encode()).hexdigest()
