"""Which doctypes running flows watch, cached like Frappe's own Notification map, so that saving
a document nobody watches costs nothing: the map lives in Redis with an in-process copy and
is forgotten whenever a flow changes.

Every save of every document passes through the doc_events "*" hooks below. They only read the
map (Redis once per request, then `frappe.local.cache`) and remember matches until the commit
(`until_commit`); no query runs in the request. After the transaction commits, one background
job re-checks the proposals and enrols (triggers.enrol_from_documents), as Frappe's webhooks
do, and one checks the goals of the people the saves named (goals.evaluate_changes).

The map: doctype -> {"triggers": [TriggerWatch, ...], "criteria": [flow names]}: the flows
whose triggers watch the doctype, and those whose live success criteria read it
(`_add_criterion_watches`). Doctypes nobody watches are absent.

Clicks are watched the same way (a second small map, `link_triggers`): source flow -> the live
flows whose trigger is "Link Clicked" in that flow's emails. A click on a tracked link
(tracking.record_click) reads it and proposes the person to those flows, through the same
queue as the documents' proposals: enrolled by one job after the click's commit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

import frappe

from marketing_flows.engine.hosts import doctype_roles, record_fields
from marketing_flows.engine.measuring import actions
from marketing_flows.engine.queries import criteria
from marketing_flows.engine.running.participants import LIVE_FLOW_STATUSES
from marketing_flows.engine.until_commit import UntilCommit

if TYPE_CHECKING:
	from frappe.model.document import Document

CACHE_KEY = "marketing_flows:watched_doctypes"
LINK_CACHE_KEY = "marketing_flows:link_triggers"
PARTICIPANT = "Marketing Flow Participant"
LINK_CLICKED = "Link Clicked"

# Paused flows still enrol (their participants wait); Draft and Stopped flows watch nothing.
LIVE_STATUSES = LIVE_FLOW_STATUSES
WATCHING_TRIGGERS = ("Document Event", "Web Form", "Email Group")
EMAIL_GROUP_MEMBER = "Email Group Member"


class TriggerWatch(TypedDict):
	flow: str
	trigger_type: str  # Document Event, Web Form, Email Group
	insert: bool
	update: bool
	web_form: str | None
	email_group: str | None


# --- the cached map ----------------------------------------------------------------------


def watched() -> dict[str, dict[str, list]]:
	"""The whole map, from the in-process copy, else Redis, else built from the database."""
	watch_map = frappe.cache.get_value(CACHE_KEY, _build)
	if watch_map is None:
		# a get_value of the key without generator earlier in this request kept the miss in
		# frappe.local.cache (Frappe caches None there): build, and store for everyone
		watch_map = _build()
		frappe.cache.set_value(CACHE_KEY, watch_map)
	return watch_map


def watchers_of(doctype: str) -> dict[str, list] | None:
	"""What watches `doctype` ({"triggers": [...], "criteria": [...]}), None when nothing does."""
	return watched().get(doctype)


def flows_changed() -> None:
	"""Called when a flow is saved, run, paused, stopped or deleted: forget the cached map.

	Forgotten now (this request sees its own change), again after commit (another process may
	rebuild the map from the old rows before we commit) and after a rollback (this request may
	have rebuilt it from rows that never got committed)."""
	_forget()
	if getattr(frappe.local, "db", None):
		frappe.db.after_commit.add(_forget)
		frappe.db.after_rollback.add(_forget)


def _forget() -> None:
	frappe.cache.delete_value(CACHE_KEY)
	frappe.cache.delete_value(LINK_CACHE_KEY)


def _build() -> dict[str, dict[str, list]]:
	watch_map: dict[str, dict[str, list]] = {}
	_add_trigger_watches(watch_map)
	_add_criterion_watches(watch_map)
	return watch_map


def _slot(watch_map: dict[str, dict[str, list]], doctype: str) -> dict[str, list]:
	return watch_map.setdefault(doctype, {"triggers": [], "criteria": []})


def _add_trigger_watches(watch_map: dict[str, dict[str, list]]) -> None:
	flows = frappe.get_all(
		"Marketing Flow",
		filters={"status": ("in", LIVE_STATUSES), "trigger_type": ("in", WATCHING_TRIGGERS)},
		fields=[
			"name",
			"trigger_type",
			"trigger_doctype",
			"trigger_event",
			"trigger_web_form",
			"trigger_email_group",
		],
		order_by="name asc",
		ignore_ddl=True,  # the hook can run before the app's tables exist (install, restore)
	)
	forms = {f.trigger_web_form for f in flows if f.trigger_type == "Web Form" and f.trigger_web_form}
	form_doctypes = (
		dict(
			frappe.get_all(
				"Web Form", filters={"name": ("in", list(forms))}, fields=["name", "doc_type"], as_list=True
			)
		)
		if forms
		else {}
	)
	for f in flows:
		watch: TriggerWatch = {
			"flow": f.name,
			"trigger_type": f.trigger_type,
			"insert": True,
			"update": False,
			"web_form": None,
			"email_group": None,
		}
		if f.trigger_type == "Document Event":
			if not f.trigger_doctype:
				continue
			event = f.trigger_event or "Insert"
			watch["insert"] = event in ("Insert", "Insert or Update")
			watch["update"] = event in ("Update", "Insert or Update")
			doctype = f.trigger_doctype
		elif f.trigger_type == "Web Form":
			doctype = form_doctypes.get(f.trigger_web_form)
			if not doctype:
				continue
			watch["web_form"] = f.trigger_web_form
		else:  # Email Group: a member is added to the group
			if not f.trigger_email_group:
				continue
			watch["email_group"] = f.trigger_email_group
			doctype = EMAIL_GROUP_MEMBER
		_slot(watch_map, doctype)["triggers"].append(watch)


def _add_criterion_watches(watch_map: dict[str, dict[str, list]]) -> None:
	"""Per doctype, the live flows whose success criteria look at it (Person Updated watches the
	person doctype, Deal Created the deal doctype, and so on). A flow of leads also watches the
	lead and the documents that convert it (a CRM Deal made from the lead, an ERPNext Customer),
	so that its participants go on under the Contact the lead became. A Wait for Action watches
	what it waits for: its web form's doctype, the person doctype for conditions on the record
	(actions.check_waiting, from the same goal job)."""
	flows = dict(
		frappe.get_all(
			"Marketing Flow",
			filters={"status": ("in", LIVE_STATUSES)},
			fields=["name", "person_doctype"],
			as_list=True,
		)
	)
	if not flows:
		return

	def add(doctype: str | None, flow_name: str) -> None:
		if doctype:
			slot = _slot(watch_map, doctype)["criteria"]
			if flow_name not in slot:
				slot.append(flow_name)

	rows = frappe.get_all(
		"Marketing Flow Success Criterion",
		filters={"parenttype": "Marketing Flow", "parent": ("in", list(flows))},
		fields=["parent", "criterion_type", "web_form", "reference_doctype", "scope", "email_group"],
	)
	for row in rows:
		add(criteria.target_doctype(row, flows[row.parent] or "Contact"), row.parent)
	for doctype, flow_name in actions.watched_doctypes(flows):  # what Waits for Action wait for
		add(doctype, flow_name)
	for flow_name, person_dt in flows.items():
		if person_dt and doctype_roles.is_lead(person_dt):
			add(person_dt, flow_name)
			for doctype, _field in doctype_roles.person_type(person_dt).conversions:
				if frappe.db.exists("DocType", doctype):
					add(doctype, flow_name)


def _criteria_event(doc: Document, event: str, flows: list[str]) -> None:
	"""A document that live criteria look at was saved: remember whom it names (read from the
	document in memory, no query) and evaluate them in one job after commit."""
	if event == "trash":
		return
	refs = record_fields.refs_of(doc)
	if not any(refs.values()):
		return
	state = changed_refs.state()
	state["flows"].update(flows)
	for kind, values in refs.items():
		state[kind].update(values)


def _enqueue_goal_checks(state: dict[str, set[str]]) -> None:
	"""After commit: one job checks the goals of everyone this transaction's saves named."""
	try:
		frappe.enqueue(
			"marketing_flows.engine.measuring.goals.evaluate_changes",
			queue="default",
			flows=sorted(state["flows"]),
			persons=sorted(state["person"]),
			emails=sorted(state["email"]),
			companies=sorted(state["company"]),
		)
	except Exception:
		frappe.log_error(title="Marketing Flows: could not queue goal evaluation")


