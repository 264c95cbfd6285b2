"""Time: waits can't end past the year 9999, count real time across daylight-saving changes
(a wait in days keeps the wall-clock time), and the hourly sending limit counts UTC hours.

The site's time zone is set for a test through System Settings (restored after it). A batch
of the runner runs here with its clock (`now`) at the moment a test needs, the way a worker's
runner job runs it at the current time; what the test reads is what a marketer sees on the
participant: `next_run_at` ("Next Run At") and the log's "Waiting until ...".
"""

from __future__ import annotations

from datetime import datetime, timezone

import frappe
import pytest
from frappe.utils import now_datetime

from factories import end, make_contact, make_flow, running_flow, step
from marketing_flows.engine.running.batch import Batch

COPENHAGEN = (
	"Europe/Copenhagen"  # summer time ends 2024-10-27 03:00 -> 02:00, begins 2024-03-31 02:00 -> 03:00
)


def wait_flow(amount: int, unit: str, **fields):
	wait = {"wait_amount": amount, "wait_unit": unit, "next_step": "end", **fields}
	return make_flow(steps=[step("wait", "Wait", **wait), end()])


@pytest.mark.parametrize(
	"amount, unit",
	[(10**9, "Days"), (10**9, "Weeks"), (10**9, "Hours"), (2_147_483_647, "Hours"), (3_000_000, "Days")],
)
def test_a_wait_that_would_end_past_the_year_9999_is_refused_at_save(amount, unit):
	with pytest.raises(frappe.ValidationError) as error:
		wait_flow(amount, unit)
	assert f"Wait step 'wait': a wait of {amount} {unit} would end after the year 9999." in str(error.value)


def test_long_waits_within_the_calendar_are_still_fine():
	wait_flow(2_147_483_647, "Minutes")  # the largest Int: about 4100 years
	wait_flow(2_000_000, "Days")  # about 5500 years


def test_a_date_offset_outside_the_calendar_is_refused_at_save():
	with pytest.raises(frappe.ValidationError, match="an offset of -1000000000 days would end outside"):
		make_flow(steps=[step("wait", "Wait", wait_date_field="modified", wait_date_offset=-(10**9))])


def run_batch(flow_name: str, contact: str, now: datetime) -> frappe._dict:
	"""Run the flow's batch for the contact's participant with the runner's clock at `now`;
	return the participant as the batch left it (not committed)."""

	name = frappe.db.get_value("Marketing Flow Participant", {"flow": flow_name, "contact": contact})
	flow = frappe.get_doc("Marketing Flow", flow_name)
	batch = Batch(flow, frappe.get_cached_doc("Marketing Flow Settings"), now)
	batch.run([name])
	return frappe.db.get_value("Marketing Flow Participant", name, "*", as_dict=True)


def start_waiting(site_zone, zone: str, amount: int, unit: str, now: datetime) -> frappe._dict:
	site_zone(zone)
	flow = running_flow(
		[
			step("wait", "Wait", wait_amount=amount, wait_unit=unit, next_step="end"),
			end(),
		]
	)
	contact = make_contact()
	flow.enroll([contact])
	return run_batch(flow.name, contact, now)


