"""Triggers: WHEN a person is proposed to a flow (Document Event, Web Form, Email Group,
Link Clicked, Segment, Date Field). Manual enrolment lives in enrolment.py, Flow Goal in goals.py
(whose pending follow-ups the Segment tick retries). Link Clicked: a click on a tracked link of
another flow's email (tracking.record_click) is proposed through watch.propose_click and enrolled
by the same job as the watched documents.

Triggers only propose; enrolment.enroll decides WHO gets in (audience, suppression, consent,
re-enrolment, goal already met). Running and Paused flows take people in (a paused flow's
participants wait); Draft and Stopped flows don't.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING

import frappe
from frappe import _
from frappe.utils import add_days, cint, getdate, today, validate_email_address

from marketing_flows.engine.entering import confirmation, enrolment, watch
from marketing_flows.engine.hosts import person_records
from marketing_flows.engine.queries import filters, segments
from marketing_flows.engine.running.participants import LIVE_FLOW_STATUSES as LIVE_STATUSES

if TYPE_CHECKING:
	from marketing_flows.engine.doctypes import MarketingFlow

CHUNK = enrolment.CHUNK
# Fields that hold a person's email, best first, when the flow names no person field.
EMAIL_FIELDS = ("email_id", "email", "contact_email", "raised_by", "email_address", "sender")
STANDARD_EMAIL_FIELDS = ("owner", "modified_by")
NAME_FIELDS = ("first_name", "last_name", "full_name")


def _live_flows(trigger_type: str, **conditions: str | tuple[str, str]) -> list[str]:
	return frappe.get_all(
		"Marketing Flow",
		filters={"status": ("in", LIVE_STATUSES), "trigger_type": trigger_type, **conditions},
		pluck="name",
		order_by="name asc",
	)


def _live_flow(name: str, trigger_type: str) -> MarketingFlow | None:
	"""The flow when it still takes people in through `trigger_type` (it may have changed since
	the job was queued)."""
	if not frappe.db.exists("Marketing Flow", name):
		return None
	flow: MarketingFlow = frappe.get_doc("Marketing Flow", name)
	if flow.status not in LIVE_STATUSES or flow.trigger_type != trigger_type:
		return None
	return flow


# --- Document Event, Web Form, Email Group, Link Clicked (queued by watch.py after commit) ----


def enrol_from_documents(entries: list[dict]) -> None:
	"""Background job, one per transaction that changed watched documents or clicked watched
	links. Each entry is {flow, trigger_type, doctype, name, web_form, email_group} (a click's
	also has url and source_flow; its doctype is Marketing Flow Participant, the clicking
	participation), deduplicated per (flow, doc)."""
	# A web form submitted by a Guest queues this job as Guest; a trigger acts for the system.
	frappe.set_user("Administrator")
	flows: dict[str, MarketingFlow | None] = {}
	for entry in entries:
		key = entry["flow"]
		if key not in flows:
			flows[key] = _live_flow(entry["flow"], entry["trigger_type"])
		flow = flows[key]
		if not flow:
			continue
		frappe.db.savepoint("marketing_flows_trigger")
		try:
			person = _person_for_entry(flow, entry)
			if person:
				source = _source(entry)
				if entry["trigger_type"] == "Web Form" and flow.get("require_confirmation"):
					confirmation.request(flow, person, source)  # double opt-in: asks first
				else:
					enrolment.enroll(flow, [person], source=source)
		except Exception:
			frappe.db.rollback(save_point="marketing_flows_trigger")
			frappe.log_error(
				title=f"Marketing Flows: trigger of {flow.name} failed for {entry['doctype']} {entry['name']}",
				reference_doctype="Marketing Flow",
				reference_name=flow.name,
			)


def _source(entry: dict) -> str:
	"""How the person came (the participant's Enrolled By, 140 characters, and the timeline)."""
	if entry["trigger_type"] == "Email Group":
		return f"Email Group {entry['email_group']}"
	if entry["trigger_type"] == watch.LINK_CLICKED:
		# the flow first: a long link (campaign tags) is what the 140 characters cut
		return _("Clicked in {0}: {1}").format(entry.get("source_flow") or "", entry.get("url") or "")[:140]
	return f"{entry['doctype']} {entry['name']}"


def _person_for_entry(flow: MarketingFlow, entry: dict) -> str | None:
	"""The person (of the flow's person doctype) the document proposes, if the flow's trigger
	still matches the document."""
	doctype, name = entry["doctype"], entry["name"]
	person = flow.person_doctype
	if entry["trigger_type"] == "Document Event":
		if flow.trigger_doctype != doctype:
			return None
		conditions = filters.parse(flow.trigger_conditions, _("Trigger Conditions"))
		fields = _person_fields(doctype, flow.trigger_person_field, person)
		row = _row(doctype, name, fields, conditions)
		return _find_person(person, row, fields) if row else None
	if entry["trigger_type"] == "Web Form":
		if flow.trigger_web_form != entry["web_form"]:
			return None
		if frappe.db.get_value("Web Form", flow.trigger_web_form, "doc_type") != doctype:
			return None
		fields = _person_fields(doctype, None, person)
		meta = frappe.get_meta(doctype)
		names = [f for f in NAME_FIELDS if meta.has_field(f)]
		row = _row(doctype, name, fields, [], extra=names)
		if not row:
			return None
		return _find_person(person, row, fields) or _person_by_email(
			person, _email_in(row, fields), create=True, names=row
		)
	if entry["trigger_type"] == "Email Group":
		member = frappe.db.get_value(doctype, name, ["email_group", "email", "unsubscribed"], as_dict=True)
		if not member or member.unsubscribed or member.email_group != flow.trigger_email_group:
			return None
		return _person_by_email(person, member.email, create=True)
	if entry["trigger_type"] == watch.LINK_CLICKED:
		return _person_who_clicked(flow, entry)
	return None


def _person_who_clicked(flow: MarketingFlow, entry: dict) -> str | None:
	"""The person behind the participation that clicked, as `flow` names them (the same person,
	or the Contact a lead became when `flow` enrols Contacts), when the flow still takes clicks
	in the source flow's emails on links like this one."""
	if flow.trigger_flow != entry.get("source_flow") or flow.trigger_flow == flow.name:
		return None
	if not watch.link_matches(flow.get("trigger_link_url"), entry.get("url")):
		return None
	row = frappe.db.get_value(
		watch.PARTICIPANT,
		entry["name"],
		["name", "flow", "person_doctype", "person", "contact"],
		as_dict=True,
	)
	if not row or row.flow != flow.trigger_flow:
		return None
	names = enrolment.names_for(flow, [row])
	return names[0] if names else None


def _row(
	doctype: str, name: str, fields: list[tuple], conditions: list, extra: list | None = None
) -> dict | None:
	"""The document's person fields, when it exists and matches `conditions` (one query)."""
	columns = ["name"]
	for field in fields:
		columns.extend(c for c in field[1:] if c and c not in columns)
	columns.extend(c for c in extra or [] if c not in columns)
	rows = frappe.get_all(
		doctype, filters=[[doctype, "name", "=", name], *conditions], fields=columns, limit=1
	)
	return rows[0] if rows else None


def _person_fields(doctype: str, person_field: str | None, person: str) -> list[tuple]:
	"""Where a person of the doctype `person` is on `doctype`: ("self",), ("link", field),
	("dynamic", field, doctype_field) or ("email", field), in the order to try. The flow's
	`trigger_person_field` wins; else Links to the person doctype, Dynamic Links, then email
	fields."""
	if doctype == person:
		return [("self", "name")]
	meta = frappe.get_meta(doctype)
	if person_field:
		df = meta.get_field(person_field)
		if not df:
			if person_field in STANDARD_EMAIL_FIELDS:
				return [("email", person_field)]
			frappe.throw(
				_("Trigger: {0} has no field '{1}' to find the person in.").format(doctype, person_field)
			)
		if df.fieldtype == "Link" and df.options == person:
			return [("link", df.fieldname)]
		if df.fieldtype == "Dynamic Link":
			return [("dynamic", df.fieldname, df.options)]
		return [("email", df.fieldname)]
	found: list[tuple] = [
		("link", df.fieldname) for df in meta.get("fields", {"fieldtype": "Link", "options": person})
	]
	found += [
		("dynamic", df.fieldname, df.options) for df in meta.get("fields", {"fieldtype": "Dynamic Link"})
	]
	emails = [f for f in EMAIL_FIELDS if meta.has_field(f)]
	emails += [df.fieldname for df in meta.fields if df.options == "Email" and df.fieldname not in emails]
	found += [("email", f) for f in emails]
	return found


def _find_person(person: str, row: dict, fields: list[tuple]) -> str | None:
	"""The first person (of the doctype `person`) found in the row's filled person fields."""
	for field in fields:
		kind, value = field[0], row.get(field[1])
		if not value:
			continue
		if kind == "self":
			return value
		if kind == "link":
			return value
		if kind == "dynamic":
			if row.get(field[2]) == person:
				return value
			continue
		found = _person_by_email(person, value)
		if found:
			return found
	return None


def _email_in(row: dict, fields: list[tuple]) -> str | None:
	for field in fields:
		if field[0] == "email" and row.get(field[1]):
			return row.get(field[1])
	return None


def _person_by_email(
	person: str, value: str | None, create: bool = False, names: dict | None = None
) -> str | None:
	"""The person of the doctype `person` with this email; with `create`, a new one (a Contact
	or a lead) when there is none."""
	email = _clean_email(value)
	if not email:
		return None
	found = person_records.person_by_email(person, email)
	if found or not create:
		return found
	first, last = _split_names(email, names or {})
	return person_records.new_person(person, email, first, last)


def _clean_email(value: str | None) -> str | None:
	"""`Jane <jane@example.com>` or `jane@example.com` -> jane@example.com; None if invalid."""
	valid = validate_email_address((value or "").strip())
	return valid.split(",")[0].strip().lower() if valid else None


def _split_names(email: str, names: dict) -> tuple[str, str | None]:
	"""First and last name of someone who only left an email (and maybe a full name)."""
	first, last = names.get("first_name"), names.get("last_name")
	if not first and names.get("full_name"):
		first, _sep, rest = names["full_name"].strip().partition(" ")
		last = last or rest or None
	return first or email.split("@")[0], last


# --- Segment --------------------------------------------------------------------------------


def enrol_from_segments() -> None:
	"""Scheduler (every 15 minutes): propose new members of trigger segments, one job per flow
	(on the long queue: a segment can be large)."""
	for flow_name in _live_flows("Segment", trigger_segment=("is", "set")):
		frappe.enqueue(
			"marketing_flows.engine.entering.triggers.enrol_segment_members",
			queue="long",
			timeout=3600,
			job_id=f"marketing_flows:segment-trigger:{flow_name}",
			deduplicate=True,
			flow_name=flow_name,
		)


def enrol_segment_members(flow_name: str) -> int:
	"""Background job: enrol the segment's members who never took part in the flow (anyone who
	did was proposed before: re-proposing them every 15 minutes would re-enrol people who
	finished). Commits per chunk; returns how many got in."""
	doc = _live_flow(flow_name, "Segment")
	if not doc or not doc.trigger_segment:
		return 0
	segment = frappe.get_doc("Marketing Segment", doc.trigger_segment)
	p = frappe.qb.DocType("Marketing Flow Participant")
	known = set(frappe.qb.from_(p).select(p.person).distinct().where(p.flow == flow_name).run(pluck=True))
	new = [c for c in segments.contacts(segment) if c not in known]
	return _enrol_in_chunks(doc, new, f"Marketing Segment {segment.name}")


def _enrol_in_chunks(flow: MarketingFlow, contacts: list[str], source: str) -> int:
	enrolled = 0
	for start in range(0, len(contacts), CHUNK):
		status = frappe.db.get_value("Marketing Flow", flow.name, "status")
		if status not in LIVE_STATUSES:
			break  # stopped (or deleted) while we were enrolling
		flow.status = status
		enrolled += len(enrolment.enroll(flow, contacts[start : start + CHUNK], source=source).enrolled)
		frappe.db.commit()
	return enrolled


# --- Date Field -----------------------------------------------------------------------------


def enrol_from_date_fields() -> None:
	"""Scheduler (daily): propose people whose date field (± offset) is today, one job per flow.
	The day is fixed here so that a job that runs after midnight still uses its own day."""
	day = today()
	for flow_name in _live_flows("Date Field", trigger_date_field=("is", "set")):
		frappe.enqueue(
			"marketing_flows.engine.entering.triggers.enrol_date_field_matches",
			queue="long",
			timeout=3600,
			job_id=f"marketing_flows:date-trigger:{flow_name}",
			deduplicate=True,
			flow_name=flow_name,
			day=day,
		)


def enrol_date_field_matches(flow_name: str, day: str | None = None) -> int:
	"""Background job: enrol people whose `trigger_date_field` + `trigger_date_offset` days is
	`day` (today), i.e. whose date is day - offset; offset -7 means a week before the date."""
	doc = _live_flow(flow_name, "Date Field")
	if not doc or not doc.trigger_date_field:
		return 0
	return _enrol_in_chunks(
		doc,
		people_with_date(
			doc.trigger_date_field,
			add_days(getdate(day or today()), -cint(doc.trigger_date_offset)),
			doc.person_doctype,
		),
		f"Date Field {doc.trigger_date_field}",
	)


def people_with_date(fieldname: str, date: datetime.date | str, person: str = "Contact") -> list[str]:
	"""People (of the doctype `person`) whose Date or Datetime field falls on `date`: a range on
	the bare column, so an index on it is used (no DATE(column) in the query)."""
	df = frappe.get_meta(person).get_field(fieldname)
	if not df or df.fieldtype not in ("Date", "Datetime"):
		frappe.throw(_("Trigger: '{0}' is not a date field of {1}.").format(fieldname, person))
	start = getdate(date)
	end = start + datetime.timedelta(days=1)
	if df.fieldtype == "Datetime":
		start = datetime.datetime.combine(start, datetime.time.min)
		end = datetime.datetime.combine(end, datetime.time.min)
	t = frappe.qb.DocType(person)
	column = t[fieldname]
	return (
		frappe.qb.from_(t)
		.select(t.name)
		.where((column >= start) & (column < end))
		.orderby(t.name)
		.run(pluck=True)
	)