# --- doc_events "*" ------------------------------------------------------------------------


def on_insert(doc: Document, method: str | None = None) -> None:
	"""doc_events "*" after_insert."""
	_on_event(doc, "insert")


def on_update(doc: Document, method: str | None = None) -> None:
	"""doc_events "*" on_update. Frappe also runs on_update at the end of an insert (with
	`flags.in_insert`); that save was reported by after_insert already."""
	if doc.flags.in_insert:
		return
	_on_event(doc, "update")


def on_trash(doc: Document, method: str | None = None) -> None:
	"""doc_events "*" on_trash: a deletion neither enrols nor meets a goal (history stays)."""
	_on_event(doc, "trash")


def _on_event(doc: Document, event: str) -> None:
	"""Runs for every save in the site: no query here, only the cached map and frappe.local."""
	flags = frappe.flags
	if flags.in_install or flags.in_migrate or flags.in_patch or flags.in_uninstall:
		return  # data imports (flags.in_import) do count
	watch_map = watched()
	if doc.doctype == "Web Form" and event != "insert":
		_web_form_changed(doc, watch_map)
	watchers = watch_map.get(doc.doctype)
	if not watchers:
		return
	own_flow = doc.flags.get("marketing_flow")  # saved by a flow's own step: never re-trigger it
	for watch in watchers["triggers"]:
		if watch["flow"] != own_flow and _matches(watch, doc, event):
			_propose(watch, doc)
	if watchers["criteria"]:
		_criteria_event(doc, event, watchers["criteria"])


