"""Starter flows ("New from template"): each ready flow this site can have becomes a Draft with
its own content that Run accepts, named without clashing; those it can't have say why; only who
may create flows may make one; the texts come in the user's language."""

from __future__ import annotations

import re

import frappe
import pytest

from factories import make_user
from marketing_flows.api import starters as api
from marketing_flows.engine.changing import starters
from marketing_flows.engine.running import validation
from marketing_flows.engine.sending import render

KEYS = (
	"welcome_series",
	"abandoned_cart",
	"review_request",
	"lead_nurturing",
	"event_registration",
	"re_engagement",
)


def available() -> list[str]:
	return [s["key"] for s in starters.listing() if s["available"]]


def contents_of(flow) -> list[frappe._dict]:
	names = sorted({s.content for s in flow.steps if s.get("content")})
	return frappe.get_all(
		"Marketing Flow Content",
		filters={"name": ("in", names)},
		fields=["name", "content_name", "channel", "subject", "body", "flow"],
	)


def test_the_dialog_lists_every_starter_with_what_it_does():
	listed = {s["key"]: s for s in starters.listing()}
	assert tuple(listed) == KEYS
	for s in listed.values():
		assert s["title"] and len(s["description"]) > 120, s
		assert s["steps"] and all(st["label"] for st in s["steps"]), s
		assert s["available"] or s["reason"], s
	# a Frappe-only site: the abandoned cart's goal is what the site has, and says so
	if not starters.site_facts().deal and not frappe.db.exists("DocType", "Sales Order"):
		assert "no orders or deals" in listed["abandoned_cart"]["description"]
		assert listed["abandoned_cart"]["steps"][0]["label"] == "Already reminded?"


@pytest.mark.parametrize("key", KEYS)
def test_each_starter_is_a_draft_with_its_own_content_that_run_accepts(key, smtp):
	if key not in available():
		pytest.skip(f"{key} is not available on this site (test_unavailable_starters_say_why)")
	flow = starters.create(key)
	assert flow.status == "Draft" and flow.description
	# the same checks as the form's save and the designer's, and Run's own
	assert validation.flow_errors(flow) == []
	validation.validate_flow(flow)
	assert validation.design_errors(flow) == {"errors": []}
	contents = contents_of(flow)
	assert contents and {c.flow for c in contents} == {flow.name}  # new records, the flow's own
	for c in contents:
		assert c.content_name.startswith(f"{flow.flow_name}: ")
		assert render.problem(c.body) is None and render.problem(c.subject) is None
		person = {"first_name": "Ada", "lead_name": "Ada Lovelace"}
		context = {
			"person": person,
			"contact": person,
			"flow": {"name": flow.name, "flow_name": flow.flow_name},
		}
		text = render.render(c.body, context, html=c.channel == "Email")
		assert "Ada" in text and "{{" not in text and "{" not in text, text
		if c.channel == "Email":
			assert c.subject and "{{" not in render.render(c.subject, context)
	# laid out readably: every step labelled and placed, no two on the same spot
	places = [(s.position_x, s.position_y) for s in flow.steps]
	assert all(s.label for s in flow.steps)
	assert all(x > 0 and y > 0 for x, y in places) and len(set(places)) == len(places)
	result = flow.run()  # with a sender (smtp's default account), Run takes it as it is
	assert result["status"] == "Running"


@pytest.mark.parametrize("key", KEYS)
def test_a_starter_saves_before_any_outgoing_account_exists(key, settings):
	"""The sender is the marketer's choice before Run: a starter is never un-saveable."""
	if key not in available():
		pytest.skip(f"{key} is not available on this site")
	settings.set_default_email_account(None)
	flow = starters.create(key)
	assert flow.status == "Draft" and validation.flow_errors(flow) == []


def test_a_flow_administrator_alone_makes_every_starter_valid(smtp):
	"""With no role beyond Flow Administrator (no write access to Contact), every starter is
	still made valid: what the user may not do is left out and said (the re-engagement's last
	step, which would set the contact's Unsubscribed)."""
	admin = make_user(["Flow Administrator"], "starter-admin")
	frappe.set_user(admin)
	try:
		for key in available():
			flow = starters.create(key)
			assert flow.owner == admin and validation.flow_errors(flow) == [], key
			validation.validate_flow(flow)
			if key == "re_engagement" and not frappe.has_permission("Contact", "write"):
				assert "stop_mailing" not in [s.step_id for s in flow.steps]
				assert "leave the flow" in flow.description
	finally:
		frappe.set_user("Administrator")


