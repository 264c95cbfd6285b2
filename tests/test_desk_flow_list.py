"""The flow list as tiles, flow folders and Copy, in a real browser (Playwright driving Debian's
chromium against `bench serve`): a marketer switches the list to tiles (remembered), sees each
flow's diagram in small with its figures, copies and deletes from a tile's menu, filters by a
folder (its subfolders' flows included), sees the flow's folder path in its header, copies from
the form; a Flow Content Editor sees the tiles without Copy or Delete; the folder tree.
Screenshots go to the artifacts dir (conftest.screenshot)."""

from __future__ import annotations

from urllib.parse import unquote

import frappe
import pytest

from conftest import login, screenshot, text_of, watch_errors
from factories import enrolled, make_content, make_flow, make_user, step, unique

PASSWORD = "Flows-Tiles-2026!"


@pytest.fixture(scope="module")
def users():
	made = {
		"admin": make_user(["Flow Administrator"], "tilesadmin", PASSWORD),
		"editor": make_user(["Flow Content Editor"], "tileseditor", PASSWORD),
	}
	frappe.db.commit()
	return made


@pytest.fixture(scope="module")
def world():
	"""Campaigns / 2026 (a flow with two people, one successful), a flow in Campaigns, one in
	another folder."""

	def folder(name: str, parent: str | None = None) -> str:
		doc = {
			"doctype": "Marketing Flow Folder",
			"folder_name": name,
			"parent_marketing_flow_folder": parent,
		}
		return frappe.get_doc(doc).insert().name

	campaigns = folder(unique("Campaigns"))
	year = folder(unique("2026"), campaigns)
	other = folder(unique("Newsletters"))
	sms = make_content("SMS", body="Spring is here, {{ contact.first_name }}")
	busy = make_flow(
		flow_name=unique("Spring"),
		folder=year,
		steps=[
			step(
				"wait", "Wait", wait_amount=1, wait_unit="Days", next_step="sms", position_x=40, position_y=40
			),
			step("sms", "Send SMS", content=sms.name, next_step="end", position_x=40, position_y=230),
			step("end", "End", position_x=40, position_y=420),
		],
	)
	first, _second = enrolled(busy), enrolled(busy)
	frappe.db.set_value("Marketing Flow Participant", first.participant, "succeeded", 1)
	top = make_flow(flow_name=unique("Welcome"), folder=campaigns)
	spare = make_flow(flow_name=unique("Spare"), folder=year)
	elsewhere = make_flow(flow_name=unique("Monthly"), folder=other)
	frappe.db.commit()
	return frappe._dict(
		campaigns=campaigns,
		year=year,
		other=other,
		busy=busy.name,
		top=top.name,
		spare=spare.name,
		elsewhere=elsewhere.name,
	)


def in_campaigns(world) -> set[str]:
	frappe.db.rollback()  # see what the web server committed
	return set(
		frappe.get_all("Marketing Flow", {"folder": ("in", [world.campaigns, world.year])}, pluck="name")
	)


def tile(page, name: str):
	return page.locator(f".mf-tile[data-name='{name}']")


def shown_tiles(page) -> set[str]:
	return set(page.eval_on_selector_all(".mf-tile", "els => els.map(e => e.dataset.name)"))


def open_list_as_tiles(page, desk_url: str, folder: str) -> None:
	page.goto(f"{desk_url}/app/marketing-flow?folder={folder}")
	page.locator(".mf-view-switch").wait_for(timeout=20000)
	if "btn-primary" not in (
		page.locator(".mf-view-switch [data-mode='Tiles']").get_attribute("class") or ""
	):
		page.locator(".mf-view-switch [data-mode='Tiles']").click()
	page.locator(".mf-tile").first.wait_for(timeout=20000)


def tile_menu(page, name: str) -> list[str]:
	tile(page, name).locator(".mf-tile-menu-button").click()
	items = tile(page, name).locator(".dropdown-menu [data-action]")
	items.first.wait_for(state="visible", timeout=5000)
	return [text_of(items.nth(i)) for i in range(items.count())]


