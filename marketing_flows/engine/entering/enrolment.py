"""Enrolment: a trigger or a person proposes people (Contacts or leads, per the flow), the
flow decides who gets in.

propose → audience filters → unsubscribed / consent / suppression → already in the flow or
against the re-enrolment policy → already meeting the goal → control groups (holdout.py) →
participant rows, in bulk. Those a control group holds out get a row too, "Held Out": never run,
their goal measured as everyone's.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import frappe
from frappe import _
from frappe.utils import add_days, add_to_date, cint, now_datetime

from marketing_flows.engine import bulk, log
from marketing_flows.engine.entering import eligibility, holdout
from marketing_flows.engine.hosts import company_links, doctype_roles, person_records
from marketing_flows.engine.names import sortable_name
from marketing_flows.engine.permissions import readable, require_flow_operator
from marketing_flows.engine.queries import criteria
from marketing_flows.engine.running import graph, participants, runner_jobs
from marketing_flows.engine.running.participants import ACTIVE, DUE, active_key

if TYPE_CHECKING:
	from marketing_flows.engine.doctypes import MarketingFlow, ParticipantRow

CHUNK = 1000
SYNC_LIMIT = 2000  # larger manual enrolments run in a background job with progress
# A person re-enters one flow at most this often in 24 hours (site config
# `marketing_flows_max_reenrolments_per_day` to change): flows that keep enrolling each other
# (validation.flow_cycle refuses the loops it can see) stop there.
REENROLMENTS_PER_DAY = 3
FlowStatus = Literal["Draft", "Running", "Paused", "Stopped"]  # Marketing Flow's `status` options


@dataclass
class EnrolResult:
	enrolled: list[str] = field(default_factory=list)  # participant names
	not_enrolled: dict[str, str] = field(default_factory=dict)  # contact -> why not
	# person -> why held out (a control group): recorded as "Held Out", not in `enrolled`
	held_out: dict[str, str] = field(default_factory=dict)

	def as_dict(self) -> dict:
		return {
			"enrolled": len(self.enrolled),
			"held_out": len(self.held_out),
			"not_enrolled": self.not_enrolled,
		}


def _as_list(contacts: Iterable[str] | str) -> list[str]:
	if isinstance(contacts, str):
		contacts = json.loads(contacts) if contacts.strip().startswith("[") else [contacts]
	return list(dict.fromkeys(c for c in contacts if c))


def enroll_manually(flow: MarketingFlow, contacts: Iterable[str] | str) -> dict:
	"""Whitelisted entry (flow form, Contact list/form, API): checks the caller, then enrols."""
	require_flow_operator(flow)
	names = _as_list(contacts)
	person = flow.person_doctype
	visible = readable(person, names)
	hidden = {c: no_such_person(person) for c in names if c not in visible}  # unknown or not theirs
	names = [c for c in names if c in visible]
	if len(names) > SYNC_LIMIT:
		frappe.enqueue(
			"marketing_flows.engine.entering.enrolment.enroll_in_background",
			queue="long",
			timeout=3600,
			flow_name=flow.name,
			contacts=names,
			user=frappe.session.user,
			enqueue_after_commit=True,
		)
		return {"enrolled": 0, "held_out": 0, "not_enrolled": hidden, "queued": len(names)}
	result = enroll(flow, names, source="Manual").as_dict()
	result["not_enrolled"] = {**hidden, **result["not_enrolled"]}
	return result


def names_for(target: MarketingFlow, participations: Sequence[ParticipantRow]) -> list[str]:
	"""The names the flow `target` knows these participants (of any flow) by: their person when
	the target enrols the same doctype, their Contact when it enrols Contacts (a converted lead
	moving on to a customer flow); someone the target can't name is left out."""
	doctype = target.person_doctype
	found = []
	for p in participations:
		if (p.get("person_doctype") or "Contact") == doctype and p.get("person"):
			found.append(p["person"])
		elif doctype == "Contact" and p.get("contact"):
			found.append(p["contact"])
	return list(dict.fromkeys(found))


