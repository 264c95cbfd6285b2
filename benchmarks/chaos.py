#!/usr/bin/env python
"""Chaos run of the marketing_flows engine: N participants through
Send Email -> Wait 1 minute -> Webhook -> Send SMS -> Send Email, with 2 real RQ workers, while
one worker is SIGKILLed at random moments, the webhook receiver is slower than the runner's job
budget for a while and the SMTP server is down for 2 minutes. At the end every participant must
be Completed or Stalled (with a reason) and the receivers must have seen exactly 2 emails,
1 webhook call and 1 SMS per participant (a repeat only with the same Idempotency-Key after an
outcome the outbox counted as unknown). A script run on purpose, not a test.

Run it inside the bench's Python, from the bench's `sites` folder (Frappe logs to ../logs), on a
site of its own (see benchmarks/README.md):

    cd /home/frappe/bench3/sites && runuser -u frappe -- env HOME=/home/frappe MF_BENCH_DIR=/home/frappe/bench3 \
        /home/frappe/bench3/env/bin/python /work/wt-chaos/benchmarks/chaos.py --site mf3-chaos.localhost --size 10000

Exit status: 0 when every count is right, 1 when a count is off or someone is neither Completed
nor Stalled, 2 when a fault could not be injected (the run finished before it).
"""

from __future__ import annotations

import argparse
import collections
import email.parser
import json
import os
import random
import signal
import subprocess
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import common
from common import BENCH_CLI, BENCH_DIR, RESULTS, child_env, free_port, say

PREFIX = "MFC-"  # names of the chaos run's contacts
DOMAIN = "chaos.example.com"  # their emails' domain
FLOW_PREFIX = "MFChaos"  # flow_name / content_name of its flows and content
SENDER = "MF Chaos Sender"  # its Email Account (pointed at the SMTP sink)
FLUSH_JOB = "frappe.email.queue.flush"

import frappe  # noqa: E402  (after sys.path is the bench's)
from frappe.utils import now_datetime  # noqa: E402

from factories import smtp_account, step  # noqa: E402  (tests/factories.py: on sys.path through common)
from marketing_flows.engine.running import runner_jobs  # noqa: E402
from receivers import QuietHandler  # noqa: E402  (tests/receivers.py, likewise)

# Settings the run changes; their previous values are kept in a state file and put back by the
# cleanup (also by the next start after a crash).
SETTINGS = {
	"Marketing Flow Settings": (
		"default_sender",
		"batch_size",
		"parallel_jobs",
		"max_attempts",
		"retry_backoff_minutes",
		"max_sends_per_hour",
		"track_opens",
		"track_clicks",
		"webhook_allowed_hosts",
	),
	"SMS Settings": ("sms_gateway_url", "message_parameter", "receiver_parameter", "use_post"),
	"System Settings": ("email_retry_limit", "enable_scheduler"),
}


# -- receivers --------------------------------------------------------------------------------


class SMTPSink:
	"""An SMTP server (aiosmtpd) on 127.0.0.1 that counts what is delivered to it: per envelope
	recipient and per Message-Id (a message delivered twice has the same Message-Id). It can be
	taken down and brought back on the same port."""

	def __init__(self) -> None:
		self.port = free_port()
		self.lock = threading.Lock()
		self.by_recipient: collections.Counter = collections.Counter()
		self.ids_by_recipient: dict[str, set[str]] = collections.defaultdict(set)
		self.by_message_id: collections.Counter = collections.Counter()
		self.total = 0
		self.controller = None

	def start(self) -> SMTPSink:
		from aiosmtpd.controller import Controller

		sink = self
		parser = email.parser.BytesHeaderParser()

		class Handler:
			async def handle_DATA(self, server, session, envelope):
				message_id = parser.parsebytes(envelope.content).get("Message-Id", "")
				with sink.lock:
					for rcpt in envelope.rcpt_tos:
						sink.by_recipient[rcpt.lower()] += 1
						sink.ids_by_recipient[rcpt.lower()].add(message_id.strip())
					sink.by_message_id[message_id.strip()] += 1
					sink.total += 1
				return "250 OK"

		self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
		self.controller.start()
		return self

	def stop(self) -> None:
		if self.controller is not None:
			self.controller.stop()
			self.controller = None

	@property
	def up(self) -> bool:
		return self.controller is not None


class HTTPReceiver:
	"""The webhook endpoint (/hook) and the SMS gateway (/sms) on 127.0.0.1. Every request is
	recorded when it arrives (before any delay): a request whose caller gave up waiting still
	reached the receiver. `hook_delay` makes the webhook answer late."""

	def __init__(self) -> None:
		self.lock = threading.Lock()
		self.requests: list[dict] = []
		self.hook_delay = 0.0
		receiver = self

		class Handler(QuietHandler):
			protocol_version = "HTTP/1.0"

			def _handle(self):
				body = self.body()
				parsed = urlparse(self.path)
				record = {"path": parsed.path, "key": self.headers.get("Idempotency-Key"), "at": time.time()}
				if parsed.path == "/hook":
					try:
						record["participant"] = json.loads(body).get("participant")
					except ValueError:
						record["participant"] = None
					delay = receiver.hook_delay
				else:
					fields = {k: v[0] for k, v in parse_qs(parsed.query).items()}
					fields.update({k: v[0] for k, v in parse_qs(body).items()})
					record["to"] = fields.get("to")
					delay = 0.0
				record["delay"] = delay
				with receiver.lock:
					receiver.requests.append(record)
				if delay:
					time.sleep(delay)
				try:
					self.send_response(200)
					self.send_header("Content-Type", "application/json")
					self.end_headers()
					self.wfile.write(b'{"ok": true}')
				except OSError:
					pass  # the caller gave up (timeout): it never learns the outcome

			do_GET = do_POST = do_PUT = _handle

		class Server(ThreadingHTTPServer):
			daemon_threads = True
			request_queue_size = 64

			def handle_error(self, request, client_address):
				pass  # a caller that hung up is part of the experiment

		self.server = Server(("127.0.0.1", free_port()), Handler)
		self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
		self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

	def start(self) -> HTTPReceiver:
		self.thread.start()
		return self

	def stop(self) -> None:
		self.server.shutdown()

	def of(self, path: str) -> list[dict]:
		with self.lock:
			return [r for r in self.requests if r["path"] == path]

	def count(self, path: str) -> int:
		with self.lock:
			return sum(1 for r in self.requests if r["path"] == path)


