"""The (status, next_run_at) index of Marketing Flow Participant: no query uses it (due rows are
always found per flow, by (flow, status, next_run_at)), and every step rewrites it."""

import frappe


def execute() -> None:
	table = "tabMarketing Flow Participant"
	if frappe.db.sql(f"SHOW INDEX FROM `{table}` WHERE Key_name = 'status_next_run_at'"):
		frappe.db.sql_ddl(f"ALTER TABLE `{table}` DROP INDEX `status_next_run_at`")