def test_names_never_clash():
	first = starters.create("welcome_series")
	second = starters.create("welcome_series")
	title = "Welcome series"
	assert re.fullmatch(rf"{re.escape(title)}( \((\d+)\))?", first.name)
	number = re.fullmatch(rf"{re.escape(title)} \((\d+)\)", second.name)
	assert number and int(number.group(1)) >= 2 and second.name != first.name
	mine = {c.name for c in contents_of(first)}
	theirs = {c.name for c in contents_of(second)}
	assert len(mine) == len(theirs) == 3 and not mine & theirs
	assert all(name.startswith(f"{second.name}: ") for name in theirs)
	assert starters.unique_name("Marketing Flow", first.name) not in (first.name, second.name)


def test_unavailable_starters_say_why_and_cant_be_made():
	listed = {s["key"]: s for s in starters.listing()}
	if starters.site_facts().leads:
		assert listed["lead_nurturing"]["available"]
		flow = starters.create("lead_nurturing")
		assert flow.person_doctype == starters.site_facts().leads
		assert [c.criterion_type for c in flow.success_criteria] == ["Lead Converted"]
		return
	assert not listed["lead_nurturing"]["available"]
	assert "Needs leads" in listed["lead_nurturing"]["reason"]
	before = frappe.db.count("Marketing Flow")
	with pytest.raises(frappe.ValidationError, match="Needs leads"):
		starters.create("lead_nurturing")
	assert frappe.db.count("Marketing Flow") == before


def test_only_who_may_create_flows_makes_one():
	editor = make_user(["Flow Content Editor"], "starter-editor")
	flows, contents = frappe.db.count("Marketing Flow"), frappe.db.count("Marketing Flow Content")
	frappe.set_user(editor)
	try:
		assert [s["key"] for s in api.starter_flows()] == list(KEYS)  # they may look
		with pytest.raises(frappe.PermissionError):
			api.create_from_starter("welcome_series")
		with pytest.raises(frappe.PermissionError):
			starters.create("abandoned_cart")
	finally:
		frappe.set_user("Administrator")
	assert frappe.db.count("Marketing Flow") == flows
	assert frappe.db.count("Marketing Flow Content") == contents
	nobody = make_user(["Blogger"], "starter-nobody")
	frappe.set_user(nobody)
	try:
		with pytest.raises(frappe.PermissionError):
			api.starter_flows()
	finally:
		frappe.set_user("Administrator")


def test_texts_come_in_the_users_language():
	"""Every text goes through _(): with a Danish translation on the site (here one of the
	site's own Translation records), a Danish user's starter is Danish: description, step labels
	and the emails it creates."""
	english = starters.starter("welcome_series").description.split(". ")[0] + "."
	words = {
		english: "Byder nye abonnenter velkommen med tre e-mails.",
		"Welcome email": "Velkomstmail",
		"Welcome, {0}!": "Velkommen, {0}!",
	}
	made = []
	try:
		for source, translated in words.items():
			made.append(
				frappe.get_doc(
					{
						"doctype": "Translation",
						"language": "da",
						"source_text": source,
						"translated_text": translated,
					}
				).insert()
			)
		frappe.local.lang = "da"
		listed = {s["key"]: s for s in starters.listing()}["welcome_series"]
		assert listed["description"].startswith("Byder nye abonnenter velkommen med tre e-mails.")
		assert listed["steps"][0]["label"] == "Velkomstmail"
		flow = starters.create("welcome_series")
		assert flow.description.startswith("Byder nye abonnenter")
		subjects = {c.subject for c in contents_of(flow)}
		assert "Velkommen, {{ person.first_name }}!" in subjects
	finally:
		frappe.local.lang = "en"
		frappe.db.rollback()
		frappe.translate.clear_cache()
