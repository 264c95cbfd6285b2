"""Each person's own clock: the time zone found for them (their field, their address's country,
the flow's, the site's), the sending window and quiet hours read on it, holidays of their
country and of the company, waits in days and at a time of day, the frequency cap's day, and
the Date Field trigger's hour.

A batch of the runner runs here with its clock (`now`) frozen at the moment a test needs, the
way a worker's runner job runs it at the current time (test_time.py does the same); what the
test reads is what a marketer sees: the participant's Next Run At and Time Zone, and the
timeline's messages. The last test sends through a real worker and the local SMTP server.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import frappe
import pytest

from conftest import DATE_FIELD
from factories import end, events, make_contact, make_content, make_flow, running_flow, step, unique
from marketing_flows.engine.running.batch import Batch

SITE = "Europe/Copenhagen"
OSLO, NEW_YORK, SINGAPORE = "Europe/Oslo", "America/New_York", "Asia/Singapore"


def address_in(country: str, contact: str) -> str:
	"""An Address in `country` linked to the Contact (its only address)."""
	return (
		frappe.get_doc(
			{
				"doctype": "Address",
				"address_title": unique("Addr"),
				"address_type": "Billing",
				"address_line1": "1 Main Street",
				"city": "Town",
				"country": country,
				"links": [{"link_doctype": "Contact", "link_name": contact}],
			}
		)
		.insert(ignore_permissions=True)
		.name
	)


def person(zone: str | None = None, country: str | None = None, **values) -> str:
	"""A Contact with its own Time Zone field and/or an address in `country`."""
	contact = make_contact(**({"mf_time_zone": zone} if zone else {}), **values)
	if country:
		address_in(country, contact)
	return contact


def participant_of(flow: str, contact: str) -> frappe._dict:
	name = frappe.db.get_value("Marketing Flow Participant", {"flow": flow, "contact": contact})
	return frappe.db.get_value("Marketing Flow Participant", name, "*", as_dict=True)


def run_at(flow_name: str, contacts: list[str], now: datetime) -> dict[str, frappe._dict]:
	"""Run the flow's batch for these contacts' participants with the runner's clock at `now`
	(naive site time); the participants as the batch left them (not committed)."""
	names = [participant_of(flow_name, c).name for c in contacts]
	flow = frappe.get_doc("Marketing Flow", flow_name)
	Batch(flow, frappe.get_cached_doc("Marketing Flow Settings"), now).run(names)
	return {c: participant_of(flow_name, c) for c in contacts}


def messages(participant: str, event: str | None = None) -> list[str]:
	filters = {"participant": participant, **({"event": event} if event else {})}
	return frappe.get_all("Marketing Flow Log", filters, pluck="message", order_by="creation asc, name asc")


def site_time(local: datetime, zone: str, site: str = SITE) -> datetime:
	"""The naive site time of the naive wall-clock time `local` in `zone`."""
	return local.replace(tzinfo=ZoneInfo(zone)).astimezone(ZoneInfo(site)).replace(tzinfo=None)


def mail_flow(content, **values):
	return running_flow(
		[step("mail", "Send Email", content=content.name, next_step="end"), end()],
		**values,
	)


NINE_TO_FIVE = {
	"use_sending_window": 1,
	"window_start": "09:00",
	"window_end": "17:00",
	**{
		f"send_on_{d}": 1
		for d in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
	},
}


# --- where a person's clock is found -------------------------------------------------------------


def test_the_time_zone_comes_from_the_field_then_the_address_then_the_flow(site_zone, content):
	site_zone(SITE)
	flow = mail_flow(content, time_zone="Europe/London", **NINE_TO_FIVE)
	own = person(zone=NEW_YORK, country="Norway")  # the field wins over the address
	by_address = person(country="Singapore")
	several = person(country="United States")  # several zones: the flow's, and it says why
	unknown = person()
	people = [own, by_address, several, unknown]
	flow.enroll(people)
	got = run_at(flow.name, people, datetime(2027, 3, 1, 3, 0))
	assert [(got[c].time_zone, got[c].time_zone_source) for c in people] == [
		(NEW_YORK, "Person"),
		(SINGAPORE, "Address"),
		("Europe/London", "Flow"),
		("Europe/London", "Flow"),
	]
	assert messages(got[own].name, "Time Zone") == [
		"Time zone America/New_York (from the person's Time Zone field)"
	]
	assert messages(got[by_address].name, "Time Zone") == [
		"Time zone Asia/Singapore (from the address's country Singapore)"
	]
	assert messages(got[several].name, "Time Zone") == [
		"Time zone Europe/London (the flow's time zone): United States has several time zones"
	]
	assert messages(got[unknown].name, "Time Zone") == []  # nothing personal to say

	# logged once: a later run with the same zone adds nothing
	run_at(flow.name, people, datetime(2027, 3, 1, 3, 30))
	assert len(messages(got[own].name, "Time Zone")) == 1


def test_without_a_flow_time_zone_the_site_zone_is_the_fallback(site_zone, content):
	site_zone(SITE)
	flow = mail_flow(content, **NINE_TO_FIVE)
	contact = person()
	flow.enroll([contact])
	got = run_at(flow.name, [contact], datetime(2027, 3, 1, 3, 0))[contact]
	assert (got.time_zone, got.time_zone_source) == (SITE, "Site")
	assert got.next_run_at == datetime(2027, 3, 1, 9, 0)


def test_the_flows_time_zone_for_everyone_when_the_flow_says_so(site_zone, content):
	site_zone(SITE)
	flow = mail_flow(content, times_in="Flow's Time Zone", time_zone=NEW_YORK, **NINE_TO_FIVE)
	oslo = person(zone=OSLO)
	flow.enroll([oslo])
	got = run_at(flow.name, [oslo], datetime(2027, 3, 1, 3, 0))[oslo]
	# 09:00 in New York, not in Oslo: 15:00 in Copenhagen
	assert got.next_run_at == datetime(2027, 3, 1, 15, 0)
	assert messages(got.name, "Step Skipped")[-1] == (
		"Waiting for 2027-03-01 09:00 in America/New_York: outside the sending window"
	)  # 21:00 on the day before in New York: the date is said


def test_test_flow_shows_the_path_on_the_persons_clock(site_zone, content):
	"""Actions > Test Flow: for someone whose night it is now, the path waits for 09:00 their time,
	and nothing is written."""
	site_zone(SITE)
	flow = mail_flow(content, **NINE_TO_FIVE)
	night = zone_at_hour(range(0, 6))
	contact = person(zone=night)
	path = flow.test_flow(contacts=[contact])[0]
	skipped = [e["message"] for e in path["timeline"] if e["event"] == "Step Skipped"]
	assert skipped == [f"Waiting for 09:00 in {night}: outside the sending window"]
	assert not frappe.db.exists("Marketing Flow Participant", {"flow": flow.name})


def test_a_person_time_zone_that_is_not_one_is_refused_with_a_clear_message():
	with pytest.raises(frappe.ValidationError, match="'Mars/Olympus' is not a time zone"):
		make_contact(mf_time_zone="Mars/Olympus")
	contact = make_contact(mf_time_zone=" Europe/Oslo ")
	assert frappe.db.get_value("Contact", contact, "mf_time_zone") == OSLO


def test_a_flow_time_zone_that_is_not_one_is_refused():
	with pytest.raises(frappe.ValidationError, match="'Europe/Atlantis' is not a time zone"):
		make_flow(time_zone="Europe/Atlantis")


# --- the window and quiet hours in local time ----------------------------------------------------


def test_oslo_new_york_and_singapore_each_get_the_email_at_nine_their_time(site_zone, content):
	"""One flow with a 09:00-17:00 window in the person's time: at 01:30 in Copenhagen nobody
	may be mailed yet; each is due at 09:00 their time, and sent then."""
	site_zone(SITE)
	flow = mail_flow(content, **NINE_TO_FIVE)
	oslo, new_york, singapore = person(country="Norway"), person(zone=NEW_YORK), person(country="Singapore")
	people = [oslo, new_york, singapore]
	flow.enroll(people)
	now = datetime(2027, 3, 1, 1, 30)  # Monday 01:30 CET = 00:30 UTC: 19:30 Sunday in New York
	got = run_at(flow.name, people, now)
	nine = {
		oslo: site_time(datetime(2027, 3, 1, 9, 0), OSLO),
		new_york: site_time(datetime(2027, 3, 1, 9, 0), NEW_YORK),
		singapore: site_time(datetime(2027, 3, 1, 9, 0), SINGAPORE),
	}
	assert nine == {
		oslo: datetime(2027, 3, 1, 9, 0),
		new_york: datetime(2027, 3, 1, 15, 0),
		singapore: datetime(2027, 3, 1, 2, 0),
	}
	for contact, zone, said in (
		(oslo, OSLO, "09:00"),
		(new_york, NEW_YORK, "2027-03-01 09:00"),  # still Sunday evening there: the day is said
		(singapore, SINGAPORE, "09:00"),
	):
		assert (got[contact].status, got[contact].next_run_at) == ("Waiting", nine[contact])
		assert messages(got[contact].name, "Step Skipped") == [
			f"Waiting for {said} in {zone}: outside the sending window"
		]
	# a minute early, nothing is sent; at 09:00 their time, the email is
	for contact in people:
		early = run_at(flow.name, [contact], nine[contact] - timedelta(minutes=1))[contact]
		assert early.status == "Waiting" and early.next_run_at == nine[contact]
		assert "Email Sent" not in [e for _s, e in events(flow.name, contact)]
		sent = run_at(flow.name, [contact], nine[contact])[contact]
		assert sent.status == "Completed", messages(sent.name)
		assert "Email Sent" in [e for _s, e in events(flow.name, contact)]


def test_an_oslo_sms_never_leaves_between_nine_in_the_evening_and_eight_in_the_morning(
	site_zone, settings, http_receiver, smtp
):
	site_zone(SITE)
	settings.set(
		"SMS Settings",
		sms_gateway_url=f"{http_receiver.url}/sms-quiet",
		message_parameter="text",
		receiver_parameter="to",
		use_post=0,
		parameters=[],
	)
	settings.set(
		"Marketing Flow Settings",
		quiet_hours=[{"channel": "SMS", "days": "Every Day", "quiet_from": "21:00", "quiet_to": "08:00"}],
	)
	sms = make_content("SMS", body="Hi {{ contact.first_name }}")
	content = make_content("Email", sender=smtp.account)
	flow = running_flow(
		[
			step("sms", "Send SMS", content=sms.name, next_step="mail"),
			step("mail", "Send Email", content=content.name, next_step="end"),
			end(),
		],
		time_zone=SINGAPORE,  # the flow's own zone is not the person's
	)
	oslo = person(country="Norway", mobile_no="+4791234567")
	flow.enroll([oslo])
	for late in (datetime(2027, 6, 1, 21, 0), datetime(2027, 6, 1, 23, 59), datetime(2027, 6, 2, 7, 59)):
		got = run_at(flow.name, [oslo], site_time(late, OSLO))[oslo]
		assert (got.status, got.current_step) == ("Waiting", "sms")
		assert got.next_run_at == site_time(datetime(2027, 6, 2, 8, 0), OSLO)
		assert messages(got.name, "Step Skipped")[-1].startswith("Waiting for ")
		assert messages(got.name, "Step Skipped")[-1].endswith("in Europe/Oslo: quiet hours for SMS")
	assert [e for _s, e in events(flow.name, oslo) if e == "SMS Sent"] == []
	got = run_at(flow.name, [oslo], site_time(datetime(2027, 6, 2, 8, 0), OSLO))[oslo]
	assert got.status == "Completed", messages(got.name)
	assert "SMS Sent" in [e for _s, e in events(flow.name, oslo)]
	assert len(http_receiver.received("/sms-quiet")) == 1


def test_email_never_on_sundays_but_sms_may(site_zone, settings, smtp):
	site_zone(SITE)
	flow = running_flow(
		[
			step(
				"mail", "Send Email", content=make_content("Email", sender=smtp.account).name, next_step="end"
			),
			end(),
		],
		quiet_hours=[{"channel": "Email", "days": "Sunday"}],
	)
	contact = person(zone=OSLO)
	flow.enroll([contact])
	got = run_at(flow.name, [contact], datetime(2027, 3, 7, 12, 0))[contact]  # a Sunday
	assert got.next_run_at == datetime(2027, 3, 8, 0, 0)
	assert messages(got.name, "Step Skipped")[-1] == (
		"Waiting for 2027-03-08 00:00 in Europe/Oslo: quiet hours for Email"
	)


def test_quiet_hours_that_leave_no_moment_are_refused():
	with pytest.raises(frappe.ValidationError, match="Quiet Hours cover every hour of every day for SMS"):
		make_flow(
			quiet_hours=[
				{"channel": "SMS", "days": "Monday to Friday"},
				{"channel": "All", "days": "Saturday and Sunday", "quiet_from": "00:00"},
			]
		)
	with pytest.raises(frappe.ValidationError, match="From and To are the same time"):
		make_flow(quiet_hours=[{"channel": "SMS", "quiet_from": "10:00", "quiet_to": "10:00"}])


# --- holidays --------------------------------------------------------------------------------------


def test_the_seventeenth_of_may_skips_norwegians_but_not_danes(site_zone, content):
	site_zone(SITE)
	flow = mail_flow(content, skip_holidays="Person's Country", **NINE_TO_FIVE)
	norwegian, dane = person(country="Norway"), person(country="Denmark")
	flow.enroll([norwegian, dane])
	# a Wednesday in 2028 (in 2027 it is Whit Monday, a holiday in Denmark too)
	got = run_at(flow.name, [norwegian, dane], datetime(2028, 5, 17, 10, 0))
	assert got[dane].status == "Completed"
	assert "Email Sent" in [e for _s, e in events(flow.name, dane)]
	assert (got[norwegian].status, got[norwegian].next_run_at) == ("Waiting", datetime(2028, 5, 18, 9, 0))
	assert messages(got[norwegian].name, "Step Skipped") == [
		"Waiting for 2028-05-18 09:00 in Europe/Oslo: 2028-05-17 is a holiday: Constitution Day"
	]


def test_the_company_calendar_skips_its_own_days(site_zone, settings, content):
	site_zone(SITE)
	settings.set(
		"Marketing Flow Settings",
		company_holidays=[{"holiday_date": "2027-08-02", "description": "Summer party"}],
	)
	flow = mail_flow(content, skip_holidays="Company Calendar")
	norwegian = person(country="Norway")
	flow.enroll([norwegian])
	got = run_at(flow.name, [norwegian], datetime(2027, 8, 2, 10, 0))[norwegian]
	assert got.next_run_at == datetime(2027, 8, 3, 0, 0)
	assert messages(got.name, "Step Skipped") == [
		"Waiting for 2027-08-03 00:00 in Europe/Oslo: 2027-08-02 is a holiday: Summer party"
	]
	# 17 May is not the company's
	other = person(country="Norway")
	flow.enroll([other])
	assert run_at(flow.name, [other], datetime(2028, 5, 17, 10, 0))[other].status == "Completed"


def test_a_holiday_list_that_is_not_there_is_refused(settings):
	with pytest.raises(frappe.ValidationError, match="ERPNext Holiday List"):
		settings.set("Marketing Flow Settings", holiday_list="No Such List")


# --- waits on the person's clock ----------------------------------------------------------------------


def wait_flow(**wait) -> frappe._dict:
	return running_flow([step("wait", "Wait", next_step="end", **wait), end()])


@pytest.mark.parametrize(
	"start, amount, unit, end_local",
	[
		# the last Sunday of March: Oslo's clocks go 02:00 -> 03:00
		(datetime(2027, 3, 27, 9, 0), 1, "Days", datetime(2027, 3, 28, 9, 0)),
		(datetime(2027, 3, 28, 1, 30), 2, "Hours", datetime(2027, 3, 28, 4, 30)),
		# the last Sunday of October: 03:00 -> 02:00
		(datetime(2027, 10, 30, 9, 0), 1, "Days", datetime(2027, 10, 31, 9, 0)),
		(datetime(2027, 10, 31, 1, 30), 2, "Hours", datetime(2027, 10, 31, 2, 30)),
		(datetime(2027, 10, 25, 9, 0), 1, "Weeks", datetime(2027, 11, 1, 9, 0)),
	],
)
def test_waits_keep_the_persons_wall_clock_in_days_and_real_time_in_hours(
	site_zone, start, amount, unit, end_local
):
	"""The site runs on UTC; the person lives in Oslo. "Wait 1 day" ends at the same Oslo time
	(23 or 25 real hours), "Wait 2 hours" after 2 real hours, whatever the wall clock shows."""
	site_zone("UTC")
	flow = wait_flow(wait_amount=amount, wait_unit=unit)
	contact = person(zone=OSLO)
	flow.enroll([contact])
	began = site_time(start, OSLO, "UTC")
	got = run_at(flow.name, [contact], began)[contact]
	if unit == "Hours":  # the site's clock is UTC: real time
		assert got.next_run_at - began == timedelta(hours=amount)
		local = got.next_run_at.replace(tzinfo=timezone.utc).astimezone(ZoneInfo(OSLO))
		assert local.replace(tzinfo=None) == end_local  # 04:30 in spring; 02:30 again in autumn
	else:
		assert got.next_run_at == site_time(end_local, OSLO, "UTC")
		assert (
			messages(got.name, "Step Executed")[-1]
			== f"Waiting until {end_local:%Y-%m-%d %H:%M} (Europe/Oslo)"
		)


def test_wait_until_nine_on_the_next_working_day(site_zone):
	"""Friday afternoon in Oslo: Monday 09:00. Tuesday afternoon before 17 May (a Norwegian
	holiday the flow skips, a Wednesday in 2028): Thursday. In New York it is Friday morning."""
	site_zone(SITE)
	flow = running_flow(
		[step("wait", "Wait", wait_at_time="09:00", wait_working_day=1, next_step="end"), end()],
		skip_holidays="Person's Country",
	)
	cases = [
		(person(country="Norway"), datetime(2028, 5, 19, 15, 0), datetime(2028, 5, 22, 9, 0)),
		(person(country="Norway"), datetime(2028, 5, 16, 15, 0), datetime(2028, 5, 18, 9, 0)),
		(
			person(zone=NEW_YORK),
			datetime(2028, 5, 19, 15, 30),
			site_time(datetime(2028, 5, 22, 9, 0), NEW_YORK),
		),
		(
			person(zone=NEW_YORK),
			datetime(2028, 5, 19, 1, 0),
			site_time(datetime(2028, 5, 19, 9, 0), NEW_YORK),
		),
	]
	for contact, now, due in cases:
		flow.enroll([contact])
		assert run_at(flow.name, [contact], now)[contact].next_run_at == due, (contact, now)


def test_wait_a_day_then_until_ten_their_time(site_zone):
	site_zone(SITE)
	flow = wait_flow(wait_amount=1, wait_unit="Days", wait_at_time="10:00")
	contact = person(zone=SINGAPORE)
	flow.enroll([contact])
	got = run_at(flow.name, [contact], datetime(2027, 3, 1, 12, 0))[contact]  # 19:00 in Singapore
	assert got.next_run_at == site_time(datetime(2027, 3, 3, 10, 0), SINGAPORE)
	assert messages(got.name, "Step Executed")[-1] == "Waiting until 2027-03-03 10:00 (Asia/Singapore)"


def test_wait_until_the_date_field_at_ten_local(site_zone, contact_date_fields):
	site_zone(SITE)
	flow = wait_flow(wait_date_field=DATE_FIELD, wait_at_time="10:00")
	contact = person(zone=NEW_YORK, **{DATE_FIELD: "2027-04-20"})
	flow.enroll([contact])
	got = run_at(flow.name, [contact], datetime(2027, 4, 1, 12, 0))[contact]
	assert got.next_run_at == site_time(datetime(2027, 4, 20, 10, 0), NEW_YORK)


# --- the frequency cap's day and the Date Field trigger's hour ------------------------------------------


def test_the_frequency_caps_day_is_the_persons_day(site_zone, settings, smtp):
	"""One email a day: sent at 23:00 in New York, the next may go at midnight New York time,
	not 24 hours later and not at the site's midnight."""
	site_zone(SITE)
	settings.set("Marketing Flow Settings", max_emails_per_person_per_day=1)
	first, second = (make_content("Email", sender=smtp.account) for _ in range(2))
	flow = running_flow(
		[
			step("one", "Send Email", content=first.name, next_step="two"),
			step("two", "Send Email", content=second.name, next_step="end"),
			end(),
		]
	)
	contact = person(zone=NEW_YORK)
	flow.enroll([contact])
	got = run_at(flow.name, [contact], site_time(datetime(2027, 3, 1, 23, 0), NEW_YORK))[contact]
	assert (got.status, got.current_step) == ("Waiting", "two")
	assert got.next_run_at == site_time(datetime(2027, 3, 2, 0, 0), NEW_YORK)
	assert messages(got.name, "Step Skipped")[-1] == (
		"Deferred by the frequency cap until 2027-03-02 00:00 (America/New_York)"
	)