# -- state file, cleanup ---------------------------------------------------------------------


def state_file(site: str) -> Path:
	return RESULTS / f"chaos-state-{site}.json"


def read_state(site: str) -> dict:
	path = state_file(site)
	return json.loads(path.read_text()) if path.exists() else {}


def write_state(site: str, state: dict) -> None:
	RESULTS.mkdir(parents=True, exist_ok=True)
	state_file(site).write_text(json.dumps(state, indent=1, default=str))


def stop_leftover_workers(state: dict) -> None:
	"""Workers a crashed run left behind (only those: pid and command line must match)."""
	import psutil

	for pid in state.get("worker_pids", []):
		try:
			proc = psutil.Process(pid)
			if "worker" not in " ".join(proc.cmdline()):
				continue
			kill_tree(proc.pid)
			say(f"cleanup: stopped worker {pid} left by an earlier run")
		except psutil.Error:
			pass


def drop_site_jobs(site: str) -> int:
	"""Queued RQ jobs of this site (left by an earlier run) are removed; other sites' are kept."""
	from frappe.utils.background_jobs import get_queues

	dropped = 0
	for queue in get_queues():
		for job in queue.get_jobs():
			if (job.kwargs or {}).get("site") == site:
				job.delete()
				dropped += 1
	return dropped


def cleanup(site: str) -> None:
	"""Remove everything the chaos run created, and put the settings it changed back."""
	flows = frappe.db.sql_list(
		"SELECT name FROM `tabMarketing Flow` WHERE flow_name LIKE %s", (FLOW_PREFIX + "%",)
	)
	for flow in flows:
		frappe.db.sql(
			"""DELETE r FROM `tabEmail Queue Recipient` r JOIN `tabEmail Queue` q ON q.name = r.parent
			JOIN `tabMarketing Flow Participant` p ON p.name = q.reference_name
			WHERE q.reference_doctype = 'Marketing Flow Participant' AND p.flow = %s""",
			flow,
		)
		frappe.db.sql(
			"""DELETE q FROM `tabEmail Queue` q JOIN `tabMarketing Flow Participant` p ON p.name = q.reference_name
			WHERE q.reference_doctype = 'Marketing Flow Participant' AND p.flow = %s""",
			flow,
		)
		frappe.db.sql(
			"""DELETE e FROM `tabError Log` e JOIN `tabMarketing Flow Participant` p ON p.name = e.reference_name
			WHERE e.reference_doctype = 'Marketing Flow Participant' AND p.flow = %s""",
			flow,
		)
		frappe.db.sql("DELETE FROM `tabMarketing Flow Outbox` WHERE flow = %s", flow)
		frappe.db.sql("DELETE FROM `tabMarketing Flow Log` WHERE flow = %s", flow)
		frappe.db.sql("DELETE FROM `tabMarketing Flow Participant` WHERE flow = %s", flow)
		frappe.db.sql("DELETE FROM `tabMarketing Flow Step` WHERE parent = %s", flow)
		frappe.db.sql("DELETE FROM `tabMarketing Flow Success Criterion` WHERE parent = %s", flow)
		frappe.db.sql("DELETE FROM `tabMarketing Flow` WHERE name = %s", flow)
		frappe.db.commit()
	frappe.db.sql("DELETE FROM `tabMarketing Flow Content` WHERE content_name LIKE %s", (FLOW_PREFIX + "%",))
	common.remove_contacts(PREFIX)
	state = read_state(site)
	for doctype, values in (state.get("settings") or {}).items():
		frappe.db.set_single_value(doctype, values)
		frappe.clear_document_cache(doctype, doctype)
	if frappe.db.exists("Email Account", SENDER):
		frappe.db.sql("DELETE FROM `tabEmail Account` WHERE name = %s", SENDER)
	frappe.db.commit()
	frappe.clear_cache()
	dropped = drop_site_jobs(site)
	if flows or dropped:
		say(
			f"cleanup: removed {len(flows)} chaos flow(s), their participants, logs, outbox, Email Queue rows, "
			f"the contacts, {dropped} queued job(s); settings restored"
		)
	if state_file(site).exists():
		state_file(site).unlink()


# -- setup ------------------------------------------------------------------------------------


def save_settings(site: str) -> None:
	"""Remember the values the run will change (once: a crashed run's file is kept until cleanup)."""
	state = read_state(site)
	if state.get("settings"):
		return
	saved = {}
	for doctype, fields in SETTINGS.items():
		doc = frappe.get_single(doctype)
		saved[doctype] = {f: doc.get(f) for f in fields}
	state["settings"] = saved
	write_state(site, state)


def configure(args, sink: SMTPSink, http: HTTPReceiver) -> None:
	smtp_account(SENDER, sink.port, "chaos-flows@example.com", default_outgoing=0)
	frappe.db.set_single_value(
		"Marketing Flow Settings",
		{
			"default_sender": SENDER,
			"batch_size": args.batch_size,
			"parallel_jobs": 2,
			"max_attempts": args.max_attempts,
			"retry_backoff_minutes": args.backoff,
			"max_sends_per_hour": 0,
			"track_opens": 1,
			"track_clicks": 1,
			"webhook_allowed_hosts": "127.0.0.1",  # the receiver: an internal address
		},
	)
	frappe.db.set_single_value(
		"SMS Settings",
		{
			"sms_gateway_url": f"{http.url}/sms",
			"message_parameter": "text",
			"receiver_parameter": "to",
			"use_post": 1,
		},
	)
	# Emails that fail while the SMTP server is down go back to "Not Sent" (retry + 1) instead of
	# "Error" for good. Frappe v15 reads this from System Settings, not from site_config.json.
	frappe.db.set_single_value(
		"System Settings", {"email_retry_limit": args.email_retry_limit, "enable_scheduler": 0}
	)
	frappe.db.set_default("suspend_email_queue", 0)
	frappe.db.commit()
	# the flow sender's lease: rows of a killed sender job are taken again after this long
	from frappe.installer import update_site_config

	update_site_config("marketing_flows_sender_lease_seconds", args.sender_lease)
	for doctype in (*SETTINGS, "Email Account"):
		frappe.clear_document_cache(doctype, doctype)
	frappe.clear_cache()


def ensure_contacts(n: int) -> list[str]:
	"""Contacts MFC-0000001 ... with one email and one mobile number each, bulk-inserted."""
	return common.ensure_contacts(n, PREFIX, "Chaos", DOMAIN, mobile_of=mobile_of)


