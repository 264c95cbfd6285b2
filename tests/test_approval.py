"""Approval before going live (issue 22, item 6): with Require Approval on, Run needs a Flow
Approver's approval of the flow as it is now, from someone who did not make the change; any edit
after it (of the flow or of an email it sends) asks again; the timeline keeps who approved what.
Real users with real roles, acting through the flow's own methods."""

from __future__ import annotations

import json

import frappe
import pytest
from frappe.handler import run_doc_method

from factories import make_flow, make_user, step

APPROVAL = "Marketing Flow Approval"


@pytest.fixture(scope="module")
def people():
	users = frappe._dict(
		admin=make_user(["Flow Administrator"], "appr-admin"),
		other_admin=make_user(["Flow Administrator"], "appr-admin2"),
		approver=make_user(["Flow Approver"], "appr-approver"),
		admin_approver=make_user(["Flow Administrator", "Flow Approver"], "appr-both"),
	)
	frappe.db.commit()
	return users


@pytest.fixture
def as_user():
	"""Call `as_user(user)` to act as that user for the rest of the test."""
	yield lambda user: frappe.set_user(user)
	frappe.set_user("Administrator")


@pytest.fixture
def required(settings):
	settings.set("Marketing Flow Settings", require_approval=1)


def wait_steps(amount: int = 1) -> list[dict]:
	return [
		step("wait", "Wait", label="Pause a bit", wait_amount=amount, wait_unit="Days", next_step="end"),
		step("end", "End"),
	]


def flow_as(user: str, steps: list[dict] | None = None):
	"""A Draft flow made by `user` (who stays the session user)."""
	frappe.set_user(user)
	return make_flow(steps=steps or wait_steps())


def stored(flow):
	"""The flow as stored, as the current user loads it (what a whitelisted method works on)."""
	return frappe.get_doc("Marketing Flow", flow.name)


def approval_rows(flow) -> list[frappe._dict]:
	return frappe.get_all(
		APPROVAL,
		filters={"flow": flow.name},
		fields=["name", "status", "requested_by", "decided_by", "comment", "changes", "definition_hash"],
		order_by="creation asc",
	)


def requested_and_approved(flow, people) -> None:
	"""`people.admin` requests approval of the flow as it is, `people.approver` approves it;
	the session is `people.admin` again afterwards."""
	frappe.set_user(people.admin)
	stored(flow).request_approval()
	frappe.set_user(people.approver)
	stored(flow).approve(comment="Looks good")
	frappe.set_user(people.admin)


def doc_method(doc: dict, method: str, **args):
	"""A whitelisted doc method called as the desk does, with the document the client sends."""
	frappe.local.response = frappe._dict(docs=[])
	frappe.local.request = frappe._dict(method="POST")
	try:
		run_doc_method(method=method, docs=json.dumps(doc, default=str), args=json.dumps(args))
	finally:
		del frappe.local.request
	return frappe.local.response.get("message")


# --- the setting ---------------------------------------------------------------------------


def test_with_the_setting_off_run_works_as_before(people, as_user, settings):
	settings.set("Marketing Flow Settings", require_approval=0)
	flow = flow_as(people.admin)
	assert flow.run()["status"] == "Running"
	assert not approval_rows(flow)


def test_with_the_setting_on_run_is_refused_without_approval(people, as_user, required):
	flow = flow_as(people.admin)
	with pytest.raises(frappe.ValidationError, match="request approval first"):
		stored(flow).run()
	assert frappe.db.get_value("Marketing Flow", flow.name, "status") == "Draft"


def test_the_form_learns_the_state_with_the_document(people, as_user, required):
	flow = flow_as(people.admin)
	doc = stored(flow)
	doc.run_method("onload")
	state = doc.get_onload().approval
	assert state["required"] and state["status"] == "" and state["can_request"]
	assert not state["can_decide"]


# --- who decides ---------------------------------------------------------------------------


