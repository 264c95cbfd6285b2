"""Approval before going live (Marketing Flow Settings: Require Approval): Run needs a Flow
Approver's approval of the flow as it is now. An approval is bound to the digest of the flow's
definition (definition.py: steps, trigger, audience, goals and the content its steps send), so
any edit after it, of the flow or of an email it sends, asks again. The approver sees what
changed against the live version and never approves their own change. Every request and
decision is a Marketing Flow Approval row (who asked, who decided, what, why) and a line on the
flow's timeline; the Flow Approvers learn of a request from Frappe's notifications."""

from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING, Any

import frappe
from frappe import _
from frappe.desk.doctype.notification_log.notification_log import enqueue_create_notification
from frappe.utils import cint, get_fullname, get_link_to_form, now_datetime

from marketing_flows.engine.changing.definition import differences, digest, snapshot
from marketing_flows.engine.hosts import owners
from marketing_flows.engine.permissions import is_flow_operator, require_flow_operator
from marketing_flows.engine.running import validation

if TYPE_CHECKING:
	from marketing_flows.engine.doctypes import MarketingFlow

APPROVAL = "Marketing Flow Approval"
VERSION = "Marketing Flow Version"
APPROVER_ROLE = "Flow Approver"
DECIDER_ROLES = {APPROVER_ROLE, "System Manager"}
FIELDS = [
	"name",
	"status",
	"definition_hash",
	"changes",
	"requested_by",
	"requested_on",
	"decided_by",
	"decided_on",
	"comment",
]


class ApprovalRequiredError(frappe.ValidationError):
	"""Run refused: the flow as it is now has no approval."""


def is_required() -> bool:
	"""Does this site want approval before a flow runs? Read fresh: a cached single would keep
	an old answer in a long-lived process after the setting changed."""
	return bool(cint(frappe.db.get_single_value("Marketing Flow Settings", "require_approval", cache=False)))


def baseline(flow_name: str, definition_hash: str) -> dict[str, Any]:
	"""What the approver compares the flow as it is now against: the live version's definition.
	A paused flow's edit is published as a new Live version when it is saved (versions.py), so
	the Live row may already hold the change under review: the newest version that was approved
	counts as live then. Before any approved version, the Live one unless it is the flow as it is
	now; else {} (nothing of it was ever approved: everything shows as added)."""
	approved = frappe.get_all(
		APPROVAL, filters={"flow": flow_name, "status": "Approved"}, pluck="definition_hash"
	)
	versions = frappe.get_all(
		VERSION,
		filters={"flow": flow_name},
		fields=["name", "status", "definition_hash", "approved_by"],
		order_by="version desc, creation desc",
	)
	chosen = next((v for v in versions if v.approved_by or v.definition_hash in approved), None)
	if not chosen:
		chosen = next(
			(v for v in versions if v.status == "Live" and v.definition_hash != definition_hash), None
		)
	raw = frappe.db.get_value(VERSION, chosen.name, "definition") if chosen else None
	if not raw:
		return {}
	try:
		value = json.loads(raw)
	except ValueError:
		return {}
	return value if isinstance(value, dict) else {}


def _definition_now(flow: MarketingFlow) -> tuple[dict[str, Any], str]:
	definition = snapshot(flow)
	return definition, digest(definition)


def _latest(flow_name: str, definition_hash: str) -> frappe._dict | None:
	"""The newest request for exactly this definition that a later request did not replace."""
	rows = frappe.get_all(
		APPROVAL,
		filters={"flow": flow_name, "definition_hash": definition_hash, "status": ("!=", "Superseded")},
		fields=FIELDS,
		order_by="creation desc",
		limit=1,
	)
	return rows[0] if rows else None


def _pending(flow_name: str, lock: bool = False) -> frappe._dict | None:
	"""The flow's open request (at most one: a new request supersedes the one before). `lock`:
	held until the transaction ends, so two approvers can't decide it both."""
	a = frappe.qb.DocType(APPROVAL)
	query = (
		frappe.qb.from_(a)
		.select(*(a[f] for f in FIELDS))
		.where((a.flow == flow_name) & (a.status == "Pending"))
		.orderby(a.creation, order=frappe.qb.desc)
		.limit(1)
	)
	if lock:
		query = query.for_update()
	rows = query.run(as_dict=True)
	return rows[0] if rows else None


def approved_by(flow_name: str, definition_hash: str) -> str | None:
	"""Who approved this definition of the flow (for the version it becomes), None if nobody."""
	return frappe.db.get_value(
		APPROVAL,
		{"flow": flow_name, "definition_hash": definition_hash, "status": "Approved"},
		"decided_by",
		order_by="creation desc",
	)


def status_now(flow: MarketingFlow) -> str:
	"""The approval state of the flow as it is now: Pending, Approved, Rejected, or "" (never
	asked, or changed since)."""
	if flow.is_new() or not frappe.db.exists(APPROVAL, {"flow": flow.name}):
		return ""
	latest = _latest(flow.name, _definition_now(flow)[1])
	return latest.status if latest else ""


