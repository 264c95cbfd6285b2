"""Key figures of a flow, from the participant table (one grouped query), for all its versions or one."""

from __future__ import annotations

from typing import TYPE_CHECKING

import frappe
from frappe.query_builder.functions import Count, Sum
from pypika.terms import EmptyCriterion

from marketing_flows.engine.measuring import variants
from marketing_flows.engine.running.participants import ACTIVE, ENDED, HELD_OUT

if TYPE_CHECKING:
	from pypika.queries import Table
	from pypika.terms import Criterion

	from marketing_flows.engine.doctypes import MarketingFlow


def _of_version(table: Table, version: int | None) -> Criterion:
	"""Rows of one flow version (participants on it, events logged on it); all without one."""
	return table.flow_version == version if version else EmptyCriterion()  # where() skips it


def flow_figures(flow_name: str, version: int | None = None) -> dict:
	"""Counts by status. "Enrolled" are the people the flow took in: not its control group
	("Held Out", counted apart as `held_out` / `held_out_succeeded`), so the success rate is that
	of the people the flow worked on."""
	p = frappe.qb.DocType("Marketing Flow Participant")
	rows = (
		frappe.qb.from_(p)
		.select(p.status, Count("*"), Sum(p.succeeded), Sum(p.sent_marketing_email))
		.where(p.flow == flow_name)
		.where(_of_version(p, version))
		.groupby(p.status)
		.run()
	)
	by_status = {status: int(n) for status, n, _s, _e in rows}
	held_out = by_status.pop(HELD_OUT, 0)
	enrolled = sum(by_status.values())
	succeeded = sum(int(s or 0) for st, _n, s, _e in rows if st != HELD_OUT)
	held_out_succeeded = sum(int(s or 0) for st, _n, s, _e in rows if st == HELD_OUT)
	emailed = sum(int(e or 0) for st, _n, _s, e in rows if st != HELD_OUT)
	succeeded_emailed = (
		frappe.db.count(
			"Marketing Flow Participant",
			{
				"flow": flow_name,
				"succeeded": 1,
				"sent_marketing_email": 1,
				**({"flow_version": version} if version else {}),
			},
		)
		if succeeded
		else 0
	)
	return {
		"enrolled": enrolled,
		"active": by_status.get("Active", 0) + by_status.get("Waiting", 0),
		"waiting": by_status.get("Waiting", 0),
		"completed": by_status.get("Completed", 0),
		"exited": by_status.get("Exited", 0),
		"stalled": by_status.get("Stalled", 0),
		"held_out": held_out,
		"succeeded": succeeded,
		"held_out_succeeded": held_out_succeeded,
		"sent_marketing_email": emailed,
		"success_rate": round(100.0 * succeeded / enrolled, 1) if enrolled else 0.0,
		"held_out_success_rate": round(100.0 * held_out_succeeded / held_out, 1) if held_out else 0.0,
		"goal_conversion_rate": round(100.0 * succeeded_emailed / emailed, 1) if emailed else 0.0,
	}


def list_figures(flow_names: list[str]) -> dict[str, dict]:
	"""flow -> enrolled, active, succeeded, success_rate of many flows in one grouped query (the
	flow list's columns and tiles): the same definitions as `flow_figures`, whose other counts a
	list does not show."""
	p = frappe.qb.DocType("Marketing Flow Participant")
	rows = (
		(
			frappe.qb.from_(p)
			.select(p.flow, p.status, Count("*"), Sum(p.succeeded))
			.where(p.flow.isin(flow_names))
			.where(p.status != HELD_OUT)
			.groupby(p.flow, p.status)
			.run()
		)
		if flow_names
		else []
	)
	out = {f: {"enrolled": 0, "active": 0, "succeeded": 0, "success_rate": 0.0} for f in flow_names}
	for flow_name, status, n, succeeded in rows:
		fig = out[flow_name]
		fig["enrolled"] += int(n)
		fig["succeeded"] += int(succeeded or 0)
		if status in ("Active", "Waiting"):
			fig["active"] += int(n)
	for fig in out.values():
		if fig["enrolled"]:
			fig["success_rate"] = round(100.0 * fig["succeeded"] / fig["enrolled"], 1)
	return out


