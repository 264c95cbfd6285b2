"""Starter flows for the flow list's "New from template" (engine/changing/starters.py)."""

from __future__ import annotations

from typing import cast

import frappe
from frappe import _

from marketing_flows.engine.changing import starters


@frappe.whitelist()
def starter_flows() -> list[dict]:
	"""The ready flows the dialog offers, in the user's language; those this site can't have
	with the reason. For who may read flows."""
	frappe.has_permission("Marketing Flow", "read", throw=True)
	return starters.listing()


@frappe.whitelist()
def create_from_starter(starter: str | None = None) -> dict:
	"""Make the starter a Draft flow with its own content; returns the flow's name for the
	designer. For who may create flows and flow content; a POST (it writes)."""
	frappe.has_permission("Marketing Flow", "create", throw=True)
	frappe.has_permission("Marketing Flow Content", "create", throw=True)
	if frappe.request and frappe.request.method != "POST":
		frappe.throw(_("Send this request as a POST."), title=_("Not allowed"))
	if not starter:
		frappe.throw(_("Choose a starter flow."))
	flow = starters.create(cast(str, starter))
	return {"name": flow.name, "flow_name": flow.flow_name}
