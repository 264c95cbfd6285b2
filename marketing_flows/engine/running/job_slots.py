"""Background jobs that hold a slot: one job at a time per slot (runner and sender jobs).

A leaf of the engine: it knows RQ, nothing of flows. A slot has two job ids: Frappe deduplicates
a job id while a job under it is queued or started, so a job whose time budget is spent hands
the slot over to a job under the other id (its own id is still "started" while it enqueues).
These helpers start slots, hand them over, and keep a slot from being lost to a killed worker.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterable
from datetime import datetime, timezone

import frappe
from frappe.utils.background_jobs import get_job, is_job_enqueued
from rq import get_current_job
from rq.job import JobStatus
from rq.worker import Worker

from marketing_flows.engine.until_commit import UntilCommit

Slot = tuple[str, str]  # the slot's two job ids
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
	return deferred_slots.state()


deferred_slots: UntilCommit[set] = UntilCommit("_mf_deferred_slots", set)


def wake(slots: Iterable[Slot], enqueue: Callable[[str], None]) -> None:
	"""Each slot gets a job once this transaction commits (`enqueue(job_id)`, deferred by the
	caller to the commit), unless one of its jobs is queued already. A job of the slot that is
	running may be past its last look for work: the slot's other id is queued behind it, so no
	wake is lost (a slot has at most one job running and one queued)."""
	deferred = deferred_in_transaction()
	for first, follow_up in slots:
		if first in deferred:
			continue
		deferred.add(first)
		status = {}
		for job_id in (first, follow_up):
			release_dead_job(job_id)
			status[job_id] = _status(job_id)
		if JobStatus.QUEUED in status.values():
			continue  # that job starts later and looks for work then
		if status[first] != JobStatus.STARTED:
			enqueue(first)
		elif status[follow_up] != JobStatus.STARTED:
			enqueue(follow_up)


def _status(job_id: str) -> JobStatus | None:
	job = get_job(job_id)
	return job.get_status() if job else None


def hand_over(slots: Iterable[Slot], enqueue: Callable[[str], None]) -> bool:
	"""Called by a job whose budget is spent: its slot goes on at once under the slot's other
	id. False when the running job holds none of `slots` (called outside RQ, say)."""
	own = own_job_id()
	for ids in slots:
		if own in ids:
			other = ids[1] if own == ids[0] else ids[0]
			release_dead_job(other)
			if not is_job_enqueued(other):
				enqueue(other)
			return True
	return False
