"""Validation of a whole flow before it is saved or run: the graph, each step's own fields,
the audience and trigger settings. Every message names what is wrong and where."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import frappe
from frappe import _
from frappe.utils import get_time

from marketing_flows.engine.hosts import doctype_roles, owners, time_zones
from marketing_flows.engine.permissions import require_read
from marketing_flows.engine.queries import criteria, filters, segments
from marketing_flows.engine.running import graph
from marketing_flows.engine.sending import mailer, send_times, window
from marketing_flows.engine.steps import STEP_TYPES, handler_for

if TYPE_CHECKING:
	from marketing_flows.engine.doctypes import MarketingFlow

DESIGN_ONLY = {"position_x", "position_y"}
# the designer's handle ids besides the branch keys: a branch can't be called one of them
RESERVED_BRANCH_KEYS = {"in", "next", "yes", "no", "else"}
ENGINE_OWNED = {"ab_winner", "ab_decided_on", "ab_decision"}  # written by the runner, not an edit


def flow_errors(flow: MarketingFlow) -> list[str]:
	"""Every problem of the flow's steps; [] when the flow can run."""
	errors = graph.validate(flow.steps, flow.get("branches") or [])
	for step in flow.steps:
		if step.step_type and step.step_type not in STEP_TYPES:
			errors.append(_("Step '{0}': '{1}' is not a step type.").format(step.step_id, step.step_type))
		elif step.step_type:
			errors.extend(handler_for(step.step_type).validate(step, flow))
	return errors


def design_errors(flow: MarketingFlow) -> dict:
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


def named_doctypes(flow: MarketingFlow) -> dict[str, str]:
	"""doctype -> where the flow names it: every doctype whose data the flow looks at."""
	named: dict = {}
	if flow.trigger_type == "Document Event" and flow.trigger_doctype:
		named.setdefault(flow.trigger_doctype, _("Trigger"))
	if flow.trigger_type == "Web Form" and flow.trigger_web_form:
		form_doctype = frappe.db.get_value("Web Form", flow.trigger_web_form, "doc_type")
		named.setdefault(form_doctype, _("Trigger"))
	person = doctype_roles.person_doctype(flow)
	for row in flow.get("success_criteria") or []:
		named.setdefault(criteria.target_doctype(row, person), _("Success criterion {0}").format(row.idx))
	for s in flow.steps:
		if s.step_type == graph.WAIT_FOR_ACTION:  # what it waits for reads the form's records, the person
			if s.get("action_web_form"):
				form_doctype = frappe.db.get_value("Web Form", s.get("action_web_form"), "doc_type")
				named.setdefault(form_doctype, _("Step {0}").format(s.step_id))
			if s.get("action_filters"):
				named.setdefault(person, _("Step {0}").format(s.step_id))
	bodies = " ".join(s.webhook_body or "" for s in flow.steps if s.step_type == "Webhook")
	if any(word in bodies for word in ("contact", "person", "lead")):
		# what a webhook sends out, its author must be able to read
		named.setdefault(person, _("Webhook body"))
	if "company" in bodies and doctype_roles.doctype_for("company"):
		named.setdefault(doctype_roles.doctype_for("company"), _("Webhook body"))
	named.pop(None, None)
	return named


def named_segments(flow: MarketingFlow) -> dict[str, str]:
	"""segment -> where the flow uses it (trigger, suppression list, condition, branch)."""
	found: dict[str, str] = {}
	if flow.trigger_type == "Segment" and (segment := flow.get("trigger_segment")):
		found[segment] = _("Trigger")
	for row in flow.get("suppression_lists") or []:
		if row.get("list_type") == "Segment" and row.get("segment"):
			found.setdefault(row.segment, _("Suppression list"))
	for row in [*(flow.get("steps") or []), *(flow.get("branches") or [])]:
		if row.get("condition_type") == "In Segment" and row.get("segment"):
			found.setdefault(row.segment, _("Step {0}").format(row.get("step_id")))
	return {name: where for name, where in found.items() if frappe.db.exists("Marketing Segment", name)}


