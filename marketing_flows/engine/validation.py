"""Validation of a whole flow before it is saved or run: the graph, each step's own fields,
the audience and trigger settings. Every message names what is wrong and where."""

from __future__ import annotations

import html
from typing import Any

import frappe
from frappe import _
from frappe.utils import get_time

from marketing_flows.engine import criteria, filters, graph, hosts, segments, window
from marketing_flows.engine.permissions import require_read
from marketing_flows.engine.steps import STEP_TYPES, handler_for

DESIGN_ONLY = {"position_x", "position_y"}
# the designer's handle ids besides the branch keys: a branch can't be called one of them
RESERVED_BRANCH_KEYS = {"in", "next", "yes", "no", "else"}
ENGINE_OWNED = {"ab_winner", "ab_decided_on", "ab_decision"}  # written by the runner, not an edit


def flow_errors(flow: Any) -> list[str]:
	"""Every problem of the flow's steps; [] when the flow can run."""
	errors = graph.validate(flow.steps, flow.get("branches") or [])
	for step in flow.steps:
		if step.step_type and step.step_type not in STEP_TYPES:
			errors.append(_("Step '{0}': '{1}' is not a step type.").format(step.step_id, step.step_type))
		elif step.step_type:
			errors.extend(handler_for(step.step_type).validate(step, flow))
	return errors


def design_errors(flow: Any) -> dict:
	"""The designer's live check: what the form's save would refuse, with the steps each problem
	names, so the designer can mark them. {"errors": [{"steps": [step_id, ...], "message": ...}]}"""
	found: list[dict] = []
	ids = [s.step_id for s in flow.steps if s.step_id]

	def add(message: str, steps: list[str]) -> None:
		found.append({"steps": steps, "message": message})

	if flow.steps:  # the same checks as the save (flow_errors), each message with the steps it names
		for message in flow_errors(flow):
			add(message, [sid for sid in ids if f"'{sid}'" in message])
	try:
		validate_flow(flow)
	except (frappe.ValidationError, frappe.PermissionError) as e:
		if not flow.steps or not found:  # the step problems are listed above one by one
			add(html.unescape(str(e)), [])
		elif not any(f["message"] in html.unescape(str(e)) for f in found):
			add(html.unescape(str(e)), [])
	finally:
		frappe.clear_messages()
	return {"errors": found}


def named_doctypes(flow: Any) -> dict[str, str]:
	"""doctype -> where the flow names it: every doctype whose data the flow looks at."""
	named: dict = {}
	if flow.trigger_type == "Document Event" and flow.trigger_doctype:
		named.setdefault(flow.trigger_doctype, _("Trigger"))
	if flow.trigger_type == "Web Form" and flow.trigger_web_form:
		form_doctype = frappe.db.get_value("Web Form", flow.trigger_web_form, "doc_type")
		named.setdefault(form_doctype, _("Trigger"))
	person = hosts.person_doctype(flow)
	for row in flow.get("success_criteria") or []:
		named.setdefault(criteria.target_doctype(row, person), _("Success criterion {0}").format(row.idx))
	bodies = " ".join(s.webhook_body or "" for s in flow.steps if s.step_type == "Webhook")
	if any(word in bodies for word in ("contact", "person", "lead")):
		# what a webhook sends out, its author must be able to read
		named.setdefault(person, _("Webhook body"))
	if "company" in bodies and hosts.doctype_for("company"):
		named.setdefault(hosts.doctype_for("company"), _("Webhook body"))
	named.pop(None, None)
	return named


def named_segments(flow: Any) -> dict[str, str]:
	"""segment -> where the flow uses it (trigger, suppression list, condition, branch)."""
	found: dict[str, str] = {}
	if flow.trigger_type == "Segment" and flow.get("trigger_segment"):
		found[flow.trigger_segment] = _("Trigger")
	for row in flow.get("suppression_lists") or []:
		if row.get("list_type") == "Segment" and row.get("segment"):
			found.setdefault(row.segment, _("Suppression list"))
	for row in [*(flow.get("steps") or []), *(flow.get("branches") or [])]:
		if row.get("condition_type") == "In Segment" and row.get("segment"):
			found.setdefault(row.segment, _("Step {0}").format(row.get("step_id")))
	return {name: where for name, where in found.items() if frappe.db.exists("Marketing Segment", name)}


