"""Flow folders (a tree; the list's filter takes subfolders; a folder with flows is not deleted)
and Copy (a flow with its own content, as a Draft), and the tiles' data, on the real site."""

from __future__ import annotations

import frappe
import pytest
import requests

from factories import enrolled, make_content, make_flow, make_user, step, unique

PASSWORD = "Folders-Copy-7x!"


def folder(name: str, parent: str | None = None) -> str:
	return (
		frappe.get_doc(
			{"doctype": "Marketing Flow Folder", "folder_name": name, "parent_marketing_flow_folder": parent}
		)
		.insert()
		.name
	)


def rich_flow(smtp) -> frappe.model.document.Document:
	"""A flow with something in every table: an email and an SMS, a Split with branches, an
	update, a goal, a suppression list, quiet hours, a sending window, a folder."""
	email = make_content("Email", subject="Spring offer", body="<p>Offer</p>", sender=smtp.account)
	sms = make_content("SMS", body="Offer by SMS")
	group = frappe.get_doc({"doctype": "Email Group", "title": unique("Suppress")}).insert()
	return make_flow(
		steps=[
			step("mail", "Send Email", content=email.name, next_step="split", position_x=40, position_y=40),
			step("split", "Split", else_step="text", position_x=40, position_y=230),
			step("tag", "Update Participant", next_step="text", position_x=320, position_y=420),
			step("text", "Send SMS", content=sms.name, position_x=40, position_y=420),
		],
		branches=[
			{
				"step_id": "split",
				"branch_label": "Board",
				"condition_type": "Field",
				"condition_filters": '[["department", "=", "Board"]]',
				"next_step": "tag",
			}
		],
		updates=[
			{"step_id": "tag", "target": "Person", "field": "designation", "action": "Set", "value": "VIP"}
		],
		success_criteria=[
			{"criterion_type": "Person Updated", "conditions": '[["designation", "=", "Customer"]]'}
		],
		suppression_lists=[{"list_type": "Email Group", "email_group": group.name}],
		quiet_hours=[{"channel": "Email", "quiet_from": "20:00", "quiet_to": "08:00"}],
		use_sending_window=1,
		window_start="08:00:00",
		window_end="18:00:00",
		reenrollment="After Previous Ends",
		description="Spring campaign",
		folder=folder(unique("Campaigns")),
	)


SKIP = {"name", "parent", "creation", "modified", "modified_by", "owner", "idx", "docstatus"}


def rows(doc, table: str, without: tuple[str, ...] = ()) -> list[dict]:
	return [
		{k: v for k, v in r.as_dict().items() if k not in SKIP and k not in without} for r in doc.get(table)
	]


def copy(name: str) -> frappe.model.document.Document:
	from marketing_flows.api.flows import copy_flow

	return frappe.get_doc("Marketing Flow", copy_flow(name)["name"])


def test_copy_keeps_every_setting_and_table_with_content_of_its_own(smtp):
	flow = rich_flow(smtp)
	flow.reload()  # as stored (times as the database gives them)
	new = copy(flow.name)
	assert new.flow_name == f"{flow.flow_name} (copy)"
	assert new.status == "Draft"
	for field in (
		"description",
		"folder",
		"reenrollment",
		"use_sending_window",
		"window_start",
		"window_end",
	):
		assert new.get(field) == flow.get(field), field
	for table in ("branches", "updates", "success_criteria", "suppression_lists", "quiet_hours"):
		assert rows(new, table) == rows(flow, table), table
		assert rows(new, table), table
	assert rows(new, "steps", ("content",)) == rows(flow, "steps", ("content",))
	# the steps send new content, made for the copy, with the original's text
	for old_step, new_step in zip(flow.steps, new.steps, strict=True):
		if not old_step.content:
			continue
		assert new_step.content != old_step.content
		old_c = frappe.get_doc("Marketing Flow Content", old_step.content)
		new_c = frappe.get_doc("Marketing Flow Content", new_step.content)
		assert new_c.content_name == f"{old_c.content_name} (copy)"
		assert new_c.flow == new.name
		assert (new_c.channel, new_c.subject, new_c.body, new_c.sender) == (
			old_c.channel,
			old_c.subject,
			old_c.body,
			old_c.sender,
		)


def test_editing_the_copys_email_leaves_the_originals_alone(smtp):
	flow = rich_flow(smtp)
	new = copy(flow.name)
	mine = frappe.get_doc("Marketing Flow Content", new.steps[0].content)
	mine.subject = "Summer offer"
	mine.save()
	original = frappe.get_doc("Marketing Flow Content", flow.steps[0].content)
	assert original.subject == "Spring offer"
	assert frappe.db.get_value("Marketing Flow Content", new.steps[0].content, "subject") == "Summer offer"


