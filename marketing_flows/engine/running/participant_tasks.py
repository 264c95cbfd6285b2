"""Participant tasks of the flow form's Participants tab: add the chosen participants to another
flow, remove them from this one, or add their addresses to an Email Group.

The chosen participants are the rows the marketer ticked, or the whole list as the tab filters
it (status, step, a search). Each task works in batches through the app's one path for it:
enrolment.enroll_manually (every enrolment rule, the caller's rights), enrolment.
remove_participants (ended once, "Removed by <user>", logged) and person_changes.
add_to_email_group (a real Email Group Member insert, which flows triggered by the group see).
More than SYNC_LIMIT participants run in a background job that shows its progress to the user
who started it and tells them the counts at the end; fewer answer at once. Either way the answer
is the same: how many were done, and why the others were not."""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypedDict, cast

import frappe
from frappe import _
from frappe.utils import strip_html

from marketing_flows.engine.entering import enrolment
from marketing_flows.engine.permissions import require_flow_operator
from marketing_flows.engine.running.participants import ACTIVE, PARTICIPANT
from marketing_flows.engine.steps.person_changes import add_to_email_group

if TYPE_CHECKING:
	from marketing_flows.engine.doctypes import MarketingFlow

Task = Literal["add_to_flow", "remove", "add_to_email_group"]
TASKS: tuple[Task, ...] = ("add_to_flow", "remove", "add_to_email_group")
SYNC_LIMIT = 500  # more participants than this: a background job, with progress
BATCH = 500  # participants per batch (and per commit in the background)
EXAMPLES = 20  # the people named in the answer (the others are counted by reason)
TARGET_STATUSES = ("Draft", "Running", "Paused")  # flows that take people in
DONE_EVENT = "marketing_flows_participant_task_done"  # the tab refreshes when it comes
assert BATCH <= enrolment.SYNC_LIMIT  # a batch is always enrolled at once, never queued again


class Filters(TypedDict, total=False):
	"""The Participants tab's filters (each optional)."""

	status: str
	step: str
	search: str  # part of the email, name or person


class Options(TypedDict, total=False):
	"""What the task needs besides the participants."""

	target_flow: str  # add_to_flow
	email_group: str  # add_to_email_group


@dataclass
class TaskResult:
	"""What a task did. `done` and `not_done` count people (add to flow), participations
	(remove) or email addresses (add to email group)."""

	task: Task
	flow: str
	target: str | None = None  # the other flow, or the email group
	done: int = 0
	held_out: int = 0  # add to flow: kept out by the target's control group (a "Held Out" row)
	not_done: dict[str, str] = field(default_factory=dict)  # who -> why not

	def as_dict(self) -> dict[str, Any]:
		return {
			"task": self.task,
			"flow": self.flow,
			"target": self.target,
			"done": self.done,
			"held_out": self.held_out,
			"not_done": len(self.not_done),
			"reasons": dict(Counter(self.not_done.values()).most_common()),
			"examples": list(self.not_done.items())[:EXAMPLES],
			"title": title(self.task),
			"message": summary(self),
			"indicator": "green" if self.done and not self.not_done else "orange",
		}


def title(task: Task) -> str:
	return {
		"add_to_flow": _("Add to another flow"),
		"remove": _("Remove from this flow"),
		"add_to_email_group": _("Add to email group"),
	}[task]


def summary(result: TaskResult) -> str:
	""" "N added to X, M not added:" and the reasons with their counts, then the first people
	named with theirs (HTML, escaped: a msgprint shows it)."""
	esc = html.escape
	target = esc(result.target or "")
	if result.task == "add_to_flow":
		head = _("{0} added to {1}").format(result.done, target)
	elif result.task == "remove":
		head = _("{0} removed from {1}").format(result.done, esc(result.flow))
	else:
		head = _("{0} added to email group {1}").format(result.done, target)
	if result.held_out:
		head += ", " + _("{0} held out by its control group").format(result.held_out)
	if not result.not_done:
		return head + "."
	missed = (
		_("{0} not removed").format(len(result.not_done))
		if result.task == "remove"
		else _("{0} not added").format(len(result.not_done))
	)
	reasons = Counter(result.not_done.values()).most_common()
	lines = "".join(f"<li>{esc(why)}: {count}</li>" for why, count in reasons)
	examples = "".join(
		f"<li>{esc(who)}: {esc(why)}</li>" for who, why in list(result.not_done.items())[:EXAMPLES]
	)
	more = len(result.not_done) - EXAMPLES
	tail = f"<br>{esc(_('... and {0} more').format(more))}" if more > 0 else ""
	return (
		f"{head}, {missed}:<ul class='mf-task-reasons'>{lines}</ul>"
		f"<details><summary>{esc(_('Who'))}</summary><ul class='mf-task-examples'>{examples}</ul>{tail}</details>"
	)


