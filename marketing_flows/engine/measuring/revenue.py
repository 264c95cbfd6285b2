"""Revenue a flow is credited with: the documents that carry revenue (hosts/revenue_documents.py)
of a participant's person, company or lead, dated within the flow's revenue window.

A participation's window is [anchor, anchor + the flow's `attribution_window_days`]; the anchor
is its enrolment, or (the flow's `attribution_from` = "Last Open or Click") its latest open or
click of the flow's email at or before the document (`last_engaged_on`, else the log), else its
enrolment. People held out by a control group have no opens: their anchor is their enrolment
(when they were held out). Documents with a date only (no time of day) are compared by dates.
Every participation is looked at, whatever its status or its flow's: a stopped flow's people
were still reached by it.

A credit is a Marketing Flow Attribution row, one per participant and document (a unique
index); the participant's `revenue` and `revenue_documents` are the sums of its rows, and each
credit, change and take-back is logged ("Revenue": the document named in the message only, as a
reference field would keep it from being deleted). Writers lock the participants they credit
first (in name order), so two workers on one document, or a document and a recompute, can't
double a credit or lose one.

When: a save of a revenue document (doc_events "*", a dict lookup for any other doctype) is
remembered until the commit, then one job (`sync_documents`) credits or takes back. A deletion
takes back at once (the rows link to the document: Frappe would refuse the deletion). A failed
document is logged (Error Log, with the document) and kept for `retry_failed`; `recompute` builds
a flow's credits again from the documents (its window or anchor changed, a backfill).

The reports read `totals`, `revenue_by_step` and `revenue_by_branch`: the participants' credits,
as their own `revenue` sums them (a document of a Customer with two Contacts in the flow is
credited to each: revenue per person compares enrolled and held-out people alike)."""

from __future__ import annotations

from datetime import datetime, timedelta
from datetime import time as day_time
from typing import TYPE_CHECKING, NamedTuple

import frappe
from frappe import _
from frappe.utils import cint, flt, fmt_money, get_datetime, now_datetime

from marketing_flows.engine import bulk, log
from marketing_flows.engine.hosts import revenue_documents
from marketing_flows.engine.hosts.revenue_documents import People, RevenueDocument
from marketing_flows.engine.names import NameBlock
from marketing_flows.engine.running.participants import HELD_OUT
from marketing_flows.engine.until_commit import UntilCommit

if TYPE_CHECKING:
	from collections.abc import Iterable

	from frappe.model.document import Document

ATTRIBUTION = "Marketing Flow Attribution"
PARTICIPANT = "Marketing Flow Participant"
FLOW = "Marketing Flow"
LAST_OPEN_OR_CLICK = "Last Open or Click"
ENGAGED = ("Opened", "Clicked")
DEFAULT_WINDOW_DAYS = 30
RETRY_KEY = "marketing_flows:revenue_retry"  # "doctype\nname" -> tries so far
RECOMPUTE_CHUNK = 1000

PARTICIPANT_FIELDS = (
	"name",
	"flow",
	"flow_version",
	"status",
	"person_doctype",
	"person",
	"contact",
	"company_doctype",
	"company",
	"enrolled_on",
	"last_engaged_on",
)
COLUMNS = (
	"name",
	"creation",
	"modified",
	"owner",
	"modified_by",
	"docstatus",
	"idx",
	"flow",
	"participant",
	"flow_version",
	"held_out",
	"document_type",
	"document_name",
	"document_date",
	"amount",
)

Key = tuple[str, str, str]  # (participant, document type, document name)


class Window(NamedTuple):
	days: int
	from_engagement: bool


class Credit(NamedTuple):
	"""What one participant is credited with for one document."""

	participant: str
	flow: str
	flow_version: int
	contact: str | None
	held_out: bool
	document_type: str
	document_name: str
	moment: datetime
	amount: float
	currency: str | None


# --- doc_events "*" (a dict lookup for any doctype that carries no revenue) -------------------


