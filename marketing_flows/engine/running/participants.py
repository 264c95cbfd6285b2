"""Participant state: the status sets, the transitions every module shares, and the batch's
bulk UPDATE of participants (`write_updates`).

It knows the participant table, the log and the person records, nothing above them. Every
transition is a conditional write (`WHERE status IN ...`, `succeeded = 0`) that acts only on
the rows it really changed, so two processes racing on the same participant (a goal met twice,
a Stop while a batch completes someone) log and act once."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import TYPE_CHECKING, Any

import frappe
from frappe.utils import now_datetime

from marketing_flows.engine import log
from marketing_flows.engine.hosts import person_records

if TYPE_CHECKING:
	from marketing_flows.engine.doctypes import MarketingFlow

PARTICIPANT = "Marketing Flow Participant"

# The one definition of each status set.
ACTIVE = ("Active", "Waiting", "Stalled")  # holds the one active participation per person and flow
DUE = ("Active", "Waiting")  # the runner may pick these up when next_run_at has come
# can still meet the goal: a control group's people ("Held Out") too, as everyone's, but with no
# follow-ups (goals.mark)
CONVERTIBLE = ("Active", "Waiting", "Stalled", "Completed", "Held Out")
ENDED = ("Completed", "Exited")
HELD_OUT = "Held Out"  # held out by a control group (entering/holdout.py): never run, never sent
LIVE_FLOW_STATUSES = ("Running", "Paused")  # flows that take people in (a paused flow's wait)


def active_key(flow_name: str, person: str) -> str:
	"""The value that the unique index on `active_key` holds while a participation is active."""
	return hashlib.sha1(f"{flow_name}\n{person}".encode()).hexdigest()


def end_participants(
	flow_name: str, names: list[str], status: str, reason: str, from_statuses: tuple[str, ...] = ACTIVE
) -> int:
	"""End the given participations that are still in `from_statuses` with `status` and
	`reason`; logs "Exited" for those it changed only. Returns how many ended."""
	if not names:
		return 0
	p = frappe.qb.DocType(PARTICIPANT)
	ended = 0
	for start in range(0, len(names), 1000):
		chunk = names[start : start + 1000]
		rows = (
			frappe.qb.from_(p)
			.select(p.name, p.contact, p.current_step)
			.where((p.flow == flow_name) & p.name.isin(chunk) & p.status.isin(from_statuses))
			.for_update()
			.run(as_dict=True)
		)
		if not rows:
			continue
		now = now_datetime()
		(
			frappe.qb.update(p)
			.set(p.status, status)
			.set(p.exit_reason, reason[:140])
			.set(p.ended_on, now)
			.set(p.next_run_at, None)
			.set(p.active_key, None)
			.set(p.modified, now)
			.where(p.name.isin([r.name for r in rows]) & p.status.isin(from_statuses))
		).run()
		log.write_many(
			[log.entry(flow_name, r.name, r.contact, r.current_step, "Exited", reason) for r in rows]
		)
		ended += len(rows)
	return ended


def mark_successful(flow_name: str, participant: dict, criterion: str, now: datetime) -> bool:
	"""Mark a participant successful unless it already is; logs "Goal Met" only when this call
	made the change (a goal met twice, by the runner and by a hook's job, logs once).
	`participant`: its row (a ParticipantRow, or any dict with its name, contact and step)."""
	frappe.db.sql(
		"""UPDATE `tabMarketing Flow Participant`
		SET succeeded = 1, succeeded_on = %s, success_criterion = %s
		WHERE name = %s AND succeeded = 0""",
		(now, criterion[:140], participant["name"]),
	)
	changed = frappe.db._cursor.rowcount > 0
	if changed:
		participant.update({"succeeded": 1, "succeeded_on": now, "success_criterion": criterion[:140]})
		log.write(
			flow_name,
			participant["name"],
			participant.get("contact"),
			participant.get("current_step"),
			"Goal Met",
			criterion,
		)
	return changed


def note_conversions(flow: MarketingFlow, leads: list[str]) -> dict[str, str]:
	"""Participants of `flow` (a flow of leads) whose lead among `leads` converted go on under
	the Contact it became: the participation is kept (one timeline, no second enrolment), its
	`contact` is filled and "Lead Converted" is logged once. Returns participant -> contact."""
	doctype = flow.person_doctype
	p = frappe.qb.DocType(PARTICIPANT)
	rows = (
		frappe.qb.from_(p)
		.select(p.name, p.person, p.current_step)
		.where(
			(p.flow == flow.name)
			& (p.person_doctype == doctype)
			& p.person.isin(leads)
			& (p.contact.isnull() | (p.contact == ""))
		)
		.run(as_dict=True)
		if leads
		else []
	)
	contacts = person_records.converted_contacts(doctype, list({r.person for r in rows}))
	done: dict[str, str] = {}
	for r in rows:
		contact = contacts.get(r.person)
		if not contact:
			continue
		frappe.db.sql(
			"""UPDATE `tabMarketing Flow Participant` SET contact = %s
			WHERE name = %s AND IFNULL(contact, '') = ''""",
			(contact, r.name),
		)
		if frappe.db._cursor.rowcount > 0:
			done[r.name] = contact
			log.write(flow.name, r.name, contact, r.current_step, "Lead Converted", contact)
	return done


def write_updates(pending: dict[str, dict], now: datetime) -> None:
	"""One UPDATE per set of columns for the whole batch (CASE per column), instead of one per
	participant."""
	groups: dict[tuple, list[tuple[str, dict]]] = {}
	for name, values in pending.items():
		groups.setdefault(tuple(sorted(values)), []).append((name, values))
	for columns, rows in groups.items():
		sets: list[str] = []
		params: list[Any] = []  # the columns' values, of their own types
		for column in (*columns, "modified"):
			if column == "modified":
				sets.append("`modified` = %s")
				params.append(now)
				continue
			distinct = {repr(v[column]) for _n, v in rows}
			if len(distinct) == 1:  # the same value for everyone: no CASE needed
				sets.append(f"`{column}` = %s")
				params.append(rows[0][1][column])
			else:
				sets.append(f"`{column}` = CASE `name` " + "WHEN %s THEN %s " * len(rows) + "END")
				for name, v in rows:
					params.extend((name, v[column]))
		names = [name for name, _v in rows]
		params.extend(names)
		frappe.db.sql(
			f"UPDATE `tabMarketing Flow Participant` SET {', '.join(sets)} "
			f"WHERE `name` IN ({', '.join(['%s'] * len(names))})",
			params,
		)
