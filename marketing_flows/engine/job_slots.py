"""Background jobs that hold a slot: a job id that runs once at a time (runner and sender jobs).

A leaf of the engine: it knows RQ, nothing of flows. Frappe deduplicates a job id while a job
under it is queued or started; these helpers keep such a slot from being lost to a killed
worker and let a job find its own id.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timezone

import frappe
from frappe.utils.background_jobs import get_job
from rq import get_current_job
from rq.job import JobStatus
from rq.worker import Worker

WORKER_SILENCE_SECONDS = 180  # a worker on another machine without a heartbeat this long is gone


def own_job_id() -> str | None:
	"""The id the running RQ job was enqueued under (None outside a job)."""
	job = get_current_job()
	return job.id.split("::", 1)[-1] if job else None  # Frappe prefixes the site: "site::id"


def release_dead_job(job_id: str) -> None:
	"""A worker killed with SIGKILL leaves its job "started" in RQ for good, and Frappe's
	deduplication would then never enqueue that slot again: drop such a job when the worker
	that was running it is gone."""
	try:
		job = get_job(job_id)
		if not job or job.get_status() != JobStatus.STARTED:
			return
		worker = None
		if job.worker_name:
			worker = Worker.find_by_key(
				Worker.redis_worker_namespace_prefix + job.worker_name, connection=job.connection
			)
		if worker is None or worker.get_current_job_id() != job.id or not _alive(worker):
			job.delete()
	except Exception:
		frappe.log_error(title="Marketing Flows: could not check a job slot")


def _alive(worker: Worker) -> bool:
	"""On this machine: is its process there? Elsewhere: has it sent a heartbeat lately?"""
	if worker.hostname == socket.gethostname() and worker.pid:
		try:
			os.kill(worker.pid, 0)
		except ProcessLookupError:
			return False
		except PermissionError:
			return True
		return True
	if worker.last_heartbeat is None:
		return False
	return (
		datetime.now(timezone.utc).replace(tzinfo=None) - worker.last_heartbeat
	).total_seconds() < WORKER_SILENCE_SECONDS


def deferred_in_transaction() -> set:
	"""The slots this transaction has already enqueued a job for. Frappe deduplicates a job id
	against RQ when `enqueue` is called, but an enqueue deferred to after the commit is not in
	RQ yet: two calls in one transaction would push the same job id twice and the slot would
	run twice. Forgotten at commit and rollback."""
	state = getattr(frappe.local, "_mf_deferred_slots", None)
	if state is None or state[0] is not frappe.local.db:
		state = (frappe.local.db, set())
		frappe.local._mf_deferred_slots = state
		frappe.db.after_commit.add(_forget_deferred)
		frappe.db.after_rollback.add(_forget_deferred)
	return state[1]


def _forget_deferred() -> None:
	frappe.local._mf_deferred_slots = None
