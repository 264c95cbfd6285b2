"""The time zones the desk offers: the flow form's and the designer's Flow Time Zone picker."""

from __future__ import annotations

import frappe

from marketing_flows.engine.hosts import time_zones


@frappe.whitelist()
def zones() -> list[str]:
	"""Every time zone a flow or a person may be set to (IANA names like Europe/Oslo), sorted: the
	same list the server accepts. For who may read flows."""
	frappe.has_permission("Marketing Flow", "read", throw=True)
	return time_zones.all_zones()
