"""Versions of a flow, and where their people go when a new one is published.

A flow that has had people gets a new version (Marketing Flow Version) whenever it goes live with
a definition (definition.py) other than its live version's: at its first Run, at a save that
changes it while paused, and at a Run after its content changed. The save says where the people
at each step of the live version go (the flow's `version_plan`): to a step of the new version
(people at a Wait keep their due time or start the new wait), or nowhere new: they *drain*, that
is finish the live version while new people start the new one. Without a plan, people stay at
the step with the same ID; a save that removes a step with people at it and says nothing of them
is refused with their count, so nobody is ever Stalled by an edit.

A participant walks the version in its `flow_version`; the runner walks an older version for its
drainers with `flow_for_version` (the version's definition as a flow document in memory)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypedDict

import frappe
from frappe import _
from frappe.query_builder.functions import Count
from frappe.utils import cint, now_datetime

from marketing_flows.engine import log
from marketing_flows.engine.changing import approval, definition
from marketing_flows.engine.running.participants import ACTIVE  # at a step (a Stalled one is retried there)

if TYPE_CHECKING:
	from marketing_flows.engine.doctypes import MarketingFlow, MarketingFlowStep

VERSION = "Marketing Flow Version"
STEP = "Marketing Flow Step"
PARTICIPANT = "Marketing Flow Participant"
WAITS = ("Wait", "Wait for Action")


class Move(TypedDict, total=False):
	"""Where the people at one step of the live version go (one entry of `version_plan`)."""

	to: str  # a step of the new version
	due: str  # "keep" (their due time) or "restart" (the new wait starts again)
	drain: int  # 1: they finish the live version instead


# --- reading ---------------------------------------------------------------------------------


def live_version(flow_name: str) -> frappe._dict | None:
	"""The flow's live version row (its definition as stored JSON), or None before the first."""
	rows = frappe.get_all(
		VERSION,
		filters={"flow": flow_name, "status": "Live"},
		fields=["name", "version", "definition", "definition_hash"],
		order_by="version desc",
		limit=1,
	)
	return rows[0] if rows else None


def live_definition(flow_name: str) -> dict[str, Any]:
	"""The live version's definition; {} before the first version (everything is new)."""
	row = live_version(flow_name)
	return json.loads(row.definition) if row and row.definition else {}


def _definition_of(flow_name: str, version: int) -> dict[str, Any] | None:
	raw = frappe.db.get_value(VERSION, {"flow": flow_name, "version": version}, "definition")
	return json.loads(raw) if raw else None


def flow_for_version(flow: MarketingFlow, version: int) -> MarketingFlow:
	"""The flow as its people on `version` walk it: the flow itself for its live version (and
	for a version with no stored definition), else that version's definition in memory.
	Definitions never change once published: kept per request / job."""
	if not version or version == cint(flow.version):
		return flow
	cache = getattr(frappe.local, "marketing_flows_versions", None)
	if cache is None:
		cache = frappe.local.marketing_flows_versions = {}
	key = (flow.name, version, flow.modified)
	if key not in cache:
		stored = _definition_of(flow.name, version)
		cache[key] = definition.as_flow(flow, stored) if stored is not None else flow
	return cache[key]


def by_version(flow: MarketingFlow, names: list[str]) -> dict[int, list[str]]:
	"""Claimed participants by the version they walk, in the claim's order. While no version
	drains (the common case), all walk the live one: nothing more is read."""
	live = cint(flow.version)
	if not frappe.db.exists(VERSION, {"flow": flow.name, "status": "Draining"}):
		return {live: names}
	version_of = dict(
		frappe.db.sql(f"SELECT name, flow_version FROM `tab{PARTICIPANT}` WHERE name IN %s", [names])
	)
	out: dict[int, list[str]] = {}
	for name in names:
		out.setdefault(cint(version_of.get(name)) or live, []).append(name)
	return out


def people_by_step(flow_name: str, version: int) -> dict[str, int]:
	"""step_id -> people at it on `version` (index: flow, current_step, status)."""
	p = frappe.qb.DocType(PARTICIPANT)
	rows = (
		frappe.qb.from_(p)
		.select(p.current_step, Count("*"))
		.where((p.flow == flow_name) & p.status.isin(ACTIVE) & (p.flow_version == version))
		.groupby(p.current_step)
		.run()
	)
	return {step or "": int(n) for step, n in rows}