def validate_flow(flow: Any) -> None:
	"""Throw one message listing every problem (the form shows it as a list)."""
	if not (frappe.flags.in_install or frappe.flags.in_migrate or frappe.flags.in_patch):
		require_read(named_doctypes(flow))
	if not flow.get("person_doctype"):
		flow.person_doctype = hosts.person_doctype()
	person = flow.person_doctype
	choices = hosts.person_doctypes()
	if person not in choices:
		frappe.throw(
			_("{0} can't be a flow's people on this site: choose one of {1}.").format(
				_(person), ", ".join(_(c) for c in choices)
			),
			title=_("People"),
		)
	saved = frappe.db.get_value("Marketing Flow", flow.name, "person_doctype") if flow.name else None
	if saved and saved != person and frappe.db.exists("Marketing Flow Participant", {"flow": flow.name}):
		frappe.throw(
			_("People: this flow has participants who are {0}; copy the flow to enrol {1}.").format(
				_(saved), _(person)
			),
			title=_("People"),
		)
	for segment, where in named_segments(flow).items():
		listed = segments.person_doctype(frappe.get_cached_doc("Marketing Segment", segment))
		if listed != person:
			frappe.throw(
				_("{0}: segment {1} lists {2}, but this flow enrols {3}.").format(
					where, segment, _(listed), _(person)
				),
				title=_("People"),
			)
	filters.check_fields(
		person, filters.parse(flow.audience_filters, _("Audience Filters")), _("Audience Filters")
	)
	if flow.trigger_type == "Document Event" and flow.trigger_doctype:
		what = _("Trigger Conditions")
		filters.check_fields(flow.trigger_doctype, filters.parse(flow.trigger_conditions, what), what)
	if flow.trigger_type == "Document Event" and flow.trigger_doctype and flow.trigger_person_field:
		if flow.trigger_person_field != "owner" and not frappe.get_meta(flow.trigger_doctype).has_field(
			flow.trigger_person_field
		):
			frappe.throw(
				_("Trigger: {0} has no field '{1}'.").format(flow.trigger_doctype, flow.trigger_person_field),
				title=_("Unknown Field"),
			)
	if flow.trigger_type == "Date Field" and flow.trigger_date_field:
		df = frappe.get_meta(person).get_field(flow.trigger_date_field)
		if not df or df.fieldtype not in ("Date", "Datetime"):
			frappe.throw(
				_("Trigger: '{0}' is not a date field of {1}.").format(flow.trigger_date_field, person)
			)
	if flow.trigger_type == "Flow Goal" and flow.trigger_flow == flow.name:
		frappe.throw(_("Trigger: a flow can't be triggered by its own goal."))
	if flow.success_flow and flow.success_flow == flow.name:
		frappe.throw(_("Successful participants can't be moved to the same flow."))
	if flow.get("use_sending_window"):
		if flow.window_start and flow.window_end and get_time(flow.window_start) >= get_time(flow.window_end):
			frappe.throw(_("Sending window: 'From' must be before 'To'."))
		if not any(flow.get(f"send_on_{d}") for d in window.WEEKDAYS):
			frappe.throw(_("Sending window: choose at least one weekday."))
	if cycle := enrolment_cycle(flow):
		frappe.throw(
			_(
				"Enroll in Flow steps make a loop between flows: {0}. Someone could go round it for ever."
			).format(" → ".join(cycle)),
			title=_("Flows enrol each other"),
		)
	if errors := criteria.validate(flow):
		frappe.throw(
			"<br>".join(html.escape(e, quote=False) for e in errors), title=_("Invalid success criteria")
		)
	if flow.steps:
		errors = flow_errors(flow)
		if errors:
			frappe.throw(
				"<br>".join(html.escape(e, quote=False) for e in errors),
				title=_("The flow's steps are not valid"),
			)


def enrolment_cycle(flow: Any) -> list[str] | None:
	"""A loop of Enroll in Flow steps through other flows back to this one (A → B → A), as the
	list of flow names, or None. Other flows' steps are read as saved."""
	targets = {s.target_flow for s in flow.steps if s.step_type == "Enroll in Flow" and s.get("target_flow")}
	if not targets:
		return None
	rows = frappe.get_all(
		"Marketing Flow Step",
		filters={"parenttype": "Marketing Flow", "step_type": "Enroll in Flow", "target_flow": ("is", "set")},
		fields=["parent", "target_flow"],
	)
	edges: dict[str, set[str]] = {}
	for row in rows:
		if row.parent != flow.name:
			edges.setdefault(row.parent, set()).add(row.target_flow)
	edges[flow.name] = targets
	path: list[str] = [flow.name]
	seen: set[str] = set()

	def walk(node: str) -> list[str] | None:
		for nxt in sorted(edges.get(node, ())):
			if nxt == flow.name:
				return [*path, nxt]
			if nxt in seen:
				continue
			seen.add(nxt)
			path.append(nxt)
			if found := walk(nxt):
				return found
			path.pop()
		return None

	return walk(flow.name)


def keep_engine_owned(flow: Any, before: Any) -> None:
	"""A form saved with an old copy of the steps must not undo what the runner wrote on them
	meanwhile (an A/B test's winner): those values always come from the database."""
	if not before:
		return
	saved = {s.step_id: s for s in before.steps}
	for step in flow.steps:
		if step.step_id in saved:
			for fieldname in ENGINE_OWNED:
				step.set(fieldname, saved[step.step_id].get(fieldname))


def fill_branch_keys(flow: Any) -> None:
	"""Give every branch row a key, stable once given, unique in its step (from its label)."""
	taken: dict[str, set[str]] = {}
	for row in flow.get("branches") or []:
		if row.branch_key:
			taken.setdefault(row.step_id, set()).add(row.branch_key)
	for row in flow.get("branches") or []:
		if row.branch_key:
			continue
		keys = taken.setdefault(row.step_id, set())
		base = frappe.scrub(row.branch_label or "") or "branch"
		key, n = base, 1
		while key in keys or key in RESERVED_BRANCH_KEYS:
			n += 1
			key = f"{base}_{n}"
		row.branch_key = key
		keys.add(key)


def step_signature(flow: Any) -> list[tuple]:
	"""The steps (with their branch and update rows) as comparable values, designer positions
	and the A/B winner left out (moving a box or the engine picking a winner is no edit)."""
	out = []
	for doctype, table in (
		("Marketing Flow Step", "steps"),
		("Marketing Flow Branch", "branches"),
		("Marketing Flow Update", "updates"),
	):
		fields = [
			df.fieldname
			for df in frappe.get_meta(doctype).fields
			if df.fieldtype not in frappe.model.no_value_fields
			and df.fieldname not in DESIGN_ONLY | ENGINE_OWNED
		]
		out.extend((table, *(str(s.get(f) or "") for f in fields)) for s in flow.get(table) or [])
	return out
