#!/usr/bin/env python
"""Benchmark of the marketing_flows engine: enrolment, Send Email / Wait / Condition steps in
real workers, the scheduler tick, and worker memory. A script run on purpose, not a test.

Run it inside the bench's Python, from the bench's `sites` folder (Frappe logs to ../logs):

    cd /home/frappe/frappe-bench/sites && runuser -u frappe -- env HOME=/home/frappe \
        /home/frappe/frappe-bench/env/bin/python /work/main/benchmarks/bench_engine.py \
        --site mf-bench.localhost --sizes 1000,10000 --workers 1,2

Use a site of its own (it creates and deletes 100k-row data sets). See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import common
from common import BENCH_CLI, BENCH_DIR, RESULTS, Spawned, child_env, delete_chunked, say

PREFIX = common.CONTACTS  # names of the benchmark's contacts (common.ensure_contacts)
FLOW_PREFIX = "MFBench"  # flow_name / content_name of the benchmark's flows and content
SENDER = "MF Bench Sender"
PHASE2_MAX = 10**9  # --phase2-max: above this size, skip the phases after the wait

import frappe  # noqa: E402  (after sys.path is the bench's)
from frappe.utils import now_datetime  # noqa: E402

from factories import end, smtp_account, step  # noqa: E402  (tests/factories.py: on sys.path through common)
from marketing_flows.engine.running import runner_jobs  # noqa: E402

TARGETS = {
	"enrol_per_s": 100_000 / 60,
	"email_per_s_per_worker": 150,
	"steps_per_s_per_worker": 500,
	"scaling_2_workers": 1.8,
	"tick_ratio_max": 1.5,
	"rss_mb_max": 300,
}


# -- setup and cleanup ----------------------------------------------------------------------


def cleanup(contacts: bool = True) -> None:
	"""Remove everything the benchmark created (flows, participants, logs, Email Queue rows,
	content, and, with `contacts`, the contacts)."""
	flows = frappe.db.sql_list(
		"SELECT name FROM `tabMarketing Flow` WHERE flow_name LIKE %s", (FLOW_PREFIX + "%",)
	)
	for flow in flows:
		while True:  # in chunks: one DELETE of millions of rows would be one huge transaction
			names = frappe.db.sql_list(
				"SELECT name FROM `tabMarketing Flow Participant` WHERE flow = %s LIMIT 20000", flow
			)
			if not names:
				break
			frappe.db.sql(
				"""DELETE r FROM `tabEmail Queue Recipient` r JOIN `tabEmail Queue` q ON q.name = r.parent
				WHERE q.reference_doctype = 'Marketing Flow Participant' AND q.reference_name IN %s""",
				(names,),
			)
			frappe.db.sql(
				"""DELETE FROM `tabEmail Queue`
				WHERE reference_doctype = 'Marketing Flow Participant' AND reference_name IN %s""",
				(names,),
			)
			frappe.db.sql("DELETE FROM `tabMarketing Flow Log` WHERE participant IN %s", (names,))
			frappe.db.sql("DELETE FROM `tabMarketing Flow Participant` WHERE name IN %s", (names,))
			frappe.db.commit()
		delete_chunked("DELETE FROM `tabMarketing Flow Log` WHERE flow = %s", (flow,))
		frappe.db.sql("DELETE FROM `tabMarketing Flow Step` WHERE parent = %s", flow)
		frappe.db.sql("DELETE FROM `tabMarketing Flow Success Criterion` WHERE parent = %s", flow)
		frappe.db.sql("DELETE FROM `tabMarketing Flow` WHERE name = %s", flow)
		frappe.db.commit()
	frappe.db.sql("DELETE FROM `tabMarketing Flow Content` WHERE content_name LIKE %s", (FLOW_PREFIX + "%",))
	if contacts:
		common.remove_contacts()
	frappe.db.commit()
	if flows:
		say(f"cleanup: removed {len(flows)} benchmark flow(s){' and the contacts' if contacts else ''}")


def ensure_sender() -> str:
	"""An outgoing Email Account pointing nowhere: the benchmark measures queuing, not SMTP. The
	site's Email Queue is suspended so that no flush tries to deliver the rows."""
	smtp_account(SENDER, 2, "bench-flows@example.com", default_outgoing=0)
	frappe.db.set_default("suspend_email_queue", 1)
	frappe.db.commit()
	return SENDER


BODY = """<p>Hello {{ contact.first_name }},</p>
<p>Our spring offer for {{ contact.full_name }}: <a href="https://example.com/offer?c=1">see the offer</a>
and <a href="https://example.com/blog">read the blog</a>.</p>
<p>Kind regards,<br>The team of {{ flow.flow_name }}</p>"""


# --body readme: the README's first flow ("Welcome {{ contact.first_name }}", a body with a link)
README_BODY = """<p>Hello {{ contact.first_name }}, welcome!</p>
<p><a href="https://example.com/getting-started">Get started</a></p>"""
CONTENT = {
	"offer": ("Hi {{ contact.first_name }}, ", BODY),
	"readme": ("Welcome {{ contact.first_name }} ", README_BODY),
}
CONTENT_KIND = "offer"


def make_content(label: str) -> str:
	subject, body = CONTENT[CONTENT_KIND]
	doc = frappe.get_doc(
		{
			"doctype": "Marketing Flow Content",
			"content_name": f"{FLOW_PREFIX} {label} {frappe.generate_hash(length=6)}",
			"channel": "Email",
			"sender": SENDER,
			"subject": subject + label,
			"body": body,
		}
	)
	doc.insert(ignore_permissions=True)
	return doc.name