def people_by_version(flow_name: str) -> dict[int, int]:
	p = frappe.qb.DocType(PARTICIPANT)
	rows = (
		frappe.qb.from_(p)
		.select(p.flow_version, Count("*"))
		.where((p.flow == flow_name) & p.status.isin(ACTIVE))
		.groupby(p.flow_version)
		.run()
	)
	return {cint(v): int(n) for v, n in rows}


def list_versions(flow: MarketingFlow) -> list[dict[str, Any]]:
	"""The flow's versions, newest first, with how many people are on each now. A draining
	version nobody is on any more is retired here (drainers leave it one by one in the runner)."""
	on = people_by_version(flow.name)
	out = []
	for row in frappe.get_all(
		VERSION,
		filters={"flow": flow.name},
		fields=[
			"name",
			"version",
			"status",
			"published_by",
			"published_on",
			"approved_by",
			"changes",
			"moved",
			"drained",
		],
		order_by="version desc",
		limit_page_length=0,
	):
		people = on.get(cint(row.version), 0)
		if row.status == "Draining" and not people:
			frappe.db.set_value(VERSION, row.name, "status", "Retired", update_modified=False)
			row.status = "Retired"
		out.append(
			{
				**row,
				"changes": [line for line in (row.changes or "").split("\n") if line],
				"people": people,
			}
		)
	return out


def differences_between(
	flow: MarketingFlow, from_version: int | str, to_version: int | str | None = None
) -> list[str]:
	"""What changed from one version to another; without `to_version`, to the flow as it is now."""
	old = _definition_of(flow.name, cint(from_version))
	new = (
		definition.snapshot(flow)
		if to_version in (None, "", 0, "0")
		else _definition_of(flow.name, cint(to_version))
	)
	if old is None or new is None:
		frappe.throw(
			_("Version {0} of this flow does not exist.").format(to_version if old else from_version)
		)
		return []
	return definition.differences(old, new)


# --- the plan --------------------------------------------------------------------------------


def plan_of(flow: MarketingFlow) -> dict[str, Move]:
	"""The save's `version_plan`, checked for shape: a clear message for anything else."""
	raw = flow.get("version_plan")
	if not raw:
		return {}
	try:
		plan = json.loads(raw) if isinstance(raw, str) else raw
	except ValueError:
		frappe.throw(_("Where the people go: not valid JSON."))
	if not isinstance(plan, dict):
		frappe.throw(
			_("Where the people go: expected one entry per step, like {0}.").format('{"W1": {"to": "W2"}}')
		)
	for step_id, move in plan.items():
		if not isinstance(move, dict) or not (move.get("drain") or move.get("to")):
			frappe.throw(
				_("Where the people go: step {0} needs a step to move to, or drain.").format(step_id)
			)
		if move.get("due") not in (None, "", "keep", "restart"):
			frappe.throw(
				_("Where the people go: step {0}: the due time is kept or restarted, not {1}.").format(
					step_id, move.get("due")
				)
			)
	return plan


def _step_changed(old: dict[str, Any] | None, new: MarketingFlowStep | None) -> bool:
	if old is None or new is None:
		return True
	fields = [f for f in old if f != "step_id"]
	return definition.row_values(STEP, new, fields) != {f: old.get(f) for f in fields}


def _wait_changed(old: dict[str, Any] | None, new: MarketingFlowStep | None) -> bool:
	if old is None or new is None or old.get("step_type") not in WAITS:
		return False
	if new.get("step_type") != old.get("step_type"):
		return True
	fields = [
		"wait_amount",
		"wait_unit",
		"wait_until",
		"wait_date_field",
		"wait_date_offset",
		"use_sending_window",
	]
	return definition.row_values(STEP, new, fields) != {f: old.get(f) for f in fields}


def _is_publish(flow: MarketingFlow) -> bool:
	"""Does saving `flow` now publish a new version? Only a flow with a version (it has run) whose
	save is an edit, not Pause / Stop."""
	return cint(flow.version) > 0 and not (
		flow.flags.status_change_allowed and flow.status in ("Paused", "Stopped")
	)