def _busy() -> bool:
	flags = frappe.flags
	return bool(flags.in_install or flags.in_migrate or flags.in_patch or flags.in_uninstall)


def on_change(doc: Document, method: str | None = None) -> None:
	"""doc_events "*" on_change (every insert, save and db_set): a document that is not
	submitted counts while it is won (a CRM Deal, a mapped doctype)."""
	source = revenue_documents.sources().get(doc.doctype)
	if source is None or source.submittable or doc.flags.in_delete or _busy():
		return  # a deletion runs on_change too: on_trash took the credits back
	if _moved(source, doc):
		pending.state().add((doc.doctype, doc.name))


def on_submit(doc: Document, method: str | None = None) -> None:
	"""doc_events "*" on_submit: a submitted Sales Invoice / Order (or mapped doctype) counts."""
	source = revenue_documents.sources().get(doc.doctype)
	if source is not None and source.submittable and not _busy():
		pending.state().add((doc.doctype, doc.name))


def on_cancel(doc: Document, method: str | None = None) -> None:
	"""doc_events "*" on_cancel: its credits are taken back."""
	on_submit(doc, method)


def on_update_after_submit(doc: Document, method: str | None = None) -> None:
	"""doc_events "*" on_update_after_submit: a mapped submitted doctype whose won field or amount
	may change after submission."""
	source = revenue_documents.sources().get(doc.doctype)
	if source is not None and source.submittable and not _busy() and _moved(source, doc):
		pending.state().add((doc.doctype, doc.name))


def on_trash(doc: Document, method: str | None = None) -> None:
	"""doc_events "*" on_trash: credits are taken back now, in the deletion's transaction (the
	rows name the document: Frappe refuses to delete a document that rows still link to)."""
	if doc.doctype in revenue_documents.sources() and not _busy():
		take_back(doc.doctype, doc.name)


def _moved(source: revenue_documents.Source, doc: Document) -> bool:
	"""May this save have changed what the document is worth to flows? In memory, no query:
	it counts now or counted before, and (both) a field of its amount, date or people changed.
	A db_set (no document before the save) is looked at whenever it is not an insert."""
	now = revenue_documents.counts(source, doc)
	before = doc.get_doc_before_save()
	if before is None:
		return now or not doc.flags.in_insert
	was = revenue_documents.counts(source, before)
	return now != was or (now and revenue_documents.changed(source, doc, before))


def _enqueue(state: set[tuple[str, str]]) -> None:
	"""After commit: one job for every revenue document this transaction saved."""
	if not state:
		return
	try:
		frappe.enqueue(
			"marketing_flows.engine.measuring.revenue.sync_documents",
			queue="default",
			documents=[list(key) for key in sorted(state)],
		)
	except Exception:
		# committed already: never fail the user's save; `recompute` heals what is missed
		frappe.log_error(title="Marketing Flows: could not queue revenue attribution")


# This transaction's revenue documents, handed to one job once it commits.
pending: UntilCommit[set[tuple[str, str]]] = UntilCommit("marketing_flows_pending_revenue", set, _enqueue)


# --- the job ----------------------------------------------------------------------------------


def sync_documents(documents: list[list[str]]) -> int:
	"""Background job: credit or take back each document ([doctype, name]), each in its own
	transaction, then those that failed earlier. A deadlock or lock timeout fails the job (Frappe
	runs it again: it is idempotent); any other failure is logged with its document and kept for
	`retry_failed`. Returns how many documents were synced."""
	done = 0
	for doctype, name in [*((d[0], d[1]) for d in documents), *_take_retries()]:
		if _sync_one(doctype, name):
			done += 1
	return done


def retry_failed() -> int:
	"""Scheduler (or any sync job): the documents whose attribution failed, tried again."""
	return sum(1 for doctype, name in _take_retries() if _sync_one(doctype, name))


