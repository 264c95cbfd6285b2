"""What the desk learns about the user at login (Frappe's `boot_session` hook): whether they may
operate flows, for the person forms' "Add to flow" (the flow form has it in its onload)."""

from __future__ import annotations

import frappe

from marketing_flows.engine.permissions import is_flow_operator


def boot_session(bootinfo: frappe._dict) -> None:
	bootinfo.marketing_flows = {"is_flow_operator": is_flow_operator()}