def proposal(flow: MarketingFlow, stored: MarketingFlow | None) -> dict[str, Any]:
	"""For the designer, before a save: what changed from the live version and, per step of it
	with people, how many, whether it is removed or changed, and the proposed step of the new
	design (the one with the same ID)."""
	if stored is None or not cint(stored.version):
		return {"changes": [], "needs_plan": False, "steps": [], "new_steps": []}
	live = live_definition(flow.name)
	changes = definition.differences(live, definition.snapshot(flow)) if live else []
	old_steps = {s["step_id"]: s for s in live.get("steps") or []}
	new_steps = {s.step_id: s for s in flow.steps}
	steps = []
	for step_id, people in sorted(people_by_step(flow.name, cint(stored.version)).items()):
		old = old_steps.get(step_id)
		new = new_steps.get(step_id)
		removed = new is None
		steps.append(
			{
				"step_id": step_id,
				"label": (old or {}).get("label") or "",
				"step_type": (old or {}).get("step_type") or "",
				"people": people,
				"removed": removed,
				"changed": removed or _step_changed(old, new),
				"wait_changed": not removed and _wait_changed(old, new),
				"proposed": None if removed else step_id,
			}
		)
	return {
		"changes": changes,
		"needs_plan": any(s["removed"] for s in steps),
		"steps": steps,
		"new_steps": [
			{
				"step_id": s.step_id,
				"label": s.label or "",
				"step_type": s.step_type,
				"is_wait": s.step_type in WAITS,
			}
			for s in flow.steps
		],
	}


def check_plan(flow: MarketingFlow, before: MarketingFlow | None) -> None:
	"""A save that publishes must say where the people at removed steps go, and only name steps
	that exist (validate: nothing is written when it refuses). The version number is the
	engine's: a client can't set it."""
	flow.version = before.version if before is not None else 0
	if before is None or not _is_publish(flow):
		return
	plan = plan_of(flow)
	new_ids = {s.step_id for s in flow.steps}
	at = people_by_step(flow.name, cint(flow.version))
	for step_id, move in plan.items():
		if move.get("to") and not move.get("drain") and move["to"] not in new_ids:
			frappe.throw(
				_(
					"Where the people go: step {0} is not a step of the new version (for the people at {1})."
				).format(move["to"], step_id),
				title=_("Where the people go"),
			)
	live_ids = {s["step_id"] for s in live_definition(flow.name).get("steps") or []}
	lost = {
		step_id: n
		for step_id, n in at.items()
		if step_id in live_ids and step_id not in new_ids and step_id not in plan
	}
	if lost:
		frappe.throw(
			"<br>".join(
				(
					_(
						"1 person is at step {0}, which this change removes: choose where they go, or let them finish the current version."
					).format(step_id)
					if n == 1
					else _(
						"{0} people are at step {1}, which this change removes: choose where they go, or let them finish the current version."
					).format(n, step_id)
				)
				for step_id, n in sorted(lost.items())
			),
			title=_("Where the people go"),
		)


# --- publishing ------------------------------------------------------------------------------


def publish_on_save(flow: MarketingFlow, before: MarketingFlow | None) -> None:
	"""After a save (on_update): publish a new version when the flow goes live (Run) or is edited
	after it has run, with a definition other than the live one's; then clear the plan."""
	if flow.status == "Draft" and not cint(flow.version):
		_clear_plan(flow)
		return  # a draft that never ran has no versions: its edits are just edits
	if flow.status != "Running" and not _is_publish(flow):
		return
	current = definition.snapshot(flow)
	digest = definition.digest(current)
	live = live_version(flow.name)
	if live and live.definition_hash == digest:
		_clear_plan(flow)
		return
	publish(flow, current, digest, live)
	_clear_plan(flow)


def _clear_plan(flow: MarketingFlow) -> None:
	if flow.get("version_plan"):
		frappe.db.set_value(flow.doctype, flow.name, "version_plan", None, update_modified=False)
		flow.version_plan = None