def email_of(contact: str) -> str:
	return common.email_of(contact, DOMAIN)


def mobile_of(contact: str) -> str:
	return f"+4790{int(contact[len(PREFIX) :]):07d}"


def make_content(label: str, channel: str, body: str, subject: str | None = None) -> str:
	doc = frappe.get_doc(
		{
			"doctype": "Marketing Flow Content",
			"content_name": f"{FLOW_PREFIX} {label} {frappe.generate_hash(length=6)}",
			"channel": channel,
			"sender": SENDER if channel == "Email" else None,
			"subject": subject,
			"body": body,
		}
	)
	doc.insert(ignore_permissions=True)
	return doc.name


EMAIL_BODY = """<p>Hello {{ contact.first_name }},</p>
<p>Our offer for {{ contact.full_name }}: <a href="https://example.com/offer?c=1">see the offer</a>.</p>
<p>Kind regards,<br>The team of {{ flow.flow_name }}</p>"""


def make_flow(n: int, hook_url: str, hook_timeout: int) -> str:
	"""Draft flow: Send Email -> Wait 1 minute -> Webhook -> Send SMS -> Send Email (no End step)."""
	steps = [
		step(
			"mail1",
			"Send Email",
			next_step="wait",
			content=make_content("first", "Email", EMAIL_BODY, "Hi {{ contact.first_name }}, first"),
		),
		step("wait", "Wait", wait_amount=1, wait_unit="Minutes", next_step="hook"),
		step(
			"hook",
			"Webhook",
			webhook_url=hook_url,
			webhook_method="POST",
			webhook_timeout=hook_timeout,
			next_step="sms",
		),
		step(
			"sms",
			"Send SMS",
			next_step="mail2",
			content=make_content("sms", "SMS", "Hi {{ contact.first_name }}, your code is 42"),
		),
		step(
			"mail2",
			"Send Email",
			content=make_content("second", "Email", EMAIL_BODY, "Hi {{ contact.first_name }}, second"),
		),
	]
	return common.draft_flow(f"{FLOW_PREFIX} {n} {frappe.generate_hash(length=6)}", steps)


# -- workers ----------------------------------------------------------------------------------


def kill_tree(pid: int) -> list[int]:
	"""SIGKILL a process and everything under it. RQ's work horse calls setsid, so killing the
	worker's process group would leave it running: walk the children instead."""
	import psutil

	try:
		parent = psutil.Process(pid)
		family = [*parent.children(recursive=True), parent]
	except psutil.NoSuchProcess:
		return []
	killed = []
	for proc in family:
		try:
			proc.send_signal(signal.SIGKILL)
			killed.append(proc.pid)
		except psutil.NoSuchProcess:
			pass
	return killed


class Workers:
	"""`count` real `bench worker --queue short,default,long` processes of this bench."""

	def __init__(self, site: str, count: int) -> None:
		self.site = site
		self.count = count
		self.procs: list[subprocess.Popen] = []
		self.log = open(BENCH_DIR / "logs" / "chaos-workers.log", "ab")
		self.restarts = 0

	def start(self) -> None:
		while len(self.procs) < self.count:
			self.procs.append(self._spawn())
		self._remember()

	def _spawn(self) -> subprocess.Popen:
		return subprocess.Popen(
			[BENCH_CLI, "worker", "--queue", "short,default,long"],
			cwd=BENCH_DIR,
			stdout=self.log,
			stderr=self.log,
			env=child_env(),
			start_new_session=True,
		)

	def _remember(self) -> None:
		state = read_state(self.site)
		state["worker_pids"] = [p.pid for p in self.procs]
		write_state(self.site, state)

	def rq_workers(self) -> dict[int, object]:
		"""pid -> RQ Worker, for the RQ workers running in our processes."""
		import psutil
		from frappe.utils.background_jobs import get_redis_conn
		from rq import Worker

		ours = {}
		tree: dict[int, int] = {}
		for i, p in enumerate(self.procs):
			tree[p.pid] = i
			try:
				for c in psutil.Process(p.pid).children(recursive=True):
					tree[c.pid] = i
			except psutil.Error:
				pass
		for w in Worker.all(connection=get_redis_conn()):
			if w.pid in tree:
				ours[tree[w.pid]] = w
		return ours

	def kill_one(self, index: int) -> dict:
		"""SIGKILL worker `index` and its work horse; start a new one in its place."""
		import psutil

		proc = self.procs[index]
		job = None
		try:
			w = self.rq_workers().get(index)
			job = w.get_current_job_id() if w else None
		except Exception:
			pass
		try:
			children = psutil.Process(proc.pid).children(recursive=True)
		except psutil.Error:
			children = []
		killed = kill_tree(proc.pid)
		proc.wait(timeout=30)
		self.procs[index] = self._spawn()
		self.restarts += 1
		self._remember()
		# `bench worker` execs the RQ worker; a child of it is the work horse running a job
		horse = len(children) >= 1
		return {"worker": index, "pids": killed, "job": job, "horse_busy": horse}

	def respawn_dead(self) -> int:
		"""A worker that died on its own is started again."""
		n = 0
		for i, p in enumerate(self.procs):
			if p.poll() is not None:
				self.procs[i] = self._spawn()
				n += 1
		if n:
			self._remember()
		return n

	def stop(self) -> None:
		for p in self.procs:
			if p.poll() is None:
				kill_tree(p.pid)
				try:
					p.wait(timeout=30)
				except subprocess.TimeoutExpired:
					pass
		state = read_state(self.site)
		state["worker_pids"] = []
		write_state(self.site, state)


# -- driving: ticks, flush ----------------------------------------------------------------------


def release_dead_job(job_id: str) -> bool:
	"""A job whose worker was SIGKILLed stays "started" in RQ, and the Scheduled Job Type's
	deduplication would never enqueue it again (until RQ's registry cleanup, minutes later):
	drop it when the worker that ran it is gone, as the engine does for its runner slots."""
	from frappe.utils.background_jobs import get_job
	from rq.job import JobStatus
	from rq.worker import Worker

	job = get_job(job_id)
	if not job or job.get_status() != JobStatus.STARTED:
		return False
	worker = None
	if job.worker_name:
		worker = Worker.find_by_key(
			Worker.redis_worker_namespace_prefix + job.worker_name, connection=job.connection
		)
	alive = False
	if worker is not None and worker.get_current_job_id() == job.id and worker.pid:
		try:
			os.kill(worker.pid, 0)
			alive = True
		except ProcessLookupError:
			alive = False
		except PermissionError:
			alive = True
	if not alive:
		job.delete()
		return True
	return False