def email_steps() -> list[dict]:
	return [
		step("mail1", "Send Email", content=make_content("first"), next_step="wait"),
		step("wait", "Wait", wait_amount=1, wait_unit="Days", next_step="mail2"),
		step("mail2", "Send Email", content=make_content("second"), next_step="end"),
		end(),
	]


def condition_steps() -> list[dict]:
	return [
		step(
			"cond",
			"Condition",
			condition_type="Field",
			condition_filters=json.dumps([["Contact", "first_name", "like", "Bench%"]]),
			yes_step="wait_yes",
			no_step="wait_no",
		),
		step("wait_yes", "Wait", wait_amount=1, wait_unit="Days", next_step="end"),
		step("wait_no", "Wait", wait_amount=2, wait_unit="Days", next_step="end"),
		end(),
	]


def make_flow(kind: str, n: int, workers: int) -> str:
	"""A Draft flow (so enrolment enqueues nothing); the benchmark sets it Running itself."""
	steps = email_steps() if kind == "email" else condition_steps()
	return common.draft_flow(f"{FLOW_PREFIX} {kind} {n} w{workers} {frappe.generate_hash(length=6)}", steps)


def set_running(flow: str, running: bool = True) -> None:
	frappe.db.set_value(
		"Marketing Flow", flow, "status", "Running" if running else "Paused", update_modified=False
	)
	frappe.db.commit()


def pause_other_flows(keep: str | None) -> None:
	"""Only one benchmark flow runs at a time (the tick and the runner look at every running flow)."""
	frappe.db.sql(
		"UPDATE `tabMarketing Flow` SET status = 'Paused' WHERE flow_name LIKE %s AND status = 'Running' AND name != %s",
		(FLOW_PREFIX + "%", keep or ""),
	)
	frappe.db.commit()


# -- measurements ---------------------------------------------------------------------------


def measure_enrolment(flow: str, contacts: list[str]) -> dict:
	from marketing_flows.engine.entering import enrolment

	doc = frappe.get_doc("Marketing Flow", flow)
	before = snapshot()
	started = time.perf_counter()
	result = enrolment.EnrolResult()
	step = 50_000  # progress; each enrol() call is the engine's own, in chunks of CHUNK
	for start in range(0, len(contacts), step):
		part = enrolment.enroll(doc, contacts[start : start + step], source="Manual")
		frappe.db.commit()
		result.enrolled += part.enrolled
		result.not_enrolled.update(part.not_enrolled)
		if len(contacts) > step:
			done = min(start + step, len(contacts))
			say(f"    enrolled {done}/{len(contacts)} ({done / (time.perf_counter() - started):.0f}/s)")
	seconds = time.perf_counter() - started
	if len(result.enrolled) != len(contacts):
		raise SystemExit(
			f"enrolment: only {len(result.enrolled)} of {len(contacts)} enrolled: {list(result.not_enrolled.items())[:3]}"
		)
	g = growth(before, snapshot())
	show_growth(g)
	return {
		"n": len(contacts),
		"seconds": round(seconds, 3),
		"per_s": round(len(contacts) / seconds, 1),
		"growth": g,
	}


TABLES = ("Marketing Flow Participant", "Marketing Flow Log", "Email Queue", "Email Queue Recipient")


def snapshot() -> dict:
	"""Rows and bytes (data + indexes, after ANALYZE TABLE) of the tables the engine writes, and
	InnoDB's buffer pool counters."""
	frappe.db.rollback()
	tables = {}
	for table in TABLES:
		frappe.db.sql(f"ANALYZE TABLE `tab{table}`")
		size = frappe.db.sql(
			"""SELECT data_length, index_length FROM information_schema.tables
			WHERE table_schema = DATABASE() AND table_name = %s""",
			(f"tab{table}",),
		)[0]
		rows = frappe.db.sql(f"SELECT COUNT(*) FROM `tab{table}`")[0][0]
		tables[table] = {"rows": rows, "data": int(size[0]), "index": int(size[1])}
	status = dict(frappe.db.sql("SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_read%'"))
	return {
		"tables": tables,
		"read_requests": int(status.get("Innodb_buffer_pool_read_requests", 0)),
		"disk_reads": int(status.get("Innodb_buffer_pool_reads", 0)),
		"pool_mb": int(frappe.db.sql("SELECT @@innodb_buffer_pool_size")[0][0]) // 2**20,
	}


def growth(before: dict, after: dict) -> dict:
	"""Rows and bytes added per table between two snapshots, and the buffer pool hit rate."""
	out = {}
	for table, a in after["tables"].items():
		b = before["tables"][table]
		rows = a["rows"] - b["rows"]
		added = (a["data"] + a["index"]) - (b["data"] + b["index"])
		out[table] = {
			"rows": rows,
			"bytes": added,
			"index_bytes": a["index"] - b["index"],
			"bytes_per_row": round(added / rows) if rows > 0 else None,
		}
	requests = after["read_requests"] - before["read_requests"]
	reads = after["disk_reads"] - before["disk_reads"]
	return {
		"tables": out,
		"buffer_pool_hit": round(1 - reads / requests, 5) if requests else None,
		"buffer_pool_disk_reads": reads,
		"buffer_pool_mb": after["pool_mb"],
	}


def show_growth(g: dict) -> None:
	parts = [
		f"{t.split()[-1] if t.startswith('Marketing') else t}: +{v['rows']} rows +{v['bytes'] / 2**20:.1f} MB"
		+ (f" ({v['bytes_per_row']} B/row)" if v["bytes_per_row"] else "")
		for t, v in g["tables"].items()
		if v["rows"] or v["bytes"]
	]
	say(f"    {'; '.join(parts)}; buffer pool hit {g['buffer_pool_hit']} ({g['buffer_pool_mb']} MB)")


