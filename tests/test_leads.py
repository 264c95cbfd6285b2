"""Leads are people too: flows of ERPNext Leads and Frappe CRM CRM Leads, on the host that has
them (the host runs of scripts/test.sh: ERPNext for Lead, Frappe CRM for CRM Lead). Each test
runs once per lead doctype installed on the site and is skipped for the others.

What a marketer does with a lead: nurture it with emails, filter on its own fields, see it
succeed when a rep converts it; and the participation goes on under the Contact it becomes.
"""

from __future__ import annotations

import email
from email import policy

import frappe
import pytest

from conftest import flush_email_queue, run_scheduled
from factories import (
	end,
	events,
	make_content,
	make_flow,
	participant,
	running_flow,
	step,
	time_passes,
	unique,
)
from marketing_flows.engine.entering import enrolment
from marketing_flows.engine.hosts import doctype_roles, person_records
from marketing_flows.engine.measuring import tracking

LEAD_DOCTYPES = ("Lead", "CRM Lead")


@pytest.fixture(params=LEAD_DOCTYPES)
def lead_dt(request) -> str:
	if not frappe.db.exists("DocType", request.param):
		pytest.skip(f"{request.param} is not installed on this site")
	return request.param


def make_lead(doctype: str, **values) -> str:
	"""A lead as its host's users make one: a first name and an email (unique)."""
	first = values.pop("first_name", unique("Lead"))
	mail = values.pop("email", f"{first.lower()}@example.com")
	kind = doctype_roles.person_type(doctype)
	doc = frappe.get_doc({"doctype": doctype, "first_name": first, kind.email: mail, **values})
	doc.insert(ignore_permissions=True)
	return doc.name


def convert(doctype: str, lead: str) -> str:
	"""What a rep does when the lead is won: Frappe CRM's "Convert to deal" (returns the deal);
	ERPNext's "Create Customer" from the lead (returns the customer)."""
	if doctype == "CRM Lead":
		from crm.fcrm.doctype.crm_lead.crm_lead import convert_to_deal

		return convert_to_deal(lead)
	from erpnext.crm.doctype.lead.lead import make_customer

	customer = make_customer(lead)
	customer.insert(ignore_permissions=True)
	return customer.name


def nurture_flow(doctype: str, content, **values):
	"""Welcome email, wait two days, reminder: the seed's lead-nurturing flow."""
	reminder = make_content(
		"Email", content_name=unique("Reminder"), subject="Still there, {{ lead.first_name }}?"
	)
	return running_flow(
		[
			step("welcome", "Send Email", content=content.name, next_step="wait"),
			step("wait", "Wait", wait_amount=2, wait_unit="Days", next_step="reminder"),
			step("reminder", "Send Email", content=reminder.name),
		],
		person_doctype=doctype,
		**values,
	)


@pytest.fixture
def welcome(smtp):
	return make_content(
		"Email",
		content_name=unique("Welcome"),
		subject="Welcome {{ lead.first_name }}!",
		body="<p>Hello {{ person.first_name }} ({{ contact.first_name }}), from {{ flow.flow_name }}.</p>",
		sender=smtp.account,
	)


def message_of(queue: str) -> email.message.EmailMessage:
	raw = frappe.db.get_value("Email Queue", queue, "message")
	return email.message_from_string(raw, policy=policy.default)


# --- which people a flow may enrol ---------------------------------------------------------


def test_a_flow_enrols_contacts_by_default_and_only_people_the_site_has():
	flow = make_flow()
	assert flow.person_doctype == "Contact"
	with pytest.raises(frappe.ValidationError, match="can't be a flow's people"):
		make_flow(person_doctype="ToDo")
	for doctype in LEAD_DOCTYPES:
		if frappe.db.exists("DocType", doctype):
			assert doctype in doctype_roles.person_doctypes()
			assert make_flow(person_doctype=doctype).person_doctype == doctype
		else:  # a lead doctype of a host that is not installed here
			with pytest.raises(frappe.ValidationError, match="can't be a flow's people|Could not find"):
				make_flow(person_doctype=doctype)


