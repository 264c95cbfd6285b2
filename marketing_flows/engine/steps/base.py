"""The interface every step type implements, and what a step hands back to the runner."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from frappe import _
from frappe.utils import cint

from marketing_flows.engine.sending import outbox

if TYPE_CHECKING:
	from marketing_flows.engine.doctypes import (
		MarketingFlow,
		MarketingFlowContent,
		MarketingFlowSettings,
		MarketingFlowStep,
		ParticipantRow,
		PersonRow,
	)
	from marketing_flows.engine.sending.mailer import Mailer
	from marketing_flows.engine.sending.send_times import Clock


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
	exit_reason: str | None = None  # the participant leaves the flow here (Exited), with this reason
	branch: str | None = None  # the branch or variant taken (Split, A/B Test), kept in the log


class StepType:
	"""One step type. `required` lists (fieldname, label) the step can't work without."""

	name: ClassVar[str] = ""
	required: ClassVar[tuple[tuple[str, str], ...]] = ()
	channel: ClassVar[str | None] = None  # "Email" / "SMS": needs an address and respects the sending window
	writes: ClassVar[bool] = True  # writes to the database itself (the runner guards it with a savepoint)
	# may change what goals or eligibility see (a save, a record, an outside call that may call
	# back): the runner re-checks the participant before the next step
	may_change_goals: ClassVar[bool] = True

	def validate(self, step: MarketingFlowStep, flow: MarketingFlow) -> list[str]:
		"""Messages for what is missing or wrong in this step's own fields."""
		return [
			_("{0} step '{1}': {2} is required.").format(_(self.name), step.step_id, _(label))
			for fieldname, label in self.required
			if not step.get(fieldname)
		]

	def execute(self, ctx: StepContext) -> Outcome:  # pragma: no cover - every step type overrides it
		raise NotImplementedError


class BatchServices(Protocol):
	"""What the batch running a step (running/batch.py's Batch) lends it: per-batch caches and
	the mailer whose rows it writes in bulk when the batch commits. Steps reach it only through
	StepContext."""

	dry_run: bool
	settings: MarketingFlowSettings
	mailer: Mailer
	memo: dict[str, Any]  # per-batch answers a step type keeps for itself, of its own kinds
	emails: list[str]
	max_attempts: int
	outside_calls: list[dict[str, str]]

	def content(self, name: str) -> MarketingFlowContent: ...
	def clock_for(self, participant: ParticipantRow) -> Clock: ...
	def company(self, participant: ParticipantRow) -> PersonRow | None: ...  # a row, as a person's
	def events_of(self, participant_name: str) -> list[tuple[str | None, str, datetime]]: ...


@dataclass
class StepContext:
	"""Everything a step may use for one participant: the flow, the step, the participant and
	the person's row, the moment, and what the batch lends (below)."""

	flow: MarketingFlow
	step: MarketingFlowStep
	participant: ParticipantRow
	contact: PersonRow  # the person's record
	now: datetime
	_batch: BatchServices

	@property
	def next_step(self) -> str | None:
		return self.step.next_step

	@property
	def dry_run(self) -> bool:
		"""A dry run (running/dry_run.py): nothing may leave the process."""
		return self._batch.dry_run

	@property
	def settings(self) -> MarketingFlowSettings:
		return self._batch.settings

	@property
	def mailer(self) -> Mailer:
		"""Queues the batch's emails; its rows are written with the batch."""
		return self._batch.mailer

	@property
	def memo(self) -> dict[str, Any]:
		"""Per-batch answers a step type keeps for itself (one query per batch, not per person)."""
		return self._batch.memo

	@property
	def batch_emails(self) -> list[str]:
		"""The addresses of the batch's participants."""
		return self._batch.emails

	@property
	def clock(self) -> Clock:
		"""The person's clock for this flow (their time zone, or the flow's): waits in days, at a
		time of day and inside the sending window are read on it."""
		return self._batch.clock_for(self.participant)

	def required(self, fieldname: str) -> str:
		"""A field of the step that its type lists in `required`: set, since the flow was saved."""
		return self.step.get(fieldname)

	def content(self, name: str) -> MarketingFlowContent:
		"""A Marketing Flow Content, loaded once per batch."""
		return self._batch.content(name)

	def company(self) -> PersonRow | None:
		"""The participant's company's record as a row (of the site's company doctype; None:
		none), loaded once per batch."""
		return self._batch.company(self.participant)

	def events(self) -> list[tuple[str | None, str, datetime]]:
		"""(step_id, event, time) of what happened to the participant earlier in this go, not
		written to the log yet."""
		return self._batch.events_of(self.participant.name)

	def template_context(self) -> dict[str, Any]:
		"""What Jinja in flow content sees: the participant's own context and nothing else."""
		person_doctype = self.participant.get("person_doctype") or "Contact"
		return {
			"person": self.contact,
			"contact": self.contact,
			"lead": self.contact if person_doctype != "Contact" else None,
			"company": self.company(),
			"participant": self.participant,
			"flow": {"name": self.flow.name, "flow_name": self.flow.flow_name},
		}

	def idempotency_key(self) -> str:
		"""The same for every try of this visit of this step by this participation (retries, a
		batch rolled back and run again), different for a later visit (a loop through a wait)."""
		raw = f"{self.participant['name']}:{self.step.step_id}:{cint(self.participant.get('step_seq'))}"
		return hashlib.sha1(raw.encode()).hexdigest()

	def call_outside(self, channel: str, target: str, send: Callable[[], str], payload: str = "") -> str:
		"""Make an outside call through the outbox: recorded before and after in committed
		writes, never repeated once confirmed (see outbox.py). A dry run records what would be
		sent and calls nothing."""
		if self._batch.dry_run:
			self._batch.outside_calls.append(
				{
					"participant": self.participant["name"],
					"channel": channel,
					"to": target,
					"payload": payload,
				}
			)
			return "not called (dry run)"
		call = outbox.Call(
			key=self.idempotency_key(),
			flow=self.flow.name,
			participant=self.participant["name"],
			step_id=self.step.step_id,
			channel=channel,
			target=target,
		)
		return outbox.call_once(call, send, self._batch.max_attempts)