def validate_flow(flow: MarketingFlow) -> None:
	"""Throw one message listing every problem (the form shows it as a list)."""
	if not (frappe.flags.in_install or frappe.flags.in_migrate or frappe.flags.in_patch):
		require_read(named_doctypes(flow))
	if not flow.get("person_doctype"):
		flow.person_doctype = doctype_roles.person_doctype()
	person = flow.person_doctype
	choices = doctype_roles.person_doctypes()
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
	if flow.trigger_type == "Link Clicked":
		if not flow.get("trigger_flow"):
			frappe.throw(
				_("Trigger: choose the flow whose emails' links enrol people (Trigger Flow)."),
				title=_("Link Clicked"),
			)
		if flow.trigger_flow == flow.name:  # its own clicks would enrol its people again
			frappe.throw(
				_("Trigger: a flow can't be triggered by clicks in its own emails."), title=_("Link Clicked")
			)
	if flow.success_flow and flow.success_flow == flow.name:
		frappe.throw(_("Successful participants can't be moved to the same flow."))
	check_exits(flow)
	if flow.get("use_sending_window"):
		if flow.window_start and flow.window_end and get_time(flow.window_start) >= get_time(flow.window_end):
			frappe.throw(_("Sending window: 'From' must be before 'To'."))
		if not any(flow.get(f"send_on_{d}") for d in window.WEEKDAYS):
			frappe.throw(_("Sending window: choose at least one weekday."))
	check_local_time(flow)
	check_flow_cycle(flow)
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
	settling = frappe.flags.in_install or frappe.flags.in_migrate or frappe.flags.in_patch
	if flow.status == "Running" and not settling:  # Run, resume, a save (new version) of a running flow
		if errors := sender_errors(flow):
			frappe.throw(
				"<br>".join(html.escape(e, quote=False) for e in errors), title=_("The flow can't run")
			)


def sender_errors(flow: MarketingFlow) -> list[str]:
	"""Each email the flow would send without a sender, named: its Send Email steps' content, the
	confirmation email (double opt-in) and its Notify by Email steps (they send through the
	Settings' Sender or the default outgoing account). Content may be saved before any outgoing
	Email Account exists; a flow can't run until its emails have one. One message per step."""
	errors = []
	contents = {s.content for s in flow.steps if s.step_type == "Send Email" and s.get("content")}
	if flow.get("require_confirmation") and flow.get("confirmation_content"):
		contents.add(flow.confirmation_content)
	rows = (
		frappe.get_all(
			"Marketing Flow Content",
			filters={"name": ("in", list(contents))},
			fields=["name", "sender", "content_name"],
		)
		if contents
		else []
	)
	senders = {r.name: r.sender for r in rows}
	titles = {r.name: r.content_name or r.name for r in rows}
	problems: dict[str | None, str | None] = {}

	def problem(content: str | None) -> str | None:
		sender = senders.get(content) if content else None
		if sender not in problems:
			problems[sender] = mailer.sender_problem(sender)
		return problems[sender]

	for s in flow.steps:
		if s.step_type == "Send Email" and s.get("content") and s.content in senders:
			if why := problem(s.content):
				errors.append(
					_("Send Email step '{0}' (content {1}): {2}.").format(
						s.label or s.step_id, s.content, why
					)
				)
		elif s.step_type == "Notify by Email" and (why := problem(None)):
			errors.append(_("Notify by Email step '{0}': {1}.").format(s.label or s.step_id, why))
	if flow.get("require_confirmation") and flow.get("trigger_type") == "Web Form":
		content = flow.get("confirmation_content")
		if why := problem(content):
			what = (
				_("The confirmation email (content {0})").format(titles.get(content, content))
				if content
				else _("The confirmation email")
			)
			errors.append(f"{what}: {why}.")
	return errors


def check_exits(flow: MarketingFlow) -> None:
	"""The Exits section: the exit flow is another flow that can take this flow's people, and
	"remove from these flows" doesn't name this flow."""
	exit_flow = flow.get("exit_flow")
	if exit_flow and exit_flow == flow.name:
		frappe.throw(_("Exits: people who leave early can't be enrolled in the same flow."), title=_("Exits"))
	target = frappe.db.get_value("Marketing Flow", exit_flow, "person_doctype") if exit_flow else None
	if target and target not in (flow.person_doctype, "Contact"):
		frappe.throw(
			_("Exits: {0} enrols {1}, and the people of this flow are {2}.").format(
				exit_flow, _(target), _(flow.person_doctype)
			),
			title=_("Exits"),
		)
	if any(row.get("flow") == flow.name for row in flow.get("remove_from_flows") or []):
		frappe.throw(
			_("Exits: a flow can't remove the people it enrols from itself."),
			title=_("Exits"),
		)