def test_people_of_a_flow_with_participants_can_not_change(lead_dt):
	from factories import make_contact

	flow = make_flow()
	flow.run()
	flow.enroll([make_contact()])
	flow.reload()
	flow.pause()
	flow.reload()
	flow.person_doctype = lead_dt
	with pytest.raises(frappe.ValidationError, match="has participants who are Contact"):
		flow.save()


# --- nurture, convert, succeed -------------------------------------------------------------


def test_a_lead_is_nurtured_and_succeeds_when_a_rep_converts_it(worker, smtp, welcome, lead_dt):
	"""The issue's "done when": welcome email, wait, reminder; converting the lead meets the
	Lead Converted goal, the participation goes on under the new Contact (one timeline), and
	the reminder is never sent (on success: Stop)."""
	flow = nurture_flow(lead_dt, welcome, success_criteria=[{"criterion_type": "Lead Converted"}])
	first = unique("Lena")
	lead = make_lead(lead_dt, first_name=first)
	address = f"{first.lower()}@example.com"
	assert flow.enroll([lead])["enrolled"] == 1
	worker()
	p = participant(flow.name, person=lead)
	assert (p.person_doctype, p.person, p.email) == (lead_dt, lead, address)
	assert not p.contact  # a lead is not a Contact (yet)
	assert (p.status, p.current_step, p.last_sent) == ("Waiting", "wait", welcome.name)
	msg = message_of(p.email_queue)
	assert msg["Subject"] == f"Welcome {first}!"
	assert f"Hello {first} ({first}), from {flow.flow_name}." in msg.get_body(("html",)).get_content()
	flush_email_queue()
	worker()
	assert len(smtp.to(address)) == 1

	convert(lead_dt, lead)
	frappe.db.commit()
	worker()  # the goal job queued by the conversion's saves
	p = participant(flow.name, person=lead)
	assert p.succeeded == 1 and p.success_criterion == "Lead Converted"
	assert (p.status, p.exit_reason) == ("Exited", "Goal met")
	contact = p.contact
	assert contact and frappe.db.get_value("Contact", contact, "email_id") == address
	timeline = [event for _step, event in events(flow.name)]
	assert timeline.count("Enrolled") == 1 and "Lead Converted" in timeline and "Goal Met" in timeline

	time_passes(flow.name)
	run_scheduled("marketing_flows.engine.running.runner.schedule_due_participants")
	worker()
	assert frappe.db.count("Email Queue", {"reference_name": p.name}) == 1  # no reminder
	# the same human is not enrolled again in the flow they were in
	assert lead in enrolment.enroll(flow, [lead]).not_enrolled


def test_a_lead_that_does_not_convert_gets_the_reminder(worker, smtp, welcome, lead_dt):
	flow = nurture_flow(lead_dt, welcome, success_criteria=[{"criterion_type": "Lead Converted"}])
	first = unique("Rita")
	lead = make_lead(lead_dt, first_name=first)
	flow.enroll([lead])
	worker()
	time_passes(flow.name)
	run_scheduled("marketing_flows.engine.running.runner.schedule_due_participants")
	worker()
	p = participant(flow.name, person=lead)
	assert (p.status, p.current_step, p.succeeded) == ("Completed", "reminder", 0)
	subjects = sorted(
		message_of(q)["Subject"]
		for q in frappe.get_all("Email Queue", filters={"reference_name": p.name}, pluck="name")
	)
	assert subjects == [f"Still there, {first}?", f"Welcome {first}!"]


