"""The hosts' part in each person's clock: ERPNext's Holiday List as the company's calendar, and
the time zone of the leads flows enrol (ERPNext's Lead by its country, Frappe CRM's lead by the
Time Zone field the app adds). Run on each host's site by scripts/test.sh; each test skips where
its host app is not installed."""

from __future__ import annotations

from datetime import datetime

import frappe
import pytest

from factories import end, make_content, running_flow, step, unique
from marketing_flows.engine.running.batch import Batch

SITE = "Europe/Copenhagen"


def needs(doctype: str) -> None:
	if not frappe.db.exists("DocType", doctype):
		pytest.skip(f"{doctype} is not installed on this site")


def run_at(flow_name: str, person: str, now: datetime) -> frappe._dict:
	name = frappe.db.get_value("Marketing Flow Participant", {"flow": flow_name, "person": person})
	flow = frappe.get_doc("Marketing Flow", flow_name)
	Batch(flow, frappe.get_cached_doc("Marketing Flow Settings"), now).run([name])
	return frappe.db.get_value("Marketing Flow Participant", name, "*", as_dict=True)


def skipped(participant: str) -> list[str]:
	return frappe.get_all(
		"Marketing Flow Log",
		{"participant": participant, "event": "Step Skipped"},
		pluck="message",
		order_by="creation asc",
	)


def mail_flow(sender: str, person_doctype: str, **values):
	content = make_content("Email", sender=sender)
	return running_flow(
		[step("mail", "Send Email", content=content.name, next_step="end"), end()],
		person_doctype=person_doctype,
		**values,
	)


def erpnext_lead(**values) -> str:
	first = unique("Lead")
	return (
		frappe.get_doc(
			{"doctype": "Lead", "first_name": first, "email_id": f"{first.lower()}@example.com", **values}
		)
		.insert(ignore_permissions=True)
		.name
	)


def test_the_erpnext_holiday_list_named_in_settings_is_the_company_calendar(site_zone, settings, smtp):
	needs("Holiday List")
	site_zone(SITE)
	holiday_list = (
		frappe.get_doc(
			{
				"doctype": "Holiday List",
				"holiday_list_name": unique("MF Calendar"),
				"from_date": "2028-01-01",
				"to_date": "2028-12-31",
				"holidays": [{"holiday_date": "2028-08-07", "description": "Company day out"}],
			}
		)
		.insert(ignore_permissions=True)
		.name
	)
	frappe.db.commit()
	settings.set("Marketing Flow Settings", holiday_list=holiday_list)
	flow = mail_flow(smtp.account, "Lead", skip_holidays="Company Calendar")
	lead = erpnext_lead(country="Norway")
	flow.enroll([lead])
	got = run_at(flow.name, lead, datetime(2028, 8, 7, 10, 0))
	assert (got.status, got.next_run_at) == ("Waiting", datetime(2028, 8, 8, 0, 0))
	assert skipped(got.name) == [
		"Waiting for 2028-08-08 00:00 in Europe/Oslo: 2028-08-07 is a holiday: Company day out"
	]


def test_an_erpnext_leads_country_gives_its_time_zone(site_zone, smtp):
	needs("Lead")
	site_zone(SITE)
	flow = mail_flow(
		smtp.account,
		"Lead",
		use_sending_window=1,
		window_start="09:00",
		window_end="17:00",
		**{f"send_on_{d}": 1 for d in ("monday", "tuesday", "wednesday", "thursday", "friday")},
	)
	lead = erpnext_lead(country="Singapore")
	flow.enroll([lead])
	got = run_at(flow.name, lead, datetime(2028, 3, 1, 1, 30))  # 08:30 in Singapore
	assert (got.time_zone, got.time_zone_source) == ("Asia/Singapore", "Country")
	assert got.next_run_at == datetime(2028, 3, 1, 2, 0)  # 09:00 in Singapore


def test_a_crm_leads_own_time_zone_field_is_its_clock(site_zone, smtp):
	needs("CRM Lead")
	site_zone(SITE)
	flow = mail_flow(
		smtp.account,
		"CRM Lead",
		quiet_hours=[{"channel": "Email", "quiet_from": "20:00", "quiet_to": "08:00"}],
	)
	first = unique("Crm")
	lead = (
		frappe.get_doc(
			{
				"doctype": "CRM Lead",
				"first_name": first,
				"email": f"{first.lower()}@example.com",
				"mf_time_zone": "America/New_York",
			}
		)
		.insert(ignore_permissions=True)
		.name
	)
	flow.enroll([lead])
	got = run_at(flow.name, lead, datetime(2028, 3, 1, 3, 0))  # 21:00 the evening before in New York
	assert (got.time_zone, got.time_zone_source) == ("America/New_York", "Person")
	assert got.next_run_at == datetime(2028, 3, 1, 14, 0)  # 08:00 in New York
	with pytest.raises(frappe.ValidationError, match="is not a time zone"):
		frappe.get_doc(
			{"doctype": "CRM Lead", "first_name": unique("Crm"), "mf_time_zone": "New York"}
		).insert(ignore_permissions=True)