def counts(flow: str) -> dict[tuple[str, str], int]:
	frappe.db.rollback()  # a fresh snapshot: see what the workers committed
	rows = frappe.db.sql(
		"SELECT status, current_step, COUNT(*) FROM `tabMarketing Flow Participant` WHERE flow = %s GROUP BY status, current_step",
		flow,
	)
	return {(s, c): n for s, c, n in rows}


class RssSampler(threading.Thread):
	"""Peak RSS (MB) of the given processes and their children (RQ's work horses), every 0.1 s."""

	def __init__(self, pids: list[int]) -> None:
		super().__init__(daemon=True)
		self.pids = pids
		self.peak_process_mb = 0.0  # the largest single process (worker or work horse)
		self.peak_tree_mb = 0.0  # the largest worker + its children together
		self.stop_event = threading.Event()

	def run(self) -> None:
		import psutil

		while not self.stop_event.is_set():
			for pid in self.pids:
				try:
					proc = psutil.Process(pid)
					tree = [proc, *proc.children(recursive=True)]
					rss = []
					for p in tree:
						try:
							rss.append(p.memory_info().rss / 2**20)
						except psutil.Error:
							pass
				except psutil.Error:
					continue
				if rss:
					self.peak_process_mb = max(self.peak_process_mb, max(rss))
					self.peak_tree_mb = max(self.peak_tree_mb, sum(rss))
			self.stop_event.wait(0.1)

	def stop(self) -> None:
		self.stop_event.set()
		self.join()


def spawn_workers(count: int, mode: str, flow: str, site: str) -> list[subprocess.Popen]:
	logs = open(BENCH_DIR / "logs" / "bench-engine-workers.log", "ab")
	procs = []
	for _ in range(count):
		if mode == "rq":
			cmd = [BENCH_CLI, "worker", "--queue", "short,default,long", "--burst"]
			cwd = BENCH_DIR
		else:  # direct: the same job function, in a process of its own, without RQ
			cmd = [sys.executable, __file__, "--site", site, "--run-job", flow]
			cwd = BENCH_DIR / "sites"
		procs.append(subprocess.Popen(cmd, cwd=cwd, stdout=logs, stderr=logs, env=child_env()))
	SPAWNED.extend(procs)
	SPAWNED.remember()
	return procs


# the worker processes this run started (recorded in results/bench-pids-<site>.json)
SPAWNED = Spawned("bench", ("bench_engine.py", "worker"))


def our_rq_workers(pids: list[int]) -> set[str]:
	try:
		import psutil
		from frappe.utils.background_jobs import get_redis_conn
		from rq import Worker

		tree = set(pids)
		for pid in pids:
			try:
				tree.update(c.pid for c in psutil.Process(pid).children(recursive=True))
			except psutil.Error:
				pass
		return {w.name for w in Worker.all(connection=get_redis_conn()) if w.pid in tree}
	except Exception:
		return set()


def job_workers(flow: str, slots: int) -> list[str | None]:
	from frappe.utils.background_jobs import get_job

	found = []
	for slot in range(slots):
		# a slot's jobs take turns under two ids (runner_jobs.runner_job_ids)
		jobs = [job for job_id in runner_jobs.runner_job_ids(flow, slot) if (job := get_job(job_id))]
		found.extend([job.worker_name for job in jobs] or [None])
	return found


def jobs_pending(flow: str, slots: int) -> bool:
	"""A job of this flow is still queued or running (maybe in a worker that is not ours)."""
	from frappe.utils.background_jobs import is_job_enqueued

	return any(
		is_job_enqueued(job_id)
		for slot in range(max(slots, runner_jobs.parallel_jobs()))
		for job_id in runner_jobs.runner_job_ids(flow, slot)
	)


PROGRESS_SECONDS = 15


def _short(c: dict) -> str:
	return ", ".join(f"{s}/{step}: {k}" for (s, step), k in sorted(c.items()))


def process(
	flow: str, n: int, workers: int, mode: str, site: str, done, timeout: float, progress=None
) -> dict:
	"""Enqueue the flow's jobs, start `workers` processes, wait until `done(counts)` holds;
	`progress(counts)` says how many are through (for the progress lines)."""

	progress = progress or (lambda c: 0)

	pause_other_flows(flow)
	set_running(flow)
	if mode == "rq":
		runner_jobs.enqueue_flow(flow, jobs=workers)
	frappe.db.commit()  # enqueue_after_commit: the jobs go to Redis now
	before = snapshot()
	started = time.perf_counter()
	procs = spawn_workers(workers, mode, flow, site)
	last_report, last_done = started, None
	sampler = RssSampler([p.pid for p in procs])
	sampler.start()
	ours: set[str] = set()
	finished = None
	# Counting a million rows costs the database a second: count every PROGRESS_SECONDS (or 30x
	# what counting costs), and otherwise only watch the workers, which exit when nobody is due.
	next_count = started
	while time.perf_counter() - started < timeout:
		if mode == "rq" and len(ours) < workers:
			ours |= our_rq_workers([p.pid for p in procs])
		exited = all(p.poll() is not None for p in procs) and not (
			mode == "rq" and jobs_pending(flow, workers)
		)
		if exited or time.perf_counter() >= next_count:
			asked = time.perf_counter()
			c = counts(flow)
			cost = time.perf_counter() - asked
			if done(c):
				finished = time.perf_counter() - started
				break
			if exited:
				break
			if time.perf_counter() - last_report >= PROGRESS_SECONDS:
				moved = progress(c)
				rate = (
					(moved - last_done) / (time.perf_counter() - last_report) if last_done is not None else 0
				)
				say(
					f"    {time.perf_counter() - started:.0f}s: {moved}/{n} done ({rate:.0f}/s now); {_short(c)}"
				)
				last_report, last_done = time.perf_counter(), moved
			next_count = time.perf_counter() + max(PROGRESS_SECONDS, 30 * cost)
		time.sleep(0.2)
	for p in procs:
		if finished is None and p.poll() is None:
			p.terminate()  # the phase is over (time limit): its batch rolls back
		try:
			p.wait(timeout=60)
		except subprocess.TimeoutExpired:
			p.kill()
	sampler.stop()
	g = growth(before, snapshot())
	show_growth(g)
	result = {
		"growth": g,
		"n": n,
		"workers": workers,
		"mode": mode,
		"wall_seconds": round(finished, 2) if finished else None,
		"counts": {f"{s}/{c}": k for (s, c), k in counts(flow).items()},
		"peak_rss_process_mb": round(sampler.peak_process_mb, 1),
		"peak_rss_worker_tree_mb": round(sampler.peak_tree_mb, 1),
	}
	if mode == "rq":
		taken = job_workers(flow, workers)
		result["jobs_run_by_foreign_worker"] = sum(1 for w in taken if w and ours and w not in ours)
		result["job_workers_unknown"] = sum(1 for w in taken if not w)
	if finished is None:
		say(f"  !! not finished within {timeout}s: {result['counts']}")
	return result