def test_a_copy_can_be_deleted_and_its_content_stays(smtp):
	"""The copy's own emails point back to it (Marketing Flow Content.flow): deleting the copy
	keeps them, no longer tied to a flow, and leaves the original's alone."""
	flow = rich_flow(smtp)
	new = copy(flow.name)
	mine = new.steps[0].content
	frappe.delete_doc("Marketing Flow", new.name)
	assert not frappe.db.exists("Marketing Flow", new.name)
	assert frappe.db.get_value("Marketing Flow Content", mine, "flow") is None
	assert frappe.db.get_value("Marketing Flow Content", flow.steps[0].content, "subject") == "Spring offer"


def test_copies_are_named_copy_copy_2_and_so_on(smtp):
	flow = rich_flow(smtp)
	first, second = copy(flow.name), copy(flow.name)
	assert (first.flow_name, second.flow_name) == (f"{flow.flow_name} (copy)", f"{flow.flow_name} (copy 2)")
	content = frappe.db.get_value("Marketing Flow Content", flow.steps[0].content, "content_name")
	assert frappe.db.get_value("Marketing Flow Content", second.steps[0].content, "content_name") == (
		f"{content} (copy 2)"
	)


def test_a_running_flows_copy_is_a_draft_without_people_or_history():
	flow = make_flow()
	flow.run()
	enrolled(flow)
	flow.reload()
	assert flow.status == "Running" and flow.started_on
	new = copy(flow.name)
	assert new.status == "Draft"
	assert not new.started_on and not new.version and not new.version_plan
	assert not frappe.db.count("Marketing Flow Participant", {"flow": new.name})
	assert not frappe.db.count("Marketing Flow Log", {"flow": new.name})
	assert not frappe.db.count("Marketing Flow Version", {"flow": new.name})
	assert frappe.db.count("Marketing Flow Participant", {"flow": flow.name}) == 1


def test_a_content_editor_may_not_copy_a_flow():
	flow = make_flow()
	editor = make_user(["Flow Content Editor"], "copy-editor")
	frappe.set_user(editor)
	try:
		with pytest.raises(frappe.PermissionError):
			copy(flow.name)
	finally:
		frappe.set_user("Administrator")
	assert not frappe.db.exists("Marketing Flow", f"{flow.flow_name} (copy)")


def test_copy_over_http_is_for_flow_administrators_and_post_only(desk_url, smtp):
	"""The permission matrix calls every method with GET: Copy answers POST only (it writes), so
	its roles are checked here."""
	from urllib.parse import urlsplit

	flow = rich_flow(smtp)
	users = {
		"editor": make_user(["Flow Content Editor"], "copy-http-editor", password=PASSWORD),
		"admin": make_user(["Flow Administrator", "Sales User"], "copy-http-admin", password=PASSWORD),
	}
	frappe.db.commit()
	parts = urlsplit(desk_url)
	base = f"http://127.0.0.1:{parts.port}"
	url = f"{base}/api/method/marketing_flows.api.flows.copy_flow"
	status = {}
	for role, user in users.items():
		s = requests.Session()
		s.headers["Host"] = parts.hostname
		r = s.post(f"{base}/api/method/login", data={"usr": user, "pwd": PASSWORD}, timeout=30)
		assert r.status_code == 200, r.text
		status[role, "GET"] = s.get(url, params={"flow": flow.name}, timeout=30).status_code
		r = s.post(url, data={"flow": flow.name}, timeout=60)
		status[role, "POST"] = r.status_code
		if role == "admin":
			assert r.json().get("message", {}).get("name") == f"{flow.flow_name} (copy)", r.text[:1500]
	guest = requests.post(url, data={"flow": flow.name}, headers={"Host": parts.hostname}, timeout=30)
	assert status == {
		("editor", "GET"): 403,
		("editor", "POST"): 403,
		("admin", "GET"): 403,
		("admin", "POST"): 200,
	}
	assert guest.status_code == 403
	frappe.db.rollback()
	copied = f"{flow.flow_name} (copy)"
	content = frappe.get_value("Marketing Flow Step", {"parent": copied, "step_id": "mail"}, "content")
	assert frappe.db.get_value("Marketing Flow Content", content, "flow") == copied
	assert frappe.db.get_value("Marketing Flow Content", content, "owner") == users["admin"]


# --- folders ------------------------------------------------------------------------------


def test_the_folder_filter_takes_the_subfolders_in():
	campaigns = folder(unique("Campaigns"))
	year = folder(unique("2026"), campaigns)
	spring = folder(unique("Spring"), year)
	other = folder(unique("Newsletters"))
	in_top, in_year, in_spring, elsewhere, nowhere = (
		make_flow(folder=campaigns),
		make_flow(folder=year),
		make_flow(folder=spring),
		make_flow(folder=other),
		make_flow(),
	)

	def listed(name: str) -> set[str]:
		# what the list's Folder filter asks (a Link to a tree filters "descendants of (inclusive)")
		return set(
			frappe.get_list(
				"Marketing Flow", filters={"folder": ("descendants of (inclusive)", name)}, pluck="name"
			)
		)

	assert listed(campaigns) == {in_top.name, in_year.name, in_spring.name}
	assert listed(year) == {in_year.name, in_spring.name}
	assert listed(other) == {elsewhere.name}
	assert nowhere.name not in listed(campaigns) | listed(other)


