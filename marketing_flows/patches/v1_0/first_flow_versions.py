"""Flows that ran before versions existed get their version 1 (as it is now), and their people
walk it: without it, an edit of such a flow would not know where its people are."""

import frappe

from marketing_flows.engine.changing import definition, versions


def execute() -> None:
	for name in frappe.get_all(
		"Marketing Flow", filters={"status": ("!=", "Draft"), "version": 0}, pluck="name"
	):
		flow = frappe.get_doc("Marketing Flow", name)
		current = definition.snapshot(flow)
		versions.publish(flow, current, definition.digest(current), None)