def _matches(watch: TriggerWatch, doc: Document, event: str) -> bool:
	wanted = watch["insert"] if event == "insert" else watch["update"] if event == "update" else False
	if not wanted:
		return False
	if watch["trigger_type"] == "Email Group":
		return doc.get("email_group") == watch["email_group"]
	if watch["trigger_type"] == "Web Form":
		return _submitted_through(watch["web_form"])
	return True


def _submitted_through(web_form: str | None) -> bool:
	"""Is this insert a submission of `web_form`? Frappe's web_form.accept sets
	`frappe.flags.in_web_form` for the request; the form's name is in the request's form_dict
	(`web_form` argument of accept). A direct Python call of accept has no form_dict: then any
	web-form save of the form's doctype counts."""
	if not frappe.flags.in_web_form:
		return False
	form_dict = getattr(frappe.local, "form_dict", None) or {}
	submitted = form_dict.get("web_form")
	return not submitted or submitted == web_form


def _web_form_changed(doc: Document, watch_map: dict[str, dict[str, list]]) -> None:
	"""A web form that a flow watches may have changed its doctype: rebuild the map."""
	for watchers in watch_map.values():
		if any(w["web_form"] == doc.name for w in watchers["triggers"]):
			flows_changed()
			return


# --- clicks: the Link Clicked trigger ------------------------------------------------------


def link_triggers() -> dict[str, list[tuple[str, str]]]:
	"""source flow -> [(flow, its "Link Contains" text), ...]: the live flows whose trigger is a
	click on a link of the source flow's emails. Cached as the doctype map is (and forgotten with
	it by flows_changed): a click on a link nobody watches costs no query."""
	links = frappe.cache.get_value(LINK_CACHE_KEY, _build_link_triggers)
	if links is None:  # a miss kept in frappe.local.cache earlier in this request (see watched)
		links = _build_link_triggers()
		frappe.cache.set_value(LINK_CACHE_KEY, links)
	return links