def enroll_in_background(flow_name: str, contacts: list[str], user: str) -> dict:
	"""Large manual enrolments: chunks with progress shown to the user who started it."""
	result = enroll(
		frappe.get_doc("Marketing Flow", flow_name), contacts, source="Manual", progress_user=user
	)
	frappe.publish_realtime(
		"marketing_flows_enrolment_done",
		{"flow": flow_name, **result.as_dict()},
		user=user,
		after_commit=True,
	)
	return result.as_dict()


def enroll(
	flow: MarketingFlow, contacts: Iterable[str], source: str = "Manual", progress_user: str | None = None
) -> EnrolResult:
	"""Enrol the given people (names of the flow's person doctype) into `flow` (no permission
	check: callers check)."""
	result = EnrolResult()
	names = _as_list(contacts)
	flow.status = current_status(flow.name) or flow.status
	if flow.status == "Stopped":
		result.not_enrolled = {c: _("the flow is stopped") for c in names}
		return result
	if not flow.steps:
		result.not_enrolled = {c: _("the flow has no steps") for c in names}
		return result
	for start in range(0, len(names), CHUNK):
		_enroll_chunk(flow, names[start : start + CHUNK], source, result)
		if progress_user and len(names) > CHUNK:
			frappe.publish_progress(
				min(100, (start + CHUNK) * 100 / len(names)),
				title=_("Enrolling in {0}").format(flow.name),
				description=_("{0} of {1}").format(min(start + CHUNK, len(names)), len(names)),
			)
			frappe.db.commit()
	if result.enrolled and flow.status == "Running":
		runner_jobs.enqueue_flow(flow.name)
	return result


def current_status(flow_name: str) -> FlowStatus | None:
	"""The flow's committed status, read with a shared lock held until this transaction ends:
	a Stop (which updates the flow row first) waits for this enrolment to commit and then ends
	the new participants too, or this enrolment sees "Stopped" and enrols nobody."""
	rows: list[FlowStatus] = frappe.db.sql(
		"SELECT status FROM `tabMarketing Flow` WHERE name = %s LOCK IN SHARE MODE", flow_name, pluck=True
	)
	return rows[0] if rows else None


def no_such_person(doctype: str) -> str:
	return _("no such contact") if doctype == "Contact" else _("no such {0}").format(_(doctype))