# --- what the marketer chose --------------------------------------------------------------------


def _as_list(value: Sequence[str] | str | None) -> list[str]:
	if not value:
		return []
	if isinstance(value, str):
		value = frappe.parse_json(value) if value.strip().startswith("[") else [value]
	return list(dict.fromkeys(v for v in cast(Sequence[str], value) if v))


def _as_filters(value: dict[str, Any] | str | None) -> Filters:
	if not value:
		return {}
	parsed = frappe.parse_json(value) if isinstance(value, str) else value
	return cast(Filters, {k: str(v).strip() for k, v in dict(parsed).items() if v and str(v).strip()})


def selection(
	flow_name: str,
	participants: Sequence[str] | str | None = None,
	filters: dict[str, Any] | str | None = None,
) -> list[str]:
	"""The participant names the task is for, latest enrolment first as the tab lists them: the
	ticked rows (`participants`, those of this flow only; an empty list chooses nobody) or, when
	none are given, the whole list as the tab's `filters` show it (`{}`: everyone). Read as the
	user (their user permissions apply, as in the tab)."""
	if participants is not None and participants != "":
		names = _as_list(participants)
		found: set[str] = set()
		for start in range(0, len(names), 1000):
			found.update(
				frappe.get_list(
					PARTICIPANT,
					filters={"flow": flow_name, "name": ("in", names[start : start + 1000])},
					pluck="name",
					limit_page_length=0,
				)
			)
		return [n for n in names if n in found]
	if filters is None:
		return []
	spec = _as_filters(filters)
	conditions: list[list] = [["flow", "=", flow_name]]
	if spec.get("status"):
		conditions.append(["status", "=", spec["status"]])
	if spec.get("step"):
		conditions.append(["current_step", "=", spec["step"]])
	or_filters = None
	if search := spec.get("search"):
		like = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
		or_filters = [["email", "like", like], ["full_name", "like", like], ["person", "like", like]]
	return frappe.get_list(
		PARTICIPANT,
		filters=conditions,
		or_filters=or_filters,
		pluck="name",
		order_by="enrolled_on desc",
		limit_page_length=0,
	)


# --- checks: before anything changes ------------------------------------------------------------


def prepare(flow: MarketingFlow, task: str, options: Options) -> str | None:
	"""Check the caller and the input (nothing has changed yet); returns the task's target (the
	other flow, the email group). Enrol / remove is a Flow Administrator's (SPEC's roles);
	adding to an Email Group also needs write access to it, as a segment's export does."""
	if task not in TASKS:
		frappe.throw(_("Unknown participant task: {0}").format(task))
	require_flow_operator(flow)
	if task == "add_to_flow":
		return check_target_flow(flow, options.get("target_flow"))
	if task == "add_to_email_group":
		return check_email_group(options.get("email_group"))
	return None


def check_target_flow(flow: MarketingFlow, target: str | None) -> str:
	"""Another flow that takes people in (Draft, Running or Paused), of the same kind of person,
	which the caller may enrol into."""
	if not target:
		frappe.throw(_("Choose the flow to add them to."), title=_("No flow chosen"))
	assert target is not None
	if target == flow.name:
		frappe.throw(_("They are in this flow already: choose another flow."), title=_("Same flow"))
	row = frappe.db.get_value("Marketing Flow", target, ["status", "person_doctype"], as_dict=True)
	if not row:
		frappe.throw(_("There is no flow {0}.").format(target), title=_("No such flow"))
	if (row.person_doctype or "Contact") != (flow.person_doctype or "Contact"):
		frappe.throw(
			_(
				"{0} enrols {1} records and this flow's participants are {2} records: choose a flow of {2}."
			).format(target, _(row.person_doctype or "Contact"), _(flow.person_doctype or "Contact")),
			title=_("Another kind of person"),
		)
	if row.status not in TARGET_STATUSES:
		frappe.throw(
			_("{0} is {1}: it takes nobody in. Choose a Draft, Running or Paused flow.").format(
				target, _(row.status)
			),
			title=_("Flow not open"),
		)
	require_flow_operator(frappe.get_doc("Marketing Flow", target))
	return target