def tick() -> None:
	"""What the scheduler's every-minute event does (here every --tick seconds): runner jobs for
	the due participants, and the flow sender for emails that wait (a retry, a lost lease)."""
	from marketing_flows.engine.running import runner
	from marketing_flows.engine.sending import sender

	runner.schedule_due_participants()
	sender.schedule_sender()
	frappe.db.commit()  # the jobs are enqueued after the commit


def enqueue_flush() -> bool:
	"""Enqueue Frappe's Email Queue flush the way the scheduler does (Scheduled Job Type,
	deduplicated by its job id, queue "default")."""
	job = frappe.get_doc("Scheduled Job Type", {"method": FLUSH_JOB})
	released = release_dead_job(job.rq_job_id)
	job.enqueue(force=True)
	frappe.db.commit()
	return released


# -- observation --------------------------------------------------------------------------------


class RunnerJobs:
	"""Watches the flow's runner slot jobs in RQ (every second): how many ran, how long each took
	(the budget is RUNNER_BUDGET_SECONDS, RQ's timeout budget + 120 s), how they ended. Read
	while they exist: Frappe deletes a slot's finished or failed job when it enqueues the slot
	again, so RQ's failed-job registry alone misses them."""

	def __init__(self, flow: str, slots: int) -> None:

		# both ids of every slot: a job whose budget is spent hands over to the slot's other id
		self.ids = {
			job_id: slot for slot in range(slots) for job_id in runner_jobs.runner_job_ids(flow, slot)
		}
		self.seen: dict[tuple, dict] = {}

	def poll(self) -> None:
		from frappe.utils.background_jobs import get_job

		for job_id, slot in self.ids.items():
			try:
				job = get_job(job_id)
				if job is None or job.started_at is None:
					continue
				entry = self.seen.setdefault(
					(job_id, job.enqueued_at), {"slot": slot, "started": job.started_at}
				)
				status = str(job.get_status())
				entry["status"] = status
				if job.ended_at:
					entry["seconds"] = (job.ended_at - entry["started"]).total_seconds()
				if status == "failed" and "error" not in entry:
					lines = [line for line in (job.exc_info or "").strip().splitlines() if line.strip()]
					entry["error"] = short_reason(lines[-1] if lines else "") or "?"
			except Exception:
				continue

	def summary(self) -> dict:
		from marketing_flows.engine.running.runner_jobs import RUNNER_BUDGET_SECONDS

		done = [e["seconds"] for e in self.seen.values() if "seconds" in e]
		return {
			"runs": len(self.seen),
			"ended": len(done),
			"never ended (killed)": len(self.seen) - len(done),
			"failed": dict(collections.Counter(e["error"] for e in self.seen.values() if "error" in e)),
			"longest_s": round(max(done), 1) if done else None,
			"at_or_over_budget": sum(1 for d in done if d >= RUNNER_BUDGET_SECONDS),
			"budget_s": RUNNER_BUDGET_SECONDS,
			"rq_timeout_s": RUNNER_BUDGET_SECONDS + 120,
			"list": sorted(
				(
					{
						"slot": e["slot"],
						"started": str(e["started"]),
						"seconds": round(e.get("seconds", -1), 1),
						"status": e.get("status"),
						"error": e.get("error"),
					}
					for e in self.seen.values()
				),
				key=lambda e: e["started"],
			),
		}


def participant_counts(flow: str) -> dict[str, int]:
	rows = frappe.db.sql(
		"""SELECT status, current_step, COUNT(*) FROM `tabMarketing Flow Participant`
		WHERE flow = %s GROUP BY status, current_step""",
		flow,
	)
	return {f"{s}/{c}": n for s, c, n in rows}


def email_queue_counts(flow: str) -> dict[str, int]:
	rows = frappe.db.sql(
		"""SELECT q.status, COUNT(*) FROM `tabEmail Queue` q
		JOIN `tabMarketing Flow Participant` p ON p.name = q.reference_name
		WHERE q.reference_doctype = 'Marketing Flow Participant' AND p.flow = %s GROUP BY q.status""",
		flow,
	)
	return dict(rows)


def outbox_counts(flow: str) -> dict[str, dict]:
	rows = frappe.db.sql(
		"""SELECT channel, status, COUNT(*), SUM(unknown_outcomes), SUM(attempts)
		FROM `tabMarketing Flow Outbox` WHERE flow = %s GROUP BY channel, status""",
		flow,
	)
	out: dict[str, dict] = {}
	for channel, status, n, unknown, attempts in rows:
		c = out.setdefault(channel, {"rows": 0, "unknown_outcomes": 0, "attempts": 0})
		c["rows"] += n
		c[status] = n
		c["unknown_outcomes"] += int(unknown or 0)
		c["attempts"] += int(attempts or 0)
	return out


def rq_failures(known: set[str], site: str) -> dict[str, list]:
	"""Jobs of this bench that RQ marked failed since the start, by reason (job timeout, a
	work horse that died, other)."""
	from frappe.utils.background_jobs import get_queues

	found: dict[str, list] = {"timeout": [], "horse_died": [], "other": []}
	for queue in get_queues():
		registry = queue.failed_job_registry
		for job_id in registry.get_job_ids():
			if job_id in known or not job_id.startswith(f"{site}::"):
				continue
			try:
				job = queue.fetch_job(job_id)
			except Exception:
				job = None
			info = ""
			if job is not None:
				try:
					info = job.latest_result().exc_string if job.latest_result() else (job.exc_info or "")
				except Exception:
					info = job.exc_info or ""
			if "JobTimeoutException" in (info or ""):
				found["timeout"].append(job_id)
			elif "horse" in (info or "").lower() or "terminated unexpectedly" in (info or ""):
				found["horse_died"].append(job_id)
			else:
				found["other"].append(job_id)
	return found


def failed_job_ids() -> set[str]:
	from frappe.utils.background_jobs import get_queues

	return {job_id for queue in get_queues() for job_id in queue.failed_job_registry.get_job_ids()}