@pytest.mark.parametrize(
	"start, amount, unit, end",
	[
		# spring: 01:30 CET is 00:30 UTC; 2 hours later is 02:30 UTC, 04:30 summer time
		(datetime(2024, 3, 31, 1, 30), 2, "Hours", datetime(2024, 3, 31, 4, 30)),
		(datetime(2024, 3, 31, 1, 30), 90, "Minutes", datetime(2024, 3, 31, 4, 0)),
		# autumn: 01:30 CEST is 23:30 UTC; 3 hours later is 02:30 UTC, 03:30 winter time
		(datetime(2024, 10, 27, 1, 30), 3, "Hours", datetime(2024, 10, 27, 3, 30)),
		# ... 1 hour later is 00:30 UTC: 02:30 in the first pass of the repeated hour
		(datetime(2024, 10, 27, 1, 30), 1, "Hours", datetime(2024, 10, 27, 2, 30)),
		# ... 2 hours later is 01:30 UTC: 02:30 in the second pass. Stored as 02:30 it would be due
		# already in the first pass (after 1 hour): it is stored as 03:00, the first wall-clock
		# time after the repeated hour (2.5 hours: never earlier than asked)
		(datetime(2024, 10, 27, 1, 30), 2, "Hours", datetime(2024, 10, 27, 3, 0)),
		# days are calendar days: the same wall-clock time, 23 or 25 real hours across a change
		(datetime(2024, 3, 30, 9, 0), 1, "Days", datetime(2024, 3, 31, 9, 0)),
		(datetime(2024, 10, 26, 9, 0), 1, "Days", datetime(2024, 10, 27, 9, 0)),
		(datetime(2024, 10, 21, 9, 0), 1, "Weeks", datetime(2024, 10, 28, 9, 0)),
	],
)
def test_waits_count_real_time_across_daylight_saving_changes(site_zone, start, amount, unit, end):
	p = start_waiting(site_zone, COPENHAGEN, amount, unit, start)
	assert (p.status, p.current_step, p.next_run_at) == ("Waiting", "wait", end)
	message = frappe.db.get_value(
		"Marketing Flow Log", {"participant": p.name, "step_id": "wait"}, "message", order_by="creation desc"
	)
	assert message == f"Waiting until {end:%Y-%m-%d %H:%M}"


def test_a_wait_saved_too_long_before_the_check_stalls_with_a_clear_message(settings):
	"""A flow saved before waits were checked at save: the participant is Stalled with the
	reason, not with an OverflowError."""
	settings.set("Marketing Flow Settings", max_attempts=1)
	flow = running_flow(
		[
			step("wait", "Wait", wait_amount=1, wait_unit="Days", next_step="end"),
			end(),
		]
	)
	frappe.db.set_value("Marketing Flow Step", {"parent": flow.name, "step_id": "wait"}, "wait_amount", 10**9)
	contact = make_contact()
	flow.enroll([contact])
	p = run_batch(flow.name, contact, now_datetime())
	assert p.status == "Stalled"
	assert "a wait of 1000000000 Days would end after the year 9999" in p.last_error


def test_the_hourly_limit_counts_utc_hours(site_zone):
	"""The count of sends is kept per UTC hour, whatever the site's time zone: when the clocks go
	back, the repeated wall-clock hour is two real hours, each with its own limit."""
	from marketing_flows.engine.sending import throttle

	site_zone(COPENHAGEN)
	sends = throttle.HourlySends(limit=5)
	for _ in range(3):
		hour = datetime.now(timezone.utc).strftime("%Y%m%d%H")
		key = frappe.cache.make_key(f"marketing_flows:sends:{hour}")
		frappe.cache.delete(key)
		sends.count(2)
		if datetime.now(timezone.utc).strftime("%Y%m%d%H") == hour:
			break  # no hour turned in between
	try:
		assert int(frappe.cache.get(key) or 0) == 2
		assert sends.allows(3) and not sends.allows(4)
	finally:
		frappe.cache.delete(key)


@pytest.mark.parametrize(
	"zone, now, next_hour",
	[
		("Asia/Kolkata", datetime(2024, 5, 6, 10, 10), datetime(2024, 5, 6, 10, 30)),  # UTC+5:30
		("Asia/Kathmandu", datetime(2024, 5, 6, 10, 50), datetime(2024, 5, 6, 11, 45)),  # UTC+5:45
		(COPENHAGEN, datetime(2024, 5, 6, 10, 10), datetime(2024, 5, 6, 11, 0)),
		(COPENHAGEN, datetime(2024, 3, 31, 1, 10), datetime(2024, 3, 31, 3, 0)),  # 02:00 does not exist
	],
)
def test_a_send_deferred_by_the_hourly_limit_waits_for_the_next_utc_hour(site_zone, zone, now, next_hour):
	from marketing_flows.engine.sending import throttle

	site_zone(zone)
	assert throttle.HourlySends.next_hour(now) == next_hour
