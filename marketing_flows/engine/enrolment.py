"""Enrolment: a trigger or a person proposes contacts, the flow decides who gets in.

propose → audience filters → unsubscribed / consent / suppression → already in the flow or
against the re-enrolment policy → already meeting the goal → participant rows, in bulk.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import frappe
from frappe import _
from frappe.utils import cint, now_datetime

from marketing_flows.engine import filters, graph, hosts, log
from marketing_flows.engine.permissions import require_flow_operator

ACTIVE = ("Active", "Waiting", "Stalled")
CHUNK = 1000
SYNC_LIMIT = 2000  # larger manual enrolments run in a background job with progress


@dataclass
class EnrolResult:
	enrolled: list[str] = field(default_factory=list)  # participant names
	not_enrolled: dict[str, str] = field(default_factory=dict)  # contact -> why not

	def as_dict(self) -> dict:
		return {"enrolled": len(self.enrolled), "not_enrolled": self.not_enrolled}


def active_key(flow: str, contact: str) -> str:
	"""The value that the unique index on `active_key` holds while a participation is active."""
	return hashlib.sha1(f"{flow}\n{contact}".encode()).hexdigest()


def _as_list(contacts: Iterable[str] | str) -> list[str]:
	if isinstance(contacts, str):
		contacts = json.loads(contacts) if contacts.strip().startswith("[") else [contacts]
	return list(dict.fromkeys(c for c in contacts if c))


def enroll_manually(flow: Any, contacts: Iterable[str] | str) -> dict:
	"""Whitelisted entry (flow form, Contact list/form, API): checks the caller, then enrols."""
	require_flow_operator(flow)
	names = _as_list(contacts)
	if len(names) > SYNC_LIMIT:
		frappe.enqueue(
			"marketing_flows.engine.enrolment.enroll_in_background",
			queue="long",
			timeout=3600,
			flow=flow.name,
			contacts=names,
			user=frappe.session.user,
			enqueue_after_commit=True,
		)
		return {"enrolled": 0, "not_enrolled": {}, "queued": len(names)}
	return enroll(flow, names, source="Manual").as_dict()


def enroll_in_background(flow: str, contacts: list[str], user: str) -> dict:
	"""Large manual enrolments: chunks with progress shown to the user who started it."""
	result = enroll(frappe.get_doc("Marketing Flow", flow), contacts, source="Manual", progress_user=user)
	frappe.publish_realtime(
		"marketing_flows_enrolment_done", {"flow": flow, **result.as_dict()}, user=user, after_commit=True
	)
	return result.as_dict()


def enroll(
	flow: Any, contacts: Iterable[str], source: str = "Manual", progress_user: str | None = None
) -> EnrolResult:
	"""Enrol the given Contacts into `flow` (no permission check: callers check)."""
	result = EnrolResult()
	names = _as_list(contacts)
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
		from marketing_flows.engine import runner

		runner.enqueue_flow(flow.name)
	return result


def _enroll_chunk(flow: Any, names: list[str], source: str, result: EnrolResult) -> None:
	person = hosts.doctype_for("person") or "Contact"
	consent_field = frappe.db.get_single_value("Marketing Flow Settings", "consent_field")
	fields = hosts.person_fields()
	if consent_field and frappe.get_meta(person).has_field(consent_field):
		fields.append(consent_field)
	rows = {r.name: r for r in frappe.get_all(person, filters={"name": ("in", names)}, fields=fields)}
	candidates = []
	for name in names:
		if name not in rows:
			result.not_enrolled[name] = _("no such contact")
		else:
			candidates.append(name)
	rejected = rejections(flow, candidates, rows, consent_field)
	result.not_enrolled.update(rejected)
	accepted = [c for c in candidates if c not in rejected]
	if not accepted:
		return
	companies = hosts.companies_of(accepted)
	company_dt = hosts.doctype_for("company")
	start = graph.start_step(flow.steps).step_id
	now = now_datetime()
	user = frappe.session.user
	values = []
	keys = {}
	for contact in accepted:
		row = rows[contact]
		name = frappe.generate_hash(length=12)
		keys[name] = contact
		values.append(
			(
				name, flow.name, contact, row.full_name, row.email_id, row.mobile_no,
				companies.get(contact), company_dt if companies.get(contact) else None,
				"Active", start, now, now, source, active_key(flow.name, contact), 0, 0,
				now, now, user, user,
			)
		)
	columns = (
		"name", "flow", "contact", "full_name", "email", "mobile_no", "company", "company_doctype",
		"status", "current_step", "next_run_at", "enrolled_on", "enrolled_by", "active_key", "attempts",
		"docstatus", "creation", "modified", "owner", "modified_by",
	)
	# INSERT IGNORE: the unique active_key drops anyone enrolled concurrently by another request.
	frappe.db.bulk_insert("Marketing Flow Participant", columns, values, ignore_duplicates=True)
	inserted = set(
		frappe.get_all("Marketing Flow Participant", filters={"name": ("in", list(keys))}, pluck="name")
	)
	entries = []
	for name, contact in keys.items():
		if name in inserted:
			result.enrolled.append(name)
			entries.append(log.entry(flow.name, name, contact, None, "Enrolled", source))
		else:
			result.not_enrolled[contact] = _("already active in this flow")
	log.write_many(entries)


def rejections(flow: Any, contacts: list[str], rows: dict, consent_field: str | None) -> dict[str, str]:
	"""contact -> why it may not enter this flow now. Everyone else may."""
	why = eligibility_problems(flow, contacts, rows, consent_field)
	remaining = [c for c in contacts if c not in why]
	why.update(previous_participation(flow, remaining))
	from marketing_flows.engine import criteria

	remaining = [c for c in contacts if c not in why]
	for c in criteria.already_successful(flow, remaining):
		why[c] = _("already meets the flow's goal")
	return why


def eligibility_problems(flow: Any, contacts: list[str], rows: dict, consent_field: str | None) -> dict[str, str]:
	"""contact -> why it may not be in this flow at all (audience filters, unsubscribed, consent,
	suppression). Asked at enrolment and again by the runner before every step."""
	why: dict[str, str] = {}
	if not contacts:
		return why
	person = hosts.doctype_for("person") or "Contact"
	audience = filters.parse(flow.audience_filters, _("Audience Filters"))
	if audience:
		matching = set(
			frappe.get_all(person, filters=[[person, "name", "in", contacts], *audience], pluck="name")
		)
		for c in contacts:
			if c not in matching:
				why[c] = _("does not match the flow's audience filters")
	unsubscribed = unsubscribed_emails([rows[c].email_id for c in contacts if rows[c].get("email_id")])
	for c in contacts:
		if c in why:
			continue
		if cint(rows[c].get("unsubscribed")) or (rows[c].get("email_id") or "").lower() in unsubscribed:
			why[c] = _("unsubscribed")
		elif flow.requires_consent and not cint(rows[c].get(consent_field) if consent_field else 0):
			why[c] = _("no marketing consent")
	for c, list_name in suppressed(flow, [c for c in contacts if c not in why], rows).items():
		why[c] = _("suppressed by {0}").format(list_name)
	return why


def unsubscribed_emails(emails: list[str]) -> set[str]:
	"""Emails with a global Email Unsubscribe (Frappe's own unsubscribe records)."""
	if not emails:
		return set()
	return {
		e.lower()
		for e in frappe.get_all(
			"Email Unsubscribe", filters={"email": ("in", emails), "global_unsubscribe": 1}, pluck="email"
		)
	}


def suppressed(flow: Any, contacts: list[str], rows: dict) -> dict[str, str]:
	"""contact -> the suppression list that holds it."""
	found: dict[str, str] = {}
	if not contacts or not flow.get("suppression_lists"):
		return found
	from marketing_flows.engine import segments

	by_email = {}
	for c in contacts:
		if rows[c].get("email_id"):
			by_email.setdefault(rows[c]["email_id"].lower(), []).append(c)
	for row in flow.suppression_lists:
		if row.list_type == "Email Group" and row.email_group and by_email:
			members = frappe.get_all(
				"Email Group Member",
				filters={"email_group": row.email_group, "email": ("in", list(by_email))},
				pluck="email",
			)
			for email in members:
				for c in by_email.get(email.lower(), []):
					found.setdefault(c, row.email_group)
		elif row.list_type == "Segment" and row.segment:
			segment = frappe.get_cached_doc("Marketing Segment", row.segment)
			for c in segments.members_among(segment, contacts):
				found.setdefault(c, row.segment)
	return found


def previous_participation(flow: Any, contacts: list[str]) -> dict[str, str]:
	"""Already active here, or took part before when the policy says Never."""
	why: dict[str, str] = {}
	if not contacts:
		return why
	p = frappe.qb.DocType("Marketing Flow Participant")
	for contact, status in (
		frappe.qb.from_(p).select(p.contact, p.status).where((p.flow == flow.name) & p.contact.isin(contacts)).run()
	):
		if status in ACTIVE:
			why[contact] = _("already active in this flow")
		elif (flow.reenrollment or "Never") == "Never":
			why.setdefault(contact, _("already took part (re-enrolment: Never)"))
	return why


def remove_participants(flow: Any, participants: Iterable[str] | str) -> dict:
	"""Flow Administrator removes people: their participation ends with reason "Removed"."""
	require_flow_operator(flow)
	names = _as_list(participants)
	from marketing_flows.engine import runner

	removed = runner.end_participants(flow.name, names, "Exited", f"Removed by {frappe.session.user}")
	return {"removed": removed}