def test_tiles_show_each_flows_diagram_and_figures_copy_and_delete(browser, desk_url, users, world):
	page = login(browser, desk_url, users["admin"], PASSWORD)
	errors = watch_errors(page)
	try:
		open_list_as_tiles(page, desk_url, world.campaigns)
		page.wait_for_function(
			"name => document.querySelector(`.mf-tile[data-name='${name}'] .mf-tile-figures`)?.innerText",
			arg=world.busy,
			timeout=10000,
		)
		# the folder filter took the subfolder's flow in, and left the other folder's out
		assert shown_tiles(page) == {world.busy, world.top, world.spare}
		busy = tile(page, world.busy)
		assert text_of(busy.locator(".mf-tile-title")) == world.busy
		assert text_of(busy.locator(".indicator-pill")) == "Draft"
		assert text_of(busy.locator(".mf-tile-folder")) == world.year
		figures = text_of(busy.locator(".mf-tile-figures"))
		assert figures == "2 Enrolled 2 Active 1 Succeeded 50% Success rate", figures
		assert busy.locator("svg.mf-tile-diagram .mf-tile-steps rect").count() == 3
		assert busy.locator("svg.mf-tile-diagram .mf-tile-links path").count() == 2
		assert tile(page, world.top).locator("svg.mf-tile-diagram rect").count() == 2  # Wait, End
		screenshot(page, "flow-list-tiles")

		# the choice is remembered: the list opens as tiles again
		page.reload()
		page.locator(".mf-tile").first.wait_for(timeout=20000)
		assert "btn-primary" in page.locator(".mf-view-switch [data-mode='Tiles']").get_attribute("class")
		assert page.locator(".list-row-container:visible").count() == 0

		assert tile_menu(page, world.busy) == ["Open", "Edit", "Copy", "Delete"]
		screenshot(page, "flow-list-tile-menu")
		tile(page, world.busy).locator("[data-action='copy']").click()
		copied = f"{world.busy} (copy)"
		tile(page, copied).wait_for(timeout=20000)  # in 2026 too, so in the filtered list
		frappe.db.rollback()  # see what the web server committed
		assert frappe.db.get_value("Marketing Flow", copied, "status") == "Draft"
		assert not frappe.db.count("Marketing Flow Participant", {"flow": copied})
		assert text_of(tile(page, copied).locator(".mf-tile-figures")).startswith("0 Enrolled")

		assert tile_menu(page, world.spare)[-1] == "Delete"
		tile(page, world.spare).locator("[data-action='delete']").click()
		dialog = page.locator(".modal.show")
		dialog.wait_for(timeout=5000)
		assert "Delete the flow" in text_of(dialog.locator(".modal-body"))
		screenshot(page, "flow-list-tile-delete-confirm")
		dialog.locator(".btn-primary").click()
		tile(page, world.spare).wait_for(state="detached", timeout=20000)
		frappe.db.rollback()
		assert not frappe.db.exists("Marketing Flow", world.spare)
		assert shown_tiles(page) == {world.busy, world.top, copied}

		# back to the list: the figures are columns again
		page.locator(".mf-view-switch [data-mode='List']").click()
		page.locator(".list-row-container .mf-col").first.wait_for(timeout=20000)
		assert page.locator(".mf-tile").count() == 0
		assert not errors, errors
	finally:
		page.close()


