"""Revenue a flow earns: the documents of a participant's person, company or lead dated within
the flow's revenue window are credited (Marketing Flow Attribution), for people held out too, and
taken back when they no longer count. Frappe alone: a deal doctype made in the desk and mapped in
the Settings; ERPNext: a submitted Sales Invoice of the contact's Customer; Frappe CRM: a won CRM
Deal. Host parts are skipped on a site without the host (scripts/test.sh runs them on its host
site)."""

from __future__ import annotations

import html
from datetime import date

import frappe
import pytest
from frappe.utils import add_days, add_to_date, flt, get_datetime, now_datetime, nowdate
from pymysql.err import IntegrityError

from factories import (
	first_company,
	make_contact,
	make_doctype,
	participant,
	running_flow,
	simple_steps,
	step,
	unique,
)
from marketing_flows.engine import bulk, log
from marketing_flows.engine.entering import holdout
from marketing_flows.engine.hosts import revenue_documents
from marketing_flows.engine.measuring import earnings, revenue, tracking

SETTINGS = "Marketing Flow Settings"
ATTRIBUTION = "Marketing Flow Attribution"
PARTICIPANT = "Marketing Flow Participant"
DEAL = "MF Revenue Deal"
DEAL_ROW = {
	"document_type": DEAL,
	"amount_field": "amount",
	"date_field": "closed_on",
	"person_field": "contact",
	"won_field": "status",
	"won_value": "Won",
}


@pytest.fixture(scope="module")
def deal_source(module_settings):
	"""A deal doctype made in the desk (contact, amount, closed on, status) and mapped in the
	Settings as a revenue document; both gone after the module."""
	make_doctype(
		DEAL,
		[
			{"fieldname": "contact", "fieldtype": "Link", "options": "Contact", "label": "Contact"},
			{"fieldname": "amount", "fieldtype": "Currency", "label": "Amount"},
			{"fieldname": "closed_on", "fieldtype": "Datetime", "label": "Closed On"},
			{"fieldname": "status", "fieldtype": "Select", "options": "Open\nWon\nLost", "label": "Status"},
			{"fieldname": "rep", "fieldtype": "Link", "options": "User", "label": "Rep"},
		],
	)
	module_settings.set(SETTINGS, revenue_sources=[DEAL_ROW])
	yield DEAL
	module_settings.restore()
	frappe.db.delete(ATTRIBUTION, {"document_type": DEAL})
	frappe.delete_doc("DocType", DEAL, force=True, ignore_permissions=True)
	frappe.db.commit()


def deal(contact: str, amount: float, closed_on, status: str = "Won") -> str:
	return (
		frappe.get_doc(
			{"doctype": DEAL, "contact": contact, "amount": amount, "closed_on": closed_on, "status": status}
		)
		.insert()
		.name
	)


def set_status(name: str, status: str) -> None:
	doc = frappe.get_doc(DEAL, name)
	doc.status = status
	doc.save()


def days_ago(days: float):
	return add_to_date(now_datetime(), days=-days)


def enrolled_days_ago(flow, contact: str, days: float) -> frappe._dict:
	"""`contact` enrolled into `flow`, as if `days` ago."""
	result = flow.enroll([contact])
	assert result["enrolled"] or result.get("held_out"), result
	row = participant(flow.name, contact)
	frappe.db.set_value(PARTICIPANT, row.name, "enrolled_on", days_ago(days), update_modified=False)
	return participant(flow.name, contact)


def one_in_one_out(flow, make, doctype: str = "Contact") -> tuple[str, str]:
	"""(enrolled, held out): new people from `make()` until one falls outside the flow's control
	group and one inside it (a stable hash: who is held out is known before enrolment)."""
	inside = held = None
	while not (inside and held):
		person = make()
		if holdout.bucket(holdout.flow_key(flow.name, doctype, person)) < flow.holdout_percent:
			held = held or person
		else:
			inside = inside or person
	return inside, held


def group_revenue(flow) -> tuple[tuple, tuple]:
	"""The Reports tab's (people, revenue) of the enrolled and of the held out (get_earnings)."""
	shown = earnings.earnings(frappe.get_doc("Marketing Flow", flow.name))
	assert shown["lift"]["enough"] is False and shown["lift"]["reason"]  # 1 + 1 people: too few
	return tuple(
		(shown[group]["people"], shown[group]["revenue"], shown[group]["revenue_per_person"])
		for group in ("enrolled", "held_out")
	)