def test_a_folder_with_flows_or_subfolders_is_not_deleted():
	campaigns = folder(unique("Campaigns"))
	year = folder(unique("2026"), campaigns)
	flow = make_flow(folder=year)
	with pytest.raises(frappe.LinkExistsError, match="holds 1 flows: move them"):
		frappe.delete_doc("Marketing Flow Folder", year)
	with pytest.raises(frappe.ValidationError, match="child nodes"):
		frappe.delete_doc("Marketing Flow Folder", campaigns)
	assert frappe.db.exists("Marketing Flow Folder", year)
	frappe.db.set_value("Marketing Flow", flow.name, "folder", None)
	frappe.delete_doc("Marketing Flow Folder", year)
	frappe.delete_doc("Marketing Flow Folder", campaigns)
	assert not frappe.db.exists("Marketing Flow Folder", campaigns)


def test_only_flow_administrators_arrange_folders():
	top = folder(unique("Campaigns"))
	editor = make_user(["Flow Content Editor"], "folder-editor")
	admin = make_user(["Flow Administrator"], "folder-admin")
	frappe.set_user(editor)
	try:
		assert frappe.get_list("Marketing Flow Folder", filters={"name": top}, pluck="name") == [top]
		with pytest.raises(frappe.PermissionError):
			folder(unique("Mine"), top)
		with pytest.raises(frappe.PermissionError):
			frappe.delete_doc("Marketing Flow Folder", top)
		frappe.set_user(admin)
		child = folder(unique("2026"), top)
		doc = frappe.get_doc("Marketing Flow Folder", child)
		doc.parent_marketing_flow_folder = None  # moved to the top
		doc.save()
		assert (
			frappe.get_list("Marketing Flow Folder", filters={"name": ("descendants of", top)}, pluck="name")
			== []
		)
	finally:
		frappe.set_user("Administrator")


# --- tiles --------------------------------------------------------------------------------


def test_tiles_carry_the_diagram_and_the_figures_of_the_page(smtp):
	from marketing_flows.api.flows import tiles

	flow = rich_flow(smtp)
	busy = make_flow()
	first, _second = enrolled(busy), enrolled(busy)
	frappe.db.set_value("Marketing Flow Participant", first.participant, "succeeded", 1)
	empty = make_flow(steps=[])
	got = tiles([flow.name, busy.name, empty.name])
	assert set(got) == {flow.name, busy.name, empty.name}
	assert got[busy.name]["figures"] == {"enrolled": 2, "active": 2, "succeeded": 1, "success_rate": 50.0}
	assert got[empty.name]["figures"]["enrolled"] == 0
	assert got[empty.name]["diagram"] == {"steps": [], "links": []}
	diagram = got[flow.name]["diagram"]
	assert [s[0] for s in diagram["steps"]] == ["mail", "split", "tag", "text"]
	assert diagram["steps"][1] == ["split", "Split", 40, 230]
	assert sorted(map(tuple, diagram["links"])) == sorted(
		[("mail", "split"), ("split", "text"), ("tag", "text"), ("split", "tag")]
	)
	assert (got[flow.name]["folder"], got[flow.name]["status"]) == (flow.folder, "Draft")


def queries_of(call) -> int:
	"""How many SQL queries `call()` makes (counted as Frappe's assertQueryCount does)."""
	count = 0
	sql = frappe.db.__class__.sql

	def counting(*args, **kwargs):
		nonlocal count
		count += 1
		return sql(*args, **kwargs)

	frappe.db.__class__.sql = counting
	try:
		call()
	finally:
		frappe.db.__class__.sql = sql
	return count


def test_tiles_cost_the_same_few_queries_for_one_flow_or_twenty():
	from marketing_flows.api.flows import tiles

	flows = [make_flow().name for _ in range(20)]
	for name in flows[:5]:
		enrolled(frappe.get_doc("Marketing Flow", name))
	tiles(flows)  # caches warm
	one, twenty = queries_of(lambda: tiles(flows[:1])), queries_of(lambda: tiles(flows))
	assert one == twenty <= 6, (one, twenty)


def test_tiles_answer_only_for_flows_the_user_may_read():
	from marketing_flows.api.flows import tiles

	flow = make_flow()
	editor = make_user(["Flow Content Editor"], "tiles-editor")
	nobody = make_user(["Blogger"], "tiles-nobody")
	frappe.set_user(editor)
	try:
		assert set(tiles([flow.name, "no such flow"])) == {flow.name}
		frappe.set_user(nobody)
		with pytest.raises(frappe.PermissionError):
			tiles([flow.name])
	finally:
		frappe.set_user("Administrator")
