"""Starter flows in the desk, in a real browser: the flow list's "New from template" shows the
ready flows (title, what each does, its steps; those this site can't have greyed out with the
reason); choosing Abandoned cart makes a Draft with its emails and opens it in the designer,
its steps laid out and labelled. Screenshots go to the artifacts dir (conftest.screenshot)."""

from __future__ import annotations

import frappe
import pytest

from conftest import login, node, screenshot, text_of, watch_errors
from factories import make_user
from marketing_flows.engine.changing import starters

PASSWORD = "Flows-Starters-2026!"


@pytest.fixture(scope="module")
def admin():
	# a marketer who also keeps the contacts (the re-engagement may stop mailing them)
	user = make_user(["Flow Administrator", "Sales User"], "startersadmin", PASSWORD)
	frappe.db.commit()
	return user


def remove_flows_of(user: str) -> None:
	"""The flows the tests made (committed: the browser made them) and their content; also those
	of this module's earlier runs (a run ended by a crash)."""
	frappe.db.rollback()  # a new snapshot: what the browser's requests committed
	for doctype in ("Marketing Flow", "Marketing Flow Content"):
		mine = frappe.get_all(doctype, {"owner": ("in", (user,))}, pluck="name")
		earlier = frappe.get_all(doctype, {"owner": ("like", "startersadmin-%")}, pluck="name")
		for name in {*mine, *earlier}:
			frappe.delete_doc(doctype, name, force=True, ignore_permissions=True)
	frappe.db.commit()


def test_new_from_template_makes_the_abandoned_cart_flow_and_opens_the_designer(
	browser, desk_url, admin, smtp
):
	page = login(browser, desk_url, admin, PASSWORD)
	errors = watch_errors(page)
	try:
		page.goto(f"{desk_url}/app/marketing-flow")
		button = page.locator(".page-actions button.mf-new-from-template")
		button.wait_for(timeout=30000)
		assert text_of(button) == "New from template"
		button.click()
		dialog = page.locator(".modal.show .mf-starters")
		dialog.wait_for(timeout=20000)
		cards = dialog.locator(".mf-starter")
		assert cards.count() == 6
		titles = [text_of(c) for c in dialog.locator(".mf-starter-title").all()]
		assert titles == [
			"Welcome series",
			"Abandoned cart",
			"Order shipped → review request",
			"Lead nurturing",
			"Event registration with SMS reminders",
			"Re-engagement of the inactive",
		]
		cart = dialog.locator(".mf-starter[data-starter='abandoned_cart']")
		assert "nobody gets two reminders in a week" in text_of(cart.locator(".mf-starter-description"))
		assert text_of(cart.locator(".mf-starter-steps li").first).startswith("Already reminded?")
		lead = dialog.locator(".mf-starter[data-starter='lead_nurturing']")
		if not starters.site_facts().leads:  # a Frappe-only site: greyed out, with the reason
			assert "mf-starter-unavailable" in (lead.get_attribute("class") or "")
			assert lead.locator(".mf-starter-create").count() == 0
			assert "Needs leads" in text_of(lead.locator(".mf-starter-reason"))
		page.wait_for_timeout(400)  # the dialog's fade-in
		screenshot(page, "starters-dialog")
		lead.scroll_into_view_if_needed()
		screenshot(page, "starters-dialog-unavailable")

		cart.locator(".mf-starter-create").click()
		page.wait_for_url("**/app/marketing-flow-designer/**", timeout=30000)
		for step_id in ("recently", "wait_1", "reminder", "wait_2", "nudge"):
			node(page, step_id).wait_for(timeout=30000)
		assert "Already reminded?" in text_of(node(page, "recently"))
		assert "Cart reminder" in text_of(node(page, "reminder"))
		# laid out from the top down: each step below the one before
		tops = [
			node(page, s).bounding_box()["y"] for s in ("recently", "wait_1", "reminder", "wait_2", "nudge")
		]
		assert tops == sorted(tops) and len(set(tops)) == 5
		page.wait_for_timeout(500)
		screenshot(page, "starters-designer-abandoned-cart")
		assert not page.locator(".vue-flow__node.mf-node-warn, .mf-node-warn").count(), (
			"the designer marks steps"
		)

		frappe.db.rollback()  # a new snapshot: the browser's request committed the flow
		made = frappe.get_all("Marketing Flow", {"owner": admin}, ["name", "status", "flow_name"])
		assert len(made) == 1 and made[0].status == "Draft"
		assert page.url.endswith("/app/marketing-flow-designer/" + made[0].name.replace(" ", "%20"))
		contents = frappe.get_all("Marketing Flow Content", {"flow": made[0].name}, pluck="content_name")
		assert sorted(contents) == sorted(
			[f"{made[0].flow_name}: Cart reminder", f"{made[0].flow_name}: Second reminder"]
		)
		assert not errors, errors
	finally:
		page.close()
		remove_flows_of(admin)


def test_a_branching_starter_opens_laid_out_with_its_branches_side_by_side(browser, desk_url, admin, smtp):
	"""Re-engagement: it opens with every step in view (no Fit needed), its No branches go to
	the right of the straight path, nothing overlaps, and the designer finds nothing to mark."""
	frappe.set_user(admin)
	try:
		flow = starters.create("re_engagement")
	finally:
		frappe.set_user("Administrator")
	frappe.db.commit()
	page = login(browser, desk_url, admin, PASSWORD)
	errors = watch_errors(page)
	try:
		page.goto(f"{desk_url}/app/marketing-flow-designer/{flow.name}")
		ids = [s.step_id for s in flow.steps]
		assert ids[-1] == "stop_mailing"
		for step_id in ids:
			node(page, step_id).wait_for(timeout=30000)
		page.wait_for_timeout(800)  # the zoom's animation, and the designer's check answered
		boxes = {step_id: node(page, step_id).bounding_box() for step_id in ids}
		canvas = page.locator(".mf-designer .vue-flow").bounding_box()
		for step_id, box in boxes.items():  # the whole flow in view as it opens, without Fit
			assert canvas["y"] <= box["y"] and box["y"] + box["height"] <= canvas["y"] + canvas["height"], (
				step_id
			)
			assert canvas["x"] <= box["x"] and box["x"] + box["width"] <= canvas["x"] + canvas["width"], (
				step_id
			)
		assert boxes["last_chance"]["x"] > boxes["opened"]["x"]  # the No branch to the right
		for a in ids:
			for b in ids:
				if a < b:
					A, B = boxes[a], boxes[b]
					apart = (
						A["x"] + A["width"] <= B["x"]
						or B["x"] + B["width"] <= A["x"]
						or A["y"] + A["height"] <= B["y"]
						or B["y"] + B["height"] <= A["y"]
					)
					assert apart, (a, b)
		assert "No field chosen" not in text_of(node(page, "stop_mailing"))
		screenshot(page, "starters-designer-re-engagement")
		assert not page.locator(".mf-node-warn").count(), "the designer marks steps"
		assert not errors, errors
	finally:
		page.close()
		remove_flows_of(admin)
