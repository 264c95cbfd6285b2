"""The hosts' own owners and records: Distribute to Owner gives an ERPNext Lead or a Frappe CRM
lead its `lead_owner` and an ERPNext Customer its account manager; Notify reaches that owner;
Create Sale makes an Opportunity or a CRM Deal with its stage, amount and expected closing, and
Create Request an Issue with its status and category; a value the host does not know is refused
at save, naming those it knows. Run on each host's site by scripts/test.sh (HOST_TESTS); each
test skips where its host app is not installed."""

from __future__ import annotations

import random

import frappe
import pytest
from frappe.utils import add_days, getdate, today

from factories import (
	first_company,
	make_contact,
	make_flow,
	make_user,
	participant,
	running_flow,
	step,
	unique,
)
from marketing_flows.engine.hosts import doctype_roles, owners


def needs(doctype: str) -> None:
	if not frappe.db.exists("DocType", doctype):
		pytest.skip(f"{doctype} is not installed on this site")


def log_of(flow: str, person: str, step_id: str) -> list[frappe._dict]:
	p = participant(flow, person=person)
	return frappe.get_all(
		"Marketing Flow Log",
		filters={"participant": p.name, "step_id": step_id, "event": ("not in", ("Enrolled", "Completed"))},
		fields=["event", "message", "reference_doctype", "reference_name"],
		order_by="creation asc, name asc",
	)


def new_lead(doctype: str) -> str:
	first = unique("Lead")
	email = f"{first.lower()}@example.com"
	values = {"first_name": first, "email_id" if doctype == "Lead" else "email": email}
	return frappe.get_doc({"doctype": doctype, **values}).insert(ignore_permissions=True).name


def erpnext_company() -> str:
	"""An ERPNext Company (Opportunity needs one), made the way test_criteria makes it."""
	for doctype, values in (
		("Warehouse Type", {"name": "Transit"}),
		("Opportunity Type", {"name": "Sales"}),
		("Sales Stage", {"stage_name": "Prospecting"}),
		("Sales Stage", {"stage_name": "Negotiation/Review"}),
	):
		if not frappe.db.exists(doctype, values.get("name") or values["stage_name"]):
			frappe.get_doc({"doctype": doctype, **values}).insert(ignore_permissions=True)
	return first_company()


# --- owners ------------------------------------------------------------------------------------


@pytest.mark.parametrize("lead_dt", ["Lead", "CRM Lead"])
def test_distribute_to_owner_sets_the_leads_own_owner_and_notify_reaches_them(
	lead_dt, worker, http_receiver, settings
):
	"""The lead's lead_owner is the user whose turn it is (a lead with one keeps it); a Notify
	by SMS to the person's owner then texts that user."""
	needs(lead_dt)
	assert owners.owner_field(lead_dt) == "lead_owner"
	settings.set(
		"SMS Settings",
		sms_gateway_url=f"{http_receiver.url}/host-notify",
		message_parameter="text",
		receiver_parameter="to",
		use_post=0,
		parameters=[],
	)
	ann, cem = make_user(["Sales User"], "ann"), make_user(["Sales User"], "cem")
	base = random.randrange(10_000_000, 90_000_000)  # users' mobile numbers are unique on the site
	mobiles = {ann: f"+47{base}", cem: f"+47{base + 1}"}
	for user, mobile in mobiles.items():
		frappe.db.set_value("User", user, "mobile_no", mobile)
	flow = running_flow(
		[
			step("deal_out", "Distribute to Owner", distribute_users=f"{ann}\n{cem}", next_step="tell"),
			step(
				"tell",
				"Notify by SMS",
				notify_to="Person's Owner",
				notify_message="New lead for you: {{ lead.name }}",
			),
		],
		person_doctype=lead_dt,
	)
	first, second = new_lead(lead_dt), new_lead(lead_dt)
	flow.enroll([first])
	worker()
	flow.enroll([second])
	worker()
	got = {lead: frappe.db.get_value(lead_dt, lead, "lead_owner") for lead in (first, second)}
	assert sorted(got.values()) == sorted([ann, cem])
	for lead, user in got.items():
		[assigned, notified] = log_of(flow.name, lead, "deal_out") + log_of(flow.name, lead, "tell")
		assert (assigned.event, assigned.message) == ("Owner Assigned", f"{lead_dt} {lead} to {user}")
		assert notified.event == "Notified"
		texts = [r for r in http_receiver.received("/host-notify") if r["query"]["to"] == mobiles[user]]
		assert [t["query"]["text"] for t in texts] == [f"New lead for you: {lead}"]

	kept = new_lead(lead_dt)
	frappe.db.set_value(lead_dt, kept, "lead_owner", ann)
	flow.enroll([kept])
	worker()
	assert frappe.db.get_value(lead_dt, kept, "lead_owner") == ann
	assert log_of(flow.name, kept, "deal_out")[0].event == "Step Skipped"