def _sync_one(doctype: str, name: str) -> bool:
	try:
		sync_document(doctype, name)
		frappe.db.commit()
		_succeeded(doctype, name)
		return True
	except Exception as e:
		frappe.db.rollback()
		if frappe.db.is_deadlocked(e) or frappe.db.is_timedout(e):
			_keep_for_retry(doctype, name)  # if Frappe's own retries of the job run out
			raise
		frappe.log_error(
			title=f"Marketing Flows: revenue of {doctype} {name} could not be attributed (retried later)",
			reference_doctype=doctype,
			reference_name=name,
		)
		_keep_for_retry(doctype, name)
		return False


def _retry_field(doctype: str, name: str) -> str:
	return f"{doctype}\n{name}"


def _keep_for_retry(doctype: str, name: str) -> None:
	try:
		tries = cint(frappe.cache.hget(RETRY_KEY, _retry_field(doctype, name))) + 1
		limit = cint(frappe.db.get_single_value("Marketing Flow Settings", "max_attempts")) or 5
		if tries > limit:
			frappe.cache.hdel(RETRY_KEY, _retry_field(doctype, name))
			frappe.log_error(
				title=f"Marketing Flows: gave up attributing {doctype} {name} after {limit} tries",
				message="Recompute the revenue of the flows concerned once the cause is fixed.",
				reference_doctype=doctype,
				reference_name=name,
			)
			return
		frappe.cache.hset(RETRY_KEY, _retry_field(doctype, name), tries)
	except Exception:
		frappe.log_error(title=f"Marketing Flows: could not keep {doctype} {name} for a retry")


def _take_retries() -> list[tuple[str, str]]:
	"""The documents kept for a retry (they stay kept until they succeed or run out of tries)."""
	fields = frappe.cache.hkeys(RETRY_KEY) or []
	out = []
	for raw in fields:
		text = raw.decode() if isinstance(raw, bytes) else str(raw)
		doctype, _sep, name = text.partition("\n")
		if doctype and name:
			out.append((doctype, name))
	return out


def _succeeded(doctype: str, name: str) -> None:
	frappe.cache.hdel(RETRY_KEY, _retry_field(doctype, name))


def sync_document(doctype: str, name: str) -> None:
	"""Credit one document to the participations whose window holds it, and take it back from
	those it no longer counts for (cancelled, lost, deleted, changed). The caller commits."""
	document = revenue_documents.read(doctype, [name]).get(name)
	wanted: dict[Key, Credit] = {}
	if document is not None:
		candidates = _participants_of(document.people, _until(document))
		wanted = _credits(document, candidates, _windows({p.flow for p in candidates}))
	_write_document(doctype, name, wanted)


def take_back(doctype: str, name: str) -> None:
	"""Every credit of a document, taken back (it is being deleted)."""
	_write_document(doctype, name, {})


def _until(document: RevenueDocument) -> datetime:
	"""The last moment of the document: its date's end when it has no time of day."""
	if document.date_only:
		return datetime.combine(document.moment.date(), day_time.max)
	return document.moment


def _participants_of(people: People, until: datetime) -> list[frappe._dict]:
	"""Participations (any flow, any status) of the people a document names, enrolled by `until`:
	by person (index person), Contact (index contact) and company (index company)."""
	p = frappe.qb.DocType(PARTICIPANT)
	found: dict[str, frappe._dict] = {}

	def fetch(condition: object) -> list[frappe._dict]:
		return (
			frappe.qb.from_(p)
			.select(*(p[f] for f in PARTICIPANT_FIELDS))
			.where(condition)
			.where(p.enrolled_on <= until)
			.run(as_dict=True)
		)

	if people.persons:
		for row in fetch(p.person.isin(sorted({name for _dt, name in people.persons}))):
			if (row.person_doctype, row.person) in people.persons:
				found[row.name] = row
	if people.contacts:
		for row in fetch(p.contact.isin(sorted(people.contacts))):
			found[row.name] = row
	if people.companies:
		for row in fetch(p.company.isin(sorted({name for _dt, name in people.companies}))):
			if (row.company_doctype, row.company) in people.companies:
				found[row.name] = row
	return list(found.values())