def _build_link_triggers() -> dict[str, list[tuple[str, str]]]:
	links: dict[str, list[tuple[str, str]]] = {}
	for f in frappe.get_all(
		"Marketing Flow",
		filters={
			"status": ("in", LIVE_STATUSES),
			"trigger_type": LINK_CLICKED,
			"trigger_flow": ("is", "set"),
		},
		fields=["name", "trigger_flow", "trigger_link_url"],
		order_by="name asc",
		ignore_ddl=True,
	):
		if f.trigger_flow != f.name:  # never its own emails (validation refuses it too)
			links.setdefault(f.trigger_flow, []).append((f.name, (f.trigger_link_url or "").strip()))
	return links


def link_matches(text: str | None, url: str | None) -> bool:
	"""Does the clicked link's target `url` contain the trigger's "Link Contains" `text`
	(ignoring case, as a Link Clicked goal's pattern does)? No text: any link."""
	text = (text or "").strip().lower()
	return not text or text in (url or "").lower()


def propose_click(source_flow: str, participant_name: str, url: str) -> list[str]:
	"""A person clicked a link (its real target `url`, not the signed redirect) in an email of
	`source_flow` as participant `participant_name`: propose them to every live flow triggered by
	such a click. Only the cached map is read here (the click's request stays fast); the
	enrolment runs in the proposals' job after the click commits, through the one enrolment path
	(triggers.enrol_from_documents). Returns the flows proposed to."""
	proposed = []
	for flow_name, text in link_triggers().get(source_flow, []):
		if link_matches(text, url):
			proposals.state()[(flow_name, PARTICIPANT, participant_name)] = {
				"flow": flow_name,
				"trigger_type": LINK_CLICKED,
				"doctype": PARTICIPANT,
				"name": participant_name,
				"web_form": None,
				"email_group": None,
				"url": url,
				"source_flow": source_flow,
			}
			proposed.append(flow_name)
	return proposed


# --- collect during the request, enqueue after commit ---------------------------------------


def pending() -> dict[tuple[str, str, str], dict]:
	"""This transaction's proposals, (flow, doctype, name) -> entry; empty once handed on."""
	return proposals.peek() or {}


def _propose(watch: TriggerWatch, doc: Document) -> None:
	proposals.state()[(watch["flow"], doc.doctype, doc.name)] = {
		"flow": watch["flow"],
		"trigger_type": watch["trigger_type"],
		"doctype": doc.doctype,
		"name": doc.name,
		"web_form": watch["web_form"],
		"email_group": watch["email_group"],
	}


def _enqueue_enrolment(state: dict[tuple[str, str, str], dict]) -> None:
	"""After commit: one job for everything this transaction proposed (the job sees the rows)."""
	entries = list(state.values())
	if not entries:
		return
	try:
		frappe.enqueue(
			"marketing_flows.engine.entering.triggers.enrol_from_documents",
			queue="default",
			entries=entries,
		)
	except Exception:
		# the transaction is committed already: never fail the user's save for this
		frappe.log_error(title="Marketing Flows: could not queue trigger enrolment")


# This transaction's matches, handed to one job each once it commits (forgotten on rollback):
# proposals to enrol, and the people, emails and companies whose goals a save may have met.
proposals: UntilCommit[dict[tuple[str, str, str], dict]] = UntilCommit(
	"marketing_flows_pending_triggers", dict, _enqueue_enrolment
)
changed_refs: UntilCommit[dict[str, set[str]]] = UntilCommit(
	"marketing_flows_pending_criteria",
	lambda: {"flows": set(), "person": set(), "email": set(), "company": set()},
	_enqueue_goal_checks,
)
