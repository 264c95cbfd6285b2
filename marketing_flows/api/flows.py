"""The flow list's tiles and the flows' *Copy*: desk calls on flows as a whole.

`tiles` answers for a page of the list at once (a few grouped queries, whatever the page's
size); `copy_flow` copies a flow with its content (engine/changing/copying.py)."""

from __future__ import annotations

import frappe
from frappe import _

from marketing_flows.engine.changing import copying
from marketing_flows.engine.measuring import figures

# the most flows one call draws: a list page is 20, 100 or 500 rows
PAGE_LIMIT = 500
LINK_FIELDS = ("next_step", "yes_step", "no_step", "else_step", "timeout_step")


@frappe.whitelist(methods=["POST"])
def copy_flow(flow: str | None = None) -> dict:
	"""Copy `flow` with its content as a new Draft; returns the copy's name. For who may create
	flows and read this one; its emails and SMS texts are copied too, so creating content must
	be allowed as well (a Flow Administrator may)."""
	frappe.has_permission("Marketing Flow", "create", throw=True)
	if not flow or not frappe.db.exists("Marketing Flow", flow):
		frappe.throw(_("Flow {0} not found.").format(flow or ""), frappe.DoesNotExistError)
	source = frappe.get_doc("Marketing Flow", flow)
	source.check_permission("read")
	if copying.contents_of(source):
		frappe.has_permission("Marketing Flow Content", "create", throw=True)
	new = copying.copy_flow(source)
	return {"name": new.name, "flow_name": new.flow_name}


@frappe.whitelist()
def tiles(flows: str | list | None = None) -> dict:
	"""flow -> what its tile shows: status, folder, a diagram (steps with their designer
	position and type, links between them) and key figures (enrolled, active, succeeded,
	success rate; None for who may not read participants). Only the flows the user may read."""
	frappe.has_permission("Marketing Flow", "read", throw=True)
	names = frappe.parse_json(flows) if isinstance(flows, str) else flows
	if not names:
		return {}
	rows = frappe.get_list(
		"Marketing Flow",
		filters={"name": ("in", list(names)[:PAGE_LIMIT])},
		fields=["name", "flow_name", "status", "folder"],
		limit_page_length=0,
	)
	if not rows:
		return {}
	readable = [r.name for r in rows]
	out = {r.name: {**r, "diagram": {"steps": [], "links": []}, "figures": None} for r in rows}
	for s in frappe.get_all(
		"Marketing Flow Step",
		filters={"parenttype": "Marketing Flow", "parent": ("in", readable)},
		fields=["parent", "step_id", "step_type", "position_x", "position_y", *LINK_FIELDS],
		order_by="parent, idx",
	):
		diagram = out[s.parent]["diagram"]
		diagram["steps"].append([s.step_id, s.step_type, s.position_x or 0, s.position_y or 0])
		diagram["links"].extend([s.step_id, s[f]] for f in LINK_FIELDS if s.get(f))
	for b in frappe.get_all(
		"Marketing Flow Branch",
		filters={"parenttype": "Marketing Flow", "parent": ("in", readable)},
		fields=["parent", "step_id", "next_step"],
		order_by="parent, idx",
	):
		if b.next_step:
			out[b.parent]["diagram"]["links"].append([b.step_id, b.next_step])
	if frappe.has_permission("Marketing Flow Participant", "read"):
		for name, fig in figures.list_figures(readable).items():
			out[name]["figures"] = fig
	return out