# Flows that can go on enrolling the same person in a loop: only those that take a person again.
READMITTING = "After Previous Ends"
# What a step saves, per step type: (the Marketing Flow Settings role of the doctype, event).
STEP_RECORDS = {
	"Create Activity": ("activity", "insert"),
	"Create Request": ("issue", "insert"),
	"Create Sale": ("deal", "insert"),
}


def check_flow_cycle(flow: MarketingFlow, refuse: bool | None = None) -> None:
	"""Flows that enrol each other in a loop (flow_cycle): a running flow (or one being run:
	`refuse`) is refused with the flows named; a draft or paused flow is saved with a warning,
	as the loop only turns once they all run."""
	cycle = flow_cycle(flow)
	if not cycle:
		return
	message = _(
		"These flows enrol each other in a loop: {0}. Each takes people again after they leave "
		"(re-enrolment: After Previous Ends), so someone could go round it for ever. Remove a "
		"link of the loop, or set one flow's re-enrolment to Never."
	).format(" → ".join(cycle))
	if refuse or (refuse is None and flow.status == "Running"):
		frappe.throw(message, title=_("Flows enrol each other"))
	frappe.msgprint(message, title=_("Flows enrol each other"), indicator="orange")


def flow_cycle(flow: MarketingFlow) -> list[str] | None:
	"""A loop of flows through this one (A → B → A) in which every flow takes a person again
	after they leave, as the list of flow names, or None. "X → Y" when X can cause an enrolment
	into Y: an Enroll in Flow step of X names Y; Y is X's success flow or exit flow; Y is
	triggered by X's goal (Flow Goal) or by clicks in X's emails (Link Clicked); or a step of X saves a document that Y's trigger watches
	(Update Participant: the person or the company, an update; Create Activity / Request / Sale:
	the record made, an insert; Add to Email Group, and X's exit email group: a member of Y's
	email group). This flow is read as it is being saved, the other live (Running or Paused)
	flows as saved; a draft can't go round the loop until it runs, and is checked then. A flow
	that takes everyone once (re-enrolment Never) ends any loop through it. Webhooks and server
	scripts are not followed."""
	if (flow.get("reenrollment") or "Never") != READMITTING or not flow.name:
		return None
	others = frappe.get_all(
		"Marketing Flow",
		filters={"status": ("in", ("Running", "Paused")), "name": ("!=", flow.name)},
		fields=[
			"name",
			"reenrollment",
			"person_doctype",
			"trigger_type",
			"trigger_doctype",
			"trigger_event",
			"trigger_email_group",
			"trigger_flow",
			"success_flow",
			"exit_flow",
			"exit_email_group",
		],
	)
	others = [f for f in others if f.reenrollment == READMITTING]
	if not others:
		return None
	names = [f.name for f in others]
	steps: dict[str, list] = {f.name: [] for f in others}
	for row in frappe.get_all(
		"Marketing Flow Step",
		filters={"parenttype": "Marketing Flow", "parent": ("in", names)},
		fields=[
			"parent",
			"step_id",
			"step_type",
			"target_flow",
			"email_group",
			"update_field",
			"activity_kind",
			"distribute_to",
		],
	):
		steps[row.parent].append(row)
	updates: dict[str, list] = {f.name: [] for f in others}
	for row in frappe.get_all(
		"Marketing Flow Update",
		filters={"parenttype": "Marketing Flow", "parent": ("in", names)},
		fields=["parent", "step_id", "target"],
	):
		updates[row.parent].append(row)
	# the other flows are rows of their fields read above
	flows: dict[str, tuple[MarketingFlow, list, list]] = {
		f.name: (f, steps[f.name], updates[f.name]) for f in others
	}
	flows[flow.name] = (flow, list(flow.steps), list(flow.get("updates") or []))
	edges = {name: _leads_into(*parts, flows) for name, parts in flows.items()}
	return graph.cycle_through(edges, flow.name)


