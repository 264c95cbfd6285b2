"""Who may operate flows. Whitelisted doc methods are only checked for read access by Frappe,
so every operation that changes a flow or its participants asks here first."""

from __future__ import annotations

from typing import Any

import frappe
from frappe import _

OPERATOR_ROLES = {"Flow Administrator", "System Manager"}


def has_operator_role() -> bool:
	user = frappe.session.user
	return user == "Administrator" or bool(set(frappe.get_roles(user)) & OPERATOR_ROLES)


def is_flow_operator() -> bool:
	"""May the user run flows and enrol people (Flow Administrator, System Manager)?"""
	return has_operator_role() and bool(frappe.has_permission("Marketing Flow", "write"))


def require_flow_operator(flow: Any) -> None:
	"""Run / pause / stop / enrol / remove: Flow Administrator or System Manager with write access."""
	if not has_operator_role():
		frappe.throw(
			_("Only a Flow Administrator can run, pause, stop or enrol people in flows."),
			frappe.PermissionError,
		)
	frappe.has_permission("Marketing Flow", "write", flow, throw=True)


def readable(doctype: str, names: list[str]) -> set[str]:
	"""Which of `names` the current user may read (user permissions and sharing included): a
	record they may not see is treated like one that does not exist."""
	found: set[str] = set()
	for start in range(0, len(names), 1000):
		chunk = names[start : start + 1000]
		found.update(
			frappe.get_list(doctype, filters={"name": ("in", chunk)}, pluck="name", limit_page_length=0)
		)
	return found


def require_read(doctypes: dict[str, str]) -> None:
	"""doctype -> what names it. A flow may only look at data its author may read: a Document
	Condition on a doctype they can't read would be a yes/no oracle on that data."""
	for doctype, what in doctypes.items():
		if doctype and frappe.db.exists("DocType", doctype) and not frappe.has_permission(doctype, "read"):
			frappe.throw(
				_("{0}: you can't read {1}, so a flow of yours can't use it.").format(what, _(doctype)),
				frappe.PermissionError,
			)
