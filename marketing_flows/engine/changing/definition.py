"""A flow's definition: what its participants walk (steps, branches, trigger, audience, goals,
exits, and the content its steps send), as plain values. A version freezes one; two are compared
in words a marketer reads; an old one is brought back as a flow document for the people who
drain it. Designer positions and what the runner writes (an A/B winner) are not part of it."""

from __future__ import annotations

import hashlib
import json
import re
from typing import TYPE_CHECKING, Any

import frappe
from frappe import _
from frappe.utils import cint, flt, get_datetime, get_time, getdate

from marketing_flows.engine.running.validation import DESIGN_ONLY, ENGINE_OWNED

if TYPE_CHECKING:
	from marketing_flows.engine.doctypes import MarketingFlow

FLOW_DOCTYPE = "Marketing Flow"
# the flow's own state, not what its people walk
NOT_DEFINITION = {
	"flow_name",
	"description",
	"status",
	"started_on",
	"paused_on",
	"stopped_on",
	"last_error",
	"version",
	"approval_status",
	"version_plan",
}
TABLES = ("steps", "branches", "updates", "success_criteria", "suppression_lists", "remove_from_flows")
# the fields a step type's words name it by, besides its label
TRIGGER_FIELDS = (
	"trigger_type",
	"trigger_doctype",
	"trigger_event",
	"trigger_person_field",
	"trigger_conditions",
	"trigger_web_form",
	"require_confirmation",
	"confirmation_content",
	"trigger_email_group",
	"trigger_segment",
	"trigger_date_field",
	"trigger_date_offset",
	"trigger_flow",
)
AUDIENCE_FIELDS = (
	"person_doctype",
	"audience_filters",
	"reenrollment",
	"reenrollment_gap_days",
	"requires_consent",
)
GOAL_FIELDS = ("success_logic", "on_success", "success_flow")
TIME_WITH_FRACTION = re.compile(r"^\d{1,2}:\d\d:\d\d\.\d+$")


def _value_fields(doctype: str) -> list[str]:
	return [
		df.fieldname
		for df in frappe.get_meta(doctype).fields
		if df.fieldtype not in frappe.model.no_value_fields and df.fieldtype not in frappe.model.table_fields
	]


def _plain(value: Any) -> Any:  # a field's value of any type
	"""A value as JSON keeps it, empty values alike: an unset field is None in memory and "" or 0
	once saved (a number field can't tell 0 from empty either)."""
	if value is None or value == "" or (isinstance(value, (int, float)) and value == 0):
		return None
	if isinstance(value, (int, float, str)):
		return value
	return str(value)


def field_value(doctype: str, fieldname: str, value: Any) -> Any:  # a field's value of any type
	"""A field's value as a definition keeps it, the same whether it comes from the database or
	from a client: a time as HH:MM:SS (stored as a timedelta, sent as "9:5:1.37"), a moment to
	the second, numbers as numbers."""
	if value is None or value == "":
		return None
	df = frappe.get_meta(doctype).get_field(fieldname)
	kind = df.fieldtype if df else None
	if kind == "Time":
		return get_time(value).strftime("%H:%M:%S")
	if kind == "Datetime":
		return get_datetime(value).strftime("%Y-%m-%d %H:%M:%S")
	if kind == "Date":
		return str(getdate(value))
	if kind in ("Int", "Check"):
		return cint(value) or None
	if kind in ("Float", "Currency", "Percent"):
		return flt(value) or None
	return _plain(value)


def row_values(doctype: str, row: Any, fields: list[str]) -> dict[str, Any]:  # a row or document
	return {f: field_value(doctype, f, row.get(f)) for f in fields}


def snapshot(flow: MarketingFlow) -> dict[str, Any]:
	"""The flow's definition as plain values: its fields, its tables' rows (in order) and, per
	content its steps send, the content's version, subject and a fingerprint of its body."""
	out: dict[str, Any] = row_values(
		FLOW_DOCTYPE, flow, [f for f in _value_fields(FLOW_DOCTYPE) if f not in NOT_DEFINITION]
	)
	for table in TABLES:
		df = flow.meta.get_field(table)
		if not df:
			continue
		fields = [f for f in _value_fields(df.options) if f not in DESIGN_ONLY | ENGINE_OWNED]
		out[table] = [row_values(df.options, row, fields) for row in flow.get(table) or []]
	used = sorted({s["content"] for s in out.get("steps", []) if s.get("content")})
	if flow.get("confirmation_content"):
		used = sorted(set(used) | {flow.confirmation_content})
	contents = {}
	for row in (
		frappe.get_all(
			"Marketing Flow Content",
			filters={"name": ("in", used)},
			fields=["name", "content_name", "version", "subject", "body"],
		)
		if used
		else []
	):
		contents[row.name] = {
			"content_name": row.content_name,
			"version": row.version,
			"subject": row.subject,
			"body": hashlib.sha256((row.body or "").encode()).hexdigest()[:16],
		}
	out["contents"] = contents
	return out