def credits(participant_name: str) -> dict[str, float]:
	"""document name -> amount credited to the participant."""
	return {
		r.document_name: flt(r.amount)
		for r in frappe.get_all(
			ATTRIBUTION, filters={"participant": participant_name}, fields=["document_name", "amount"]
		)
	}


def revenue_messages(participant_name: str) -> list[str]:
	return frappe.get_all(
		"Marketing Flow Log",
		filters={"participant": participant_name, "event": "Revenue"},
		order_by="name asc",
		pluck="message",
	)


# --- Frappe alone: a mapped deal doctype ------------------------------------------------------


def test_a_won_deal_within_the_window_counts_and_leaves_when_lost_or_deleted(worker, deal_source):
	flow = running_flow(simple_steps(), attribution_window_days=30)
	contact = make_contact()
	p = enrolled_days_ago(flow, contact, 40)
	inside = deal(contact, 1200, days_ago(35))
	deal(contact, 300, now_datetime())  # 40 days after enrolment: after the window
	deal(contact, 50, days_ago(45))  # before enrolment
	waiting = deal(contact, 999, days_ago(36), status="Open")
	deal(make_contact(), 77, days_ago(35))  # somebody else's
	worker()

	row = participant(name=p.name)
	assert (flt(row.revenue), row.revenue_documents) == (1200, 1)
	assert credits(p.name) == {inside: 1200}
	assert revenue_messages(p.name) == [f"{DEAL} {inside}: 1,200.00" + currency_suffix()]
	assert revenue.totals(flow.name) == {"enrolled": (1200.0, 1), "held_out": (0.0, 0)}

	set_status(inside, "Lost")
	worker()
	assert (flt(participant(name=p.name).revenue), credits(p.name)) == (0, {})
	assert revenue_messages(p.name)[-1].startswith(f"{DEAL} {inside} no longer counts: -1,200.00")

	set_status(inside, "Won")
	set_status(waiting, "Won")
	worker()
	row = participant(name=p.name)
	assert (flt(row.revenue), row.revenue_documents) == (2199, 2)

	frappe.delete_doc(DEAL, waiting)  # taken back at once: Frappe would refuse to delete it otherwise
	row = participant(name=p.name)
	assert (flt(row.revenue), row.revenue_documents, credits(p.name)) == (1200, 1, {inside: 1200})
	worker()
	assert flt(participant(name=p.name).revenue) == 1200


def currency_suffix() -> str:
	currency = revenue_documents.default_currency()
	return f" {currency}" if currency else ""


def test_a_new_window_recomputes_the_flows_credits(worker, deal_source):
	flow = running_flow(simple_steps(), attribution_window_days=30)
	contact = make_contact()
	p = enrolled_days_ago(flow, contact, 40)
	inside = deal(contact, 100, days_ago(35))
	late = deal(contact, 20, days_ago(1))
	worker()
	assert credits(p.name) == {inside: 100}

	frappe.db.set_value("Marketing Flow", flow.name, "attribution_window_days", 60)
	revenue.recompute(flow.name)
	assert credits(p.name) == {inside: 100, late: 20}
	assert flt(participant(name=p.name).revenue) == 120
	logged = len(revenue_messages(p.name))
	revenue.recompute(flow.name)  # nothing changed: nothing written, nothing logged
	assert len(revenue_messages(p.name)) == logged

	frappe.db.set_value("Marketing Flow", flow.name, "attribution_window_days", 30)
	revenue.recompute(flow.name)
	assert credits(p.name) == {inside: 100}
	assert (flt(participant(name=p.name).revenue), participant(name=p.name).revenue_documents) == (100, 1)


def test_saving_a_new_window_recomputes_in_a_job_and_a_flow_with_credits_can_be_deleted(worker, deal_source):
	flow = running_flow(simple_steps(), attribution_window_days=30)
	contact = make_contact()
	p = enrolled_days_ago(flow, contact, 40)
	inside = deal(contact, 100, days_ago(35))
	late = deal(contact, 20, days_ago(1))
	worker()
	assert credits(p.name) == {inside: 100}

	form = frappe.get_doc("Marketing Flow", flow.name)  # as the form saves it
	form.attribution_window_days = 60
	form.save()
	worker()
	assert credits(p.name) == {inside: 100, late: 20}

	frappe.get_doc("Marketing Flow", flow.name).stop()
	frappe.delete_doc("Marketing Flow", flow.name)
	frappe.db.commit()
	assert not frappe.db.exists("Marketing Flow", flow.name)
	assert not frappe.db.exists("Marketing Flow Attribution", {"flow": flow.name})