def _windows(flows: Iterable[str]) -> dict[str, Window]:
	"""flow -> its revenue window."""
	flows = sorted(set(flows))
	if not flows:
		return {}
	rows = frappe.get_all(
		FLOW,
		filters={"name": ("in", flows)},
		fields=["name", "attribution_window_days", "attribution_from"],
	)
	return {
		r.name: Window(
			DEFAULT_WINDOW_DAYS
			if r.attribution_window_days is None
			else max(0, cint(r.attribution_window_days)),
			r.attribution_from == LAST_OPEN_OR_CLICK,
		)
		for r in rows
	}


def _engaged_before(participants: list[str], until: datetime) -> dict[str, datetime]:
	"""participant -> its latest open or click at or before `until` (index participant, event)."""
	if not participants:
		return {}
	lg = frappe.qb.DocType("Marketing Flow Log")
	rows = (
		frappe.qb.from_(lg)
		.select(lg.participant, frappe.qb.functions("MAX", lg.creation))
		.where(lg.participant.isin(participants) & lg.event.isin(list(ENGAGED)) & (lg.creation <= until))
		.groupby(lg.participant)
		.run()
	)
	return {name: get_datetime(moment) for name, moment in rows if moment}


def _credits(
	document: RevenueDocument, candidates: list[frappe._dict], windows: dict[str, Window]
) -> dict[Key, Credit]:
	"""The participations among `candidates` whose window holds the document, as credits."""
	until = _until(document)
	held = {p.name for p in candidates if p.status == HELD_OUT}
	# an engagement after the document can't anchor it: the latest one before it, from the log
	look_up = [
		p.name
		for p in candidates
		if p.name not in held
		and windows.get(p.flow, Window(0, False)).from_engagement
		and p.last_engaged_on
		and get_datetime(p.last_engaged_on) > until
	]
	engaged = _engaged_before(look_up, until)
	wanted: dict[Key, Credit] = {}
	for p in candidates:
		window = windows.get(p.flow)
		if window is None or not p.enrolled_on:
			continue
		anchor = get_datetime(p.enrolled_on)
		if window.from_engagement and p.name not in held:
			last = get_datetime(p.last_engaged_on) if p.last_engaged_on else None
			if last and last <= until:
				anchor = last
			elif p.name in engaged:
				anchor = engaged[p.name]
		if not _within(anchor, window.days, document):
			continue
		wanted[(p.name, document.doctype, document.name)] = Credit(
			p.name,
			p.flow,
			cint(p.flow_version),
			p.contact,
			p.name in held,
			document.doctype,
			document.name,
			document.moment,
			document.amount,
			document.currency,
		)
	return wanted


def _within(anchor: datetime, days: int, document: RevenueDocument) -> bool:
	end = anchor + timedelta(days=days)
	if document.date_only:
		return anchor.date() <= document.moment.date() <= end.date()
	return anchor <= document.moment <= end


# --- writing credits --------------------------------------------------------------------------


def _lock(participants: Iterable[str]) -> None:
	"""Lock participant rows in name order: every writer of credits does, so none deadlocks another."""
	names = sorted(set(participants))
	p = frappe.qb.DocType(PARTICIPANT)
	for start in range(0, len(names), 1000):
		frappe.qb.from_(p).select(p.name).where(p.name.isin(names[start : start + 1000])).orderby(
			p.name
		).for_update().run()


def _existing(condition_sql: str, values: dict) -> dict[Key, frappe._dict]:
	rows = frappe.db.sql(
		f"""select a.name, a.participant, a.flow, a.document_type, a.document_name, a.amount,
			a.document_date, a.flow_version, p.contact
		from `tab{ATTRIBUTION}` a left join `tab{PARTICIPANT}` p on p.name = a.participant
		where {condition_sql}""",
		values,
		as_dict=True,
	)
	return {(r.participant, r.document_type, r.document_name): r for r in rows}