def refresh_status(flow: MarketingFlow) -> None:
	"""Before a save: the flow's `approval_status` follows the flow as it is saved (an edit after
	approval empties it), whatever the form sent."""
	flow.set("approval_status", status_now(flow))


def require_approved(flow: MarketingFlow) -> None:
	"""Run's gate: with Require Approval on, the flow as it is now must be approved."""
	if not is_required():
		return
	now = _definition_now(flow)[1]
	if frappe.db.exists(APPROVAL, {"flow": flow.name, "definition_hash": now, "status": "Approved"}):
		return
	latest = _latest(flow.name, now)
	if latest and latest.status == "Pending":
		message = _(
			"The flow waits for a Flow Approver's approval (requested by {0}): it runs once approved."
		).format(get_fullname(latest.requested_by))
	elif latest and latest.status == "Rejected":
		message = _("{0} rejected the flow as it is now: {1}. Change it and request approval again.").format(
			get_fullname(latest.decided_by), latest.comment or ""
		)
	elif frappe.db.exists(APPROVAL, {"flow": flow.name}):
		message = _(
			"The flow changed since it was approved or approval was requested: request approval again before running it."
		)
	else:
		message = _(
			"This site requires a Flow Approver's approval before a flow runs: request approval first."
		)
	frappe.throw(html.escape(message, quote=False), ApprovalRequiredError, title=_("Approval needed"))


def _is_decider() -> bool:
	return bool(set(frappe.get_roles()) & DECIDER_ROLES)


def _changed_content_authors(flow: MarketingFlow, definition: dict[str, Any]) -> set[str]:
	"""Who last edited each content the flow sends that differs from the live version's."""
	before = baseline(flow.name, digest(definition)).get("contents") or {}
	changed = [
		name for name, content in (definition.get("contents") or {}).items() if before.get(name) != content
	]
	if not changed:
		return set()
	return set(
		frappe.get_all("Marketing Flow Content", filters={"name": ("in", changed)}, pluck="modified_by")
	)


def own_change(flow: MarketingFlow, requested_by: str | None, definition: dict[str, Any]) -> str | None:
	"""Why the current user may not decide this request (it is their own change), or None."""
	user = frappe.session.user
	if user == requested_by:
		return _("You requested this approval: another Flow Approver approves or rejects your own change.")
	if user == flow.modified_by:
		return _("You made the last change to this flow: another Flow Approver approves or rejects it.")
	if user in _changed_content_authors(flow, definition):
		return _("You changed content this flow sends: another Flow Approver approves or rejects it.")
	return None


def _link(name: str) -> str:
	return get_link_to_form(APPROVAL, name)


def request(flow: MarketingFlow) -> dict[str, Any]:
	"""Ask the Flow Approvers to approve the flow as it is now (Flow Administrator). What changed
	against the live version is recorded with the request; a request still open is superseded."""
	require_flow_operator(flow)
	errors = validation.flow_errors(flow)
	if errors:
		frappe.throw(
			"<br>".join(html.escape(e, quote=False) for e in errors), title=_("Fix the flow before approval")
		)
	definition, now = _definition_now(flow)
	if frappe.db.exists(APPROVAL, {"flow": flow.name, "definition_hash": now, "status": "Approved"}):
		frappe.throw(_("The flow as it is now is already approved: it can run."), title=_("Already approved"))
	changes = differences(baseline(flow.name, now), definition)
	a = frappe.qb.DocType(APPROVAL)
	moment = now_datetime()
	(
		frappe.qb.update(a)
		.set(a.status, "Superseded")
		.set(a.modified, moment)
		.set(a.modified_by, frappe.session.user)
		.where((a.flow == flow.name) & (a.status == "Pending"))
	).run()
	row = frappe.get_doc(
		{
			"doctype": APPROVAL,
			"flow": flow.name,
			"status": "Pending",
			"definition_hash": now,
			"changes": "\n".join(changes),
			"requested_by": frappe.session.user,
			"requested_on": moment,
		}
	).insert(ignore_permissions=True)
	flow.db_set("approval_status", "Pending", update_modified=False)
	flow.add_comment(
		"Info",
		_("requested approval of this flow ({0}): {1} changes against the live version").format(
			_link(row.name), len(changes)
		),
	)
	_notify_approvers(flow, row.name, changes)
	return state(flow)


def _notify_approvers(flow: MarketingFlow, approval: str, changes: list[str]) -> None:
	"""A notification (the desk's bell) to every Flow Approver but the requester: any of them may
	decide, so the request is not assigned to one person (an assignment would stay open on the
	others' lists once someone decided)."""
	users = [u for u in owners.role_users(APPROVER_ROLE) if u != frappe.session.user]
	if not users:
		return
	listed = "".join(f"<li>{html.escape(c, quote=False)}</li>" for c in changes[:50])
	enqueue_create_notification(
		users,
		{
			"type": "Alert",
			"document_type": flow.doctype,
			"document_name": flow.name,
			"from_user": frappe.session.user,
			"subject": _("{0} asks you to approve the flow {1}").format(
				html.escape(get_fullname(frappe.session.user), quote=False),
				f"<b>{html.escape(flow.flow_name or flow.name, quote=False)}</b>",
			),
			"email_content": f"<p>{_link(approval)}</p><ul>{listed}</ul>" if listed else _link(approval),
		},
	)