def test_the_form_shows_the_folder_path_and_copies_the_flow_with_its_content(browser, desk_url, users, world):
	page = login(browser, desk_url, users["admin"], PASSWORD)
	errors = watch_errors(page)
	try:
		page.goto(f"{desk_url}/app/marketing-flow/{world.busy}")
		path = page.locator(".title-area .mf-folder-path")
		path.wait_for(timeout=20000)
		assert text_of(path) == f"{world.campaigns} / {world.year}"
		screenshot(page, "flow-form-folder-path")

		# the menu: Copy, and no second Duplicate doing the same
		page.locator(".page-actions .menu-btn-group > button").click()
		labels = page.locator(".menu-btn-group .dropdown-menu .menu-item-label:visible")
		labels.first.wait_for(timeout=5000)
		names = [text_of(labels.nth(i)) for i in range(labels.count())]
		assert "Copy" in names and "Duplicate" not in names, names
		screenshot(page, "flow-form-copy-menu")
		labels.nth(names.index("Copy")).click()
		page.wait_for_url(lambda url: "%20(copy" in url, timeout=20000)
		copied = unquote(page.url.rstrip("/").rsplit("/", 1)[1])
		assert copied.startswith(f"{world.busy} (copy")
		page.locator(".title-area .mf-folder-path").wait_for(timeout=20000)
		frappe.db.rollback()
		original_sms = frappe.db.get_value(
			"Marketing Flow Step", {"parent": world.busy, "step_id": "sms"}, "content"
		)
		copy_sms = frappe.db.get_value("Marketing Flow Step", {"parent": copied, "step_id": "sms"}, "content")
		assert copy_sms and copy_sms != original_sms
		assert frappe.db.get_value("Marketing Flow Content", copy_sms, ["body", "flow"]) == (
			"Spring is here, {{ contact.first_name }}",
			copied,
		)

		# a folder of the path opens the list of that folder's flows, subfolders included
		page.goto(f"{desk_url}/app/marketing-flow/{world.busy}")
		path.locator(f"a[data-folder='{world.campaigns}']").wait_for(timeout=20000)
		path.locator(f"a[data-folder='{world.campaigns}']").click()
		page.wait_for_url(lambda url: "/app/marketing-flow?" in url or url.endswith("/app/marketing-flow"))
		page.locator(".mf-tile, .list-row-container").first.wait_for(timeout=20000)
		expected = in_campaigns(world)
		page.wait_for_function(
			"n => document.querySelectorAll('.mf-tile, .list-row-container').length === n",
			arg=len(expected),
			timeout=10000,
		)
		shown = set(
			page.eval_on_selector_all(
				".mf-tile, .list-row-container .list-row-checkbox",
				"els => els.map(e => e.dataset.name)",
			)
		)
		assert copied in shown and world.top in shown and shown == expected, shown
		assert not errors, errors
	finally:
		page.close()


def test_a_content_editor_sees_tiles_without_copy_or_delete(browser, desk_url, users, world):
	page = login(browser, desk_url, users["editor"], PASSWORD)
	errors = watch_errors(page)
	try:
		open_list_as_tiles(page, desk_url, world.campaigns)
		tile(page, world.busy).locator(".mf-tile-figures .mf-tile-value").first.wait_for(timeout=10000)
		assert text_of(tile(page, world.busy).locator(".mf-tile-figures")).startswith("2 Enrolled")
		assert tile_menu(page, world.busy) == ["Open", "Designer"]
		screenshot(page, "flow-list-tiles-content-editor")
		assert not errors, errors
	finally:
		page.close()


def test_the_folder_tree_adds_folders_at_the_top_and_inside(browser, desk_url, users, world):
	page = login(browser, desk_url, users["admin"], PASSWORD)
	errors = watch_errors(page)
	try:
		page.goto(f"{desk_url}/app/marketing-flow-folder/view/tree")
		root = page.locator(".tree-link[data-label='All Folders']")
		root.wait_for(timeout=20000)
		page.locator(f".tree-link[data-label='{world.campaigns}']").wait_for(timeout=10000)
		# a new folder at the top (the root is no folder)
		top = unique("Events")
		root.click()
		page.locator(".page-actions .primary-action").click()
		dialog = page.locator(".modal.show")
		dialog.locator("[data-fieldname='folder_name'] input").fill(top)
		dialog.locator(".btn-primary").click()
		page.locator(f".tree-link[data-label='{top}']").wait_for(timeout=10000)
		# and one inside it, from the node's Add Child
		page.locator(f".tree-link[data-label='{top}']").click()
		inner = unique("Webinars")
		page.locator(
			f".tree-link[data-label='{top}'] + .tree-node-toolbar button:text-is('Add Child')"
		).click()
		dialog = page.locator(".modal.show")
		dialog.locator("[data-fieldname='folder_name'] input").fill(inner)
		dialog.locator(".btn-primary").click()
		page.locator(f".tree-link[data-label='{inner}']").wait_for(timeout=10000)
		screenshot(page, "flow-folder-tree")
		frappe.db.rollback()
		assert frappe.db.get_value("Marketing Flow Folder", top, "parent_marketing_flow_folder") in (None, "")
		assert frappe.db.get_value("Marketing Flow Folder", inner, "parent_marketing_flow_folder") == top
		assert not errors, errors
	finally:
		page.close()