def _enroll_chunk(flow: MarketingFlow, names: list[str], source: str, result: EnrolResult) -> None:
	person = flow.person_doctype
	fields = eligibility.person_columns(person)
	rows = {r.name: r for r in frappe.get_all(person, filters={"name": ("in", names)}, fields=fields)}
	candidates = []
	for name in names:
		if name not in rows:
			result.not_enrolled[name] = no_such_person(person)
		else:
			candidates.append(name)
	capped: dict[str, tuple[str, str | None]] = {}
	rejected = rejections(flow, candidates, rows, capped)
	result.not_enrolled.update(rejected)
	if capped:  # a loop of flows, most likely: said on the person's last participation here
		log.write_many(
			[
				log.entry(
					flow.name,
					participant,
					contact,
					None,
					"Error",
					_("Not enrolled again ({0}): {1}").format(source, rejected[person]),
				)
				for person, (participant, contact) in capped.items()
			]
		)
	accepted = [c for c in candidates if c not in rejected]
	if not accepted:
		return
	companies = company_links.companies_of(accepted, person)
	company_dt = doctype_roles.doctype_for("company")
	contacts = (
		dict.fromkeys(accepted)
		if person == "Contact"
		else person_records.converted_contacts(person, accepted)
	)
	first = graph.start_step(flow.steps)
	assert first is not None  # enroll() turned away a flow without steps
	start = first.step_id
	now = now_datetime()
	user = frappe.session.user
	version = cint(flow.version) or 1  # the live version: new people start it
	control = holdout.Holdout.of(flow)
	held: dict[str, str] = {}  # person -> why held out (a stable hash each: no query)
	if control.active:
		for name in accepted:
			if reason := control.reason(person, name):
				held[name] = reason
	values: dict[str, tuple] = {}  # person -> the row without its name (PARTICIPANT_COLUMNS)
	held_values: dict[str, tuple] = {}  # the same, for the held out (HELD_OUT_COLUMNS)
	for name in accepted:
		row = rows[name]
		who = (
			flow.name,
			person,
			name,
			name if person == "Contact" else contacts.get(name),
			row.get("full_name"),
			row.get("email_id"),
			row.get("mobile_no"),
			companies.get(name),
			company_dt if companies.get(name) else None,
		)
		stamps = (0, 0, 0, now, now, user, user)  # attempts, step_seq, docstatus, creation, ...
		state: tuple  # status, current_step, next_run_at, enrolled_on, enrolled_by, active_key, version
		if name in held:  # no step, nothing due, no active participation; ended as it starts
			state = (holdout.STATUS, None, None, now, source, None, version)
			held_values[name] = (*who, *state, *stamps, held[name][:140], now)
		else:
			state = ("Active", start, now, now, source, active_key(flow.name, name), version)
			values[name] = (*who, *state, *stamps)
	entries = _hold_out(flow, held_values, held, control, source, version, result) if held_values else []
	enrolled = insert_participants(flow.name, values)
	for person_name in values:
		if participant_name := enrolled.get(person_name):
			result.enrolled.append(participant_name)
			contact = values[person_name][3]
			entries.append(
				log.entry(
					flow.name,
					participant_name,
					contact,
					None,
					"Enrolled",
					source,
					version=version,
				)
			)
		else:
			result.not_enrolled[person_name] = _("already active in this flow")
	log.write_many(entries)
	leave_other_flows(flow, {name: values[name][3] for name in enrolled})


def _hold_out(
	flow: MarketingFlow,
	values: dict[str, tuple],
	reasons: dict[str, str],
	control: holdout.Holdout,
	source: str,
	version: int,
	result: EnrolResult,
) -> list[tuple]:
	"""Record the people a control group holds out (person -> row of HELD_OUT_COLUMNS without
	its name); returns their log entries, one "Held Out" each saying why, for the caller to write
	with the enrolled ones'. Nothing runs for them, and they leave no other flow
	(remove_from_flows): a control group lives as it would without this flow."""
	inserted = insert_held_out(flow.name, values)
	messages = {reason: control.explain(reason, source) for reason in set(reasons.values())}
	entries = []
	for name, participant_name in inserted.items():
		result.held_out[name] = reasons[name]
		entries.append(
			log.entry(
				flow.name,
				participant_name,
				values[name][3],
				None,
				holdout.STATUS,
				messages[reasons[name]],
				version=version,
			)
		)
	return entries


def leave_other_flows(flow: MarketingFlow, people: dict[str, str | None]) -> None:
	"""The flow's "When enrolled here, remove from these flows": the people just enrolled (person
	-> their Contact, if any) leave those flows, in this enrolment's transaction: their Active or
	Waiting participations there end as Exited ("Enrolled in flow ...")."""
	others = list(
		dict.fromkeys(
			row.flow
			for row in flow.get("remove_from_flows") or []
			if row.get("flow") and row.flow != flow.name
		)
	)
	if not others or not people:
		return
	p = frappe.qb.DocType(PARTICIPANT_DOCTYPE)
	condition = (p.person_doctype == flow.person_doctype) & p.person.isin(list(people))
	if contacts := [c for c in people.values() if c]:
		condition = condition | p.contact.isin(contacts)  # their other flows may enrol Contacts
	by_flow: dict[str, list[str]] = {}
	for other, name in (
		frappe.qb.from_(p)
		.select(p.flow, p.name)
		.where(p.flow.isin(others) & p.status.isin(DUE) & condition)
		.run()
	):
		by_flow.setdefault(other, []).append(name)
	reason = _("Enrolled in flow {0}").format(flow.name)
	for other, names in by_flow.items():
		participants.end_participants(other, names, "Exited", reason, from_statuses=DUE)