def log_events(flow: str) -> dict[str, int]:
	return dict(
		frappe.db.sql(
			"SELECT event, COUNT(*) FROM `tabMarketing Flow Log` WHERE flow = %s GROUP BY event", flow
		)
	)


def retry_reasons(flow: str) -> dict[str, int]:
	"""Retry log entries per step and kind of error (the message without the variable parts)."""
	rows = frappe.db.sql(
		"SELECT step_id, message FROM `tabMarketing Flow Log` WHERE flow = %s AND event = 'Retry'", flow
	)
	out: collections.Counter = collections.Counter()
	for step_id, message in rows:
		out[f"{step_id}: {short_reason(message)}"] += 1
	return dict(out)


def short_reason(message: str | None) -> str:
	message = message or ""
	for marker in (
		"ReadTimeout",
		"ConnectTimeout",
		"ConnectionError",
		"JobTimeoutException",
		"gave up",
		"answered",
		"Lock wait",
		"Deadlock",
		"AbandonedJobError",
	):
		if marker in message:
			return marker
	return message[:80]


# -- the run ------------------------------------------------------------------------------------


class Faults:
	"""The fault schedule: kills at random moments, a slow webhook, the SMTP server down."""

	def __init__(
		self, args, workers: Workers, sink: SMTPSink, http: HTTPReceiver, expected_emails: int
	) -> None:
		self.args = args
		self.workers = workers
		self.sink = sink
		self.http = http
		self.expected_emails = expected_emails
		self.rng = random.Random(args.seed)
		self.kills: list[dict] = []
		self.next_kill = time.monotonic() + self.rng.uniform(args.kill_gap_min, args.kill_gap_max)
		self.slow_started = self.slow_ended = None
		self.slow_plan = parse_slow(args.slow)
		self.smtp_down_at = self.smtp_up_at = None
		self.events: list[str] = []

	def note(self, text: str) -> None:
		self.events.append(f"{time.strftime('%H:%M:%S')} {text}")
		say(f"FAULT {text}")

	def step(self, started: float, busy: bool) -> None:
		now = time.monotonic()
		# SIGKILL one worker (and its work horse) at random moments while there is work
		if len(self.kills) < self.args.kills and now >= self.next_kill and busy:
			index = self.rng.randrange(len(self.workers.procs))
			info = self.workers.kill_one(index)
			info["at_s"] = round(now - started, 1)
			self.kills.append(info)
			self.note(
				f"kill #{len(self.kills)}: worker {index} pids {info['pids']} job {info['job']} "
				f"(work horse busy: {info['horse_busy']}); restarted"
			)
			self.next_kill = now + self.rng.uniform(self.args.kill_gap_min, self.args.kill_gap_max)
		# the webhook receiver slower than the job budget for a while, from the first webhook call on
		if self.slow_plan and self.slow_started is None and self.http.count("/hook") > 0:
			self.slow_started = now + self.args.slow_after
			self.note(f"webhook slow phase starts in {self.args.slow_after}s: {self.args.slow}")
		if self.slow_started is not None and self.slow_ended is None and now >= self.slow_started:
			elapsed = now - self.slow_started
			delay = 0.0
			total = 0.0
			for seconds, value in self.slow_plan:
				total += seconds
				if elapsed < total:
					delay = value
					break
			if delay != self.http.hook_delay:
				self.note(f"webhook delay {self.http.hook_delay}s -> {delay}s")
				self.http.hook_delay = delay
			if elapsed >= total:
				self.slow_ended = now
				self.http.hook_delay = 0.0
				self.note("webhook slow phase over")
		# the SMTP server down for a while, once part of the emails went through
		if self.smtp_down_at is None and self.sink.total >= self.expected_emails * self.args.smtp_down_after:
			self.sink.stop()
			self.smtp_down_at = now
			self.note(f"SMTP sink down (port {self.sink.port}) after {self.sink.total} emails")
		if (
			self.smtp_down_at is not None
			and self.smtp_up_at is None
			and now - self.smtp_down_at >= self.args.smtp_down
		):
			self.sink.start()
			self.smtp_up_at = now
			self.note(f"SMTP sink up again after {now - self.smtp_down_at:.0f}s")

	def finish(self) -> None:
		if self.smtp_down_at is not None and self.smtp_up_at is None:
			self.sink.start()
			self.smtp_up_at = time.monotonic()
		self.http.hook_delay = 0.0


def parse_slow(text: str) -> list[tuple[float, float]]:
	"""'120:12,180:4' -> [(120 s at 12 s per request), (180 s at 4 s per request)]."""
	plan = []
	for part in (text or "").split(","):
		if part.strip():
			seconds, delay = part.split(":")
			plan.append((float(seconds), float(delay)))
	return plan