def test_distribute_to_owner_gives_the_customer_an_account_manager(worker):
	"""Give an Owner To: Company, on ERPNext: the Contact's Customer gets its account manager."""
	needs("Customer")
	if doctype_roles.doctype_for("company") != "Customer":
		pytest.skip("the company doctype is not ERPNext's Customer here")
	assert owners.owner_field("Customer") == "account_manager"
	rep = make_user(["Sales User"], "rep")
	customer = (
		frappe.get_doc(
			{"doctype": "Customer", "customer_name": unique("Customer"), "customer_type": "Company"}
		)
		.insert(ignore_permissions=True)
		.name
	)
	contact = make_contact(links=[{"link_doctype": "Customer", "link_name": customer}])
	flow = running_flow(
		[step("deal_out", "Distribute to Owner", distribute_to="Company", distribute_users=rep)]
	)
	flow.enroll([contact])
	worker()
	assert frappe.db.get_value("Customer", customer, "account_manager") == rep
	[entry] = log_of(flow.name, contact, "deal_out")
	assert (entry.event, entry.message) == ("Owner Assigned", f"Customer {customer} to {rep}")


# --- the sale's stage, amount and expected closing; the request's status and category ----------


def test_create_sale_sets_stage_amount_and_expected_closing(worker):
	deal_dt = doctype_roles.doctype_for("deal")
	if deal_dt not in ("Opportunity", "CRM Deal"):
		pytest.skip("no host deal doctype here")
	if deal_dt == "Opportunity":
		erpnext_company()
		stage, fields = (
			"Negotiation/Review",
			("sales_stage", "opportunity_amount", "expected_closing", "opportunity_owner"),
		)
	else:
		stage, fields = "Negotiation", ("status", "annual_revenue", "close_date", "deal_owner")
		needs("CRM Deal Status")
		if not frappe.db.exists("CRM Deal Status", stage):
			frappe.get_doc({"doctype": "CRM Deal Status", "deal_status": stage}).insert(
				ignore_permissions=True
			)
	rep = make_user(["Sales User"], "rep")
	lead_dt = "Lead" if deal_dt == "Opportunity" else "CRM Lead"
	needs(lead_dt)
	flow = running_flow(
		[
			step(
				"sale",
				"Create Sale",
				record_title="Deal for {{ lead.name }}",
				record_stage=stage,
				record_amount=1500,
				record_closing_days=30,
				record_owner=rep,
			)
		],
		person_doctype=lead_dt,
	)
	lead = new_lead(lead_dt)
	flow.enroll([lead])
	worker()
	[entry] = log_of(flow.name, lead, "sale")
	assert entry.event == "Step Executed", entry.message
	assert entry.reference_doctype == deal_dt
	sale = frappe.db.get_value(deal_dt, entry.reference_name, list(fields), as_dict=True)
	assert sale[fields[0]] == stage
	assert sale[fields[1]] == 1500
	assert getdate(sale[fields[2]]) == getdate(add_days(today(), 30))
	assert sale[fields[3]] == rep


def test_create_request_sets_status_and_category(worker):
	needs("Issue")
	if doctype_roles.doctype_for("issue") != "Issue":
		pytest.skip("the request doctype is not ERPNext's Issue here")
	kind = unique("MF Question")
	frappe.get_doc({"doctype": "Issue Type", "name": kind, "__newname": kind}).insert(ignore_permissions=True)
	flow = running_flow(
		[
			step(
				"ask",
				"Create Request",
				record_title="Question from {{ person.first_name }}",
				record_status="Replied",
				record_category=kind,
			)
		]
	)
	contact = make_contact()
	flow.enroll([contact])
	worker()
	[entry] = log_of(flow.name, contact, "ask")
	assert (entry.event, entry.reference_doctype) == ("Step Executed", "Issue"), entry.message
	issue = frappe.db.get_value("Issue", entry.reference_name, ["status", "issue_type"], as_dict=True)
	assert (issue.status, issue.issue_type) == ("Replied", kind)


def test_values_the_host_does_not_know_are_refused_at_save():
	deal_dt = doctype_roles.doctype_for("deal")
	if deal_dt == "Opportunity":
		erpnext_company()
		field_label = "Sales Stage"
	elif deal_dt == "CRM Deal":
		field_label = "Status"
	else:
		pytest.skip("no host deal doctype here")
	with pytest.raises(frappe.ValidationError) as refused:
		make_flow(steps=[step("sale", "Create Sale", record_title="x", record_stage="Moon Landing")])
	message = str(refused.value)
	assert f"'Moon Landing' is not a Stage of {deal_dt} ({field_label}): choose one of" in message
	known = frappe.get_all(
		frappe.get_meta(deal_dt).get_field(owners_stage_field(deal_dt)).options, pluck="name"
	)
	assert known and all(k in message for k in known[:3])

	if doctype_roles.doctype_for("issue") == "Issue":
		with pytest.raises(
			frappe.ValidationError,
			match=r"'Pending' is not a Status of Issue \(Status\): choose one of Open, Replied, On Hold, Resolved, Closed",
		):
			make_flow(steps=[step("ask", "Create Request", record_title="x", record_status="Pending")])


def owners_stage_field(doctype: str) -> str:
	from marketing_flows.engine.hosts import record_fields

	return record_fields.detail_field(doctype, "stage")