def test_a_converted_lead_moves_on_to_a_customer_flow_as_its_contact(worker, smtp, welcome, lead_dt):
	"""Success flow of Contacts: the converted lead enters it as the Contact it became."""
	onboarding = running_flow(
		[
			step("w", "Wait", wait_amount=1, wait_unit="Days", next_step="e"),
			end("e"),
		]
	)
	flow = nurture_flow(
		lead_dt,
		welcome,
		success_criteria=[{"criterion_type": "Lead Converted"}],
		success_flow=onboarding.name,
	)
	lead = make_lead(lead_dt)
	flow.enroll([lead])
	worker()
	convert(lead_dt, lead)
	frappe.db.commit()
	worker()
	contact = participant(flow.name, person=lead).contact
	assert contact
	moved = frappe.db.get_value(
		"Marketing Flow Participant",
		{"flow": onboarding.name},
		["person_doctype", "person", "contact"],
		as_dict=True,
	)
	assert (moved.person_doctype, moved.person, moved.contact) == ("Contact", contact, contact)


# --- the lead's own fields -----------------------------------------------------------------


def test_audience_filters_and_conditions_work_on_the_lead_fields(worker, lead_dt):
	"""Only leads that are not converted: a converted lead is refused at enrolment; a Condition
	on the lead's job title branches on the lead's own field."""
	converted = doctype_roles.person_type(lead_dt).converted
	flow = running_flow(
		[
			step(
				"check",
				"Condition",
				condition_type="Field",
				condition_filters=f'[["{lead_dt}", "job_title", "=", "CTO"]]',
				yes_step="cto",
				no_step="other",
			),
			end("cto"),
			end("other"),
		],
		person_doctype=lead_dt,
		audience_filters=f'[["{lead_dt}", "{converted[0]}", "!=", "{converted[1]}"]]',
	)
	cto, other, won = make_lead(lead_dt, job_title="CTO"), make_lead(lead_dt), make_lead(lead_dt)
	convert(lead_dt, won)
	result = flow.enroll([cto, other, won])
	assert result["enrolled"] == 2
	assert result["not_enrolled"] == {won: "does not match the flow's audience filters"}
	worker()
	assert participant(flow.name, person=cto).current_step == "cto"
	assert participant(flow.name, person=other).current_step == "other"


def test_update_participant_changes_the_lead_and_person_updated_is_its_goal(worker, lead_dt):
	flow = running_flow(
		[
			step(
				"tag",
				"Update Participant",
				update_field="job_title",
				update_value="Nurtured {{ lead.first_name }}",
				next_step="wait",
			),
			step("wait", "Wait", wait_amount=1, wait_unit="Days"),
		],
		person_doctype=lead_dt,
		success_criteria=[
			{"criterion_type": "Person Updated", "conditions": '[["job_title", "=", "Buyer"]]'}
		],
	)
	first = unique("Uma")
	lead = make_lead(lead_dt, first_name=first)
	flow.enroll([lead])
	worker()
	assert frappe.db.get_value(lead_dt, lead, "job_title") == f"Nurtured {first}"
	assert participant(flow.name, person=lead).succeeded == 0
	doc = frappe.get_doc(lead_dt, lead)  # a rep qualifies the lead in the desk
	doc.job_title = "Buyer"
	doc.save()
	frappe.db.commit()
	worker()
	assert participant(flow.name, person=lead).succeeded == 1


def test_lead_converted_needs_a_flow_of_leads():
	with pytest.raises(frappe.ValidationError, match="only a flow of leads"):
		make_flow(success_criteria=[{"criterion_type": "Lead Converted"}])


# --- triggers ------------------------------------------------------------------------------


def test_a_new_lead_is_enrolled_by_a_document_event_on_the_lead(worker, lead_dt):
	flow = running_flow(
		[step("w", "Wait", wait_amount=1, wait_unit="Days")],
		person_doctype=lead_dt,
		trigger_type="Document Event",
		trigger_doctype=lead_dt,
		trigger_event="Insert",
	)
	frappe.db.commit()
	lead = make_lead(lead_dt)
	frappe.db.commit()
	worker()
	p = participant(flow.name, person=lead)
	assert p and (p.person_doctype, p.enrolled_by) == (lead_dt, f"{lead_dt} {lead}")


