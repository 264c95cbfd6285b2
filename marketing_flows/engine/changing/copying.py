"""Copy a flow with its content: SuperOffice's *Copy*. The copy is a new Draft with every setting,
step, branch, update, success criterion, suppression list and quiet hour of the original, and its
own Marketing Flow Content records (each email / SMS the flow sends, and its confirmation email),
so that editing the copy's email never changes what the original sends. Nothing of the
original's life comes along: no participants, logs, versions, figures, approval state, run dates.

Why Frappe's plain *Duplicate* calls this copy (the flow form replaces it, marketing_flow.js)
rather than the flow's insert detecting steps whose content belongs to another flow: a shared
content is not always a mistake (content written before the flow, a flow made through the API
from a library of texts, a starter flow), and an insert that silently cloned content, or refused,
would surprise those callers. The one place where sharing is an accident is the form's copy of a
flow, so that is the place that changes; `copy_flow` is the single way both menus copy a flow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import frappe
from frappe import _

if TYPE_CHECKING:
	from marketing_flows.engine.doctypes import MarketingFlow, MarketingFlowContent

# the longest name a Data field holds (flow_name, content_name)
NAME_LENGTH = 140


def free_name(doctype: str, base: str) -> str:
	"""'<base> (copy)', else '<base> (copy 2)', '(copy 3)'…: the first name not taken (flows and
	contents are named by their unique flow_name / content_name)."""
	n = 1
	while True:
		label = _("{0} (copy)") if n == 1 else _("{0} (copy {1})")
		room = NAME_LENGTH - len(label.format("", n))
		name = label.format(base[:room], n)
		if not frappe.db.exists(doctype, name):
			return name
		n += 1


def contents_of(flow: MarketingFlow) -> list[str]:
	"""The Marketing Flow Content names the flow uses (its steps', its confirmation email), in
	the order they first appear."""
	used: list[str] = [s.content for s in flow.steps if s.content]
	if flow.confirmation_content:
		used.append(flow.confirmation_content)
	return list(dict.fromkeys(used))


def copy_content(name: str) -> MarketingFlowContent:
	"""A new content record like `name` (subject, body, sender, attachments' files), not linked
	to any flow yet (the copied flow does not exist when its content is made)."""
	source = frappe.get_doc("Marketing Flow Content", name)
	source.check_permission("read")
	new = frappe.copy_doc(source, ignore_no_copy=False)
	new.content_name = free_name("Marketing Flow Content", source.content_name)
	new.flow = None
	new.insert()
	for file in frappe.get_all(
		"File",
		filters={"attached_to_doctype": source.doctype, "attached_to_name": source.name, "is_folder": 0},
		fields=["file_name", "file_url", "is_private"],
	):
		frappe.get_doc(
			{
				"doctype": "File",
				"file_name": file.file_name,
				"file_url": file.file_url,  # the same stored file, attached to the copy too
				"is_private": file.is_private,
				"attached_to_doctype": new.doctype,
				"attached_to_name": new.name,
			}
		).insert(ignore_permissions=True)  # the user could attach it to content they just made
	return new


def copy_flow(source: MarketingFlow) -> MarketingFlow:
	"""The copy of `source` as a new Draft named '<flow> (copy)', with new content records
	linked to it. The caller checks who may copy (api/flows.py); the inserts check the rest
	(create on Marketing Flow and Marketing Flow Content) and validate the copy as any save."""
	mapping = {name: copy_content(name) for name in contents_of(source)}
	new = frappe.copy_doc(source, ignore_no_copy=False)
	new.flow_name = free_name("Marketing Flow", source.flow_name)
	new.status = "Draft"
	for fieldname in ("started_on", "paused_on", "stopped_on", "last_error", "version_plan"):
		new.set(fieldname, None)
	new.version = 0
	new.approval_status = None
	for step in new.steps:
		if step.get("content") in mapping:
			step.content = mapping[step.content].name
	if new.get("confirmation_content") in mapping:
		new.confirmation_content = mapping[new.confirmation_content].name
	new.insert()
	for content in mapping.values():  # now that the copy exists, the content is the copy's
		content.db_set("flow", new.name, update_modified=False)
	return new