def digest(definition: dict[str, Any]) -> str:
	"""A fingerprint of a definition: equal definitions, equal digests."""
	return hashlib.sha256(json.dumps(definition, sort_keys=True, default=str).encode()).hexdigest()


def as_flow(flow: MarketingFlow, definition: dict[str, Any]) -> MarketingFlow:
	"""An older version of `flow` as a flow document in memory (never saved): the runner walks it
	for the people who drain that version. Its name, status and the flow's own state are the
	live flow's."""
	values = {k: v for k, v in definition.items() if k != "contents"}
	for key in NOT_DEFINITION | {"name"}:
		values[key] = flow.get(key)
	doc = frappe.get_doc({"doctype": FLOW_DOCTYPE, **values})
	doc.name = flow.name
	return doc


# --- differences in words --------------------------------------------------------------------


def _step_name(step: dict[str, Any]) -> str:
	label = step.get("label")
	step_type = step.get("step_type") or ""
	kind = _(step_type) if step_type else ""
	return f"{step['step_id']} ({label})" if label else f"{step['step_id']} ({kind})"


def _label(doctype: str, fieldname: str) -> str:
	df = frappe.get_meta(doctype).get_field(fieldname)
	return _(df.label) if df and df.label else fieldname


def _shown(value: Any) -> str:  # a field's value of any type
	if value in (None, ""):
		return _("(empty)")
	text = str(value)
	if TIME_WITH_FRACTION.match(text):
		text = text.split(".")[0]  # a time as the form shows it
	return text if len(text) <= 80 else text[:77] + "..."


def _field_changes(doctype: str, old: dict[str, Any], new: dict[str, Any], fields: list[str]) -> list[str]:
	return [
		_("{0}: {1} → {2}").format(_label(doctype, f), _shown(old.get(f)), _shown(new.get(f)))
		for f in fields
		if old.get(f) != new.get(f)
	]