def test_an_email_group_member_is_found_as_a_lead(worker, lead_dt):
	group = frappe.get_doc({"doctype": "Email Group", "title": unique("Leads")}).insert()
	flow = running_flow(
		[step("w", "Wait", wait_amount=1, wait_unit="Days")],
		person_doctype=lead_dt,
		trigger_type="Email Group",
		trigger_email_group=group.name,
	)
	known = make_lead(lead_dt)
	address = frappe.db.get_value(lead_dt, known, doctype_roles.person_type(lead_dt).email)
	stranger = f"{unique('new')}@example.com".lower()
	frappe.db.commit()
	for mail in (address, stranger):
		frappe.get_doc({"doctype": "Email Group Member", "email_group": group.name, "email": mail}).insert()
	frappe.db.commit()
	worker()
	assert participant(flow.name, person=known)
	created = person_records.person_by_email(lead_dt, stranger)
	assert created and participant(flow.name, person=created)  # a new lead, not a Contact


# --- unsubscribing, segments, Add to flow ---------------------------------------------------


def test_an_unsubscribed_lead_leaves_and_is_not_enrolled_again(worker, welcome, lead_dt):
	flow = nurture_flow(lead_dt, welcome)
	lead = make_lead(lead_dt)
	flow.enroll([lead])
	worker()
	p = participant(flow.name, person=lead)
	tracking.unsubscribe(p.name, p.email)
	p = participant(flow.name, person=lead)
	assert (p.status, p.exit_reason) == ("Exited", "Unsubscribed")
	other = nurture_flow(lead_dt, welcome)
	assert other.enroll([lead])["not_enrolled"] == {lead: "unsubscribed"}
	# scoped to marketing: no global unsubscribe of the address
	assert not frappe.db.exists("Email Unsubscribe", {"email": p.email, "global_unsubscribe": 1})


def test_a_segment_of_leads(lead_dt):
	title = unique("Seg")
	a, b = make_lead(lead_dt, job_title=title), make_lead(lead_dt)
	segment = frappe.get_doc(
		{
			"doctype": "Marketing Segment",
			"segment_name": title,
			"segment_type": "Contact Filters",
			"person_doctype": lead_dt,
			"filters": f'[["{lead_dt}", "job_title", "=", "{title}"]]',
		}
	).insert()
	assert segment.get_contacts() == [a]
	assert b not in segment.get_contacts()
	with pytest.raises(frappe.ValidationError, match="lists"):
		make_flow(trigger_type="Segment", trigger_segment=segment.name)  # a flow of Contacts
	flow = make_flow(person_doctype=lead_dt, trigger_type="Segment", trigger_segment=segment.name)
	assert flow.trigger_segment == segment.name


def test_lead_forms_and_lists_get_add_to_flow(lead_dt):
	from frappe.desk.form.meta import get_meta

	meta = get_meta(lead_dt)
	assert "marketing_flows_person_refresh(frm)" in meta.__js
	assert f'marketing_flows_person_list("{lead_dt}")' in meta.__list_js


def test_frappe_crm_lead_page_gets_add_to_flow():
	if not frappe.db.exists("DocType", "CRM Lead"):
		pytest.skip("Frappe CRM is not installed on this site")
	from marketing_flows.api import crm
	from marketing_flows.integrations import frappe_crm

	script = frappe.db.get_value(
		"CRM Form Script", frappe_crm.FORM_SCRIPT.format(doctype="CRM Lead"), ["dt", "enabled"], as_dict=True
	)
	assert (script.dt, script.enabled) == ("CRM Lead", 1)
	contacts_flow = running_flow(None)  # a flow of Contacts is not offered for a lead
	flow = running_flow(None, person_doctype="CRM Lead")
	lead = make_lead("CRM Lead")
	context = crm.record_context("CRM Lead", lead)
	offered = [f.name for f in context["flows"]]
	assert flow.name in offered and contacts_flow.name not in offered
	result = crm.add_record_to_flow("CRM Lead", lead, flow.name)
	assert result["enrolled"] == 1
	assert participant(flow.name, person=lead).person_doctype == "CRM Lead"
	context = crm.record_context("CRM Lead", lead)
	assert context["labels"]["flows"] == "Flows (1)"
	result = crm.add_record_to_flow("CRM Lead", lead, contacts_flow.name)
	assert result["enrolled"] == 0 and "names no Contact" in result["message"]