def step_figures(flow_name: str, version: int | None = None) -> dict[str, dict[str, int]]:
	"""step_id -> event -> count, from the log (index: flow, step_id, event)."""
	log = frappe.qb.DocType("Marketing Flow Log")
	rows = (
		frappe.qb.from_(log)
		.select(log.step_id, log.event, Count("*"))
		.where(log.flow == flow_name)
		.where(_of_version(log, version))
		.groupby(log.step_id, log.event)
		.run()
	)
	out: dict[str, dict[str, int]] = {}
	for step_id, event, count in rows:
		out.setdefault(step_id or "", {})[event] = int(count)
	return out


# Flow emails of one flow the SMTP server has not accepted (yet), by the step that queued them:
# from the Email Queue rows that are not Sent (index_bulk_flush starts with status: the sender
# keeps them few, but for the minutes of a large send), to their participant (primary key) and
# its "Email Sent" entry (index participant_event); STRAIGHT_JOIN keeps that order, instead of
# reading every participant of a large flow. Sent rows, and those purged after
# `keep_sent_emails_days`, are the delivered ones.
UNDELIVERED_SQL = """SELECT STRAIGHT_JOIN l.step_id, q.status, COUNT(*) FROM `tabEmail Queue` q
	JOIN `tabMarketing Flow Participant` p ON p.name = q.reference_name
	JOIN `tabMarketing Flow Log` l
		ON l.participant = p.name AND l.event = 'Email Sent' AND l.reference_name = q.name
	WHERE q.status IN ('Not Sent', 'Sending', 'Partially Sent', 'Error')
		AND q.reference_doctype = 'Marketing Flow Participant' AND p.flow = %s
		AND (%s = 0 OR l.flow_version = %s)
	GROUP BY l.step_id, q.status"""


def add_delivery(flow_name: str, steps: dict[str, dict[str, int]], version: int | None = None) -> None:
	"""Per email step: "Queued" (not accepted by the SMTP server yet) and "Delivered" (accepted;
	a bounce notice may still come back, counted under "Bounced")."""
	undelivered: dict[str, dict[str, int]] = {}
	for step_id, status, n in frappe.db.sql(UNDELIVERED_SQL, (flow_name, version or 0, version or 0)):
		undelivered.setdefault(step_id or "", {})[status] = int(n)
	for step_id, counts in steps.items():
		if not counts.get("Email Sent"):
			continue
		mine = undelivered.get(step_id, {})
		counts["Queued"] = sum(n for status, n in mine.items() if status != "Error")
		counts["Delivered"] = max(0, counts["Email Sent"] - sum(mine.values()))


def waiting_by_step(flow_name: str, version: int | None = None) -> dict[str, int]:
	"""step_id -> participants waiting or active there now (index: flow, current_step, status)."""
	p = frappe.qb.DocType("Marketing Flow Participant")
	rows = (
		frappe.qb.from_(p)
		.select(p.current_step, Count("*"))
		.where((p.flow == flow_name) & p.status.isin(["Active", "Waiting"]))
		.where(_of_version(p, version))
		.groupby(p.current_step)
		.run()
	)
	return {step or "": int(n) for step, n in rows}


ENROLLED_STATUSES = (*ACTIVE, *ENDED)  # every participant's status but Held Out


def per_day(
	flow_name: str, field: str, only_succeeded: bool = False, days: int = 90, version: int | None = None
) -> list[list]:
	"""[[date, count], ...] of the enrolled participants (not the held out) by the date of
	`field` (enrolled_on / succeeded_on). Enrolments: everyone, counted by the covering index
	(flow, enrolled_on), less the held out (few, read through (flow, status, ...)): a filter on
	status there would read every participant's row. Successes: the statuses of the enrolled."""
	p = frappe.qb.DocType("Marketing Flow Participant")
	day = frappe.qb.functions("DATE", p[field])
	since = frappe.utils.add_days(frappe.utils.nowdate(), -days)

	def query():
		return (
			frappe.qb.from_(p)
			.where((p.flow == flow_name) & (p[field] >= since))
			.where(_of_version(p, version))
			.groupby(day)
		)

	if only_succeeded:
		# every status but Held Out, and succeeded: ranges of the index (flow, status, succeeded,
		# ...), so that only the successful participants' rows are read for their date
		rows = (
			query().select(day, Count("*")).where(p.status.isin(ENROLLED_STATUSES) & (p.succeeded == 1)).run()
		)
		return [[str(d), int(n)] for d, n in sorted(rows)]
	everyone = {str(d): int(n) for d, n in query().select(day, Count("*")).run()}
	# the held out by (flow, status, ...): the optimizer, seeing (flow, enrolled_on) cover the
	# date, would read every participant's row for the status
	held_query = query().force_index("flow_status_succeeded_emailed").select(day, Count("*"))
	held_out = {str(d): int(n) for d, n in held_query.where(p.status == HELD_OUT).run()} if everyone else {}
	return [[d, n - held_out.get(d, 0)] for d, n in sorted(everyone.items()) if n > held_out.get(d, 0)]


