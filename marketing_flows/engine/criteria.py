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