def run(args) -> int:
	site = args.site
	stamp = time.strftime("%Y%m%d-%H%M%S")
	RESULTS.mkdir(parents=True, exist_ok=True)
	previous = read_state(site)
	stop_leftover_workers(previous)
	cleanup(site)
	save_settings(site)
	sink = SMTPSink().start()
	http = HTTPReceiver().start()
	configure(args, sink, http)
	say(f"receivers: SMTP 127.0.0.1:{sink.port}, webhook {http.url}/hook, SMS gateway {http.url}/sms")

	n = args.size
	contacts = ensure_contacts(n)
	flow = make_flow(n, f"{http.url}/hook", args.hook_timeout)
	from marketing_flows.engine.entering import enrolment
	from marketing_flows.engine.running import lifecycle

	doc = frappe.get_doc("Marketing Flow", flow)
	t = time.perf_counter()
	result = enrolment.enroll(doc, contacts, source="Manual")
	frappe.db.commit()
	if len(result.enrolled) != n:
		raise SystemExit(
			f"enrolment: only {len(result.enrolled)} of {n}: {list(result.not_enrolled.items())[:3]}"
		)
	say(f"flow {flow}: {n} enrolled in {time.perf_counter() - t:.1f}s")

	known_failed = failed_job_ids()
	runner_jobs = RunnerJobs(flow, 2)
	workers = Workers(site, args.workers)
	faults = Faults(args, workers, sink, http, expected_emails=2 * n)
	started = time.monotonic()
	wall_started = now_datetime()
	workers.start()
	lifecycle.run(frappe.get_doc("Marketing Flow", flow))  # validates, sets Running, enqueues the slots
	frappe.db.commit()
	say(f"flow running with {args.workers} workers (pids {[p.pid for p in workers.procs]})")

	next_tick = next_flush = next_progress = next_poll = time.monotonic()
	last_change = time.monotonic()
	last_seen: tuple | None = None
	counts: dict = {}
	queue: dict = {}
	busy = True
	finished = False
	flush_releases = respawned = 0
	try:
		while time.monotonic() - started < args.timeout:
			now = time.monotonic()
			faults.step(started, busy)
			runner_jobs.poll()
			respawned += workers.respawn_dead()
			if now >= next_tick:
				tick()
				next_tick = now + args.tick
			if now >= next_flush:
				flush_releases += enqueue_flush()
				next_flush = now + args.flush_every
			if now < next_poll:
				time.sleep(1)
				continue
			next_poll = now + args.poll
			frappe.db.rollback()  # a fresh snapshot
			counts = participant_counts(flow)
			open_ = sum(v for k, v in counts.items() if k.split("/")[0] in ("Active", "Waiting"))
			queue = email_queue_counts(flow)
			pending_mail = sum(queue.get(s, 0) for s in ("Not Sent", "Partially Sent", "Sending"))
			busy = open_ > 0 or pending_mail > 0
			seen = (
				tuple(sorted(counts.items())),
				tuple(sorted(queue.items())),
				sink.total,
				http.count("/hook"),
				http.count("/sms"),
			)
			if seen != last_seen:
				last_seen, last_change = seen, now
			if now >= next_progress:
				say(
					f"[{now - started:6.0f}s] participants {counts} | Email Queue {queue} | sink {sink.total}"
					f"{'' if sink.up else ' (DOWN)'} webhook {http.count('/hook')} (delay {http.hook_delay}s) "
					f"SMS {http.count('/sms')} | kills {len(faults.kills)}"
				)
				next_progress = now + args.progress
			if not open_ and faults.smtp_up_at is not None:
				stuck_sending = queue.get("Sending", 0) and now - last_change > args.sending_stuck
				if (not pending_mail or stuck_sending) and now - last_change >= args.poll:
					finished = True
					break
			time.sleep(1)
	finally:
		faults.finish()
		wall = last_change - started  # the last change seen: everything had settled then
		time.sleep(2)  # requests in flight reach the receivers
		workers.stop()
		frappe.db.rollback()
	report = verify(
		args, flow, contacts, sink, http, faults, workers, known_failed, wall, finished, wall_started
	)
	report["runner_jobs"] = runner_jobs.summary()
	report["flush_jobs_released"] = flush_releases
	report["workers_respawned_after_dying_alone"] = respawned
	(RESULTS / f"chaos-{stamp}.json").write_text(json.dumps(report, indent=1, default=str))
	print_report(report)
	say(f"results: {RESULTS / f'chaos-{stamp}.json'}")
	sink.stop()
	http.stop()
	if not args.keep:
		cleanup(site)
	code = 1 if report["counts_off"] or not finished else 2 if report["faults_missing"] else 0
	say(f"exit status {code}")
	return code


