"""The runner's background jobs: one job per slot and flow at a time (job_slots), enqueued after
the transaction that made people due commits, handed over when a job's time budget is spent."""

from __future__ import annotations

import frappe
from frappe.utils import cint, flt

from marketing_flows.engine.running import job_slots

RUNNER_JOB = "marketing_flows.engine.running.runner.process_due"
RUNNER_BUDGET_SECONDS = 240  # a runner job stops taking batches after this; RQ's timeout is larger


def parallel_jobs() -> int:
	return max(1, cint(frappe.db.get_single_value("Marketing Flow Settings", "parallel_jobs")) or 2)


def runner_budget_seconds() -> float:
	"""How long one runner job takes batches before it hands over: RUNNER_BUDGET_SECONDS, or
	`marketing_flows_runner_budget_seconds` from the site config (RQ's timeout for the job is
	this plus two minutes)."""
	budget = flt(frappe.conf.get("marketing_flows_runner_budget_seconds"))
	return budget if budget > 0 else RUNNER_BUDGET_SECONDS


def runner_job_id(flow_name: str, slot: int) -> str:
	return f"marketing_flows:run:{flow_name}:{slot}"


def runner_job_ids(flow_name: str, slot: int) -> job_slots.Slot:
	"""A slot's two job ids (job_slots: a job whose budget is spent hands over to the other)."""
	first = runner_job_id(flow_name, slot)
	return first, f"{first}:next"


def enqueue_flow(flow_name: str, jobs: int | None = None) -> None:
	"""Process the flow's due participants in background jobs after this transaction commits.
	Several jobs share the work through SKIP LOCKED; one job per slot at a time."""
	job_slots.wake(
		[runner_job_ids(flow_name, slot) for slot in range(jobs or parallel_jobs())],
		lambda job_id: _enqueue_runner(flow_name, job_id),
	)


def hand_over(flow_name: str) -> None:
	"""Called by a runner job whose budget is spent while people are still due: its slot goes
	on at once in a job under the slot's other id. Called outside an RQ job (a benchmark's
	loop), it enqueues the flow's first slot, as the scheduler would."""
	slots = [runner_job_ids(flow_name, slot) for slot in range(parallel_jobs())]
	if not job_slots.hand_over(slots, lambda job_id: _enqueue_runner(flow_name, job_id)):
		enqueue_flow(flow_name, jobs=1)


def _enqueue_runner(flow_name: str, job_id: str) -> None:
	frappe.enqueue(
		RUNNER_JOB,
		queue="default",
		timeout=runner_budget_seconds() + 120,
		job_id=job_id,
		deduplicate=True,
		enqueue_after_commit=True,
		flow_name=flow_name,
	)
