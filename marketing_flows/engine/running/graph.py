"""The step graph of a flow: validation, start, successors, reachability.

Pure Python on purpose: it knows nothing of Frappe, so the rules of a valid flow can be read
and tested on their own. A step is anything with the attributes (or keys) `step_id`,
`step_type`, `next_step`, `yes_step`, `no_step`, `else_step`, `timeout_step` (and, for a Wait,
`wait_amount`; for a Wait for Action, `action_filters`);
a branch (of a Split or an A/B Test) anything with `step_id` (its step) and `next_step`.

A step with no next step (or a Condition branch with no step) ends the flow there, as an End
step would: nothing has to be added to finish a flow.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from frappe import _

BRANCH = "Condition"
MULTI_BRANCH = ("Split", "A/B Test")  # their paths are rows of the flow's branches table
END = "End"
WAIT = "Wait"
WAIT_FOR_ACTION = "Wait for Action"  # next_step: the action's branch, timeout_step: the timeout's


# Steps and branches are rows, documents or the designer's dicts (see above), read through _get:
# Any, as are the values read.
def _get(step: Any, key: str) -> Any:
	return step.get(key) if isinstance(step, dict) else getattr(step, key, None)


def _name(step: Any) -> str:
	label = _get(step, "label")
	sid = _get(step, "step_id")
	return f"'{sid}' ({label})" if label and label != sid else f"'{sid}'"


def successors(step: Any, branches: Iterable[Any] = ()) -> list[str]:
	"""The step ids a step can lead to, in order (yes before no; branches before else; a Wait
	for Action's action before its timeout)."""
	stype = _get(step, "step_type")
	if stype in MULTI_BRANCH:
		sid = _get(step, "step_id")
		found = [_get(b, "next_step") for b in branches if _get(b, "step_id") == sid]
		if stype == "Split":
			found.append(_get(step, "else_step"))
		return [t for t in found if t]
	keys: tuple[str, ...]
	if stype == BRANCH:
		keys = ("yes_step", "no_step")
	elif stype == WAIT_FOR_ACTION:
		keys = ("next_step", "timeout_step")
	else:
		keys = ("next_step",)
	return [_get(step, k) for k in keys if _get(step, k)]


def by_id(steps: Iterable[Any]) -> dict[str, Any]:
	return {_get(s, "step_id"): s for s in steps}


def start_step(steps: Sequence[Any]) -> Any | None:
	"""The first step of the table is where every participant starts."""
	return steps[0] if steps else None


def reachable(steps: Sequence[Any], branches: Sequence[Any] = ()) -> set[str]:
	"""Ids of the steps that can be reached from the start."""
	index = by_id(steps)
	start = start_step(steps)
	if start is None:
		return set()
	seen: set[str] = set()
	todo = [_get(start, "step_id")]
	while todo:
		sid = todo.pop()
		if sid in seen or sid not in index:
			continue
		seen.add(sid)
		todo.extend(successors(index[sid], branches))
	return seen


def takes_time(step: Any) -> bool:
	"""Does this step always make the participant wait? A Wait with a positive duration: a
	sending window alone may be open, a Wait Until moment may be past, a date field may be
	empty, so those can take no time at all. A Wait for Action, unless it waits for conditions
	on the record (they may hold already: it goes on at once)."""
	if _get(step, "step_type") == WAIT_FOR_ACTION:
		return not _get(step, "action_filters")
	if _get(step, "step_type") != WAIT:
		return False
	try:
		return float(_get(step, "wait_amount") or 0) > 0
	except (TypeError, ValueError):
		return False


def cycles_without_wait(steps: Sequence[Any], branches: Sequence[Any] = ()) -> list[list[str]]:
	"""Cycles that no waiting step breaks: a participant would run them forever in one go."""
	index = by_id(steps)
	graph = {
		sid: [n for n in successors(s, branches) if n in index and not takes_time(index[n])]
		for sid, s in index.items()
		if not takes_time(s)
	}
	found: list[list[str]] = []
	state: dict[str, int] = {}  # 1 = on the current path, 2 = done

	def visit(node: str, path: list[str]) -> None:
		state[node] = 1
		path.append(node)
		for nxt in graph.get(node, []):
			if state.get(nxt) == 1:
				found.append(path[path.index(nxt) :] + [nxt])
			elif nxt not in state:
				visit(nxt, path)
		path.pop()
		state[node] = 2

	for node in graph:
		if node not in state:
			visit(node, [])
	return found


def validate(steps: Sequence[Any], branches: Sequence[Any] = ()) -> list[str]:
	"""Every problem of the graph, each as a message that names the step."""
	errors: list[str] = []
	if not steps:
		return [_("The flow has no steps: add at least one.")]
	seen: set[str] = set()
	for row, step in enumerate(steps, start=1):
		sid = _get(step, "step_id")
		if not sid:
			errors.append(_("Row {0}: Step ID is required.").format(row))
			continue
		if sid in seen:
			errors.append(_("Step ID '{0}' is used twice: step IDs must be unique in the flow.").format(sid))
		seen.add(sid)
		if not _get(step, "step_type"):
			errors.append(_("Step {0}: Step Type is required.").format(_name(step)))
	index = by_id(steps)
	for step in steps:
		sid, stype = _get(step, "step_id"), _get(step, "step_type")
		if not sid:
			continue
		if stype == END and _get(step, "next_step"):
			errors.append(_("End step {0} can't have a Next Step.").format(_name(step)))
		for target in successors(step, branches):
			if target not in index:
				errors.append(
					_("Step {0} points to '{1}', which is not a step of this flow.").format(
						_name(step), target
					)
				)
	if errors:
		return errors
	for branch in branches:
		if (
			_get(branch, "step_id") not in index
			or _get(index[_get(branch, "step_id")], "step_type") not in MULTI_BRANCH
		):
			errors.append(
				_(
					"Branch '{0}' belongs to '{1}', which is not a Split or A/B Test step of this flow."
				).format(_get(branch, "branch_label") or "", _get(branch, "step_id"))
			)
	if errors:
		return errors
	seen_reach = reachable(steps, branches)
	unreached = [s for s in steps if _get(s, "step_id") not in seen_reach]
	for step in unreached:
		errors.append(_("Step {0} can't be reached from the first step.").format(_name(step)))
	for cycle in cycles_without_wait(steps, branches):
		errors.append(
			_(
				"Steps {0} form a loop that can pass without waiting: put a Wait with a "
				"duration in it (a sending window, a Wait Until moment or a date field can take no time)."
			).format(" → ".join(cycle))
		)
	return errors


def cycle_through(edges: Mapping[str, Iterable[str]], start: str) -> list[str] | None:
	"""A path from `start` back to `start` along `edges` (node -> the nodes it leads to), as the
	list of nodes with `start` at both ends, or None. Used for flows that enrol each other (a
	flow's steps, goal or success flow leading into another flow); the first loop found in
	name order, so the same flows give the same message."""
	path: list[str] = [start]
	seen: set[str] = {start}

	def walk(node: str) -> list[str] | None:
		for nxt in sorted(edges.get(node, ())):
			if nxt == start:
				return [*path, nxt]
			if nxt in seen:
				continue
			seen.add(nxt)
			path.append(nxt)
			if found := walk(nxt):
				return found
			path.pop()
		return None

	return walk(start)