def _decide(flow: MarketingFlow, status: str, comment: str | None) -> dict[str, Any]:
	"""Approve or reject the open request, for a Flow Approver (or System Manager) who did not make
	the change, and only if the flow is still what was asked for."""
	if not _is_decider():
		frappe.throw(_("Only a Flow Approver approves or rejects flows."), frappe.PermissionError)
	pending = _pending(flow.name, lock=True) or frappe.throw(
		_("Nobody requested approval of this flow: there is nothing to approve or reject.")
	)
	definition, now = _definition_now(flow)
	if pending.definition_hash != now:
		frappe.throw(
			_(
				"The flow changed after {0} requested approval: approval has to be requested again for the flow as it is now."
			).format(get_fullname(pending.requested_by)),
			title=_("The flow changed"),
		)
	if reason := own_change(flow, pending.requested_by, definition):
		frappe.throw(reason, frappe.PermissionError, title=_("Someone else must approve"))
	comment = (comment or "").strip() or None
	frappe.db.set_value(
		APPROVAL,
		pending.name,
		{
			"status": status,
			"decided_by": frappe.session.user,
			"decided_on": now_datetime(),
			"comment": comment,
		},
	)
	flow.db_set("approval_status", status, update_modified=False)
	if status == "Approved":
		# the version already published with this definition (a paused flow's save) names its
		# approver; one published later (at Run) takes it from the approval (versions.publish)
		frappe.db.set_value(
			"Marketing Flow Version",
			{"flow": flow.name, "definition_hash": now, "approved_by": ("is", "not set")},
			"approved_by",
			frappe.session.user,
			update_modified=False,
		)
	said = f": “{html.escape(comment, quote=False)}”" if comment else ""
	text = (
		_("approved this flow ({0})").format(_link(pending.name))
		if status == "Approved"
		else _("rejected this flow ({0})").format(_link(pending.name))
	)
	flow.add_comment("Info", text + said)
	if pending.requested_by and pending.requested_by != frappe.session.user:
		enqueue_create_notification(
			[pending.requested_by],
			{
				"type": "Alert",
				"document_type": flow.doctype,
				"document_name": flow.name,
				"from_user": frappe.session.user,
				"subject": (
					_("{0} approved the flow {1}") if status == "Approved" else _("{0} rejected the flow {1}")
				).format(
					html.escape(get_fullname(frappe.session.user), quote=False),
					f"<b>{html.escape(flow.flow_name or flow.name, quote=False)}</b>",
				),
				"email_content": html.escape(comment or "", quote=False),
			},
		)
	return state(flow)


def approve(flow: MarketingFlow, comment: str | None = None) -> dict[str, Any]:
	"""Approve the flow as it is now (the open request's definition): it may run."""
	return _decide(flow, "Approved", comment)


def reject(flow: MarketingFlow, comment: str | None) -> dict[str, Any]:
	"""Reject the open request; the comment says why and goes to the requester."""
	if not (comment or "").strip():
		frappe.throw(
			_("Say why you reject the flow: your comment goes to whoever asked."), title=_("Comment needed")
		)
	return _decide(flow, "Rejected", comment)


def _who(user: str | None) -> str | None:
	return get_fullname(user) if user else None


def state(flow: MarketingFlow) -> dict[str, Any]:
	"""What the form shows: whether approval is required, the state of the flow as it is now,
	what changed against the live version, the request (who asked, who decided, the comment),
	and what the current user may do."""
	definition, now = _definition_now(flow)
	latest = _latest(flow.name, now)
	pending = _pending(flow.name)
	status = latest.status if latest else ""
	request_row = None
	if latest:
		request_row = {
			**{f: latest.get(f) for f in FIELDS if f not in ("changes", "definition_hash")},
			"changes": [c for c in (latest.changes or "").split("\n") if c],
			"requested_by_name": _who(latest.requested_by),
			"decided_by_name": _who(latest.decided_by),
		}
	decider = _is_decider()
	refusal = (
		own_change(flow, latest.requested_by, definition)
		if decider and status == "Pending" and latest
		else None
	)
	return {
		"required": is_required(),
		"status": status,
		"differences": differences(baseline(flow.name, now), definition),
		"request": request_row,
		# an open request for an earlier state of the flow: it changed since
		"outdated_request": bool(pending and pending.definition_hash != now),
		"can_request": status not in ("Approved", "Pending") and is_flow_operator(),
		"can_decide": decider and status == "Pending" and not refusal,
		"cannot_decide": refusal,
	}