def _of_document(doctype: str, name: str) -> dict[Key, frappe._dict]:
	return _existing(
		"a.document_name = %(name)s and a.document_type = %(doctype)s", {"name": name, "doctype": doctype}
	)


def _write_document(doctype: str, name: str, wanted: dict[Key, Credit]) -> None:
	"""Make the document's credits `wanted`: lock every participant it credits or credited, read
	its rows under the locks (until no other writer added one), then write the difference."""
	existing = _of_document(doctype, name)
	locked: set[str] = set()
	while True:
		needed = {k[0] for k in existing} | {k[0] for k in wanted}
		if needed <= locked:
			break
		_lock(needed)
		locked |= needed
		existing = _of_document(doctype, name)
	_apply(wanted, existing)


def _apply(wanted: dict[Key, Credit], existing: dict[Key, frappe._dict]) -> None:
	"""Insert, change and delete Marketing Flow Attribution rows so that `existing` becomes
	`wanted` (the participants are locked); then the participants' sums, and the log."""
	if not wanted and not existing:
		return
	now = now_datetime()
	user = frappe.session.user if frappe.session else "Administrator"
	names = NameBlock()
	entries: list[tuple] = []
	new = [c for k, c in wanted.items() if k not in existing]
	gone = [r for k, r in existing.items() if k not in wanted]
	moved = [
		(existing[k], c)
		for k, c in wanted.items()
		if k in existing
		and (
			flt(existing[k].amount, 6) != flt(c.amount, 6)
			or get_datetime(existing[k].document_date) != get_datetime(c.moment)
		)
	]
	if new:
		bulk.insert(
			ATTRIBUTION,
			COLUMNS,
			[
				(
					names.next(),
					now,
					now,
					user,
					user,
					0,
					0,
					c.flow,
					c.participant,
					c.flow_version,
					int(c.held_out),
					c.document_type,
					c.document_name,
					c.moment,
					c.amount,
				)
				for c in new
			],
		)
		entries += [
			log.entry(
				c.flow,
				c.participant,
				c.contact,
				None,
				"Revenue",
				_("{0} {1}: {2}").format(_(c.document_type), c.document_name, money(c.amount, c.currency)),
				version=c.flow_version,
			)
			for c in new
		]
	for row, c in moved:
		frappe.db.sql(
			f"update `tab{ATTRIBUTION}` set amount = %s, document_date = %s, modified = %s where name = %s",
			(c.amount, c.moment, now, row.name),
		)
		if flt(row.amount, 6) != flt(c.amount, 6):
			entries.append(
				log.entry(
					c.flow,
					c.participant,
					c.contact,
					None,
					"Revenue",
					_("{0} {1}: {2} (was {3})").format(
						_(c.document_type),
						c.document_name,
						money(c.amount, c.currency),
						money(row.amount, c.currency),
					),
					version=c.flow_version,
				)
			)
	if gone:
		frappe.db.sql(
			f"delete from `tab{ATTRIBUTION}` where name in %(names)s", {"names": [r.name for r in gone]}
		)
		currencies: dict[tuple[str, str], str | None] = {}
		for r in gone:
			key = (r.document_type, r.document_name)
			if key not in currencies:
				currencies[key] = revenue_documents.currency_of(*key)
			entries.append(
				log.entry(
					r.flow,
					r.participant,
					r.contact,
					None,
					"Revenue",
					_("{0} {1} no longer counts: {2}").format(
						_(r.document_type), r.document_name, money(-flt(r.amount), currencies[key])
					),
					version=cint(r.flow_version),
				)
			)
	touched = (
		{c.participant for c in new} | {c.participant for _r, c in moved} | {r.participant for r in gone}
	)
	update_sums(touched)
	if entries:
		log.write_many(entries)


def money(amount: float, currency: str | None) -> str:
	"""1,200.00 EUR: the site's number format, then the currency's code."""
	text = fmt_money(amount, precision=2)
	return f"{text} {currency}" if currency else text