def check_email_group(group: str | None) -> str:
	"""An existing Email Group the caller may write to (Email Group is a Newsletter Manager's;
	who may not write any is refused before being asked which)."""
	frappe.has_permission("Email Group", "write", throw=True)
	frappe.has_permission("Email Group Member", "create", throw=True)
	if not group:
		frappe.throw(_("Choose the email group to add them to."), title=_("No email group chosen"))
	assert group is not None
	if not frappe.db.exists("Email Group", group):
		frappe.throw(_("There is no email group {0}.").format(group), title=_("No such email group"))
	frappe.has_permission("Email Group", "write", group, throw=True)
	return group


# --- doing it -----------------------------------------------------------------------------------


def start(
	flow: MarketingFlow,
	task: str,
	participants: Sequence[str] | str | None = None,
	filters: dict[str, Any] | str | None = None,
	options: dict[str, str] | None = None,
) -> dict[str, Any]:
	"""Check, then do the task at once (up to SYNC_LIMIT participants) or queue it; returns the
	result (TaskResult.as_dict), or {"queued": n, "message": ...} for a background job."""
	target = prepare(flow, task, cast(Options, options or {}))
	names = selection(flow.name, participants, filters)
	if not names:
		frappe.throw(
			_("No participants chosen: tick some rows, or filter the list to the ones you mean."),
			title=_("Nobody chosen"),
		)
	task = cast(Task, task)
	if len(names) <= SYNC_LIMIT:
		return perform(flow, task, names, target).as_dict()
	frappe.enqueue(
		"marketing_flows.engine.running.participant_tasks.run_in_background",
		queue="long",
		timeout=3600,
		flow_name=flow.name,
		task=task,
		participants=None if participants is None or participants == "" else _as_list(participants),
		filters=dict(_as_filters(filters)),
		options=dict(options or {}),
		user=frappe.session.user,
		enqueue_after_commit=True,
	)
	return {
		"queued": len(names),
		"task": task,
		"title": title(task),
		"message": _(
			"Working on {0} participants in the background: the progress shows here, and you are told when it is done."
		).format(len(names)),
	}


def run_in_background(
	flow_name: str,
	task: Task,
	participants: list[str] | None,
	filters: dict[str, Any],
	options: dict[str, str],
	user: str,
) -> dict[str, Any]:
	"""The background job (run as `user`): checks again, works in committed batches with
	progress, and tells the user the counts at the end (or where it stopped, on an error)."""
	flow = frappe.get_doc("Marketing Flow", flow_name)
	result = TaskResult(task, flow_name)
	try:
		target = prepare(flow, task, cast(Options, options))
		names = selection(flow_name, participants, filters)
		result.target = target
		perform(flow, task, names, target, progress=True, result=result)
	except Exception as error:
		frappe.db.rollback()
		message = (
			summary(result)
			+ "<br>"
			+ html.escape(_("Stopped before the end: {0}").format(_strip(str(error))))
		)
		_tell(user, {"title": title(task), "message": message, "indicator": "red"}, flow_name, task)
		raise
	answer = result.as_dict()
	_tell(user, answer, flow_name, task)
	return answer


def _strip(text: str) -> str:
	return strip_html(text)[:300]


def _tell(user: str, answer: dict[str, Any], flow_name: str, task: Task) -> None:
	"""The final message, as a msgprint on whatever page the user is, and the event the flow's
	Participants tab refreshes on."""
	frappe.db.commit()
	frappe.publish_realtime(
		"msgprint",
		{
			"title": answer["title"],
			"message": answer["message"],
			"indicator": answer["indicator"],
		},
		user=user,
	)
	frappe.publish_realtime(
		DONE_EVENT,
		{
			"flow": flow_name,
			"task": task,
			"done": answer.get("done", 0),
			"not_done": answer.get("not_done", 0),
		},
		user=user,
	)