def publish(
	flow: MarketingFlow, current: dict[str, Any], digest: str, live: frappe._dict | None
) -> frappe._dict:
	"""Make `current` the live version: the old one's people move as planned (or drain), new
	people start the new one."""
	old_number = cint(live.version) if live else 0
	number = old_number + 1
	old_definition = json.loads(live.definition) if live and live.definition else {}
	changes = definition.differences(old_definition, current) if live else []
	plan = plan_of(flow)
	now = now_datetime()
	moved = drained = 0
	if live:
		moved, drained = _move_people(flow, old_number, number, plan, now)
		frappe.db.set_value(
			VERSION, live.name, "status", "Draining" if drained else "Retired", update_modified=False
		)
	elif cint(flow.version) == 0:
		# the first version: people already in the flow (from before versions) walk it
		frappe.db.sql(
			f"UPDATE `tab{PARTICIPANT}` SET flow_version = %s WHERE flow = %s AND flow_version = 0",
			(number, flow.name),
		)
	version = frappe.get_doc(
		{
			"doctype": VERSION,
			"flow": flow.name,
			"version": number,
			"status": "Live",
			"published_by": frappe.session.user,
			"published_on": now,
			"approved_by": approval.approved_by(flow.name, digest),
			"changes": "\n".join(changes),
			"moved": moved,
			"drained": drained,
			"plan": json.dumps(plan, indent=1) if plan else None,
			"definition": json.dumps(current, sort_keys=True, default=str),
			"definition_hash": digest,
		}
	)
	version.flags.ignore_permissions = True
	version.insert()
	frappe.db.set_value(flow.doctype, flow.name, "version", number, update_modified=False)
	flow.version = number
	return frappe._dict(version.as_dict())


def _move_people(
	flow: MarketingFlow, old: int, new: int, plan: dict[str, Move], now: datetime
) -> tuple[int, int]:
	"""Carry the live version's people over to version `new`: per step as planned, else to the
	same step. Returns (moved to another step, left to drain `old`)."""
	p = frappe.qb.DocType(PARTICIPANT)
	steps = {s.step_id: s for s in flow.steps}
	drain_steps = [step_id for step_id, move in plan.items() if move.get("drain")]
	moved = 0
	entries = []
	for step_id, move in plan.items():
		if move.get("drain") or not move.get("to"):
			continue
		target = steps[move["to"]]
		rows = (
			frappe.qb.from_(p)
			.select(p.name, p.contact, p.status)
			.where((p.flow == flow.name) & (p.flow_version == old) & p.status.isin(ACTIVE))
			.where(p.current_step == step_id)
			.run(as_dict=True)
		)
		if not rows:
			continue
		names = [r.name for r in rows]
		(
			frappe.qb.update(p)
			.set(p.current_step, target.step_id)
			.set(p.flow_version, new)
			.where(p.name.isin(names))
			.run()
		)
		if move.get("due") == "restart":
			# the new step runs from its start as soon as the flow runs: a Wait waits anew
			(
				frappe.qb.update(p)
				.set(p.status, "Active")
				.set(p.next_run_at, now)
				.where(p.name.isin(names) & (p.status != "Stalled"))
				.run()
			)
		elif target.step_type not in WAITS:
			# "keep": the step runs when their wait would have ended
			frappe.qb.update(p).set(p.status, "Active").where(
				p.name.isin(names) & (p.status == "Waiting")
			).run()
		# else "keep" at a wait: those waiting keep their due time there (a Stalled one is retried
		# at its new step)
		if step_id != target.step_id:
			moved += len(rows)
		message = _("From step {0} of version {1} to step {2} of version {3}").format(
			step_id, old, target.step_id, new
		)
		entries += [
			log.entry(flow.name, r.name, r.contact, target.step_id, "Moved", message, version=new)
			for r in rows
		]
	log.write_many(entries)
	# everyone else on the live version: same step, new version, unless their step drains
	rest = (
		frappe.qb.update(p)
		.set(p.flow_version, new)
		.where((p.flow == flow.name) & (p.flow_version == old) & p.status.isin(ACTIVE))
	)
	if drain_steps:
		rest = rest.where(p.current_step.notin(drain_steps))
	rest.run()
	drained = 0
	if drain_steps:
		drained = frappe.db.count(
			PARTICIPANT,
			{
				"flow": flow.name,
				"flow_version": old,
				"status": ("in", ACTIVE),
				"current_step": ("in", drain_steps),
			},
		)
	return moved, drained
