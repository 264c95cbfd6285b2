"""The shapes of the app's own documents as the engine reads them.

The doctype controllers import the engine, so the engine can't import their classes without an
import circle: it names what it reads of them here (a leaf module), and any MarketingFlow
document, or a frappe._dict with those fields, fits."""

from __future__ import annotations

from typing import Any, Protocol


class MarketingFlowStep(Protocol):
	"""A row of a flow's `steps` table (doctype Marketing Flow Step)."""

	name: str
	step_id: str
	step_type: str
	next_step: str | None

	def get(self, key: str, default: Any = None) -> Any: ...


class MarketingFlow(Protocol):
	"""A Marketing Flow document (its name is its `flow_name`)."""

	name: str
	flow_name: str
	status: str
	steps: list[MarketingFlowStep]

	def get(self, key: str, default: Any = None) -> Any: ...
