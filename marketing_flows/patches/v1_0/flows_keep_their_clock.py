"""Flows made before each person's clock existed sent on the site's clock: they keep it ("Flow's
Time Zone", with no flow zone: the site's) until the marketer chooses the person's time. New
flows start with the person's time."""

import frappe


def execute() -> None:
	flow = frappe.qb.DocType("Marketing Flow")
	frappe.qb.update(flow).set(flow.times_in, "Flow's Time Zone").run()
