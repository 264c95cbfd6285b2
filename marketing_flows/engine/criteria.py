"""Success criteria: does a person meet a flow's goal? One query per criterion type.

The full set of criterion types is built by the success-criteria issue; enrolment and the runner
already ask through these functions, so nothing else changes when it lands.
"""

from __future__ import annotations

from typing import Any


def already_successful(flow: Any, contacts: list[str]) -> set[str]:
	"""Contacts that meet the flow's criteria already (not enrolled: HubSpot goal rule)."""
	if not contacts or not flow.get("success_criteria"):
		return set()
	return set()


def newly_successful(flow: Any, participants: list) -> dict[str, str]:
	"""participant -> label of the criterion met, for those not yet marked successful."""
	return {}


def mark_successful(flow: Any, participant: Any, criterion: str, now: Any) -> dict:
	"""Mark a participant successful (before its next action); returns the values written."""
	import frappe

	values = {"succeeded": 1, "succeeded_on": now, "success_criterion": criterion}
	frappe.db.set_value("Marketing Flow Participant", participant.name, values, update_modified=False)
	return values