def log_span(flow: str, events: tuple[str, ...], step_ids: tuple[str, ...]) -> dict:
	"""Seconds between the first and the last log entry of these events (excludes worker start-up)."""
	row = frappe.db.sql(
		"""SELECT MIN(creation), MAX(creation), COUNT(*) FROM `tabMarketing Flow Log`
		WHERE flow = %s AND event IN %s AND step_id IN %s""",
		(flow, events, step_ids),
	)[0]
	if not row[2]:
		return {"events": 0}
	span = max((row[1] - row[0]).total_seconds(), 1e-3)
	return {"events": row[2], "span_seconds": round(span, 2)}


def move_time_forward(flow: str) -> int:
	"""Everyone waiting becomes due (as the tests do: next_run_at in the past)."""
	frappe.db.sql(
		"""UPDATE `tabMarketing Flow Participant` SET next_run_at = %s
		WHERE flow = %s AND status = 'Waiting'""",
		(now_datetime() - timedelta(minutes=1), flow),
	)
	frappe.db.commit()
	return frappe.db.count("Marketing Flow Participant", {"flow": flow, "status": "Waiting"})


def email_phase(
	flow: str,
	n: int,
	workers: int,
	mode: str,
	site: str,
	timeout: float,
	until: tuple[str, str],
	step_id: str,
) -> dict:
	"""Process the flow until its n participants all stand at `until` (status, current step), with
	the rates of its Send Email step `step_id`: per second of wall time (overall and per worker)
	and per second of the step's log span."""
	at = lambda c: c.get(until, 0)  # noqa: E731
	phase = process(flow, n, workers, mode, site, lambda c: at(c) >= n, timeout, at)
	phase.update(log_span(flow, ("Email Sent",), (step_id,)))
	if phase["wall_seconds"]:
		phase["per_s"] = round(n / phase["wall_seconds"], 1)
		phase["per_s_per_worker"] = round(phase["per_s"] / workers, 1)
	if phase.get("span_seconds"):
		phase["per_s_in_span"] = round(phase["events"] / phase["span_seconds"], 1)
	return phase


def bench_email_flow(contacts: list[str], workers: int, mode: str, site: str, timeout: float) -> dict:
	n = len(contacts)
	flow = make_flow("email", n, workers)
	out = {"flow": flow, "enrol": measure_enrolment(flow, contacts)}
	say(f"  enrolled {n} in {out['enrol']['seconds']}s ({out['enrol']['per_s']}/s)")
	# while waiting, a participant's current step is the Wait step
	first = email_phase(flow, n, workers, mode, site, timeout, ("Waiting", "wait"), "mail1")
	say(
		f"  Send Email #1, {workers} worker(s): {first.get('wall_seconds')}s wall, {first.get('per_s')}/s "
		f"(log span {first.get('span_seconds')}s), peak RSS {first['peak_rss_process_mb']} MB"
	)
	out["send_email_1"] = first
	out["waiting_tick"] = tick_timings(flow)
	if n > PHASE2_MAX:
		out["send_email_2_end"] = {
			"skipped": f"n > --phase2-max {PHASE2_MAX}",
			"peak_rss_process_mb": 0,
			"peak_rss_worker_tree_mb": 0,
		}
		out["email_queue_rows"] = None
		out["exactly_once"] = None
		set_running(flow, False)
		return out
	move_time_forward(flow)
	second = email_phase(flow, n, workers, mode, site, timeout, ("Completed", "end"), "mail2")
	say(
		f"  Send Email #2 + End, {workers} worker(s): {second.get('wall_seconds')}s wall, {second.get('per_s')}/s, "
		f"peak RSS {second['peak_rss_process_mb']} MB"
	)
	out["send_email_2_end"] = second
	queued = frappe.db.sql(
		"""SELECT COUNT(*) FROM `tabEmail Queue` q JOIN `tabMarketing Flow Participant` p ON p.name = q.reference_name
		WHERE q.reference_doctype = 'Marketing Flow Participant' AND p.flow = %s""",
		flow,
	)[0][0]
	out["email_queue_rows"] = queued
	out["exactly_once"] = queued == 2 * n
	set_running(flow, False)
	return out