def update_sums(participants: Iterable[str]) -> None:
	"""participant.revenue / revenue_documents := the sums of its credits (index participant)."""
	names = sorted(set(participants))
	for start in range(0, len(names), 1000):
		frappe.db.sql(
			f"""update `tab{PARTICIPANT}` p set
				p.revenue = (select coalesce(sum(a.amount), 0) from `tab{ATTRIBUTION}` a where a.participant = p.name),
				p.revenue_documents = (select count(*) from `tab{ATTRIBUTION}` a where a.participant = p.name)
			where p.name in %(names)s""",
			{"names": names[start : start + 1000]},
		)


# --- a flow's credits built again ---------------------------------------------------------------


def queue_recompute(flow_name: str) -> None:
	"""After this transaction commits, rebuild the flow's credits in a job (its window or its
	anchor changed; a backfill). One job per flow at a time."""
	frappe.enqueue(
		"marketing_flows.engine.measuring.revenue.recompute",
		queue="long",
		job_id=f"marketing_flows:revenue:{flow_name}",
		deduplicate=True,
		enqueue_after_commit=True,
		flow_name=flow_name,
	)


def recompute(flow_name: str) -> int:
	"""Rebuild the flow's credits from the documents: every participation, a chunk at a time
	(each chunk locked, written and committed on its own). Returns the credits it holds now."""
	windows = _windows([flow_name])
	if flow_name not in windows:
		return 0
	window = windows[flow_name]
	p = frappe.qb.DocType(PARTICIPANT)
	after = ""
	total = 0
	while True:
		chunk = (
			frappe.qb.from_(p)
			.select(*(p[f] for f in PARTICIPANT_FIELDS))
			.where((p.flow == flow_name) & (p.name > after))
			.orderby(p.name)
			.limit(RECOMPUTE_CHUNK)
			.run(as_dict=True)
		)
		if not chunk:
			return total
		after = chunk[-1].name
		total += _recompute_chunk(chunk, windows, window)
		frappe.db.commit()


def _recompute_chunk(chunk: list[frappe._dict], windows: dict[str, Window], window: Window) -> int:
	enrolled = [get_datetime(p.enrolled_on) for p in chunk if p.enrolled_on]
	wanted: dict[Key, Credit] = {}
	if enrolled:
		latest = max(get_datetime(p.last_engaged_on or p.enrolled_on) for p in chunk if p.enrolled_on)
		people = People()
		by_person: dict[tuple[str, str], list[frappe._dict]] = {}
		by_contact: dict[str, list[frappe._dict]] = {}
		by_company: dict[tuple[str, str], list[frappe._dict]] = {}
		for p in chunk:
			if p.person and p.person_doctype and p.person_doctype != "Contact":
				people.persons.add((p.person_doctype, p.person))
				by_person.setdefault((p.person_doctype, p.person), []).append(p)
			if p.contact:
				people.contacts.add(p.contact)
				by_contact.setdefault(p.contact, []).append(p)
			if p.company and p.company_doctype:
				people.companies.add((p.company_doctype, p.company))
				by_company.setdefault((p.company_doctype, p.company), []).append(p)
		documents = revenue_documents.of_people(
			people, min(enrolled), latest + timedelta(days=window.days + 1)
		)
		for document in documents:
			matched: dict[str, frappe._dict] = {}
			for key in document.people.persons:
				matched.update((p.name, p) for p in by_person.get(key, ()))
			for contact in document.people.contacts:
				matched.update((p.name, p) for p in by_contact.get(contact, ()))
			for key in document.people.companies:
				matched.update((p.name, p) for p in by_company.get(key, ()))
			until = _until(document)
			candidates = [
				p for p in matched.values() if p.enrolled_on and get_datetime(p.enrolled_on) <= until
			]
			wanted.update(_credits(document, candidates, windows))
	names = [p.name for p in chunk]
	_lock(names)
	existing = _existing("a.participant in %(names)s", {"names": names})
	_apply(wanted, existing)
	return len(wanted)


# --- the reports ------------------------------------------------------------------------------