def test_people_held_out_are_credited_from_when_they_were_held_out(worker, deal_source):
	flow = running_flow(simple_steps(), holdout_percent=100, attribution_from="Last Open or Click")
	contact = make_contact()
	p = enrolled_days_ago(flow, contact, 10)
	assert p.status == "Held Out"
	won = deal(contact, 500, days_ago(2))
	worker()
	assert credits(p.name) == {won: 500}
	assert frappe.db.get_value(ATTRIBUTION, {"participant": p.name}, "held_out") == 1
	assert revenue.totals(flow.name) == {"enrolled": (0.0, 0), "held_out": (500.0, 1)}
	assert revenue.revenue_by_step(flow.name) == {}  # they passed no step


def test_last_open_or_click_starts_the_window_at_the_latest_engagement_before_the_document(
	worker, deal_source
):
	flow = running_flow(simple_steps(), attribution_window_days=10, attribution_from="Last Open or Click")
	contact = make_contact()
	p = enrolled_days_ago(flow, contact, 30)
	before = now_datetime()
	assert tracking.record_click(p.name, None, "https://example.com/offer")
	engaged = get_datetime(participant(name=p.name).last_engaged_on)
	assert engaged >= before.replace(microsecond=0)
	# as if the click was two days ago
	frappe.db.sql(
		"update `tabMarketing Flow Participant` set last_engaged_on = %s where name = %s",
		(days_ago(2), p.name),
	)
	frappe.db.sql(
		"""update `tabMarketing Flow Log` set creation = %s
		where participant = %s and event in ('Opened', 'Clicked')""",
		(days_ago(2), p.name),
	)
	after_click = deal(contact, 10, days_ago(1))  # within 10 days of the click
	before_click = deal(contact, 20, days_ago(25))  # no click yet: within 10 days of enrolment
	between = deal(contact, 40, days_ago(15))  # 15 days after enrolment, before the click
	worker()
	assert credits(p.name) == {after_click: 10, before_click: 20}
	assert between not in credits(p.name)


def test_opens_and_clicks_set_last_engaged_on():
	flow = running_flow(simple_steps())
	contact = make_contact()
	p = enrolled_days_ago(flow, contact, 1)
	assert participant(name=p.name).last_engaged_on is None
	tracking.record_open(p.name, "wait")
	first = get_datetime(participant(name=p.name).last_engaged_on)
	frappe.db.set_value(PARTICIPANT, p.name, "last_engaged_on", days_ago(3), update_modified=False)
	assert not tracking.record_open(p.name, "wait")  # logged once, but the latest engagement moves
	assert get_datetime(participant(name=p.name).last_engaged_on) >= first
	tracking.record_scan(p.name, "wait", "https://example.com", "scanner user agent")
	assert get_datetime(participant(name=p.name).last_engaged_on) >= first


def test_revenue_per_step_and_branch(worker, deal_source):
	flow = running_flow(
		[
			step("split", "Split", else_step="rest"),
			step("vip", "Update Participant", update_field="designation", update_value="went vip"),
			step("rest", "Update Participant", update_field="designation", update_value="went rest"),
		],
		branches=[
			{
				"step_id": "split",
				"branch_label": "Chief executives",
				"condition_type": "Field",
				"condition_filters": '[["department", "=", "Board"]]',
				"next_step": "vip",
			}
		],
	)
	chief, other = make_contact(department="Board"), make_contact()
	flow.enroll([chief, other])
	worker()
	deal(chief, 1000, now_datetime())
	deal(other, 30, now_datetime())
	worker()
	by_step = revenue.revenue_by_step(flow.name)
	assert by_step == {"split": 1030, "vip": 1000, "rest": 30}
	branches = revenue.revenue_by_branch(flow.name)
	taken = dict(
		frappe.get_all(
			"Marketing Flow Log",
			filters={"flow": flow.name, "event": "Step Executed", "step_id": "split"},
			fields=["contact", "branch"],
			as_list=True,
		)
	)
	# the else path is logged without a branch key where the split names none
	assert branches == {"split": {k: v for k, v in ((taken[chief], 1000), (taken[other], 30)) if k}}
	assert revenue.revenue_by_step_and_branch(flow.name) == (by_step, branches)
	# a person who passed a step twice (a loop) counts once there
	chief_row = participant(flow.name, chief)
	log.write(flow.name, chief_row.name, chief, "vip", "Step Executed", version=1)
	assert revenue.revenue_by_step(flow.name) == by_step
	assert revenue.revenue_by_step(flow.name, version=1) == by_step
	assert revenue.revenue_by_step(flow.name, version=2) == {}
	assert revenue.totals(flow.name, version=1)["enrolled"] == (1030.0, 2)