def test_a_date_field_trigger_starts_people_at_its_hour_on_their_clock(
	site_zone, content, contact_date_fields
):
	from marketing_flows.engine.entering import triggers

	site_zone(SITE)
	prefix = unique("Birthday")
	flow = running_flow(
		[step("mail", "Send Email", content=content.name, next_step="end"), end()],
		trigger_type="Date Field",
		trigger_date_field=DATE_FIELD,
		trigger_date_time="10:00",
		audience_filters=f'[["Contact", "first_name", "like", "{prefix}%"]]',
	)
	today = frappe.utils.getdate()
	oslo = person(zone=OSLO, first_name=unique(prefix), **{DATE_FIELD: today})
	singapore = person(zone=SINGAPORE, first_name=unique(prefix), **{DATE_FIELD: today})
	assert triggers.enrol_date_field_matches(flow.name, str(today)) == 2
	enrolled_on = {c: participant_of(flow.name, c).enrolled_on for c in (oslo, singapore)}
	got = run_at(flow.name, [oslo, singapore], max(enrolled_on.values()))
	for contact, zone in ((oslo, OSLO), (singapore, SINGAPORE)):
		local = (
			enrolled_on[contact]
			.replace(tzinfo=ZoneInfo(SITE))
			.astimezone(ZoneInfo(zone))
			.replace(tzinfo=None)
		)
		ten = datetime.combine(local.date(), datetime.min.time()) + timedelta(hours=10)
		if ten < local:
			ten += timedelta(days=1)
		assert got[contact].next_run_at == site_time(ten, zone)
		assert got[contact].status == "Waiting" and got[contact].current_step == "mail"
		assert messages(got[contact].name, "Step Skipped")[-1].endswith(
			f"in {zone}: the flow starts at this time of day"
		)
		sent = run_at(flow.name, [contact], site_time(ten, zone))[contact]
		assert sent.status == "Completed"