def bench_condition_flow(contacts: list[str], workers: int, mode: str, site: str, timeout: float) -> dict:
	n = len(contacts)
	flow = make_flow("condition", n, workers)
	out = {"flow": flow, "enrol": measure_enrolment(flow, contacts)}
	waiting = lambda c: c.get(("Waiting", "wait_yes"), 0) + c.get(("Waiting", "wait_no"), 0)  # noqa: E731
	first = process(flow, n, workers, mode, site, lambda c: waiting(c) >= n, timeout, waiting)
	if first["wall_seconds"]:
		first["steps"] = 2 * n  # Condition + Wait
		first["steps_per_s"] = round(2 * n / first["wall_seconds"], 1)
		first["steps_per_s_per_worker"] = round(first["steps_per_s"] / workers, 1)
		first["participants_per_s"] = round(n / first["wall_seconds"], 1)
	first.update(
		log_span(flow, ("Branch Yes", "Branch No", "Step Executed"), ("cond", "wait_yes", "wait_no"))
	)
	say(
		f"  Condition + Wait, {workers} worker(s): {first.get('wall_seconds')}s wall, {first.get('steps_per_s')} steps/s, "
		f"peak RSS {first['peak_rss_process_mb']} MB"
	)
	out["condition_wait"] = first
	if n > PHASE2_MAX:
		out["end"] = {"skipped": f"n > --phase2-max {PHASE2_MAX}"}
		set_running(flow, False)
		return out
	move_time_forward(flow)
	at_end = lambda c: c.get(("Completed", "end"), 0)  # noqa: E731
	second = process(flow, n, workers, mode, site, lambda c: at_end(c) >= n, timeout, at_end)
	if second["wall_seconds"]:
		second["steps_per_s"] = round(n / second["wall_seconds"], 1)
	say(
		f"  End, {workers} worker(s): {second.get('wall_seconds')}s wall, {second.get('steps_per_s')} steps/s"
	)
	out["end"] = second
	set_running(flow, False)
	return out


# -- scheduler tick -------------------------------------------------------------------------