def test_a_document_is_credited_once_however_often_it_is_synced(deal_source):
	flow = running_flow(simple_steps())
	contact = make_contact()
	p = enrolled_days_ago(flow, contact, 1)
	won = deal(contact, 70, now_datetime())
	revenue.sync_documents([[DEAL, won], [DEAL, won]])
	revenue.sync_document(DEAL, won)
	assert credits(p.name) == {won: 70}
	assert len(revenue_messages(p.name)) == 1
	row = frappe.get_all(ATTRIBUTION, filters={"participant": p.name}, fields=["*"])[0]
	with pytest.raises(IntegrityError, match="Duplicate entry"):  # two workers can't both insert it
		bulk.insert(
			ATTRIBUTION,
			("name", "flow", "participant", "document_type", "document_name", "amount"),
			[(unique("dup"), row.flow, row.participant, row.document_type, row.document_name, 70)],
		)


def test_a_failed_attribution_is_logged_and_retried(deal_source, monkeypatch):
	flow = running_flow(simple_steps())
	contact = make_contact()
	p = enrolled_days_ago(flow, contact, 1)
	won = deal(contact, 45, now_datetime())
	frappe.db.commit()  # the job rolls a failed document back: as a worker would, it sees committed rows

	def broken(doctype, names):
		raise RuntimeError("the host's database is away")

	monkeypatch.setattr(revenue_documents, "read", broken)
	assert revenue.sync_documents([[DEAL, won]]) == 0
	assert frappe.db.exists("Error Log", {"reference_doctype": DEAL, "reference_name": won})
	assert (DEAL, won) in revenue._take_retries()
	assert credits(p.name) == {}

	monkeypatch.undo()
	assert revenue.retry_failed() >= 1
	assert credits(p.name) == {won: 45}
	assert (DEAL, won) not in revenue._take_retries()


def test_saving_a_document_that_carries_no_revenue_runs_no_query_in_the_hook(deal_source):
	contact = frappe.get_doc("Contact", make_contact())
	revenue_documents.sources()  # warm the map
	queries = []
	original = frappe.db.sql

	def counting(*args, **kwargs):
		queries.append(args[0])
		return original(*args, **kwargs)

	frappe.db.sql = counting
	try:
		revenue.on_change(contact)
		revenue.on_trash(contact)
	finally:
		frappe.db.sql = original
	assert queries == []
	assert not revenue.pending.peek()


def test_the_settings_check_mapped_revenue_documents(deal_source):
	def problem(**changes) -> str:
		settings = frappe.get_single(SETTINGS)
		settings.revenue_sources = []
		settings.append("revenue_sources", {**DEAL_ROW, **changes})
		with pytest.raises(frappe.ValidationError) as raised:
			settings.save()
		return html.unescape(str(raised.value))  # the desk shows it as HTML

	assert "has no field nope" in problem(amount_field="nope")
	assert "status is a Select field; it must be one of Currency, Float, Int" in problem(
		amount_field="status"
	)
	assert "must be one of Date, Datetime" in problem(date_field="amount")
	assert "rep links to User" in problem(person_field="rep")
	assert "Closed is not an option of status" in problem(won_value="Closed")
	assert "say which value" in problem(won_value="")
	assert "one of Frappe's own doctypes" in problem(document_type="ToDo")
	settings = frappe.get_single(SETTINGS)
	settings.revenue_sources = []
	settings.append("revenue_sources", DEAL_ROW)
	settings.append("revenue_sources", DEAL_ROW)
	with pytest.raises(frappe.ValidationError, match="counts already"):
		settings.save()


# --- ERPNext: a submitted Sales Invoice of the person's Customer --------------------------------