def _version_filter(version: int | None) -> tuple[str, dict]:
	if not version:
		return "", {}
	return (
		f" and a.participant in (select v.name from `tab{PARTICIPANT}` v"
		" where v.flow = %(flow)s and v.flow_version = %(version)s)",
		{"version": cint(version)},
	)


def totals(flow_name: str, version: int | None = None) -> dict[str, tuple[float, int]]:
	"""{"enrolled": (amount, documents), "held_out": (amount, documents)}: the sum of the
	participants' credits (as their `revenue`) and how many documents they come from, of the
	flow's participants (of one version: those on it now)."""
	extra, values = _version_filter(version)
	rows = frappe.db.sql(
		f"""select a.held_out, sum(a.amount), count(distinct a.document_type, a.document_name)
		from `tab{ATTRIBUTION}` a where a.flow = %(flow)s{extra}
		group by a.held_out""",
		{"flow": flow_name, **values},
	)
	out = {"enrolled": (0.0, 0), "held_out": (0.0, 0)}
	for held_out, amount, documents in rows:
		out["held_out" if cint(held_out) else "enrolled"] = (flt(amount), cint(documents))
	return out


# The revenue of the people who passed a step: the flow's credited participants and their sums
# (index flow, held_out, participant, amount: only those with revenue, read from the index), and
# per person the steps (and branches) they passed, each once (their "Step Executed" entries by the
# index participant, event). One row per credited person, grouped in the database; summed here.
# (A DISTINCT over (step, person) or a join from the log's side costs several times more at
# 100 000 participants: the first needs a temporary table on disk, the second reads every
# person's entries, credited or not.)
ITEM = "\x1f"  # between the steps of one person
PAIR = "\x1e"  # between a step and its branch ("" where none)
PASSED_SQL = """select r.amount,
		group_concat(distinct concat(l.step_id, char(30 using utf8mb4), coalesce(l.branch, '')) separator '\x1f')
	from (
		select a.participant, sum(a.amount) as amount from `tab{attribution}` a
		where a.flow = %(flow)s and a.held_out = 0 group by a.participant
	) r
	join `tabMarketing Flow Log` l on l.participant = r.participant and l.event = 'Step Executed'
	where l.step_id is not null {version}
	group by r.participant"""


def revenue_by_step_and_branch(
	flow_name: str, version: int | None = None
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
	"""(`revenue_by_step`, `revenue_by_branch`) from one query: the Reports tab wants both."""
	sql = PASSED_SQL.format(
		attribution=ATTRIBUTION, version="and l.flow_version = %(version)s" if version else ""
	)
	by_step: dict[str, float] = {}
	by_branch: dict[str, dict[str, float]] = {}
	for amount, items in frappe.db.sql(sql, {"flow": flow_name, "version": cint(version)}):
		amount = flt(amount)
		passed = [item.partition(PAIR) for item in (items or "").split(ITEM)]
		for step_id in {step_id for step_id, _sep, _branch in passed if step_id}:
			by_step[step_id] = by_step.get(step_id, 0.0) + amount
		for step_id, _sep, branch in passed:
			if step_id and branch:
				taken = by_branch.setdefault(step_id, {})
				taken[branch] = taken.get(branch, 0.0) + amount
	return (
		{step_id: round(value, 6) for step_id, value in by_step.items()},
		{
			step_id: {branch: round(value, 6) for branch, value in taken.items()}
			for step_id, taken in by_branch.items()
		},
	)


def revenue_by_step(flow_name: str, version: int | None = None) -> dict[str, float]:
	"""step_id -> the revenue of the participants who passed the step ("Step Executed"; of one
	version: the steps executed on it), each person once. Held-out people pass no step."""
	return revenue_by_step_and_branch(flow_name, version)[0]


def revenue_by_branch(flow_name: str, version: int | None = None) -> dict[str, dict[str, float]]:
	"""step_id -> branch (or A/B variant) key -> the revenue of the participants who took it,
	each person once."""
	return revenue_by_step_and_branch(flow_name, version)[1]