def _leads_into(flow: MarketingFlow, steps: list, updates: list, flows: dict[str, tuple]) -> set[str]:
	"""The flows among `flows` that this flow can enrol someone into (see flow_cycle)."""
	found = {s.target_flow for s in steps if s.step_type == "Enroll in Flow" and s.get("target_flow")}
	if flow.get("success_flow"):
		found.add(flow.success_flow)
	if flow.get("exit_flow"):
		found.add(flow.exit_flow)
	saves: set[tuple[str, str]] = set()  # (doctype, "insert" / "update") the steps save
	groups: set[str] = set()  # email groups the steps add people to
	person = doctype_roles.person_doctype(flow)
	sends_email = any(s.step_type == "Send Email" for s in steps)  # whose links a click follows
	updating = {s.step_id for s in steps if s.step_type == "Update Participant"}
	for s in steps:
		if s.step_type == "Update Participant" and s.get("update_field"):
			saves.add((person, "update"))
		elif s.step_type == "Create Activity" and s.get("activity_kind") == "Calendar Event":
			saves.add(("Event", "insert"))  # a follow-up in the user's calendar is an Event
		elif s.step_type in STEP_RECORDS:
			role, event = STEP_RECORDS[s.step_type]
			doctype = doctype_roles.doctype_for(role) or ("ToDo" if role == "activity" else None)
			if doctype:
				saves.add((doctype, event))
		elif s.step_type == "Distribute to Owner":
			target = person if (s.get("distribute_to") or "Person") == "Person" else None
			if target := target or doctype_roles.doctype_for("company"):
				# the record's owner field saved, or else Frappe's assignment (a ToDo)
				saves.add((target, "update") if owners.owner_field(target) else ("ToDo", "insert"))
		elif s.step_type == "Add to Email Group" and s.get("email_group"):
			saves.add(("Email Group Member", "insert"))
			groups.add(s.email_group)
	if exit_group := flow.get("exit_email_group"):  # where early leavers are added
		saves.add(("Email Group Member", "insert"))
		groups.add(exit_group)
	for row in updates:
		if row.step_id in updating:
			target = (
				person
				if (row.get("target") or "Person") == "Person"
				else doctype_roles.doctype_for("company")
			)
			if target:
				saves.add((target, "update"))
	for name, (other, _steps, _updates) in flows.items():
		if name == flow.name:
			continue  # a flow's own saves never trigger it (watch.py), nor its own goal
		kind = other.get("trigger_type")
		if kind == "Flow Goal" and other.get("trigger_flow") == flow.name:
			found.add(name)
		elif kind == "Link Clicked" and other.get("trigger_flow") == flow.name and sends_email:
			found.add(name)
		elif kind == "Document Event" and other.get("trigger_doctype"):
			event = other.get("trigger_event") or "Insert"
			events = {"Insert": {"insert"}, "Update": {"update"}}.get(event, {"insert", "update"})
			if any((other.trigger_doctype, e) in saves for e in events):
				found.add(name)
		elif kind == "Email Group" and other.get("trigger_email_group") in groups:
			found.add(name)
	found.discard(flow.name)
	return {name for name in found if name in flows}


def keep_engine_owned(flow: MarketingFlow, before: MarketingFlow | None) -> None:
	"""A form saved with an old copy of the steps must not undo what the runner wrote on them
	meanwhile (an A/B test's winner): those values always come from the database."""
	if not before:
		return
	saved = {s.step_id: s for s in before.steps}
	for step in flow.steps:
		if step.step_id in saved:
			for fieldname in ENGINE_OWNED:
				step.set(fieldname, saved[step.step_id].get(fieldname))


def fill_branch_keys(flow: MarketingFlow) -> None:
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


def step_signature(flow: MarketingFlow) -> list[tuple]:
	"""The steps (with their branch and update rows) as comparable values, designer positions
	and the A/B winner left out (moving a box or the engine picking a winner is no edit)."""
	out: list[tuple] = []
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


def check_local_time(flow: MarketingFlow) -> None:
	"""The flow's time zone is a real one; its quiet hours (with Settings') leave room to send."""
	if problem := time_zones.zone_problem(flow.get("time_zone")):
		frappe.throw(problem, title=_("Flow Time Zone"))
	settings = frappe.get_cached_doc("Marketing Flow Settings")
	problems = send_times.quiet_hours_problems(
		flow.get("quiet_hours") or [], settings.get("quiet_hours") or []
	)
	if problems:
		frappe.throw("<br>".join(html.escape(p, quote=False) for p in problems), title=_("Quiet Hours"))