def new_participant_name() -> str:
	"""A time-ordered name (names.py); should it ever equal an existing one,
	`insert_participants` tells that from an active participation and draws again."""
	return sortable_name()


def insert_participants(flow_name: str, values: dict[str, tuple]) -> dict[str, str]:
	"""Insert participant rows (contact -> row without its name); returns contact -> name of
	those inserted. The others were already active in the flow (the unique `active_key` holds
	one active participation per person and flow, also against a concurrent enrolment).

	INSERT IGNORE drops a row for either unique key: `active_key`, or a random name that some
	other participant already has. The two are told apart by the active participation each
	person has after the insert: none means the name clashed, and that person is inserted
	again under a new name."""
	enrolled: dict[str, str] = {}
	pending = dict(values)
	for _attempt in range(NAME_ATTEMPTS):
		if not pending:
			break
		drawn = {contact: new_participant_name() for contact in pending}
		bulk.insert(
			PARTICIPANT_DOCTYPE,
			PARTICIPANT_COLUMNS,
			[(drawn[contact], *row) for contact, row in pending.items()],
			ignore_duplicates=True,
		)
		key_of = {row[KEY_POSITION]: contact for contact, row in pending.items()}
		p = frappe.qb.DocType(PARTICIPANT_DOCTYPE)
		holder = dict(
			frappe.qb.from_(p).select(p.active_key, p.name).where(p.active_key.isin(list(key_of))).run()
		)
		clashed = {}
		for key, contact in key_of.items():
			if holder.get(key) == drawn[contact]:
				enrolled[contact] = drawn[contact]
			elif key not in holder:
				clashed[contact] = pending[contact]
		pending = clashed
	if pending:
		raise RuntimeError(f"no free participant name after {NAME_ATTEMPTS} attempts")
	return enrolled


NAME_ATTEMPTS = 5
PARTICIPANT_DOCTYPE = "Marketing Flow Participant"
PARTICIPANT_COLUMNS = (
	"name",
	"flow",
	"person_doctype",
	"person",
	"contact",
	"full_name",
	"email",
	"mobile_no",
	"company",
	"company_doctype",
	"status",
	"current_step",
	"next_run_at",
	"enrolled_on",
	"enrolled_by",
	"active_key",
	"flow_version",
	"attempts",
	"step_seq",
	"docstatus",
	"creation",
	"modified",
	"owner",
	"modified_by",
)
KEY_POSITION = PARTICIPANT_COLUMNS.index("active_key") - 1  # in a row without its name
# a held-out participant: ended as it starts, with the control group as its reason
HELD_OUT_COLUMNS = (*PARTICIPANT_COLUMNS, "exit_reason", "ended_on")


def insert_held_out(flow_name: str, values: dict[str, tuple]) -> dict[str, str]:
	"""Insert held-out participants (person -> row of HELD_OUT_COLUMNS without its name); returns
	person -> name. No unique key but the name holds them (they are no active participation), so
	only a name some other participant already has drops a row: those are drawn again."""
	inserted: dict[str, str] = {}
	pending = dict(values)
	for _attempt in range(NAME_ATTEMPTS):
		if not pending:
			break
		drawn = {person: new_participant_name() for person in pending}
		bulk.insert(
			PARTICIPANT_DOCTYPE,
			HELD_OUT_COLUMNS,
			[(drawn[person], *row) for person, row in pending.items()],
			ignore_duplicates=True,
		)
		p = frappe.qb.DocType(PARTICIPANT_DOCTYPE)
		person_of = dict(
			frappe.qb.from_(p)
			.select(p.name, p.person)
			.where(p.name.isin(list(drawn.values())) & (p.flow == flow_name))
			.where(p.status == holdout.STATUS)
			.run()
		)
		clashed = {}
		for person, row in pending.items():
			if person_of.get(drawn[person]) == person:
				inserted[person] = drawn[person]
			else:
				clashed[person] = row
		pending = clashed
	if pending:
		raise RuntimeError(f"no free participant name after {NAME_ATTEMPTS} attempts")
	return inserted


