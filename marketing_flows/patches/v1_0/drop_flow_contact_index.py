"""The (flow, contact) index of Marketing Flow Participant: a participant's person is now
`person` (a Contact or a lead), and (flow, person) serves what (flow, contact) did."""

import frappe


def execute() -> None:
	table = "tabMarketing Flow Participant"
	if frappe.db.sql(f"SHOW INDEX FROM `{table}` WHERE Key_name = 'flow_contact'"):
		frappe.db.sql_ddl(f"ALTER TABLE `{table}` DROP INDEX `flow_contact`")