def test_another_flow_approver_approves_and_run_works(people, as_user, required):
	flow = flow_as(people.admin)
	state = stored(flow).request_approval()
	assert state["status"] == "Pending"
	assert frappe.db.get_value("Marketing Flow", flow.name, "approval_status") == "Pending"
	with pytest.raises(frappe.ValidationError, match="waits for a Flow Approver"):
		stored(flow).run()

	as_user(people.approver)
	before = stored(flow)
	assert before.approval_state()["can_decide"]
	state = before.approve(comment="Fine by me")
	assert state["status"] == "Approved"
	[row] = approval_rows(flow)
	assert (row.status, row.requested_by, row.decided_by, row.comment) == (
		"Approved",
		people.admin,
		people.approver,
		"Fine by me",
	)
	flow_row = frappe.db.get_value(
		"Marketing Flow", flow.name, ["approval_status", "modified_by"], as_dict=True
	)
	assert flow_row.approval_status == "Approved"
	assert flow_row.modified_by == people.admin, "deciding is not an edit of the flow"

	as_user(people.admin)
	assert stored(flow).run()["status"] == "Running"


def test_the_author_cannot_approve_their_own_request(people, as_user, required):
	flow = flow_as(people.admin_approver)
	stored(flow).request_approval()
	doc = stored(flow)
	state = doc.approval_state()
	assert not state["can_decide"] and "You requested" in state["cannot_decide"]
	with pytest.raises(frappe.PermissionError, match="another Flow Approver"):
		doc.approve()
	with pytest.raises(frappe.PermissionError, match="another Flow Approver"):
		stored(flow).reject(comment="I changed my mind")
	assert [r.status for r in approval_rows(flow)] == ["Pending"]


def test_who_made_the_last_change_cannot_approve_it(people, as_user, required):
	flow = flow_as(people.admin)
	stored(flow).request_approval()
	as_user(people.admin_approver)
	doc = stored(flow)
	doc.description = "A word about the flow (not what its people walk)"
	doc.save()
	with pytest.raises(frappe.PermissionError, match="last change"):
		stored(flow).approve()
	as_user(people.approver)
	assert stored(flow).approve()["status"] == "Approved"


def test_a_flow_administrator_without_the_approver_role_cannot_approve(people, as_user, required):
	flow = flow_as(people.admin)
	stored(flow).request_approval()
	as_user(people.other_admin)
	assert not stored(flow).approval_state()["can_decide"]
	with pytest.raises(frappe.PermissionError, match="Only a Flow Approver"):
		stored(flow).approve()
	with pytest.raises(frappe.PermissionError, match="Only a Flow Approver"):
		stored(flow).reject(comment="no")
	assert [r.status for r in approval_rows(flow)] == ["Pending"]


def test_a_flow_approver_cannot_run_edit_or_request(people, as_user, required):
	flow = flow_as(people.admin)
	requested_and_approved(flow, people)
	as_user(people.approver)
	doc = stored(flow)
	with pytest.raises(frappe.PermissionError):
		doc.run()
	doc = stored(flow)
	doc.steps[0].wait_amount = 3
	with pytest.raises(frappe.PermissionError):
		doc.save()
	with pytest.raises(frappe.PermissionError):
		stored(flow).request_approval()
	assert frappe.db.get_value("Marketing Flow", flow.name, "status") == "Draft"


def test_approve_works_on_the_stored_flow_whatever_the_client_sends(people, as_user, required):
	flow = flow_as(people.admin)
	stored(flow).request_approval()
	as_user(people.approver)
	forged = stored(flow).as_dict()
	forged["steps"][0]["wait_amount"] = 99  # not what was asked for, nor what is stored
	doc_method(forged, "approve")
	[row] = approval_rows(flow)
	assert row.status == "Approved"
	as_user(people.admin)
	assert stored(flow).run()["status"] == "Running"  # the stored flow is the approved one
	assert (
		frappe.db.get_value("Marketing Flow Step", {"parent": flow.name, "step_id": "wait"}, "wait_amount")
		== 1
	)


# --- an edit asks again ----------------------------------------------------------------------