def perform(
	flow: MarketingFlow,
	task: Task,
	names: list[str],
	target: str | None,
	progress: bool = False,
	result: TaskResult | None = None,
) -> TaskResult:
	"""Do `task` for the participants `names` of `flow`, BATCH at a time, counting into `result`
	(a new one unless given); with `progress` (background), commit and publish the progress
	after each batch."""
	result = result or TaskResult(task, flow.name, target)
	seen: set[str] = set()  # the people / addresses already handled (a person may have taken part twice)
	work: Callable[[list[frappe._dict]], None]
	if task == "add_to_flow":
		assert target is not None
		other = frappe.get_doc("Marketing Flow", target)
		work = lambda rows: _add_to_flow(other, rows, seen, result)  # noqa: E731
	elif task == "remove":
		work = lambda rows: _remove(flow, rows, result)  # noqa: E731
	else:
		assert target is not None
		work = lambda rows: _add_to_group(target, rows, seen, result)  # noqa: E731
	for start in range(0, len(names), BATCH):
		chunk = names[start : start + BATCH]
		found = {
			r.name: r
			for r in frappe.get_all(
				PARTICIPANT,
				filters={"flow": flow.name, "name": ("in", chunk)},
				fields=["name", "person_doctype", "person", "contact", "email", "full_name", "status"],
			)
		}
		work([found[n] for n in chunk if n in found])
		if progress:
			frappe.db.commit()
			done = min(start + BATCH, len(names))
			frappe.publish_progress(
				done * 100 / len(names),
				title=title(task),
				description=_("{0} of {1} participants").format(done, len(names)),
			)
	return result


def who(row: frappe._dict) -> str:
	"""How the answer names a participant: their email, else name, else record."""
	return row.get("email") or row.get("full_name") or row.get("person") or row.name


def _add_to_flow(target: MarketingFlow, rows: list[frappe._dict], seen: set[str], result: TaskResult) -> None:
	"""Enrol the batch's people in `target` through enrolment.enroll_manually: all its rules
	(audience, consent, re-enrolment, goal met, control group), its check of the caller."""
	label: dict[str, str] = {}
	for row in rows:
		names = enrolment.names_for(target, [row])
		if not names:
			result.not_done.setdefault(who(row), _("no record to enrol"))
			continue
		if names[0] not in seen:
			label.setdefault(names[0], who(row))
	people = [p for p in label if p not in seen]
	seen.update(people)
	if not people:
		return
	answer = enrolment.enroll_manually(target, people)
	result.done += answer.get("enrolled", 0)
	result.held_out += answer.get("held_out", 0)
	for person, why in (answer.get("not_enrolled") or {}).items():
		result.not_done[label.get(person, person)] = why


def _remove(flow: MarketingFlow, rows: list[frappe._dict], result: TaskResult) -> None:
	"""End the batch's active participations through enrolment.remove_participants ("Removed by
	<user>", once each, logged); the others are said to be no longer active."""
	active = [r for r in rows if r.status in ACTIVE]
	for row in rows:
		if row.status not in ACTIVE:
			result.not_done[who(row)] = _("not active in this flow ({0})").format(_(row.status))
	if not active:
		return
	removed = enrolment.remove_participants(flow, [r.name for r in active]).get("removed", 0)
	result.done += removed
	if removed < len(active):  # ended meanwhile (the runner, a goal, another removal)
		reason = _("Removed by {0}").format(frappe.session.user)
		for name in frappe.get_all(
			PARTICIPANT,
			filters={"name": ("in", [r.name for r in active]), "exit_reason": ("!=", reason)},
			pluck="name",
		):
			result.not_done[who(next(r for r in active if r.name == name))] = _("ended meanwhile")


def _add_to_group(group: str, rows: list[frappe._dict], seen: set[str], result: TaskResult) -> None:
	"""Add the batch's email addresses to `group`, each once; those in it already stay as they
	are (an unsubscribed member stays unsubscribed)."""
	emails: dict[str, str] = {}  # lower-cased -> as the participant has it
	for row in rows:
		email = (row.get("email") or "").strip()
		if not email:
			result.not_done[who(row)] = _("no email address")
		elif email.lower() not in seen:
			emails.setdefault(email.lower(), email)
	seen.update(emails)
	if not emails:
		return
	members = frappe.get_all(
		"Email Group Member",
		filters={"email_group": group, "email": ("in", list(emails.values()))},
		fields=["email", "unsubscribed"],
	)
	present = {m.email.lower(): m.unsubscribed for m in members}
	for key, email in emails.items():
		if key in present:
			result.not_done[email] = (
				_("unsubscribed from the group (stays so)") if present[key] else _("already in the group")
			)
			continue
		try:
			added = add_to_email_group(group, email)
		except frappe.DuplicateEntryError:
			added = False
		except frappe.ValidationError as error:  # e.g. not a valid address for Frappe
			result.not_done[email] = _strip(str(error)) or _("refused by the email group")
			continue
		if added:
			result.done += 1
		else:
			result.not_done[email] = _("already in the group")