# --- with a real worker: who is inside their window now gets the email, who is not waits ----------


def zone_at_hour(hours: range) -> str:
	"""A time zone whose local hour is now within `hours`, with an hour of margin."""
	from marketing_flows.engine.hosts import time_zones

	now = datetime.now(timezone.utc)
	for zone in time_zones.all_zones():
		local = now.astimezone(ZoneInfo(zone))
		if local.hour in hours and local.hour + 1 in hours:
			return zone
	raise AssertionError(f"no zone has an hour in {hours} now")  # offsets span 26 hours


def test_the_runner_sends_to_who_is_inside_their_window_and_defers_the_others(worker, smtp, content):
	flow = mail_flow(content, **{**NINE_TO_FIVE, "window_start": "08:00", "window_end": "20:00"})
	day_zone, night_zone = zone_at_hour(range(9, 19)), zone_at_hour(range(21, 24))
	awake, asleep = person(zone=day_zone), person(zone=night_zone)
	flow.enroll([awake, asleep])
	frappe.db.commit()
	worker()
	frappe.db.rollback()
	assert participant_of(flow.name, awake).status == "Completed"
	assert len(smtp.to(frappe.db.get_value("Contact", awake, "email_id"))) == 1
	assert smtp.to(frappe.db.get_value("Contact", asleep, "email_id")) == []
	waiting = participant_of(flow.name, asleep)
	assert waiting.status == "Waiting" and waiting.time_zone == night_zone
	opens = datetime.now(ZoneInfo(night_zone)).date() + timedelta(days=1)
	assert waiting.next_run_at.replace(tzinfo=ZoneInfo(frappe.utils.get_system_timezone())).astimezone(
		ZoneInfo(night_zone)
	).replace(tzinfo=None) == datetime.combine(opens, datetime.min.time()) + timedelta(hours=8)


def test_flows_made_before_each_persons_clock_keep_the_sites_clock():
	"""The patch for sites that ran flows before this: they keep the site's clock until the
	marketer chooses the person's time; new flows start with the person's."""
	from marketing_flows.patches.v1_0 import flows_keep_their_clock

	before = make_flow()
	assert before.times_in == "Person's Time Zone"
	flows_keep_their_clock.execute()
	assert frappe.db.get_value("Marketing Flow", before.name, "times_in") == "Flow's Time Zone"
	assert make_flow().times_in == "Person's Time Zone"