def erpnext_sales() -> frappe._dict:
	"""What a Sales Invoice needs without the setup wizard: a Company (with its chart of accounts;
	the one the criteria tests make, when they ran first), fiscal years, a service Item."""
	company = frappe.db.get_value("Company", first_company(), ["name", "default_currency"], as_dict=True)
	defaults = {  # what the setup wizard would have set
		"default_income_account": {"root_type": "Income", "account_type": ""},
		"round_off_account": {"account_type": "Round Off"},
	}
	for fieldname, filters in defaults.items():
		if not frappe.db.get_value("Company", company.name, fieldname):
			account = frappe.db.get_value(
				"Account", {"company": company.name, "is_group": 0, **filters}, "name"
			)
			frappe.db.set_value("Company", company.name, fieldname, account)
	if not frappe.db.get_value("Company", company.name, "round_off_cost_center"):
		cost_center = frappe.db.get_value("Company", company.name, "cost_center")
		frappe.db.set_value("Company", company.name, "round_off_cost_center", cost_center)
	frappe.clear_document_cache("Company", company.name)
	today = get_datetime(nowdate()).date()
	for year in sorted({add_days(today, -60).year, today.year}):
		start, end = date(year, 1, 1), date(year, 12, 31)
		if not frappe.db.sql(
			"select name from `tabFiscal Year` where year_start_date <= %s and year_end_date >= %s",
			(end, start),
		):
			frappe.get_doc(
				{"doctype": "Fiscal Year", "year": str(year), "year_start_date": start, "year_end_date": end}
			).insert(ignore_permissions=True)
	for doctype, values in (
		("Item Group", {"item_group_name": "All Item Groups", "is_group": 1}),
		("UOM", {"uom_name": "Nos"}),
	):
		name = values.get("item_group_name") or values["uom_name"]
		if not frappe.db.exists(doctype, name):
			frappe.get_doc({"doctype": doctype, **values}).insert(ignore_permissions=True)
	currency = company.default_currency or "USD"
	price_list = "MF Selling"
	if not frappe.db.exists("Price List", price_list):
		frappe.get_doc(
			{"doctype": "Price List", "price_list_name": price_list, "currency": currency, "selling": 1}
		).insert(ignore_permissions=True)
	item = "MF Consulting"
	if not frappe.db.exists("Item", item):
		frappe.get_doc(
			{
				"doctype": "Item",
				"item_code": item,
				"item_name": item,
				"item_group": "All Item Groups",
				"stock_uom": "Nos",
				"is_stock_item": 0,
			}
		).insert(ignore_permissions=True)
	return frappe._dict(company=company.name, currency=currency, price_list=price_list, item=item)


def make_customer() -> str:
	return (
		frappe.get_doc(
			{"doctype": "Customer", "customer_name": unique("Customer"), "customer_type": "Company"}
		)
		.insert(ignore_permissions=True)
		.name
	)


def sales_invoice(sales: frappe._dict, customer: str, rate: float, posting_date=None, contact=None):
	company = frappe.get_cached_doc("Company", sales.company)
	doc = frappe.get_doc(
		{
			"doctype": "Sales Invoice",
			"company": sales.company,
			"customer": customer,
			"contact_person": contact,
			"currency": sales.currency,
			"conversion_rate": 1,
			"selling_price_list": sales.price_list,
			"price_list_currency": sales.currency,
			"plc_conversion_rate": 1,
			"set_posting_time": 1,
			"posting_date": posting_date or nowdate(),
			"due_date": add_days(posting_date or nowdate(), 30),
			"debit_to": company.default_receivable_account,
			"update_stock": 0,
			"items": [
				{
					"item_code": sales.item,
					"qty": 2,
					"rate": rate,
					"income_account": company.default_income_account,
					"cost_center": company.cost_center,
				}
			],
		}
	)
	doc.insert(ignore_permissions=True)
	doc.submit()
	return doc