def _rows_by_step(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
	out: dict[str, list[dict[str, Any]]] = {}
	for row in rows:
		out.setdefault(row.get("step_id") or "", []).append(row)
	return out


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
	"""What changed from `old` to `new`, one sentence per change, in the order a marketer reads a
	flow: trigger, audience, steps (added, removed, changed, with their branches, updates and
	content), goals, exits. Empty when nothing a participant walks changed. Against nothing (a
	flow's first version), what it is: its trigger, its steps and its goals."""
	if not old:
		return _first_version(new)
	out: list[str] = []
	flow_fields = [f for f in _value_fields(FLOW_DOCTYPE) if f not in NOT_DEFINITION]
	trigger = [f for f in flow_fields if f in TRIGGER_FIELDS]
	audience = [f for f in flow_fields if f in AUDIENCE_FIELDS]
	goals = [f for f in flow_fields if f in GOAL_FIELDS]
	rest = [f for f in flow_fields if f not in TRIGGER_FIELDS + AUDIENCE_FIELDS + GOAL_FIELDS]
	out += [_("Trigger: {0}").format(c) for c in _field_changes(FLOW_DOCTYPE, old, new, trigger)]
	out += [_("Audience: {0}").format(c) for c in _field_changes(FLOW_DOCTYPE, old, new, audience)]
	if old.get("suppression_lists") != new.get("suppression_lists"):
		out.append(_("Audience: the suppression lists changed"))

	old_steps = {s["step_id"]: s for s in old.get("steps") or []}
	new_steps = {s["step_id"]: s for s in new.get("steps") or []}
	old_first = next(iter(old_steps), None)
	new_first = next(iter(new_steps), None)
	if old_first != new_first and new_first:
		out.append(_("Start: everyone now starts at {0}").format(_step_name(new_steps[new_first])))
	step_fields = [
		f for f in _value_fields("Marketing Flow Step") if f not in DESIGN_ONLY | ENGINE_OWNED | {"step_id"}
	]
	old_branches, new_branches = (
		_rows_by_step(old.get("branches") or []),
		_rows_by_step(new.get("branches") or []),
	)
	old_updates, new_updates = (
		_rows_by_step(old.get("updates") or []),
		_rows_by_step(new.get("updates") or []),
	)
	old_contents, new_contents = old.get("contents") or {}, new.get("contents") or {}
	for step_id, step in new_steps.items():
		if step_id not in old_steps:
			out.append(_("Step added: {0}").format(_step_name(step)))
			continue
		before = old_steps[step_id]
		name = _step_name(step)
		if before.get("step_type") != step.get("step_type"):
			out.append(
				_("Step {0}: type {1} → {2}").format(
					name, _(before.get("step_type")), _(step.get("step_type"))
				)
			)
		out += [
			_("Step {0}: {1}").format(name, c)
			for c in _field_changes(
				"Marketing Flow Step", before, step, [f for f in step_fields if f != "step_type"]
			)
		]
		if old_branches.get(step_id) != new_branches.get(step_id):
			out += _branch_changes(name, old_branches.get(step_id) or [], new_branches.get(step_id) or [])
		if old_updates.get(step_id) != new_updates.get(step_id):
			out.append(_("Step {0}: the fields it updates changed").format(name))
		content = step.get("content")
		if content and content == before.get("content"):
			a, b = old_contents.get(content) or {}, new_contents.get(content) or {}
			if a.get("subject") != b.get("subject"):
				out.append(
					_("Step {0}: content {1}: subject {2} → {3}").format(
						name, content, _shown(a.get("subject")), _shown(b.get("subject"))
					)
				)
			if a.get("body") != b.get("body"):
				out.append(_("Step {0}: content {1}: the text changed").format(name, content))
	for step_id, step in old_steps.items():
		if step_id not in new_steps:
			out.append(_("Step removed: {0}").format(_step_name(step)))
	if old.get("confirmation_content") and old.get("confirmation_content") == new.get("confirmation_content"):
		c = old["confirmation_content"]
		if old_contents.get(c) != new_contents.get(c):
			out.append(_("Trigger: the confirmation email {0} changed").format(c))

	out += [_("Goals: {0}").format(c) for c in _field_changes(FLOW_DOCTYPE, old, new, goals)]
	if old.get("success_criteria") != new.get("success_criteria"):
		out.append(
			_("Goals: the success criteria changed ({0} → {1})").format(
				len(old.get("success_criteria") or []), len(new.get("success_criteria") or [])
			)
		)
	out += _field_changes(FLOW_DOCTYPE, old, new, rest)
	if old.get("remove_from_flows") != new.get("remove_from_flows"):
		out.append(_("Exits: the flows people are removed from changed"))
	return out


def _branch_changes(step: str, old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[str]:
	before = {b.get("branch_key"): b for b in old}
	after = {b.get("branch_key"): b for b in new}
	out = []
	fields = [f for f in _value_fields("Marketing Flow Branch") if f not in ("step_id", "branch_key")]
	for key, branch in after.items():
		label = branch.get("branch_label") or key
		if key not in before:
			out.append(_("Step {0}: branch added: {1}").format(step, label))
			continue
		out += [
			_("Step {0}: branch {1}: {2}").format(step, label, c)
			for c in _field_changes("Marketing Flow Branch", before[key], branch, fields)
		]
	for key, branch in before.items():
		if key not in after:
			out.append(_("Step {0}: branch removed: {1}").format(step, branch.get("branch_label") or key))
	return out


def _first_version(new: dict[str, Any]) -> list[str]:
	"""A flow compared with nothing: what a marketer checks before it first goes live."""
	out = [_("Trigger: {0}").format(_(new.get("trigger_type") or "Manual"))]
	if new.get("audience_filters"):
		out.append(_("Audience: {0}").format(_shown(new["audience_filters"])))
	out += [_("Step added: {0}").format(_step_name(s)) for s in new.get("steps") or []]
	out.append(
		_("Goals: {0} success criteria ({1})").format(
			len(new.get("success_criteria") or []), _(new.get("success_logic") or "Any")
		)
	)
	return out