# --- goals after the lead: deals, appointments of the Contact it became, activities ---------


def waiting_lead(worker, lead_dt: str, criterion: dict) -> tuple:
	"""A running flow of leads with one goal, and a new lead waiting in it (the worker ran)."""
	flow = running_flow(
		[step("w", "Wait", wait_amount=3, wait_unit="Days")],
		person_doctype=lead_dt,
		success_criteria=[criterion],
	)
	lead = make_lead(lead_dt)
	flow.enroll([lead])
	worker()
	return flow, lead


def test_a_deal_made_from_the_lead_meets_deal_created(worker, lead_dt):
	"""Frappe CRM: a CRM Deal whose lead is the lead; ERPNext: an Opportunity from the Lead."""
	deal_dt = doctype_roles.doctype_for("deal")
	flow, lead = waiting_lead(worker, lead_dt, {"criterion_type": "Deal Created", "label": "Deal"})
	if deal_dt == "CRM Deal":
		frappe.get_doc({"doctype": "CRM Deal", "lead": lead}).insert()
	elif deal_dt == "Opportunity":
		company = frappe.db.get_value("Company", {}, ["name", "default_currency"], as_dict=True)
		if not company:
			pytest.skip("no ERPNext Company on this site")
		for doctype, name in (("Opportunity Type", "Sales"), ("Sales Stage", "Prospecting")):
			if not frappe.db.exists(doctype, name):
				key = "stage_name" if doctype == "Sales Stage" else "name"
				frappe.get_doc({"doctype": doctype, key: name}).insert(ignore_permissions=True)
		frappe.get_doc(
			{
				"doctype": "Opportunity",
				"opportunity_from": "Lead",
				"party_name": lead,
				"company": company.name,
				"currency": company.default_currency or "USD",
			}
		).insert()
	else:
		pytest.skip(f"no deal made from a lead on {deal_dt}")
	frappe.db.commit()
	worker()
	p = participant(flow.name, person=lead)
	assert (p.succeeded, p.success_criterion) == (1, "Deal")


def test_an_appointment_with_the_converted_contact_meets_the_goal(worker, lead_dt):
	"""After conversion the person is also the Contact it became: an Event with that Contact
	(not the lead, and no email) meets Appointment Created."""
	flow, lead = waiting_lead(worker, lead_dt, {"criterion_type": "Appointment Created", "label": "Met"})
	convert(lead_dt, lead)
	frappe.db.commit()
	worker()
	p = participant(flow.name, person=lead)
	assert p.contact and p.succeeded == 0 and p.status == "Waiting"
	event = frappe.get_doc(
		{
			"doctype": "Event",
			"subject": "Demo",
			"starts_on": frappe.utils.now_datetime(),
			"event_participants": [{"reference_doctype": "Contact", "reference_docname": p.contact}],
		}
	)
	event.insert()
	frappe.db.commit()
	worker()
	assert participant(flow.name, person=lead).succeeded == 1


def test_create_activity_is_a_task_on_the_lead(worker, lead_dt):
	activity = doctype_roles.doctype_for("activity") or "ToDo"
	flow = running_flow(
		[step("call", "Create Activity", activity_description="Call {{ lead.first_name }}")],
		person_doctype=lead_dt,
	)
	first = unique("Cal")
	lead = make_lead(lead_dt, first_name=first)
	flow.enroll([lead])
	worker()
	ref = frappe.db.get_value(
		"Marketing Flow Log",
		{"flow": flow.name, "reference_doctype": activity},
		"reference_name",
	)
	doc = frappe.get_doc(activity, ref)
	linked = (
		doc.get("reference_doctype") or doc.get("reference_type"),
		doc.get("reference_docname") or doc.get("reference_name"),
	)
	assert linked == (lead_dt, lead)
	assert f"Call {first}" in (doc.get("description") or doc.get("title"))