def test_an_edit_of_a_step_after_approval_asks_again(people, as_user, required):
	flow = flow_as(people.admin)
	requested_and_approved(flow, people)
	assert stored(flow).run()["status"] == "Running"
	stored(flow).pause()

	doc = stored(flow)
	doc.steps[0].wait_amount = 2
	doc.save()
	assert frappe.db.get_value("Marketing Flow", flow.name, "approval_status") == ""
	with pytest.raises(frappe.ValidationError, match="changed since it was approved"):
		stored(flow).run()

	changes = stored(flow).request_approval()["request"]["changes"]
	# the differences shown name the changed step (against the live, approved version)
	assert [c for c in changes if "wait (Pause a bit)" in c and "1 → 2" in c], changes
	assert not [c for c in changes if "added" in c], changes  # only what changed since it was approved
	as_user(people.approver)
	stored(flow).approve()
	as_user(people.admin)
	assert stored(flow).run()["status"] == "Running"
	assert [r.status for r in approval_rows(flow)] == ["Approved", "Approved"]
	# each version names who approved it: v1 published at the approved Run, v2 at the paused
	# flow's save, approved afterwards
	approvers = frappe.get_all(
		"Marketing Flow Version",
		filters={"flow": flow.name},
		fields=["version", "approved_by"],
		order_by="version",
	)
	assert [(v.version, v.approved_by) for v in approvers] == [(1, people.approver), (2, people.approver)]


def test_editing_the_email_a_step_sends_after_approval_asks_again(people, as_user, required, content):
	steps = [
		step("mail", "Send Email", label="Welcome mail", content=content.name, next_step="wait"),
		*wait_steps(),
	]
	flow = flow_as(people.admin, steps)
	requested_and_approved(flow, people)
	assert stored(flow).run()["status"] == "Running"
	stored(flow).pause()

	email = frappe.get_doc("Marketing Flow Content", content.name)
	email.body = "<p>Hello {{ contact.first_name }}, a new offer.</p>"
	email.save()
	with pytest.raises(frappe.ValidationError, match="changed since it was approved"):
		stored(flow).run()

	changes = stored(flow).request_approval()["request"]["changes"]
	assert [c for c in changes if "mail (Welcome mail)" in c and content.name in c], changes
	assert not [c for c in changes if "added" in c], changes
	as_user(people.approver)
	stored(flow).approve()
	as_user(people.admin)
	assert stored(flow).run()["status"] == "Running"


def test_a_second_request_supersedes_the_first_and_a_stale_request_cant_be_approved(
	people, as_user, required
):
	flow = flow_as(people.admin)
	stored(flow).request_approval()
	doc = stored(flow)
	doc.steps[0].wait_amount = 5
	doc.save()
	as_user(people.approver)
	with pytest.raises(frappe.ValidationError, match="changed after"):
		stored(flow).approve()
	as_user(people.admin)
	assert stored(flow).approval_state()["outdated_request"]
	stored(flow).request_approval()
	assert [r.status for r in approval_rows(flow)] == ["Superseded", "Pending"]
	as_user(people.approver)
	stored(flow).approve()
	assert [r.status for r in approval_rows(flow)] == ["Superseded", "Approved"]


# --- reject, and the record ------------------------------------------------------------------


def test_reject_records_the_comment(people, as_user, required):
	flow = flow_as(people.admin)
	stored(flow).request_approval()
	as_user(people.approver)
	with pytest.raises(frappe.ValidationError, match="Say why"):
		stored(flow).reject(comment="  ")
	state = stored(flow).reject(comment="Two emails a day is too many")
	assert state["status"] == "Rejected"
	assert state["request"]["comment"] == "Two emails a day is too many"
	[row] = approval_rows(flow)
	assert (row.status, row.decided_by, row.comment) == (
		"Rejected",
		people.approver,
		"Two emails a day is too many",
	)
	assert frappe.db.get_value("Marketing Flow", flow.name, "approval_status") == "Rejected"
	as_user(people.admin)
	with pytest.raises(frappe.ValidationError, match="Two emails a day is too many"):
		stored(flow).run()