def exit_reasons(flow_name: str, version: int | None = None) -> list[list]:
	p = frappe.qb.DocType("Marketing Flow Participant")
	rows = (
		frappe.qb.from_(p)
		.select(p.exit_reason, Count("*"))
		.where((p.flow == flow_name) & (p.status == "Exited"))
		.where(_of_version(p, version))
		.groupby(p.exit_reason)
		.orderby(Count("*"), order=frappe.qb.desc)
		.limit(10)
		.run()
	)
	return [[reason or "", int(n)] for reason, n in rows]


EMAIL_EVENTS = (
	"Email Sent",
	"Delivered",
	"Opened",
	"Clicked",
	"Bounced",
	"Complained",
	"Unsubscribed",
	"SMS Sent",
)


def all_figures(flow: MarketingFlow, version: int | None = None) -> dict:
	"""Everything the flow's form shows (Overview, Flow, Reports), from a few grouped queries on
	indexed columns: nothing of the log or the participants is loaded row by row. With a
	`version`, only that version's: its people (those on it now or who ended on it) and the
	events logged while they walked it."""
	flow_name = flow.name
	overview = flow_figures(flow_name, version)
	steps = step_figures(flow_name, version)
	add_delivery(flow_name, steps, version)
	for step_id, n in waiting_by_step(flow_name, version).items():
		steps.setdefault(step_id, {})["Waiting Here"] = n
	totals = {event: 0 for event in EMAIL_EVENTS}
	for counts in steps.values():
		for event in EMAIL_EVENTS:
			totals[event] += counts.get(event, 0)
	overview.update(
		{
			"emails_sent": totals["Email Sent"],
			"delivered": totals["Delivered"],
			"opened": totals["Opened"],
			"clicked": totals["Clicked"],
			"bounced": totals["Bounced"],
			"complained": totals["Complained"],
			"unsubscribed": totals["Unsubscribed"],
			"sms_sent": totals["SMS Sent"],
		}
	)
	return {
		**overview,
		"steps": steps,
		# per branch only where a step has branches (the log's (flow, step_id, event, branch, ...)
		# index); the A/B tests' figures per variant come with the Reports tab (get_earnings)
		"branches": branch_figures(flow_name, version)
		if any(s.step_type in ("Split", "A/B Test") for s in flow.steps)
		else {},
		"reports": {
			"enrolled_per_day": per_day(flow_name, "enrolled_on", version=version),
			"succeeded_per_day": per_day(flow_name, "succeeded_on", only_succeeded=True, version=version),
			"exit_reasons": exit_reasons(flow_name, version),
		},
	}


def timeline(flow_name: str, participant_name: str) -> list[dict]:
	"""Every log event of one participation, in order, with its reason (index: participant)."""
	return frappe.get_all(
		"Marketing Flow Log",
		filters={"flow": flow_name, "participant": participant_name},
		fields=["creation", "step_id", "event", "message", "url", "reference_doctype", "reference_name"],
		order_by="creation asc, name asc",
		limit_page_length=0,
	)


def branch_figures(flow_name: str, version: int | None = None) -> dict[str, dict[str, int]]:
	"""step_id -> branch (or variant) key -> participants who took it (Split, A/B Test)."""
	log = frappe.qb.DocType("Marketing Flow Log")
	rows = (
		frappe.qb.from_(log)
		.select(log.step_id, log.branch, Count("*"))
		.where((log.flow == flow_name) & (log.event == "Step Executed") & log.branch.isnotnull())
		.where(_of_version(log, version))
		.groupby(log.step_id, log.branch)
		.run()
	)
	out: dict[str, dict[str, int]] = {}
	for step_id, branch, count in rows:
		out.setdefault(step_id, {})[branch] = int(count)
	return out


def variant_figures(flow: MarketingFlow) -> dict[str, dict[str, dict]]:
	"""A/B Test step_id -> variant key -> assigned, sent, opened, clicked, succeeded and rates."""
	return {
		step.step_id: variants.figures(flow.name, step.step_id)
		for step in flow.steps
		if step.step_type == "A/B Test"
	}
