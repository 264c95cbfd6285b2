"""The runner: finds due participants by index, claims them, runs their steps, advances and logs.

Steps never run in a web request: enrolment and the scheduler only enqueue `process_due` jobs.
"""

from __future__ import annotations

import frappe
from frappe.utils import now_datetime

from marketing_flows.engine import log

ACTIVE = ("Active", "Waiting", "Stalled")
DUE = ("Active", "Waiting")


def enqueue_flow(flow: str) -> None:
	"""Process the flow's due participants in a background job after this transaction commits."""
	frappe.enqueue(
		"marketing_flows.engine.runner.process_due",
		queue="default",
		job_id=f"marketing_flows:run:{frappe.local.site}:{flow}",
		deduplicate=True,
		enqueue_after_commit=True,
		flow=flow,
	)


def apply_resume_policy(flow) -> None:
	"""On resume with "Skip Overdue", sends that fell due during the pause are skipped."""


def process_due(flow: str) -> None:
	"""Background job: claim and run due participants of `flow`."""


def end_participants(flow: str, names: list[str], status: str, reason: str) -> int:
	"""End the given active participations with `status` and `reason`; returns how many ended."""
	if not names:
		return 0
	p = frappe.qb.DocType("Marketing Flow Participant")
	rows = (
		frappe.qb.from_(p)
		.select(p.name, p.contact, p.current_step)
		.where((p.flow == flow) & p.name.isin(names) & p.status.isin(ACTIVE))
		.run(as_dict=True)
	)
	if not rows:
		return 0
	now = now_datetime()
	(
		frappe.qb.update(p)
		.set(p.status, status)
		.set(p.exit_reason, reason)
		.set(p.ended_on, now)
		.set(p.next_run_at, None)
		.set(p.active_key, None)
		.set(p.modified, now)
		.where(p.name.isin([r.name for r in rows]))
	).run()
	log.write_many([log.entry(flow, r.name, r.contact, r.current_step, "Exited", reason) for r in rows])
	return len(rows)
