"""Who may operate flows. Whitelisted doc methods are only checked for read access by Frappe,
so every operation that changes a flow or its participants asks here first."""

from __future__ import annotations

from typing import Any

import frappe
from frappe import _

OPERATOR_ROLES = {"Flow Administrator", "System Manager"}


def require_flow_operator(flow: Any) -> None:
	"""Run / pause / stop / enrol / remove: Flow Administrator or System Manager with write access."""
	user = frappe.session.user
	roles = set(frappe.get_roles(user))
	if user != "Administrator" and not roles & OPERATOR_ROLES:
		frappe.throw(
			_("Only a Flow Administrator can run, pause, stop or enrol people in flows."),
			frappe.PermissionError,
		)
	frappe.has_permission("Marketing Flow", "write", flow, throw=True)
