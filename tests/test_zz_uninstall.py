"""Uninstalling leaves no table (nor sequence, nor custom field) behind, but keeps the consent
evidence; runs last and reinstalls."""

import csv
import io
import re

import frappe

from conftest import run_bench
from factories import make_contact, participant, running_flow, step, unique


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


def test_uninstall_keeps_the_consent_evidence():
	"""Who agreed to marketing, who unsubscribed and which addresses were blocked is proof a
	site may have to show later: the uninstall saves it as a private CSV File of the site and
	says where, and the consent column keeps its values (shown again after a reinstall)."""
	from marketing_flows.engine.measuring import tracking

	agreed = make_contact(mf_marketing_consent=1)
	agreed_email = frappe.db.get_value("Contact", agreed, "email_id")
	flow = running_flow([step("wait", "Wait", wait_amount=1, wait_unit="Days")])
	leaving = make_contact()
	leaving_email = frappe.db.get_value("Contact", leaving, "email_id")
	flow.enroll([leaving])
	tracking.unsubscribe(participant(flow.name, leaving).name, leaving_email)
	blocked = f"{unique('complained')}@example.com".lower()
	frappe.get_doc(
		{"doctype": "Marketing Blocked Address", "email_address": blocked, "reason": "Complaint"}
	).insert(ignore_permissions=True)
	confirmed = f"{unique('opted-in')}@example.com".lower()
	frappe.get_doc(
		{
			"doctype": "Marketing Email Confirmation",
			"email_address": confirmed,
			"status": "Confirmed",
			"flow": flow.name,
			"source": "Web Form newsletter-signup",
			"requested_on": "2026-01-05 10:00:00",
			"confirmed_on": "2026-01-05 10:07:00",
			"confirmed_ip": "203.0.113.9",
			"confirmed_user_agent": "Mozilla/5.0 (test)",
		}
	).insert(ignore_permissions=True)
	flow.stop()
	frappe.db.commit()

	result = run_bench("uninstall-app", "marketing_flows", "--yes", "--no-backup", "--force", check=False)
	try:
		assert result.returncode == 0, result.stdout + result.stderr
		frappe.db.rollback()
		frappe.clear_cache()
		assert not frappe.db.table_exists("Marketing Flow Log")
		found = re.search(r"kept in the private file (/private/files/\S+\.csv)", result.stdout)
		assert found, result.stdout
		file = frappe.get_doc("File", {"file_url": found.group(1)})
		assert file.is_private
		content = file.get_content()
		rows = list(csv.DictReader(io.StringIO(content.decode() if isinstance(content, bytes) else content)))
		by_kind = {(r["kind"], r["name"]): r for r in rows}
		consent = by_kind[("Consent", agreed)]
		assert (consent["doctype"], consent["email"], consent["value"]) == ("Contact", agreed_email, "1")
		assert consent["recorded_on"]
		gone = by_kind[("Unsubscribed", leaving)]
		assert (gone["email"], gone["flow"]) == (leaving_email, flow.name) and gone["recorded_on"]
		assert by_kind[("Blocked Address", blocked)]["value"] == "Complaint"
		opt_in = next(r for r in rows if r["kind"] == "Double Opt-in" and r["email"] == confirmed)
		assert (opt_in["value"], opt_in["recorded_on"], opt_in["requested_on"], opt_in["ip"]) == (
			"Confirmed",
			"2026-01-05 10:07:00",
			"2026-01-05 10:00:00",
			"203.0.113.9",
		)
		assert (opt_in["user_agent"], opt_in["source"], opt_in["flow"]) == (
			"Mozilla/5.0 (test)",
			"Web Form newsletter-signup",
			flow.name,
		)
		assert ("Consent", leaving) not in by_kind
		# the field is gone from the form, its values are still in the table
		assert not frappe.get_meta("Contact").has_field("mf_marketing_consent")
		assert not frappe.get_meta("Contact").has_field("mf_time_zone")  # the person's Time Zone too
		assert not frappe.get_meta("Contact").has_field("mf_left_company")  # and No Longer at the Company
		assert frappe.db.sql("SELECT mf_marketing_consent FROM `tabContact` WHERE name = %s", agreed) == (
			(1,),
		)
	finally:
		reinstall = run_bench("install-app", "marketing_flows", check=False)
		assert reinstall.returncode == 0, reinstall.stdout + reinstall.stderr
	frappe.db.rollback()
	frappe.clear_cache()
	assert frappe.db.get_value("Contact", agreed, "mf_marketing_consent") == 1