def verify(
	args,
	flow,
	contacts,
	sink,
	http,
	faults,
	workers,
	known_failed,
	wall,
	finished,
	wall_started,
) -> dict:
	n = len(contacts)
	participant_of_email = {email_of(c): c for c in contacts}
	participant_of_mobile = {mobile_of(c): c for c in contacts}
	rows = frappe.db.sql(
		"""SELECT name, contact, status, current_step, last_error, exit_reason FROM `tabMarketing Flow Participant`
		WHERE flow = %s""",
		flow,
		as_dict=True,
	)
	by_contact = {r.contact: r for r in rows}
	statuses = collections.Counter(r.status for r in rows)
	contact_of_participant = {r.name: r.contact for r in rows}

	# what the receivers saw, per contact
	# distinct emails (Message-Ids) per contact: a repeat of one message is judged below, by the
	# sender's count of what it sent again
	emails = {participant_of_email.get(rcpt): len(ids) for rcpt, ids in sink.ids_by_recipient.items()}
	hooks: dict[str, list[dict]] = collections.defaultdict(list)
	for r in http.of("/hook"):
		hooks[contact_of_participant.get(r.get("participant"))].append(r)
	sms: dict[str, list[dict]] = collections.defaultdict(list)
	for r in http.of("/sms"):
		sms[participant_of_mobile.get((r.get("to") or "").replace(" ", ""))].append(r)

	# what the engine recorded
	outbox = frappe.db.sql(
		"""SELECT participant, channel, status, attempts, unknown_outcomes, last_error
		FROM `tabMarketing Flow Outbox` WHERE flow = %s""",
		flow,
		as_dict=True,
	)
	unknown = collections.Counter()
	for o in outbox:
		unknown[(contact_of_participant.get(o.participant), o.channel)] += int(o.unknown_outcomes or 0)
	logged = collections.Counter(
		(contact_of_participant.get(p), e)
		for p, e in frappe.db.sql(
			"""SELECT participant, event FROM `tabMarketing Flow Log` WHERE flow = %s
			AND event IN ('Email Sent', 'SMS Sent', 'Step Executed') AND step_id IN ('mail1', 'mail2', 'hook', 'sms')""",
			flow,
		)
	)
	queued = collections.Counter(
		contact_of_participant.get(p)
		for (p,) in frappe.db.sql(
			"""SELECT q.reference_name FROM `tabEmail Queue` q JOIN `tabMarketing Flow Participant` p
			ON p.name = q.reference_name WHERE q.reference_doctype = 'Marketing Flow Participant' AND p.flow = %s""",
			flow,
		)
	)
	problems: list[str] = []
	repeats = {"Webhook": 0, "SMS": 0}
	repeats_not_counted = {"Webhook": 0, "SMS": 0}
	repeats_other_key = {"Webhook": 0, "SMS": 0}
	off = collections.Counter()
	for c in contacts:
		p = by_contact.get(c)
		if p is None:
			problems.append(f"{c}: participant lost")
			off["lost"] += 1
			continue
		got_mail = emails.get(c, 0)
		for channel, calls in (("Webhook", hooks.get(c, [])), ("SMS", sms.get(c, []))):
			keys = {r["key"] for r in calls}
			extra = max(0, len(calls) - 1)
			repeats[channel] += extra
			if len(keys) > 1:
				repeats_other_key[channel] += 1
				problems.append(f"{c}: {channel} called with {len(keys)} different keys")
			if extra > unknown[(c, channel)]:
				repeats_not_counted[channel] += extra - unknown[(c, channel)]
				problems.append(
					f"{c}: {channel} received {len(calls)} times, outbox counts {unknown[(c, channel)]} unknown outcome(s)"
				)
		distinct_hook = len({r["key"] for r in hooks.get(c, [])})
		distinct_sms = len({r["key"] for r in sms.get(c, [])})
		if p.status == "Completed":
			if got_mail != 2 or distinct_hook != 1 or distinct_sms != 1:
				off["completed_counts"] += 1
				problems.append(
					f"{c} Completed: {got_mail} emails / {distinct_hook} webhook / {distinct_sms} SMS"
				)
		elif p.status == "Stalled":
			# what reached the receivers matches what the log says was done, and no more than 2/1/1
			want = (logged[(c, "Email Sent")], logged[(c, "Step Executed")], logged[(c, "SMS Sent")])
			if got_mail > 2 or distinct_hook > 1 or distinct_sms > 1 or got_mail != want[0]:
				off["stalled_counts"] += 1
				problems.append(
					f"{c} Stalled at {p.current_step}: {got_mail}/{distinct_hook}/{distinct_sms}, log {want}"
				)
		else:
			off["not_final"] += 1
			problems.append(f"{c}: {p.status} at {p.current_step}")
		if queued[c] != got_mail and p.status == "Completed":
			problems.append(f"{c}: {queued[c]} Email Queue rows, {got_mail} delivered")
	# Email Queue rows left in "Sending" (the flow sender's lease runs out and it takes them again:
	# none should be left once the run has settled)
	delivered_ids = {m.strip("<> ") for m in sink.by_message_id}
	stuck = frappe.db.sql(
		"""SELECT q.name, q.message_id, q.modified, p.contact FROM `tabEmail Queue` q
		JOIN `tabMarketing Flow Participant` p ON p.name = q.reference_name
		WHERE q.reference_doctype = 'Marketing Flow Participant' AND p.flow = %s AND q.status = 'Sending'""",
		flow,
		as_dict=True,
	)
	stuck_sending = {
		"rows": len(stuck),
		"delivered_anyway": sum(1 for q in stuck if (q.message_id or "").strip("<> ") in delivered_ids),
		"contacts": [q.contact for q in stuck][:20],
	}
	for q in stuck:
		problems.append(
			f"{q.contact}: Email Queue {q.name} stuck in 'Sending' since {q.modified} (its lease never ran out?)"
		)
	retried = frappe.db.sql(
		"""SELECT COUNT(*), MAX(q.retry) FROM `tabEmail Queue` q
		JOIN `tabMarketing Flow Participant` p ON p.name = q.reference_name
		WHERE q.reference_doctype = 'Marketing Flow Participant' AND p.flow = %s AND q.retry > 0""",
		flow,
	)[0]
	# a message delivered more than once is allowed only as often as the sender counted sending it
	# again (mf_resends: its job stopped before the server's answer was recorded)
	resends = dict(
		frappe.db.sql(
			"""SELECT q.message_id, q.mf_resends FROM `tabEmail Queue` q
			JOIN `tabMarketing Flow Participant` p ON p.name = q.reference_name
			WHERE q.reference_doctype = 'Marketing Flow Participant' AND p.flow = %s AND q.mf_resends > 0""",
			flow,
		)
	)
	duplicate_messages = sum(k - 1 for k in sink.by_message_id.values() if k > 1)
	uncounted = sum(
		max(0, k - 1 - int(resends.get(m.strip("<> "), 0) or 0))
		for m, k in sink.by_message_id.items()
		if k > 1
	)
	if uncounted:
		off["duplicate_messages_not_counted"] = uncounted
		problems.append(f"{uncounted} message(s) delivered again without the sender counting it")
	stray = sum(k for c, k in emails.items() if c is None) + len(hooks.get(None, [])) + len(sms.get(None, []))
	if stray:
		problems.append(f"{stray} request(s)/email(s) that belong to no participant of the run")
	off_total = sum(off.values()) + sum(repeats_not_counted.values()) + sum(repeats_other_key.values())
	stalled = [r for r in rows if r.status == "Stalled"]
	stalled_why = collections.Counter(f"{r.current_step}: {short_reason(r.last_error)}" for r in stalled)
	failures = rq_failures(known_failed, args.site)
	ob = outbox_counts(flow)
	queue = email_queue_counts(flow)
	missing = []
	if len(faults.kills) < args.kills:
		missing.append(f"only {len(faults.kills)} of {args.kills} kills (the run finished first)")
	if faults.smtp_down_at is None:
		missing.append("SMTP never taken down")
	if faults.slow_plan and faults.slow_ended is None:
		missing.append("webhook slow phase not completed")
	return {
		"site": args.site,
		"flow": flow,
		"size": n,
		"finished": finished,
		"wall_seconds": round(wall, 1),
		"started": wall_started,
		"statuses": dict(statuses),
		"emails_per_participant": dict(collections.Counter(emails.get(c, 0) for c in contacts)),
		"webhook_calls_per_participant": dict(collections.Counter(len(hooks.get(c, [])) for c in contacts)),
		"sms_per_participant": dict(collections.Counter(len(sms.get(c, [])) for c in contacts)),
		"sink_total": sink.total,
		"webhook_total": http.count("/hook"),
		"sms_total": http.count("/sms"),
		"duplicate_messages_same_message_id": duplicate_messages,
		"resent_rows_counted": len(resends),
		"resends_counted": sum(int(v or 0) for v in resends.values()),
		"repeats_same_key": repeats,
		"repeats_not_counted_as_unknown": repeats_not_counted,
		"participants_called_with_different_keys": repeats_other_key,
		"outbox": ob,
		"email_queue": queue,
		"email_queue_stuck_sending": stuck_sending,
		"email_queue_retried": {"rows": retried[0], "max_retry": retried[1]},
		"stalled": len(stalled),
		"stalled_why": dict(stalled_why),
		"retries": retry_reasons(flow),
		"log_events": log_events(flow),
		"kills": faults.kills,
		"kills_done": len(faults.kills),
		"worker_restarts": workers.restarts,
		"fault_events": faults.events,
		"rq_failed_jobs": {k: len(v) for k, v in failures.items()},
		"rq_failed_job_ids": failures,
		"settings": {
			"batch_size": args.batch_size,
			"max_attempts": args.max_attempts,
			"backoff_minutes": args.backoff,
			"hook_timeout": args.hook_timeout,
			"slow": args.slow,
			"smtp_down": args.smtp_down,
			"tick": args.tick,
			"flush_every": args.flush_every,
			"seed": args.seed,
		},
		"counts_off": off_total,
		"off": dict(off),
		"problems": problems[:200],
		"problems_total": len(problems),
		"faults_missing": missing,
	}


