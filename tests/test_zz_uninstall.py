"""Uninstalling leaves no table (nor sequence, nor custom field) behind; runs last and reinstalls."""

import frappe

from conftest import run_bench


def _leftovers() -> dict[str, list]:
	db = frappe.conf.db_name
	tables = frappe.db.sql(
		"""SELECT table_name FROM information_schema.tables
		WHERE table_schema = %s AND (table_name LIKE 'tabMarketing Flow%%' OR table_name = 'tabMarketing Segment' OR table_name LIKE 'marketing\\_flow%%')""",
		db,
		pluck=True,
	)
	fields = frappe.get_all("Custom Field", filters={"fieldname": "mf_marketing_consent"}, pluck="name")
	return {"tables": tables, "custom_fields": fields}


def test_uninstall_leaves_no_tables_then_reinstall():
	before = _leftovers()
	assert "tabMarketing Flow" in before["tables"]
	frappe.db.commit()
	result = run_bench("uninstall-app", "marketing_flows", "--yes", "--no-backup", "--force", check=False)
	try:
		assert result.returncode == 0, result.stdout + result.stderr
		frappe.db.rollback()
		assert _leftovers() == {"tables": [], "custom_fields": []}
		assert not frappe.db.exists("Module Def", "Marketing Flows")
	finally:
		reinstall = run_bench("install-app", "marketing_flows", check=False)
		assert reinstall.returncode == 0, reinstall.stdout + reinstall.stderr
	frappe.db.rollback()
	frappe.clear_cache()
	assert frappe.db.table_exists("Marketing Flow")
	assert frappe.get_meta("Contact").has_field("mf_marketing_consent")