def test_a_submitted_sales_invoice_of_the_customer_counts_for_its_people_until_cancelled(worker, settings):
	"""The Customer's Contacts, the invoice's contact person and the lead the Customer was made
	from are each credited the invoice's net total, in the company currency."""
	if "erpnext" not in frappe.get_installed_apps():
		pytest.skip("ERPNext is not installed on this site (scripts/test.sh runs this on its ERPNext site)")
	from erpnext.crm.doctype.lead.lead import make_customer as customer_from_lead

	settings.set(SETTINGS, erpnext_revenue_doctype="Sales Invoice")
	sales = erpnext_sales()
	first = unique("Lead")
	lead = frappe.get_doc(
		{"doctype": "Lead", "first_name": first, "email_id": f"{first.lower()}@example.com"}
	)
	lead.insert(ignore_permissions=True)
	customer = customer_from_lead(lead.name).insert(ignore_permissions=True).name
	buyer = make_contact()  # linked to no customer: the invoice names them
	flow = running_flow(simple_steps(), holdout_percent=50)
	# the Customer's two Contacts: one gets the flow, the other is held out (the control group)
	contact, colleague = one_in_one_out(
		flow, lambda: make_contact(links=[{"link_doctype": "Customer", "link_name": customer}])
	)
	while holdout.bucket(holdout.flow_key(flow.name, "Contact", buyer)) < 50:
		buyer = make_contact()
	people = [enrolled_days_ago(flow, c, 5).name for c in (contact, colleague, buyer)]
	assert participant(name=people[1]).status == "Held Out"
	lead_flow = running_flow(simple_steps(), person_doctype="Lead")
	lead_flow.enroll([lead.name])
	by_lead = participant(lead_flow.name, person=lead.name).name
	frappe.db.set_value(PARTICIPANT, by_lead, "enrolled_on", days_ago(1), update_modified=False)
	invoice = sales_invoice(sales, customer, 600, contact=buyer)  # 1,200.00 net
	sales_invoice(sales, make_customer(), 99)  # another customer's
	worker()
	assert flt(invoice.base_net_total) == 1200
	for name in [*people, by_lead]:
		row = participant(name=name)
		assert (flt(row.revenue), row.revenue_documents) == (1200, 1), name
		assert credits(name) == {invoice.name: 1200}
	assert revenue_messages(people[0]) == [f"Sales Invoice {invoice.name}: 1,200.00 {sales.currency}"]
	assert revenue.totals(flow.name) == {"enrolled": (2400.0, 1), "held_out": (1200.0, 1)}
	assert group_revenue(flow) == ((2, 2400.0, 1200.0), (1, 1200.0, 1200.0))

	invoice.reload()
	invoice.cancel()
	worker()
	for name in [*people, by_lead]:
		assert (flt(participant(name=name).revenue), credits(name)) == (0, {})
	assert (
		revenue_messages(people[0])[-1]
		== f"Sales Invoice {invoice.name} no longer counts: -1,200.00 {sales.currency}"
	)


# --- Frappe CRM: a won CRM Deal ---------------------------------------------------------------


def test_a_won_crm_deal_counts_for_its_lead_and_its_contacts(worker):
	if "crm" not in frappe.get_installed_apps():
		pytest.skip("Frappe CRM is not installed on this site (scripts/test.sh runs this on its CRM site)")
	lead_flow = running_flow(simple_steps(), person_doctype="CRM Lead")
	first = unique("Lead")
	lead = (
		frappe.get_doc({"doctype": "CRM Lead", "first_name": first, "email": f"{first.lower()}@example.com"})
		.insert(ignore_permissions=True)
		.name
	)
	lead_flow.enroll([lead])
	by_lead = participant(lead_flow.name, person=lead)
	contact_flow = running_flow(simple_steps(), holdout_percent=50)
	contact, held_contact = one_in_one_out(contact_flow, make_contact)
	by_contact = enrolled_days_ago(contact_flow, contact, 1)
	by_held = enrolled_days_ago(contact_flow, held_contact, 1)
	assert by_held.status == "Held Out"

	won = frappe.get_doc(
		{
			"doctype": "CRM Deal",
			"lead": lead,
			"contacts": [{"contact": contact, "is_primary": 1}, {"contact": held_contact}],
			"annual_revenue": 800,
		}
	).insert(ignore_permissions=True)
	worker()
	assert credits(by_lead.name) == {} and credits(by_contact.name) == {}  # not won yet

	won.reload()
	won.status = "Won"
	won.save(ignore_permissions=True)
	worker()
	assert credits(by_lead.name) == {won.name: 800}
	assert credits(by_contact.name) == {won.name: 800}
	assert flt(participant(name=by_contact.name).revenue) == 800
	assert credits(by_held.name) == {won.name: 800}  # the control group's revenue counts the same
	assert group_revenue(contact_flow) == ((1, 800.0, 800.0), (1, 800.0, 800.0))

	won.reload()
	won.status = "Lost"
	won.save(ignore_permissions=True)
	worker()
	assert credits(by_lead.name) == {} and credits(by_contact.name) == {} and credits(by_held.name) == {}