def print_report(r: dict) -> None:
	line = "-" * 96
	print(line)
	print(f"chaos run: {r['size']} participants, flow {r['flow']}, site {r['site']}")
	print(line)
	rows = [
		("finished (everyone Completed/Stalled, mail settled)", r["finished"]),
		("wall time", f"{r['wall_seconds']} s"),
		("participants by status", r["statuses"]),
		("emails at the SMTP sink per participant {count: people}", r["emails_per_participant"]),
		("webhook requests per participant", r["webhook_calls_per_participant"]),
		("SMS requests per participant", r["sms_per_participant"]),
		("totals: emails / webhook / SMS", f"{r['sink_total']} / {r['webhook_total']} / {r['sms_total']}"),
		("same message delivered twice (Message-Id)", r["duplicate_messages_same_message_id"]),
		(
			"sent again after a kill, counted by the sender (rows / times)",
			f"{r['resent_rows_counted']} / {r['resends_counted']}",
		),
		("repeats with the same Idempotency-Key", r["repeats_same_key"]),
		(
			"outbox unknown outcomes (Webhook / SMS)",
			{c: v.get("unknown_outcomes") for c, v in r["outbox"].items()},
		),
		("repeats NOT counted as unknown outcome", r["repeats_not_counted_as_unknown"]),
		("outbox rows", r["outbox"]),
		("Email Queue rows by status", r["email_queue"]),
		("  left in 'Sending' by a killed flush (Frappe)", r["email_queue_stuck_sending"]),
		("  retried by Frappe after SMTP errors (rows, max retry)", r["email_queue_retried"]),
		("Stalled, and why", f"{r['stalled']} {r['stalled_why']}"),
		("engine retries (step: reason)", r["retries"]),
		("kills done (SIGKILL worker + horse)", f"{r['kills_done']} (restarts {r['worker_restarts']})"),
		("  jobs hit by the kills", [k.get("job") for k in r["kills"]]),
		("RQ failed jobs since start", r["rq_failed_jobs"]),
		(
			"runner jobs (slot jobs seen in RQ)",
			{k: v for k, v in (r.get("runner_jobs") or {}).items() if k != "list"},
		),
		("flush jobs released after a kill", r.get("flush_jobs_released")),
		("faults not injected", r["faults_missing"] or "none"),
		("counts off", r["counts_off"]),
	]
	for label, value in rows:
		print(f"{label:<58} {value}")
	print("fault timeline:")
	for e in r["fault_events"]:
		print(f"  {e}")
	if r["problems"]:
		print(f"problems ({r['problems_total']}, first 30):")
		for p in r["problems"][:30]:
			print(f"  {p}")
	print(line)


def main() -> int:
	parser = argparse.ArgumentParser(
		description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
	)
	parser.add_argument(
		"--site", required=True, help="a site of its own (its scheduler is disabled by the run)"
	)
	parser.add_argument("--size", type=int, default=10_000, help="participants")
	parser.add_argument("--workers", type=int, default=2)
	parser.add_argument("--timeout", type=float, default=3600, help="overall limit in seconds")
	parser.add_argument("--kills", type=int, default=5, help="SIGKILLs of a worker (and its work horse)")
	parser.add_argument("--kill-gap-min", type=float, default=30, help="seconds between kills, at least")
	parser.add_argument("--kill-gap-max", type=float, default=150, help="seconds between kills, at most")
	parser.add_argument(
		"--slow",
		default="120:12,180:4",
		help="webhook slow phase as seconds:delay pairs, from --slow-after s after the first webhook call; "
		"default: 2 min at 12 s per request (longer than the step's 10 s timeout), then 3 min at 4 s",
	)
	parser.add_argument("--slow-after", type=float, default=15)
	parser.add_argument("--hook-timeout", type=int, default=10, help="the Webhook step's timeout (s)")
	parser.add_argument("--smtp-down", type=float, default=120, help="seconds the SMTP sink is down")
	parser.add_argument(
		"--smtp-down-after",
		type=float,
		default=0.25,
		help="take the SMTP sink down once this share of the expected emails arrived",
	)
	parser.add_argument("--tick", type=float, default=10, help="seconds between scheduler ticks")
	parser.add_argument(
		"--sender-lease", type=int, default=60, help="the flow sender's lease on the rows it sends (s)"
	)
	parser.add_argument(
		"--flush-every", type=float, default=15, help="seconds between Email Queue flush enqueues"
	)
	parser.add_argument("--batch-size", type=int, default=200)
	parser.add_argument("--max-attempts", type=int, default=5)
	parser.add_argument("--backoff", type=int, default=1, help="retry_backoff_minutes")
	parser.add_argument("--email-retry-limit", type=int, default=1000)
	parser.add_argument(
		"--sending-stuck",
		type=float,
		default=180,
		help="Email Queue rows in 'Sending' unchanged this long (a flush killed mid-send) end the wait",
	)
	parser.add_argument("--progress", type=float, default=15, help="seconds between progress lines")
	parser.add_argument(
		"--poll", type=float, default=5, help="seconds between database polls of the run's state"
	)
	parser.add_argument("--seed", type=int, default=None)
	parser.add_argument("--keep", action="store_true", help="keep the data at the end")
	parser.add_argument("--cleanup", action="store_true", help="only remove an earlier run's data")
	parser.add_argument(
		"--results",
		default=str(RESULTS),
		help="folder for results and the state file (scripts/setup.sh replaces the bench's copy of the app, results/ too)",
	)
	args = parser.parse_args()
	globals()["RESULTS"] = Path(args.results)
	if args.seed is None:
		args.seed = random.randrange(10**6)

	frappe.init(site=args.site, sites_path=str(BENCH_DIR / "sites"))
	frappe.connect()
	frappe.set_user("Administrator")
	try:
		if args.cleanup:
			stop_leftover_workers(read_state(args.site))
			cleanup(args.site)
			return 0
		say(f"chaos run on {args.site}: size {args.size}, seed {args.seed}")
		return run(args)
	finally:
		frappe.destroy()


if __name__ == "__main__":
	raise SystemExit(main())