def test_the_timeline_keeps_who_approved_what(people, as_user, required):
	flow = flow_as(people.admin)
	stored(flow).request_approval()
	[row] = approval_rows(flow)
	# the Flow Approvers hear of it (the desk's notifications), the requester does not
	notified = frappe.get_all(
		"Notification Log",
		filters={"document_type": "Marketing Flow", "document_name": flow.name},
		pluck="for_user",
	)
	assert people.approver in notified and people.admin_approver in notified
	assert people.admin not in notified
	as_user(people.approver)
	stored(flow).approve(comment="Go")

	frappe.set_user("Administrator")
	comments = frappe.get_all(
		"Comment",
		filters={"reference_doctype": "Marketing Flow", "reference_name": flow.name, "comment_type": "Info"},
		fields=["owner", "content"],
		order_by="creation asc",
	)
	assert [c.owner for c in comments] == [people.admin, people.approver]
	assert "requested approval" in comments[0].content and row.name in comments[0].content
	assert "approved this flow" in comments[1].content and row.name in comments[1].content
	assert "Go" in comments[1].content
	# what was approved: the definition's digest and the changes, on the approval row
	[row] = approval_rows(flow)
	assert row.definition_hash and "wait" in row.changes


# --- the form ----------------------------------------------------------------------------------

PASSWORD = "Flows-Approval-Pass-2026!"


def test_the_form_requests_shows_the_changes_and_approves(browser, desk_url, required):
	"""In a real browser: the operator's Request Approval, the approver's Approve with the
	changes shown first, and the state in the form's intro."""
	from conftest import login, screenshot

	admin = make_user(["Flow Administrator"], "appr-desk-admin", PASSWORD)
	approver = make_user(["Flow Approver"], "appr-desk-approver", PASSWORD)
	frappe.set_user(admin)
	flow = make_flow(steps=wait_steps())
	frappe.set_user("Administrator")
	frappe.db.commit()
	errors: list[str] = []

	page = login(browser, desk_url, admin, PASSWORD)
	page.on("pageerror", lambda e: errors.append(str(e)))
	try:
		page.goto(f"{desk_url}/app/marketing-flow/{flow.name}")
		page.wait_for_selector(".form-message:has-text('Needs approval')", timeout=20000)
		page.locator(".page-actions button:has-text('Request Approval'):visible").first.click()
		dialog = page.locator(".modal.show")
		dialog.locator("li:has-text('wait (Pause a bit)')").first.wait_for(timeout=10000)
		dialog.locator(".btn-primary:has-text('Request Approval')").click()
		page.wait_for_selector(".form-message:has-text('Waiting for a Flow Approver')", timeout=20000)
		assert page.locator(".page-actions button:has-text('Approval'):visible").count() == 0
		screenshot(page, "approval-requested")
	except Exception as e:
		screenshot(page, "approval-request-failed")
		raise AssertionError(f"{e}; page errors: {errors}") from e
	page.close()

	page = login(browser, desk_url, approver, PASSWORD)
	page.on("pageerror", lambda e: errors.append(str(e)))
	try:
		page.goto(f"{desk_url}/app/marketing-flow/{flow.name}")
		group = page.locator(".page-actions button:has-text('Approval'):visible").first
		group.wait_for(timeout=20000)
		assert page.locator(".page-actions button:has-text('Run'):visible").count() == 0
		group.click()
		page.locator(".dropdown-menu.show a:has-text('Approve')").first.click()
		dialog = page.locator(".modal.show")
		dialog.locator("li:has-text('wait (Pause a bit)')").first.wait_for(timeout=10000)
		screenshot(page, "approval-dialog")
		dialog.locator("textarea[data-fieldname='comment']").fill("Approved in the browser")
		dialog.locator(".btn-primary:has-text('Approve')").click()
		page.wait_for_selector(".form-message:has-text('Approved by')", timeout=20000)
		screenshot(page, "approval-approved")
	except Exception as e:
		screenshot(page, "approval-approve-failed")
		raise AssertionError(f"{e}; page errors: {errors}") from e
	page.close()
	assert not errors, errors
	frappe.db.rollback()
	assert frappe.db.get_value(APPROVAL, {"flow": flow.name}, ["status", "decided_by", "comment"]) == (
		"Approved",
		approver,
		"Approved in the browser",
	)


def test_a_flow_with_approvals_can_be_deleted(people, as_user, required):
	flow = flow_as(people.admin)
	requested_and_approved(flow, people)
	frappe.delete_doc("Marketing Flow", flow.name)
	assert not frappe.db.exists("Marketing Flow", flow.name)
	assert not approval_rows(flow)