def tick_timings(flow: str, calls: int = 30) -> dict:
	"""With `flow` the only running benchmark flow and nobody due: time the scheduler tick and
	the claim query, and EXPLAIN both."""
	from marketing_flows.engine.running import runner

	pause_other_flows(flow)
	set_running(flow)
	running_flows = frappe.db.count("Marketing Flow", {"status": "Running"})
	now = now_datetime()
	waiting = frappe.db.count("Marketing Flow Participant", {"flow": flow, "status": "Waiting"})
	due = frappe.db.sql(
		"SELECT COUNT(*) FROM `tabMarketing Flow Participant` WHERE flow = %s AND status IN ('Active','Waiting') AND next_run_at <= %s",
		(flow, now),
	)[0][0]
	runner.schedule_due_participants()  # warm caches
	frappe.db.rollback()
	times = []
	for _ in range(calls):
		t = time.perf_counter()
		runner.schedule_due_participants()
		times.append(time.perf_counter() - t)
	frappe.db.rollback()  # nothing to commit (none due) and no enqueue_after_commit left behind
	claim = []
	for _ in range(calls):  # the runner's own claim (with nobody due: an empty index range)
		t = time.perf_counter()
		runner.claim_due_participants(flow, 200, now)
		claim.append(time.perf_counter() - t)
		frappe.db.rollback()
	# EXPLAIN the runner's own statements (runner.CLAIM_SQL / PROBE_SQL), never copies
	claim_sql, probe_sql = getattr(runner, "CLAIM_SQL", None), getattr(runner, "PROBE_SQL", None)
	explain_claim = frappe.db.sql("EXPLAIN " + claim_sql, (flow, now, 200), as_dict=True) if claim_sql else []
	explain_probe = frappe.db.sql("EXPLAIN " + probe_sql, (flow, now), as_dict=True) if probe_sql else []
	total = frappe.db.sql("SELECT COUNT(*) FROM `tabMarketing Flow Participant`")[0][0]
	times.sort()
	return {
		"waiting": waiting,
		"due": due,
		"participants_in_table": total,
		"running_flows": running_flows,
		"calls": calls,
		"tick_avg_ms": round(sum(times) / len(times) * 1000, 3),
		"tick_median_ms": round(times[len(times) // 2] * 1000, 3),
		"claim_avg_ms": round(sum(claim) / len(claim) * 1000, 3),
		"explain_claim": [
			{k: (str(v) if v is not None else None) for k, v in r.items()} for r in explain_claim
		],
		"explain_probe": [
			{k: (str(v) if v is not None else None) for k, v in r.items()} for r in explain_probe
		],
	}


def bench_tick_only(contacts: list[str], zones: int = 0) -> dict:
	"""Enrol N into an email flow and park them as Waiting (not due) without processing: the
	tick must cost the same whatever N is. With `zones`, the tick again with the same people
	due at 09:00 tomorrow in each of that many time zones (the sending window in the person's
	time spreads one send over as many moments): it must cost the same too."""
	n = len(contacts)
	flow = make_flow("tick", n, 0)
	out = {"flow": flow, "enrol": measure_enrolment(flow, contacts)}
	say(f"  enrolled {n} in {out['enrol']['seconds']}s ({out['enrol']['per_s']}/s)")
	frappe.db.sql(
		"""UPDATE `tabMarketing Flow Participant` SET status = 'Waiting', current_step = 'wait', next_run_at = %s
		WHERE flow = %s""",
		(now_datetime() + timedelta(days=1), flow),
	)
	frappe.db.commit()
	out["waiting_tick"] = tick_timings(flow)
	if zones:
		out["zones"] = spread_over_zones(flow, zones)
		out["zoned_tick"] = tick_timings(flow)
		# the first tick above ran right after the mass UPDATE (InnoDB still purging the old index
		# entries): one moment again, measured as late as the zoned one, for a fair comparison
		frappe.db.sql(
			"UPDATE `tabMarketing Flow Participant` SET next_run_at = %s WHERE flow = %s",
			(now_datetime() + timedelta(days=1), flow),
		)
		frappe.db.commit()
		time.sleep(30)
		out["waiting_tick_again"] = tick_timings(flow)
		out["zones"]["after"] = spread_over_zones(flow, zones)
		time.sleep(30)
		out["zoned_tick_again"] = tick_timings(flow)
	set_running(flow, False)
	return out


SPREAD_ZONES = (
	"Pacific/Honolulu",
	"America/Los_Angeles",
	"America/New_York",
	"America/Sao_Paulo",
	"Europe/London",
	"Europe/Oslo",
	"Asia/Dubai",
	"Asia/Kolkata",
	"Asia/Singapore",
	"Australia/Sydney",
	"Pacific/Auckland",
	"Asia/Tokyo",
)


def spread_over_zones(flow: str, zones: int) -> dict:
	"""Give the flow's waiting participants, split into `zones` groups, the due time the engine
	stores for "09:00 tomorrow" in each group's zone (naive site time, as send_times.Clock does)."""
	from zoneinfo import ZoneInfo

	from frappe.utils import get_system_timezone

	site = ZoneInfo(get_system_timezone())
	chosen = SPREAD_ZONES[: max(1, min(zones, len(SPREAD_ZONES)))]
	due = {}
	for i, zone in enumerate(chosen):
		local_tomorrow = datetime.now(ZoneInfo(zone)).date() + timedelta(days=1)
		nine = datetime.combine(local_tomorrow, datetime.min.time()).replace(hour=9, tzinfo=ZoneInfo(zone))
		moment = nine.astimezone(site).replace(tzinfo=None)
		due[zone] = str(moment)
		frappe.db.sql(
			"""UPDATE `tabMarketing Flow Participant` SET next_run_at = %s, time_zone = %s
			WHERE flow = %s AND CRC32(name) %% %s = %s""",
			(moment, zone, flow, len(chosen), i),
		)
	frappe.db.commit()
	return {"zones": len(chosen), "due": due}


# -- profile ----------------------------------------------------------------------------------


def profile_batch(contacts: list[str], out_dir: Path, stamp: str) -> dict:
	"""cProfile of `process_due` in this process for the first Send Email of len(contacts) people."""
	from marketing_flows.engine.running import runner

	n = len(contacts)
	flow = make_flow("email", n, 0)
	measure_enrolment(flow, contacts)
	pause_other_flows(flow)
	set_running(flow)
	prof = cProfile.Profile()
	started = time.perf_counter()
	prof.enable()
	done = runner.process_due(flow)
	prof.disable()
	seconds = time.perf_counter() - started
	frappe.db.commit()
	set_running(flow, False)
	path = out_dir / f"profile-{stamp}.pstats"
	prof.dump_stats(str(path))
	text = io.StringIO()
	stats = pstats.Stats(prof, stream=text)
	stats.sort_stats("cumulative").print_stats(45)
	stats.sort_stats("tottime").print_stats(30)
	(out_dir / f"profile-{stamp}.txt").write_text(text.getvalue())
	return {
		"n": n,
		"processed": done,
		"seconds": round(seconds, 2),
		"per_s": round(done / seconds, 1),
		"pstats": str(path),
	}


# -- report -----------------------------------------------------------------------------------


def table(results: dict) -> str:
	lines = []
	add = lines.append
	add("")
	add(f"{'measure':<52} {'value':>14}   target")
	add("-" * 90)
	for n, r in sorted(results.get("enrol_only", {}).items(), key=lambda kv: int(kv[0])):
		add(
			f"{'enrolment ' + n + ' (tick-only flow)':<52} {r['enrol']['per_s']:>12}/s   >= {TARGETS['enrol_per_s']:.0f}/s ({r['enrol']['seconds']} s)"
		)
	for _key, r in sorted(results.get("email", {}).items()):
		n, w = r["send_email_1"]["n"], r["send_email_1"]["workers"]
		add(
			f"{f'enrolment {n} (email flow, w{w})':<52} {r['enrol']['per_s']:>12}/s   >= {TARGETS['enrol_per_s']:.0f}/s"
		)
		s1 = r["send_email_1"]
		add(
			f"{f'Send Email #1  n={n} w={w} wall':<52} {str(s1.get('per_s')):>12}/s   >= {150 * w}/s ({s1.get('wall_seconds')} s)"
		)
		add(f"{'  per worker':<52} {str(s1.get('per_s_per_worker')):>12}/s   >= 150/s")
		add(
			f"{'  in log span (no worker start-up)':<52} {str(s1.get('per_s_in_span')):>12}/s   ({s1.get('span_seconds')} s)"
		)
		s2 = r["send_email_2_end"]
		add(
			f"{f'Send Email #2 + End n={n} w={w} wall':<52} {str(s2.get('per_s')):>12}/s   ({s2.get('wall_seconds') or s2.get('skipped')} s)"
		)
		add(
			f"{'  peak RSS (largest process / worker tree)':<52} {max(s1['peak_rss_process_mb'], s2['peak_rss_process_mb']):>11} MB   <= 300 MB "
			f"(tree {max(s1['peak_rss_worker_tree_mb'], s2['peak_rss_worker_tree_mb'])} MB)"
		)
		add(
			f"{'  Email Queue rows / exactly once':<52} {str(r['email_queue_rows']):>14}   {r['exactly_once']}"
		)
		for label, phase in (("enrolment", r["enrol"]), ("Send Email #1", s1), ("Send Email #2 + End", s2)):
			g = phase.get("growth")
			if not g:
				continue
			parts = [
				f"{t}: +{v['rows']} rows, +{v['bytes'] / 2**20:.0f} MB"
				+ (f" ({v['bytes_per_row']} B/row)" if v.get("bytes_per_row") else "")
				for t, v in g["tables"].items()
				if v["rows"] or v["bytes"]
			]
			add(f"  {label}: buffer pool hit {g['buffer_pool_hit']} ({g['buffer_pool_mb']} MB pool)")
			for part in parts:
				add(f"      {part}")
		if s1.get("jobs_run_by_foreign_worker"):
			add(f"  !! {s1['jobs_run_by_foreign_worker']} job(s) were run by a foreign worker")
	for key, r in sorted(results.get("scaling", {}).items()):
		add(f"{f'scaling w2/w1 Send Email #1 n={key}':<52} {r:>13}x   >= 1.8x")
	for _key, r in sorted(results.get("condition", {}).items()):
		c = r["condition_wait"]
		label = f"Condition+Wait n={c['n']} w={c['workers']}"
		add(
			f"{label:<52} {str(c.get('steps_per_s')):>8} steps/s   >= {500 * c['workers']}/s ({c.get('wall_seconds')} s)"
		)
		add(
			f"{'  per worker':<52} {str(c.get('steps_per_s_per_worker')):>8} steps/s   >= 500/s; peak RSS {c['peak_rss_process_mb']} MB"
		)
		e = r["end"]
		label = f"End n={c['n']} w={c['workers']}"
		add(f"{label:<52} {str(e.get('steps_per_s')):>8} steps/s   ({e.get('wall_seconds')} s)")
	ticks = results.get("ticks", {})
	for _n, t in sorted(ticks.items(), key=lambda kv: int(kv[0])):
		label = f"scheduler tick, {t['waiting']} waiting ({t['participants_in_table']} rows, {t['running_flows']} running flows)"
		add(f"{label:<52} {t['tick_avg_ms']:>11} ms   claim query {t['claim_avg_ms']} ms")
	for n, t in sorted(results.get("zoned_ticks", {}).items(), key=lambda kv: int(kv[0])):
		label = f"scheduler tick, {t['waiting']} waiting, due over {t['zones']['zones']} time zones"
		base = ticks.get(n, {}).get("tick_avg_ms")
		ratio = f"   {t['tick_avg_ms'] / max(base, 1e-6):.2f}x of one moment" if base else ""
		add(f"{label:<52} {t['tick_avg_ms']:>11} ms   claim query {t['claim_avg_ms']} ms{ratio}")
		if "zoned_again_ms" in t:
			again = (
				f"scheduler tick, {t['waiting']} waiting, settled: one moment / {t['zones']['zones']} zones"
			)
			add(f"{again:<52} {t['one_moment_again_ms']:>6} / {t['zoned_again_ms']} ms")
	if len(ticks) >= 2:
		ns = sorted(ticks, key=int)
		ratio = ticks[ns[-1]]["tick_avg_ms"] / max(ticks[ns[0]]["tick_avg_ms"], 1e-6)
		add(f"{f'tick ratio {ns[-1]} / {ns[0]}':<52} {ratio:>13.2f}x   <= 1.5x")
		t = ticks[ns[-1]]
		for row in t["explain_claim"]:
			add(
				f"EXPLAIN claim ({ns[-1]}): key={row.get('key')} type={row.get('type')} rows={row.get('rows')} Extra={row.get('Extra')}"
			)
		for row in t["explain_probe"]:
			add(
				f"EXPLAIN probe ({ns[-1]}): key={row.get('key')} type={row.get('type')} rows={row.get('rows')} Extra={row.get('Extra')}"
			)
	if "profile" in results:
		p = results["profile"]
		label = f"in-process process_due (cProfile on) n={p['n']}"
		add(f"{label:<52} {p['per_s']:>12}/s   ({p['seconds']} s)")
	return "\n".join(lines)


def run_job(site: str, flow: str) -> None:
	"""--run-job: what the RQ jobs do, without RQ (direct mode): `process_due` stops after its
	time budget and enqueues a follow-up; here the follow-up is the next loop, until nobody of
	the flow is due (as the scheduler's tick would see it)."""
	from marketing_flows.engine.running import runner

	frappe.init(site=site, sites_path=str(BENCH_DIR / "sites"))
	frappe.connect()
	frappe.set_user("Administrator")
	try:
		while True:
			if not runner.process_due(flow):
				time.sleep(0.5)  # the rest is claimed by another worker: look again shortly
			frappe.db.commit()
			if frappe.db.get_value("Marketing Flow", flow, "status") != "Running":
				break
			if not runner.has_due_participants(flow, now_datetime()):
				break
		frappe.db.rollback()
	finally:
		frappe.destroy()


def main() -> None:
	parser = argparse.ArgumentParser(
		description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
	)
	parser.add_argument("--site", default="mf-bench.localhost")
	parser.add_argument("--sizes", default="1000,10000", help="participants per processing run")
	parser.add_argument("--workers", default="1,2", help="worker counts to compare")
	parser.add_argument(
		"--mode",
		choices=("rq", "direct"),
		default="direct",
		help="rq: `bench worker --burst` processes (shared queues: foreign workers may take jobs); "
		"direct: processes that call runner.process_due themselves (isolated)",
	)
	parser.add_argument("--enrol-only", default="", help="sizes to enrol and tick-test only, e.g. 100000")
	parser.add_argument("--skip-condition", action="store_true")
	parser.add_argument(
		"--zones",
		type=int,
		default=0,
		help="with --enrol-only: tick again with the waiting people due at 09:00 in this many time zones",
	)
	parser.add_argument(
		"--body",
		choices=tuple(CONTENT),
		default="offer",
		help="email content: the four-line offer, or the README's welcome",
	)
	parser.add_argument(
		"--profile", type=int, default=0, help="cProfile process_due in-process for this many participants"
	)
	parser.add_argument("--timeout", type=float, default=1800, help="seconds per processing phase")
	parser.add_argument(
		"--phase2-max",
		type=int,
		default=10**9,
		help="above this size, don't move time forward and process the second email / End",
	)
	parser.add_argument(
		"--email-workers", default="", help="worker counts for the email flow (default: --workers)"
	)
	parser.add_argument("--keep", action="store_true", help="keep the data (default: remove it at the end)")
	parser.add_argument("--report", help="print the table of an earlier results/bench-*.json and exit")
	parser.add_argument("--cleanup", action="store_true", help="only remove the benchmark's data")
	parser.add_argument("--run-job", help=argparse.SUPPRESS)
	args = parser.parse_args()

	if args.report:
		print(table(json.loads(Path(args.report).read_text())))
		return
	if args.cleanup:
		frappe.init(site=args.site, sites_path=str(BENCH_DIR / "sites"))
		frappe.connect()
		cleanup(contacts=True)
		frappe.destroy()
		return

	if args.run_job:
		run_job(args.site, args.run_job)
		return

	frappe.init(site=args.site, sites_path=str(BENCH_DIR / "sites"))
	frappe.connect()
	frappe.set_user("Administrator")
	global PHASE2_MAX, CONTENT_KIND
	PHASE2_MAX = args.phase2_max
	CONTENT_KIND = args.body
	sizes = [int(s) for s in args.sizes.split(",") if s]
	workers = [int(w) for w in args.workers.split(",") if w]
	email_workers = [int(w) for w in (args.email_workers or args.workers).split(",") if w]
	enrol_only = [int(s) for s in args.enrol_only.split(",") if s]
	stamp = time.strftime("%Y%m%d-%H%M%S")
	RESULTS.mkdir(parents=True, exist_ok=True)
	results: dict = {
		"site": args.site,
		"mode": args.mode,
		"started": stamp,
		"targets": TARGETS,
		"settings": frappe.db.get_values_from_single(
			["batch_size", "parallel_jobs", "track_opens", "track_clicks"],
			None,
			"Marketing Flow Settings",
			as_dict=True,
		)[0],
		"email": {},
		"condition": {},
		"scaling": {},
		"ticks": {},
		"enrol_only": {},
	}
	out_file = RESULTS / f"bench-{stamp}.json"

	def save() -> None:
		out_file.write_text(json.dumps(results, indent=1, default=str))

	lock = common.lock_site(args.site, "another bench_engine.py run")  # noqa: F841  (held to the end)
	# SIGTERM (a timeout, Ctrl-C from a wrapper) ends the run through `finally`: workers stopped,
	# data removed; after a SIGKILL the next start does both.
	signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
	try:
		SPAWNED.stop_leftovers(args.site)
		cleanup(contacts=False)
		ensure_sender()
		contacts = common.ensure_contacts(max([*sizes, *enrol_only, args.profile]))
		if args.profile:
			say(f"profile: process_due for {args.profile} in-process under cProfile")
			results["profile"] = profile_batch(contacts[: args.profile], RESULTS, stamp)
			say(f"  {results['profile']}")
			save()
		for n in sizes:
			for w in email_workers:
				say(f"email flow: n={n}, workers={w} ({args.mode})")
				r = bench_email_flow(contacts[:n], w, args.mode, args.site, args.timeout)
				results["email"][f"{n}-w{w}"] = r
				results["ticks"][str(n)] = r["waiting_tick"]
				save()
			if len(email_workers) > 1:
				one = (
					results["email"]
					.get(f"{n}-w{min(email_workers)}", {})
					.get("send_email_1", {})
					.get("per_s")
				)
				many = (
					results["email"]
					.get(f"{n}-w{max(email_workers)}", {})
					.get("send_email_1", {})
					.get("per_s")
				)
				if one and many:
					results["scaling"][f"{n}"] = round(many / one, 2)
			if not args.skip_condition:
				for w in workers:
					say(f"condition flow: n={n}, workers={w} ({args.mode})")
					results["condition"][f"{n}-w{w}"] = bench_condition_flow(
						contacts[:n], w, args.mode, args.site, args.timeout
					)
					save()
		for n in enrol_only:
			say(f"enrolment + tick only: n={n}")
			cleanup(contacts=False)  # the tick compares table sizes: start from an empty table
			r = bench_tick_only(contacts[:n], args.zones)
			results["enrol_only"][str(n)] = r
			results["ticks"][str(n)] = r["waiting_tick"]
			if r.get("zoned_tick"):
				results.setdefault("zoned_ticks", {})[str(n)] = {
					**r["zoned_tick"],
					"zones": r["zones"],
					"one_moment_again_ms": r["waiting_tick_again"]["tick_avg_ms"],
					"zoned_again_ms": r["zoned_tick_again"]["tick_avg_ms"],
				}
			save()
		if enrol_only and sizes:
			# the same tick at the smallest size again, on a table holding only that flow
			n = min(sizes)
			cleanup(contacts=False)
			r = bench_tick_only(contacts[:n])
			results["enrol_only"][str(n)] = r
			results["ticks"][str(n)] = r["waiting_tick"]
	finally:
		SPAWNED.stop()
		results["finished"] = time.strftime("%Y%m%d-%H%M%S")
		save()
		try:
			report = table(results)
			print(report, flush=True)
			(RESULTS / f"bench-{stamp}.txt").write_text(report + "\n")
		finally:
			say(f"results: {out_file}")
		if not args.keep:
			frappe.db.rollback()
			cleanup(contacts=True)
		frappe.destroy()


if __name__ == "__main__":
	main()