def rejections(
	flow: MarketingFlow, people: list[str], rows: dict, capped: dict | None = None
) -> dict[str, str]:
	"""person -> why it may not enter this flow now. Everyone else may. Those refused for the
	daily re-enrolment cap are also put in `capped` (person -> (their last participation here,
	its contact)), for the caller to log."""
	why = eligibility.problems(flow, people, rows)
	remaining = [c for c in people if c not in why]
	why.update(previous_participation(flow, remaining, capped))
	remaining = [c for c in people if c not in why]
	for c in criteria.already_successful(flow, remaining):
		why[c] = _("already meets the flow's goal")
	return why


def reenrolments_per_day() -> int:
	"""REENROLMENTS_PER_DAY, or `marketing_flows_max_reenrolments_per_day` from the site config."""
	limit = cint(frappe.conf.get("marketing_flows_max_reenrolments_per_day"))
	return limit if limit > 0 else REENROLMENTS_PER_DAY


def previous_participation(
	flow: MarketingFlow, people: list[str], capped: dict | None = None
) -> dict[str, str]:
	"""Already active here; or took part before when the policy says Never, or ended less than
	the policy's minimum gap ago; or re-entered this flow more than reenrolments_per_day() times
	in the last 24 hours (flows enrolling each other in a loop stop there; noted in `capped`)."""
	why: dict[str, str] = {}
	if not people:
		return why
	policy = flow.reenrollment or "Never"
	gap = cint(flow.get("reenrollment_gap_days"))
	now = now_datetime()
	earliest_end = add_days(now, -gap) if gap else None
	day_ago = add_to_date(now, hours=-24)
	recent: dict[str, int] = {}  # person -> participations started in the last 24 hours
	last: dict[str, tuple] = {}  # person -> (participation, contact) of the latest one
	last_status: dict[str, str] = {}  # person -> the status of the latest one
	p = frappe.qb.DocType("Marketing Flow Participant")
	for contact, status, ended_on, enrolled_on, name, person_contact in (
		frappe.qb.from_(p)
		.select(p.person, p.status, p.ended_on, p.enrolled_on, p.name, p.contact)
		.where((p.flow == flow.name) & p.person.isin(people))
		.orderby(p.name)  # time-ordered names (names.py): the latest comes last
		.run()
	):
		last[contact] = (name, person_contact)
		last_status[contact] = status
		if enrolled_on and enrolled_on > day_ago:
			recent[contact] = recent.get(contact, 0) + 1
		if status in ACTIVE:
			why[contact] = _("already active in this flow")
		elif policy == "Never":
			why.setdefault(contact, _("already took part (re-enrolment: Never)"))
		elif earliest_end and ended_on and ended_on > earliest_end:
			why.setdefault(contact, _("took part less than {0} days ago").format(gap))
	# held out before and still held out: one Held Out row stands for them (a trigger that fires
	# again must not pile up rows, nor run into the daily cap below)
	control = holdout.Holdout.of(flow)
	if control.active:
		for contact, status in last_status.items():
			if (
				contact not in why
				and status == holdout.STATUS
				and control.reason(flow.person_doctype, contact)
			):
				why[contact] = _("already held out of this flow (control group)")
	limit = reenrolments_per_day()
	for contact, count in recent.items():
		if contact not in why and count > limit:
			why[contact] = _(
				"entered this flow {0} times in the last 24 hours, and may be re-enrolled at most {1} "
				"times a day (flows may be enrolling each other in a loop)"
			).format(count, limit)
			if capped is not None:
				capped[contact] = last[contact]
	return why


def remove_participants(flow: MarketingFlow, selection: Iterable[str] | str) -> dict:
	"""Flow Administrator removes people: their participation ends with reason "Removed"."""
	require_flow_operator(flow)
	names = _as_list(selection)
	removed = participants.end_participants(
		flow.name, names, "Exited", _("Removed by {0}").format(frappe.session.user)
	)
	return {"removed": removed}
