"""The runner: the scheduler's tick and the runner jobs. Finds due participants by index, claims
them and hands each claimed batch to `batch.Batch`.

Steps never run in a web request: enrolment and the scheduler only enqueue `process_due` jobs
(runner_jobs.py). A job claims a batch with SELECT ... FOR UPDATE SKIP LOCKED, so two workers
never get the same row; the batch runs and writes in one transaction (batch.py), so a killed
worker rolls the whole batch back and its rows are claimed again."""

from __future__ import annotations

import time
from datetime import datetime

import frappe
from frappe.utils import cint, now_datetime

from marketing_flows.engine.changing import versions
from marketing_flows.engine.running import runner_jobs
from marketing_flows.engine.running.batch import Batch


def schedule_due_participants() -> None:
	"""Scheduler tick (every minute): for each running flow with someone due, enqueue jobs.
	One indexed probe per running flow; nothing scans the participant table."""
	now = now_datetime()
	for flow in frappe.get_all("Marketing Flow", filters={"status": "Running"}, pluck="name"):
		if has_due_participants(flow, now):
			runner_jobs.enqueue_flow(flow)


# The tick's probe: an index range on (flow, status, next_run_at), LIMIT 1.
PROBE_SQL = """SELECT name FROM `tabMarketing Flow Participant`
	WHERE flow = %s AND status IN ('Active', 'Waiting') AND next_run_at <= %s
	LIMIT 1"""


# The claim. The ORDER BY follows the index (flow, status, next_run_at): no filesort, so only the
# rows returned are read and locked, and a second worker gets the next ones instead of waiting
# or getting nothing.
CLAIM_SQL = """SELECT name FROM `tabMarketing Flow Participant`
	WHERE flow = %s AND status IN ('Active', 'Waiting') AND next_run_at <= %s
	ORDER BY status, next_run_at
	LIMIT %s"""


def has_due_participants(flow_name: str, now: datetime) -> bool:
	"""The tick's probe (PROBE_SQL)."""
	return bool(frappe.db.sql(PROBE_SQL, (flow_name, now)))


def claim_due_participants(flow_name: str, limit: int, now: datetime) -> list[str]:
	"""Lock up to `limit` due rows of `flow` that no other worker holds (CLAIM_SQL)."""
	return frappe.db.sql(CLAIM_SQL + " FOR UPDATE SKIP LOCKED", (flow_name, now, limit), pluck=True)


def process_due(flow_name: str) -> int:
	"""Background job: claim and run batches of due participants until none is left or the
	time budget is spent (then it hands its slot over: runner_jobs.hand_over). Returns how
	many it processed."""
	deadline = time.monotonic() + runner_jobs.runner_budget_seconds()
	# READ COMMITTED: the claim then locks only the rows it returns, not the gaps between index
	# entries; under REPEATABLE READ those gap locks block another worker's UPDATE of its own
	# rows' (status, next_run_at): the workers wait for each other or deadlock. The session's
	# level applies from the next transaction on, and Frappe's commit() starts that one at once:
	# set the level first, then commit, so that the first batch runs under it too.
	frappe.db.sql("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
	frappe.db.commit()
	settings = frappe.get_cached_doc("Marketing Flow Settings")
	batch_size = cint(settings.batch_size) or 200
	done = 0
	while time.monotonic() < deadline:
		if not frappe.db.exists("Marketing Flow", flow_name):
			break
		flow_doc = frappe.get_doc("Marketing Flow", flow_name)
		if flow_doc.status != "Running":
			break
		now = now_datetime()
		names = claim_due_participants(flow_name, batch_size, now)
		if not names:
			frappe.db.rollback()
			return done
		claimed = versions.by_version(flow_doc, names)
		# one batch per version: people draining an older version walk that version's steps
		batches = [
			Batch(versions.flow_for_version(flow_doc, version), settings, now, deadline)
			for version in claimed
		]
		for batch, group in zip(batches, claimed.values(), strict=True):
			batch.run(group)
			if batch.flow_halted:
				break
		frappe.db.commit()
		for batch in batches:
			batch.after_commit()
			done += batch.processed
		if any(batch.flow_halted for batch in batches):
			break
	else:
		runner_jobs.hand_over(flow_name)
	return done