def test_a_flow_that_requires_consent_asks_the_lead(lead_dt):
	"""The app adds its consent check to the leads of the installed hosts, as to Contact."""
	assert frappe.get_meta(lead_dt).has_field("mf_marketing_consent")
	flow = running_flow(None, person_doctype=lead_dt, requires_consent=1)
	agreed, silent = make_lead(lead_dt, mf_marketing_consent=1), make_lead(lead_dt)
	result = flow.enroll([agreed, silent])
	assert result["enrolled"] == 1
	assert result["not_enrolled"] == {silent: "no marketing consent"}


# --- the desk --------------------------------------------------------------------------------

PASSWORD = "Flows-Lead-Pass-2026!"


def show_flows_panel(page) -> None:
	"""The Flows panel is a section of the form's dashboard: on a doctype with a Connections tab
	(ERPNext's Lead) it is in that tab, which the marketer opens."""
	page.wait_for_selector(".mf-flows-panel", state="attached", timeout=20000)
	page.evaluate(
		"""() => {
			const pane = document.querySelector(".mf-flows-panel").closest(".tab-pane");
			if (pane && !pane.classList.contains("active")) {
				document.querySelector(`.form-tabs a[href="#${pane.id}"]`)?.click();
			}
		}"""
	)
	page.wait_for_selector(".mf-flows-panel", state="visible", timeout=10000)


def test_add_to_flow_and_the_flows_panel_on_the_lead_form_in_the_desk(browser, desk_url, lead_dt):
	"""A marketer opens a lead in the desk, adds it to a flow of leads from Actions, and sees the
	participation in the lead's Flows panel."""
	import os

	from conftest import BENCH_DIR, login, screenshot
	from factories import make_user

	if lead_dt == "Lead" and not os.path.exists(BENCH_DIR / "sites" / "assets" / "erpnext"):
		pytest.skip("ERPNext's desk assets are not built in this bench (bench build --app erpnext)")
	user = make_user(["Flow Administrator", "Sales User"], "leaddesk", PASSWORD)
	flow = running_flow(None, person_doctype=lead_dt, flow_name=unique("Lead Desk Flow"))
	lead = make_lead(lead_dt)
	frappe.db.commit()
	page = login(browser, desk_url, user, PASSWORD)
	errors: list[str] = []
	page.on("pageerror", lambda e: errors.append(str(e)))
	page.goto(f"{desk_url}/app/{frappe.scrub(lead_dt).replace('_', '-')}/{lead}")
	try:
		actions = page.locator(".page-actions button:has-text('Actions'):visible").first
		actions.wait_for(timeout=30000)
		show_flows_panel(page)
		assert "Not in any flow." in page.inner_text(".mf-flows-panel")
		actions.click()
		page.locator(".dropdown-menu.show a:has-text('Add to flow')").first.click()
		page.wait_for_function("() => window.cur_dialog && cur_dialog.fields_dict.flow")
		page.evaluate("(flow) => cur_dialog.set_value('flow', flow)", flow.name)
		page.wait_for_timeout(500)
		page.click(".modal.show button:has-text('Add')")
		page.wait_for_selector(f"text=1 of 1 added to {flow.name}", timeout=20000)
		screenshot(page, f"{frappe.scrub(lead_dt)}-add-to-flow")
		page.reload()
		show_flows_panel(page)
		page.wait_for_selector(f".mf-flows-panel a:has-text('{flow.name}')", timeout=20000)
		screenshot(page, f"{frappe.scrub(lead_dt)}-flows-panel")
	except Exception:
		screenshot(page, f"{frappe.scrub(lead_dt)}-form-failed")
		raise
	finally:
		page.close()
	assert not [e for e in errors if "marketing_flows" in e], errors
	frappe.db.rollback()
	assert participant(flow.name, person=lead).person_doctype == lead_dt
