#!/usr/bin/env python
"""Delivery benchmark: how fast flow emails reach an SMTP server, Frappe's stock flush and the
app's sender (engine/sending/sender.py) side by side. A script run on purpose, not a test.

Run it inside the bench's Python, from the bench's `sites` folder, as the bench's user:

    cd /home/frappe/frappe-bench/sites && runuser -u frappe -- env HOME=/home/frappe \
        /home/frappe/frappe-bench/env/bin/python /work/main/benchmarks/bench_delivery.py \
        --site mf-bench.localhost --size 10000 --connections 1,4,8 --sink-delay-ms 0,20

Every email goes to an SMTP sink (aiosmtpd, a process of its own) on 127.0.0.1; nothing is
enqueued in RQ (the sender is called directly). See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import math
import os
import pstats
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

FLOW_PREFIX = "MFDelivery"  # flow_name / content_name of this benchmark's flows and content
SENDER = "MF Delivery Bench Sender"  # its Email Account: every row of this account is ours
STOCK_REF = "MF Bench Stock"  # reference_doctype that makes a flow row a plain Email Queue row
PARTICIPANT = "Marketing Flow Participant"
STOCK_BATCH = 500  # Frappe's email_queue_batch_size default: rows per flush
STOCK_INTERVAL = 240  # Frappe's scheduler_interval default: seconds between flushes
CADENCE_RATE = STOCK_BATCH / STOCK_INTERVAL  # emails/s of stock Frappe at its default cadence
MODES = ("stock-cadence", "stock-back-to-back", "sender", "sender-engine")
PROGRESS_SECONDS = 15
SNAPSHOT_ENV = "MF_DELIVERY_SNAPSHOT"  # --snapshot: the copy of the app this run imports

if os.environ.get(SNAPSHOT_ENV):  # before anything imports the app
	sys.path.insert(0, os.environ[SNAPSHOT_ENV])

import bench_engine  # noqa: E402  (beside this file: the content of the engine benchmark)
import common  # noqa: E402  (beside this file: what the benchmarks share)
import frappe  # noqa: E402  (after the constants, as bench_engine.py)
from common import BENCH_DIR, RESULTS, SinkClient, SinkProgress, Spawned, child_env, delete_chunked, say  # noqa: E402
from frappe.utils import now_datetime  # noqa: E402

from factories import end, smtp_account, step  # noqa: E402  (tests/factories.py: on sys.path through common)
from marketing_flows.engine.running import runner_jobs  # noqa: E402

# -- the SMTP sink (a process of its own) ---------------------------------------------------

_MESSAGE_ID = re.compile(rb"^Message-Id:[ \t]*(.*?)\r?$", re.IGNORECASE | re.MULTILINE)


def message_id(content: bytes) -> str:
	head = content[: content.find(b"\r\n\r\n")] if b"\r\n\r\n" in content else content[:16384]
	found = _MESSAGE_ID.search(head)
	return found.group(1).decode("ascii", "replace").strip() if found else ""


def run_sink(delay_ms: float, connect_ms: float = 0, port: int = 0) -> None:
	"""--sink: an SMTP server on 127.0.0.1 (a free port unless `port`, printed first as JSON) that accepts
	everything, after `delay` per message (a remote provider's answer time), and counts each
	Message-Id once (repeats apart); `connect` delays its greeting (a remote provider's TCP and
	TLS handshakes and login). Commands on stdin, one JSON answer per line on stdout: `stats`,
	`reset`, `delay <ms>`, `connect <ms>`, `times` (each Message-Id's first acceptance time and
	its recipient's domain, for bench_limits.py), `quit` (EOF: quit)."""
	from aiosmtpd.smtp import SMTP

	lock = threading.Lock()
	state: dict = {}
	settings = {"delay": delay_ms / 1000, "connect": connect_ms / 1000}

	def reset() -> None:
		with lock:
			state.update(
				accepted=0,
				seen={},  # Message-Id -> acceptance time (the first)
				domain={},  # Message-Id -> the (first) envelope recipient's domain
				repeats=0,
				first=None,
				last=None,
				connections=0,
				max_open=state.get("open", 0),
				open=state.get("open", 0),
				no_message_id=0,
			)

	reset()

	class Handler:
		async def handle_DATA(self, server, session, envelope):
			if settings["delay"]:
				await asyncio.sleep(settings["delay"])
			mid = message_id(envelope.content)
			now = time.time()
			with lock:
				state["accepted"] += 1
				if not mid:
					state["no_message_id"] += 1
				elif mid in state["seen"]:
					state["repeats"] += 1
				else:
					state["seen"][mid] = now
					rcpt = envelope.rcpt_tos[0] if envelope.rcpt_tos else ""
					state["domain"][mid] = rcpt.rpartition("@")[2].lower()
				if state["first"] is None:
					state["first"] = now
				state["last"] = now
			return "250 2.0.0 Ok: queued"

	class CountingSMTP(SMTP):
		async def _handle_client(self) -> None:
			if settings["connect"]:  # before the greeting: what the client waits for to connect
				await asyncio.sleep(settings["connect"])
			await super()._handle_client()

		def connection_made(self, transport) -> None:
			super().connection_made(transport)
			with lock:
				state["connections"] += 1
				state["open"] += 1
				state["max_open"] = max(state["max_open"], state["open"])

		def connection_lost(self, error) -> None:
			super().connection_lost(error)
			with lock:
				state["open"] -= 1

	loop = asyncio.new_event_loop()
	asyncio.set_event_loop(loop)
	handler = Handler()
	server = loop.run_until_complete(
		loop.create_server(
			lambda: CountingSMTP(handler, hostname="mf-delivery-sink", loop=loop),
			host="127.0.0.1",
			port=port,
			backlog=1024,
		)
	)
	out_lock = threading.Lock()

	def answer(payload: dict) -> None:
		with out_lock:
			sys.stdout.write(json.dumps(payload) + "\n")
			sys.stdout.flush()

	answer({"port": server.sockets[0].getsockname()[1], "pid": os.getpid()})

	def commands() -> None:
		for line in sys.stdin:
			cmd, _, arg = line.strip().partition(" ")
			if cmd == "stats":
				with lock:
					times = os.times()
					answer(
						{
							"accepted": state["accepted"],
							"unique": len(state["seen"]),
							"repeats": state["repeats"],
							"no_message_id": state["no_message_id"],
							"first": state["first"],
							"last": state["last"],
							"connections": state["connections"],
							"max_open": state["max_open"],
							"open": state["open"],
							"delay_ms": settings["delay"] * 1000,
							"connect_ms": settings["connect"] * 1000,
							"cpu_seconds": round(times.user + times.system, 3),
						}
					)
			elif cmd == "times":
				with lock:
					answer({"times": [[t, state["domain"].get(m, "")] for m, t in state["seen"].items()]})
			elif cmd == "reset":
				reset()
				answer({"ok": True})
			elif cmd in ("delay", "connect"):
				settings[cmd] = float(arg) / 1000
				answer({"ok": True, f"{cmd}_ms": float(arg)})
			elif cmd == "quit":
				break
			else:
				answer({"error": f"unknown command {cmd!r}"})
		loop.call_soon_threadsafe(loop.stop)

	threading.Thread(target=commands, daemon=True).start()
	try:
		loop.run_forever()
	finally:
		server.close()


class Sink(SinkClient):
	"""The benchmark's side of the sink process."""

	def __init__(self, delay_ms: float) -> None:
		super().__init__(
			start_child("--sink", "--sink-delay-ms", str(delay_ms)), log_hint=f": see {child_log_path()}"
		)


# -- child processes (the sink, and runner / sender for --with-engine) ----------------------

SPAWNED = Spawned("delivery", ("bench_delivery.py",))  # recorded in results/delivery-pids-<site>.json


def child_log_path() -> Path:
	return BENCH_DIR / "logs" / "bench-delivery-children.log"


def child_log():
	return open(child_log_path(), "ab")


BLOCKED_ENQUEUES: list[str] = []


def no_jobs() -> None:
	"""Nothing of this process goes to RQ: the runner and the sender are called directly here.
	The sender's `wake` (and the mailer's reference to it) becomes a no-op, and so does every
	other enqueue (counted)."""
	import frappe.utils.background_jobs as background_jobs

	from marketing_flows.engine.sending import mailer, sender

	def refuse(*args, **kwargs):
		BLOCKED_ENQUEUES.append(str(args[0] if args else kwargs.get("method")))

	sender.wake = lambda: None
	if hasattr(mailer, "wake_sender"):  # older mailers kept their own reference to it
		mailer.wake_sender = lambda: None
	sender._enqueue = lambda job_id: None
	runner_jobs._enqueue_runner = lambda flow, job_id: None
	runner_jobs.enqueue_flow = lambda flow, jobs=None: None
	frappe.enqueue = refuse
	background_jobs.enqueue = refuse


def connect(site: str) -> None:
	frappe.init(site=site, sites_path=str(BENCH_DIR / "sites"))
	frappe.connect()
	frappe.set_user("Administrator")
	no_jobs()


def pending_rows() -> int:
	"""Rows of the benchmark's account not sent yet (its own account: only the benchmark's)."""
	return frappe.db.sql(
		"""SELECT COUNT(*) FROM `tabEmail Queue`
		WHERE email_account = %s AND status IN ('Not Sent', 'Sending', 'Partially Sent')""",
		SENDER,
	)[0][0]


def why_not_queued(flow: str) -> str:
	"""What the log says about participants whose email was not queued (a sample)."""
	rows = frappe.db.sql(
		"""SELECT event, message, COUNT(*) FROM `tabMarketing Flow Log`
		WHERE flow = %s AND event NOT IN ('Enrolled', 'Email Sent', 'Step Executed', 'Completed')
		GROUP BY event, message ORDER BY COUNT(*) DESC LIMIT 3""",
		flow,
	)
	return "; ".join(f"{n} x {event}: {message}" for event, message, n in rows) or "nothing in the log"


def app_dir() -> Path:
	"""The app's package as this process imports it (the bench's copy, or the --snapshot)."""
	import marketing_flows

	return Path(marketing_flows.__file__).resolve().parent


def code_fingerprint(root: Path | None = None) -> str:
	"""A hash of the app's Python files as this process would import them now: someone may
	sync a newer checkout into the bench during a run (the figures would mix two versions)."""
	import hashlib

	root = root or app_dir()
	digest = hashlib.sha1()
	for path in sorted(p for p in root.rglob("*.py") if "node_modules" not in p.parts):
		digest.update(path.relative_to(root).as_posix().encode())
		digest.update(path.read_bytes())
	return digest.hexdigest()[:12]


def run_child(site: str, role: str, flow: str, timeout: float) -> None:
	"""--child runner|sender (for --with-engine): connect, say ready, wait for `go` on stdin,
	then run the runner (process_due until nobody is due) or the sender (send_queued_emails
	again and again, as its wake would, until the parent says `done` (the runner ended) and
	every row is sent)."""
	from marketing_flows.engine.running import runner
	from marketing_flows.engine.sending import sender

	connect(site)
	print(json.dumps({"ready": True}), flush=True)
	if sys.stdin.readline().strip() != "go":
		return
	runner_done = threading.Event()

	def listen() -> None:
		for line in sys.stdin:
			if line.strip() == "done":
				break
		runner_done.set()  # `done`, or the parent is gone (EOF)

	threading.Thread(target=listen, daemon=True).start()
	started, cpu_started = time.time(), cpu_of_self()
	deadline = time.monotonic() + timeout
	out: dict = {"role": role}
	try:
		if role == "runner":
			done = batches = 0
			while time.monotonic() < deadline:
				done += runner.process_due(flow)
				frappe.db.commit()
				batches += 1
				if not runner.has_due_participants(flow, now_datetime()):
					break
			out.update(processed=done, calls=batches)
		else:
			accepted = calls = empty = 0
			while time.monotonic() < deadline:
				got = sender.send_queued_emails()
				frappe.db.commit()
				calls += 1
				accepted += got
				if not got:
					if runner_done.is_set() and not pending_rows():
						break
					empty += 1
					time.sleep(0.02)  # what RQ takes to start the job that wake would enqueue
			out.update(accepted=accepted, calls=calls, empty_calls=empty)
		out.update(timed_out=time.monotonic() >= deadline)
	finally:
		out.update(
			started=started,
			finished=time.time(),
			blocked_enqueues=len(BLOCKED_ENQUEUES),
			cpu_seconds=round(cpu_of_self() - cpu_started, 2),
		)
		print(json.dumps(out), flush=True)
		frappe.db.rollback()
		frappe.destroy()


def start_child(*args: str, cwd: Path | None = None) -> subprocess.Popen:
	"""This script again in a process of its own (stdin / stdout: its commands and answers)."""
	proc = subprocess.Popen(
		[sys.executable, __file__, *args],
		cwd=cwd,
		stdin=subprocess.PIPE,
		stdout=subprocess.PIPE,
		stderr=child_log(),
		text=True,
		env=child_env(),
	)
	SPAWNED.append(proc)
	return proc


def spawn_child(site: str, role: str, flow: str, timeout: float) -> subprocess.Popen:
	proc = start_child(
		"--site", site, "--child", role, "--flow", flow, "--timeout", str(timeout), cwd=BENCH_DIR / "sites"
	)
	SPAWNED.remember()
	return proc


def tempfile_dir() -> str:
	import tempfile

	return str(Path(tempfile.gettempdir()) / "mf-delivery-snapshot-")


def take_snapshot() -> Path:
	"""A private copy of the bench's app package, for --snapshot: a checkout synced into the
	bench during the run (by setup.sh / test.sh) does not change the code this run measures."""
	import shutil
	import tempfile

	for stale in Path(tempfile.gettempdir()).glob("mf-delivery-snapshot-*"):
		try:  # left by a run that was killed (its process is gone)
			os.kill(int((stale / "owner").read_text()), 0)
		except ProcessLookupError:
			shutil.rmtree(stale, ignore_errors=True)
		except (OSError, ValueError):
			pass
	source = BENCH_DIR / "apps" / "marketing_flows" / "marketing_flows"
	target = Path(tempfile.mkdtemp(prefix="mf-delivery-snapshot-"))
	(target / "owner").write_text(str(os.getpid()))  # execve keeps the pid
	shutil.copytree(
		source,
		target / "marketing_flows",
		ignore=shutil.ignore_patterns("__pycache__", "node_modules", "dist", "*.pyc"),
	)
	return target


# -- setup and cleanup ------------------------------------------------------------------------


def cleanup_run(flow: str | None = None, when: str = "") -> None:
	"""Remove the Email Queue rows of the benchmark's account, and the flow(s) with their
	participants, logs and steps (all of them when `flow` is None), and their content."""
	while True:  # in chunks: the recipients first (their parent's account says they are ours)
		frappe.db.sql(
			"""DELETE r FROM `tabEmail Queue Recipient` r
			JOIN (SELECT name FROM `tabEmail Queue` WHERE email_account = %s LIMIT 20000) q
				ON q.name = r.parent""",
			SENDER,
		)
		frappe.db.sql("DELETE FROM `tabEmail Queue` WHERE email_account = %s LIMIT 20000", SENDER)
		deleted = frappe.db._cursor.rowcount
		frappe.db.commit()
		if deleted < 20000:
			break
	delete_chunked(
		"DELETE FROM `tabEmail Queue` WHERE reference_doctype = %s", (STOCK_REF,)
	)  # none, unless the account was renamed
	if flow:
		flows = [flow]
	else:
		flows = frappe.db.sql_list(
			"SELECT name FROM `tabMarketing Flow` WHERE flow_name LIKE %s", (FLOW_PREFIX + "%",)
		)
	for name in flows:
		delete_chunked("DELETE FROM `tabMarketing Flow Log` WHERE flow = %s", (name,))
		delete_chunked("DELETE FROM `tabMarketing Flow Participant` WHERE flow = %s", (name,))
		contents = frappe.db.sql_list(
			"SELECT content FROM `tabMarketing Flow Step` WHERE parent = %s AND content IS NOT NULL", name
		)
		frappe.db.sql("DELETE FROM `tabMarketing Flow Step` WHERE parent = %s", name)
		frappe.db.sql("DELETE FROM `tabMarketing Flow Success Criterion` WHERE parent = %s", name)
		frappe.db.sql("DELETE FROM `tabMarketing Flow` WHERE name = %s", name)
		if contents:
			frappe.db.sql("DELETE FROM `tabMarketing Flow Content` WHERE name IN %s", (contents,))
		frappe.db.commit()
	if not flow:
		frappe.db.sql(
			"DELETE FROM `tabMarketing Flow Content` WHERE content_name LIKE %s", (FLOW_PREFIX + "%",)
		)
		frappe.db.commit()
		if flows:
			say(f"cleanup: removed {len(flows)} benchmark flow(s){when}")


def ensure_account(port: int) -> None:
	"""The benchmark's Email Account: outgoing to the sink, no login, no TLS."""
	smtp_account(
		SENDER,
		port,
		"bench-delivery@example.com",
		default_outgoing=0,
		append_emails_to_sent_folder=0,
		track_email_status=0,
	)
	forget_account()


def forget_account() -> None:
	"""Drop the cached account (and close the SMTP session Frappe keeps on it)."""
	try:
		doc = frappe.get_cached_doc("Email Account", SENDER)
		server = doc.__dict__.get("_smtp_server_instance")
		if server:
			server.quit()
	except Exception:
		pass
	frappe.clear_document_cache("Email Account", SENDER)


def make_flow(label: str) -> str:
	"""Send Email -> End, created Draft (enrolment enqueues nothing)."""
	tag = frappe.generate_hash(length=6)
	content = frappe.get_doc(
		{
			"doctype": "Marketing Flow Content",
			"content_name": f"{FLOW_PREFIX} {label} {tag}",
			"channel": "Email",
			"sender": SENDER,
			"subject": "Hi {{ contact.first_name }}, our offer",
			"body": bench_engine.BODY,
		}
	).insert(ignore_permissions=True)
	return common.draft_flow(
		f"{FLOW_PREFIX} {label} {tag}",
		[step("mail", "Send Email", content=content.name, next_step="end"), end()],
	)


def enrol(flow: str, contacts: list[str]) -> float:
	from marketing_flows.engine.entering import enrolment

	started = time.perf_counter()
	doc = frappe.get_doc("Marketing Flow", flow)
	enrolled = 0
	for start in range(0, len(contacts), 50_000):
		enrolled += len(enrolment.enroll(doc, contacts[start : start + 50_000], source="Manual").enrolled)
		frappe.db.commit()
	if enrolled != len(contacts):
		raise SystemExit(f"enrolment: {enrolled} of {len(contacts)} enrolled")
	frappe.db.set_value("Marketing Flow", flow, "status", "Running", update_modified=False)
	frappe.db.commit()
	return time.perf_counter() - started


def queue_emails(flow: str) -> int:
	"""The flow's Send Email step for everyone, in this process (as the runner's jobs would)."""
	from marketing_flows.engine.running import runner

	while True:
		runner.process_due(flow)
		frappe.db.commit()
		if not runner.has_due_participants(flow, now_datetime()):
			break
	return frappe.db.count("Email Queue", {"email_account": SENDER, "status": "Not Sent"})


def foreign_unsent() -> int:
	"""Unsent rows that are not the benchmark's: Frappe's flush or the sender would send them to
	their own servers (the benchmark sends to 127.0.0.1 only, so it refuses to run)."""
	return frappe.db.sql(
		"""SELECT COUNT(*) FROM `tabEmail Queue`
		WHERE status IN ('Not Sent', 'Sending', 'Partially Sent') AND (email_account IS NULL OR email_account != %s)""",
		SENDER,
	)[0][0]


def row_statuses() -> dict[str, int]:
	return dict(
		frappe.db.sql(
			"SELECT status, COUNT(*) FROM `tabEmail Queue` WHERE email_account = %s GROUP BY status", SENDER
		)
	)


def set_connections(count: int) -> None:
	frappe.db.set_single_value("Marketing Flow Settings", "smtp_connections", count)
	frappe.db.commit()
	frappe.clear_document_cache("Marketing Flow Settings", "Marketing Flow Settings")


# -- measurements -------------------------------------------------------------------------------


def cpu_of_database() -> float | None:
	try:
		import psutil

		for proc in psutil.process_iter(["name"]):
			if proc.info["name"] in ("mariadbd", "mysqld"):
				t = proc.cpu_times()
				return t.user + t.system
	except Exception:
		return None
	return None


def cpu_of_self() -> float:
	t = os.times()
	return t.user + t.system


def cpu_snapshot(sink: Sink) -> dict:
	return {
		"benchmark_process": cpu_of_self(),
		"database": cpu_of_database(),
		"sink": sink.ask("stats")["cpu_seconds"],
	}


def run_mode(
	mode: str, contacts: list[str], connections: int | None, delay_ms: float, sink: Sink, args
) -> dict:
	"""One run: a fresh flow, N rows queued by its Send Email step, then sent in `mode`."""
	from frappe.email import queue as email_queue

	from marketing_flows.engine.sending import sender

	n = len(contacts)
	if foreign_unsent():
		raise SystemExit(
			f"{foreign_unsent()} unsent Email Queue row(s) of other accounts on this site: they would be sent "
			"to their own servers; use a site of the benchmark's own"
		)
	label = f"{mode} c{connections or 0} d{delay_ms:g} {n}"
	out: dict = {
		"mode": mode,
		"connections": connections,
		"delay_ms": delay_ms,
		"connect_ms": args.sink_connect_ms,
		"n": n,
	}
	flow = make_flow(label)
	out["flow"] = flow
	forget_account()
	sink.ask(f"delay {delay_ms}")
	if connections:
		set_connections(connections)
	blocked_before = len(BLOCKED_ENQUEUES)
	run_at = time.time()  # the marketer's Run: enrolment starts
	out["enrol_seconds"] = round(enrol(flow, contacts), 2)
	enrol_end = time.time()
	sink.ask("reset")
	progress = SinkProgress(sink, n, PROGRESS_SECONDS)
	prof = None
	if mode == "sender-engine":
		runner_proc = spawn_child(frappe.local.site, "runner", flow, args.timeout)
		sender_proc = spawn_child(frappe.local.site, "sender", flow, args.timeout)
		for proc in (runner_proc, sender_proc):
			if not json.loads(proc.stdout.readline() or "{}").get("ready"):
				raise SystemExit(f"a child process did not start: see {child_log_path()}")
		cpu_before = cpu_snapshot(sink)
		progress.start()
		send_start = time.time()
		for proc in (runner_proc, sender_proc):
			proc.stdin.write("go\n")
			proc.stdin.flush()
		children = {}
		for proc in (runner_proc, sender_proc):
			if proc is sender_proc:
				try:
					proc.stdin.write("done\n")  # the runner ended: send what is left, then stop
					proc.stdin.flush()
				except OSError:
					pass
			try:
				proc.wait(timeout=args.timeout + 60)
			except subprocess.TimeoutExpired:
				proc.kill()
			line = (proc.stdout.read() or "").strip().splitlines()
			result = json.loads(line[-1]) if line else {"error": f"no result: see {child_log_path()}"}
			children[result.get("role", "?")] = result
		if children.get("runner", {}).get("processed") != n:
			say(
				f"  !! the runner processed {children.get('runner', {}).get('processed')} of {n}: {why_not_queued(flow)}"
			)
		out["children"] = children
		runner_out = children.get("runner", {})
		out["queue_seconds"] = round(runner_out.get("finished", send_start) - send_start, 2)
		out["queued"] = runner_out.get("processed")
		out["timed_out"] = any(c.get("timed_out") for c in children.values())
		# the children connect after the enrolment, before the Run goes on (as workers would be
		# there already): their start-up is not counted
		run_at += send_start - enrol_end
	else:
		started = time.time()
		queued = queue_emails(flow)
		out["queue_seconds"] = round(time.time() - started, 2)
		out["queued"] = queued
		if queued != n:
			say(f"  !! {queued} rows queued for {n} participants: {why_not_queued(flow)}")
		sink.ask("reset")
		if mode.startswith("stock"):
			# Frappe's own flush; the override leaves flow emails to the sender, so these rows
			# become plain Email Queue rows for it
			frappe.db.sql(
				"UPDATE `tabEmail Queue` SET reference_doctype = %s WHERE email_account = %s",
				(STOCK_REF, SENDER),
			)
			frappe.db.commit()
		cpu_before = cpu_snapshot(sink)
		progress.start()
		send_start = time.time()
		deadline = time.monotonic() + args.timeout
		calls = 0
		if args.profile and mode == "sender":
			prof = cProfile.Profile()
			prof.enable()
		while time.monotonic() < deadline:
			if mode.startswith("stock"):
				email_queue.flush()
			else:
				sender.send_queued_emails()
			frappe.db.commit()
			calls += 1
			if mode == "stock-cadence":
				out["call_seconds"] = round(time.time() - send_start, 3)
				break
			if not pending_rows():
				break
			if mode == "sender":
				time.sleep(0.05)  # rows given back wait a little (send_after): look again soon
		if prof:
			prof.disable()
		out["calls"] = calls
		out["timed_out"] = time.monotonic() >= deadline
	progress.stop()
	cpu_after = cpu_snapshot(sink)
	stats = sink.ask("stats")
	out["sink"] = stats
	out["rows"] = row_statuses()
	out["blocked_enqueues"] = len(BLOCKED_ENQUEUES) - blocked_before
	# CPU while sending (sender-engine: the runner and sender processes report their own)
	out["cpu_seconds"] = {
		k: round(cpu_after[k] - cpu_before[k], 2) if cpu_before[k] is not None else None for k in cpu_after
	}
	for role, child in (out.get("children") or {}).items():
		out["cpu_seconds"][role] = child.get("cpu_seconds")
	accepted, last = stats["accepted"], stats["last"]
	out["accepted"] = accepted
	out["unique"] = stats["unique"]
	out["repeats"] = stats["repeats"]
	out["sink_connections"] = stats["connections"]
	out["send_start"] = send_start
	if accepted and last:
		span = max(last - send_start, 1e-6)
		out["send_seconds"] = round(span, 3)
		out["within_per_s"] = round(accepted / span, 1)
		out["run_to_last_seconds"] = round(last - run_at, 2)
	if mode == "stock-cadence":
		# one flush per scheduler_interval: the first right after queueing, then every 240 s
		flushes = math.ceil(n / STOCK_BATCH)
		out["per_s"] = round(CADENCE_RATE, 2)
		out["run_to_last_seconds"] = round(
			out["enrol_seconds"]
			+ out["queue_seconds"]
			+ (flushes - 1) * STOCK_INTERVAL
			+ out.get("call_seconds", 0),
			1,
		)
		out["run_to_last_projected"] = True
	else:
		out["per_s"] = out.get("within_per_s")
	out["ratio_to_cadence"] = round(out["per_s"] / CADENCE_RATE, 1) if out.get("per_s") else None
	if prof:
		out["profile"] = write_profile(prof, f"sender-c{connections}-d{delay_ms:g}")
	done = out["rows"].get("Sent", 0)
	expected = STOCK_BATCH if mode == "stock-cadence" else n
	if out["unique"] != min(expected, n) or done != min(expected, n) or out["repeats"]:
		say(
			f"  !! sink unique {out['unique']}, repeats {out['repeats']}, rows {out['rows']}; expected {expected}"
		)
	say(
		f"  {mode} c={connections or '-'} delay={delay_ms:g}ms: {accepted} accepted, {out.get('per_s')}/s "
		f"(within {out.get('within_per_s')}/s), Run->last {out.get('run_to_last_seconds')}s, "
		f"repeats {out['repeats']}, sink connections {stats['connections']}, cpu {out['cpu_seconds']}"
	)
	if not args.keep:
		cleanup_run(flow)
	else:  # kept, but no unsent row may stay for the next run's flush
		frappe.db.sql(
			"UPDATE `tabEmail Queue` SET status = 'Expired' WHERE email_account = %s AND status = 'Not Sent'",
			SENDER,
		)
		frappe.db.commit()
	return out


def write_profile(prof: cProfile.Profile, label: str) -> str:
	stamp = time.strftime("%Y%m%d-%H%M%S")
	path = RESULTS / f"delivery-profile-{label}-{stamp}"
	prof.dump_stats(str(path) + ".pstats")
	text = io.StringIO()
	stats = pstats.Stats(prof, stream=text)
	stats.sort_stats("cumulative").print_stats(40)
	stats.sort_stats("tottime").print_stats(25)
	Path(str(path) + ".txt").write_text(text.getvalue())
	return str(path) + ".txt"


# -- report -------------------------------------------------------------------------------------


def table(results: dict) -> str:
	lines = [
		"",
		f"{'mode':<20} {'conns':>5} {'delay ms':>8} {'N':>6} {'accepted':>8} {'delivered/s':>12} "
		f"{'repeats':>7} {'Run->last s':>12} {'x cadence':>10}",
		"-" * 96,
	]
	for r in results["runs"]:
		conns = str(r["connections"]) if r.get("connections") else f"({r.get('sink_connections', '-')})"
		run_to_last = r.get("run_to_last_seconds")
		run_to_last = (
			"-"
			if run_to_last is None
			else f"{'~' if r.get('run_to_last_projected') else ''}{run_to_last:.1f}"
		)
		rate = "-" if r.get("per_s") is None else f"{r['per_s']:.1f}"
		ratio = "-" if r.get("ratio_to_cadence") is None else f"{r['ratio_to_cadence']:.1f}x"
		lines.append(
			f"{r['mode']:<20} {conns:>5} {r['delay_ms']:>8g} {r['n']:>6} {r.get('accepted', 0):>8} {rate:>12} "
			f"{r.get('repeats', 0):>7} {run_to_last:>12} {ratio:>10}"
			+ ("  TIMED OUT" if r.get("timed_out") else "")
		)
		if r["mode"] == "stock-cadence":
			lines.append(
				f"{'  (one flush call)':<20} {'':>5} {'':>8} {'':>6} {'':>8} {str(r.get('within_per_s')):>12}"
				f"   {r.get('call_seconds')} s for {r.get('accepted')} rows"
			)
	connect_ms = results.get("args", {}).get("sink_connect_ms")
	if connect_ms:
		lines.append(f"note: the sink waited {connect_ms:g} ms before its greeting on every connection")
	for note in results.get("notes", []):
		lines.append(f"note: {note}")
	lines.append(
		f"cadence: {STOCK_BATCH} rows per flush every {STOCK_INTERVAL} s = {CADENCE_RATE:.2f}/s; "
		"conns in parentheses: connections the sink saw; ~ projected"
	)
	return "\n".join(lines)


# -- main ---------------------------------------------------------------------------------------


def main() -> None:
	parser = argparse.ArgumentParser(
		description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
	)
	parser.add_argument("--site", required=False)
	parser.add_argument("--size", type=int, default=10000, help="contacts, and so emails, per run")
	parser.add_argument(
		"--modes", default="stock-cadence,stock-back-to-back,sender", help=f"among {', '.join(MODES)}"
	)
	parser.add_argument("--connections", default="1,4,8", help="smtp_connections of the sender runs")
	parser.add_argument("--sink-delay-ms", default="0,20", help="the sink's delay per message")
	parser.add_argument(
		"--sink-connect-ms",
		type=float,
		default=0,
		help="the sink's delay before its greeting, per connection (handshakes and login of a remote provider)",
	)
	parser.add_argument(
		"--with-engine",
		action="store_true",
		help="also the sender while the runner queues (two processes): mode sender-engine",
	)
	parser.add_argument(
		"--stock-max-delay-ms",
		type=float,
		default=1e9,
		help="skip stock-back-to-back at sink delays above this (it sends one email at a time)",
	)
	parser.add_argument("--timeout", type=float, default=900, help="seconds of sending per run, at most")
	parser.add_argument("--profile", action="store_true", help="cProfile the in-process sender runs")
	parser.add_argument(
		"--snapshot",
		action="store_true",
		help="run on a private copy of the app taken at the start (others may sync the bench meanwhile)",
	)
	parser.add_argument("--keep", action="store_true", help="keep the data (default: removed at the end)")
	parser.add_argument("--report", help="print the table of an earlier results/delivery-*.json")
	parser.add_argument("--sink", action="store_true", help=argparse.SUPPRESS)
	parser.add_argument("--sink-port", type=int, default=0, help=argparse.SUPPRESS)
	parser.add_argument("--child", choices=("runner", "sender"), help=argparse.SUPPRESS)
	parser.add_argument("--flow", help=argparse.SUPPRESS)
	args = parser.parse_args()

	if args.sink:
		run_sink(float(args.sink_delay_ms.split(",")[0]), args.sink_connect_ms, args.sink_port)
		return
	if args.report:
		print(table(json.loads(Path(args.report).read_text())))
		return
	if not args.site:
		parser.error("--site is required")
	if args.child:
		run_child(args.site, args.child, args.flow, args.timeout)
		return

	if args.snapshot and not os.environ.get(SNAPSHOT_ENV):
		snapshot = take_snapshot()  # then start again, importing the copy (the children too)
		os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, SNAPSHOT_ENV: str(snapshot)})

	modes = [m for m in args.modes.split(",") if m]
	if args.with_engine and "sender-engine" not in modes:
		modes.append("sender-engine")
	for mode in modes:
		if mode not in MODES:
			parser.error(f"unknown mode {mode!r}: {', '.join(MODES)}")
	connections = [int(c) for c in args.connections.split(",") if c]
	delays = [float(d) for d in args.sink_delay_ms.split(",") if d]

	lock = common.lock_site(args.site)  # noqa: F841  (held to the end: bench_engine.py's contacts and lock)
	signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

	connect(args.site)
	stamp = time.strftime("%Y%m%d-%H%M%S")
	out_file = RESULTS / f"delivery-{stamp}.json"
	settings = frappe.get_cached_doc("Marketing Flow Settings")
	results: dict = {
		"site": args.site,
		"started": stamp,
		"args": vars(args),
		"nproc": os.cpu_count(),
		"loadavg_start": os.getloadavg(),
		"settings": {
			k: settings.get(k)
			for k in (
				"batch_size",
				"sender_jobs",
				"smtp_connections",
				"max_emails_per_second",
				"track_clicks",
			)
		},
		"sending_limits": len(settings.get("sending_limits") or []),
		"code": code_fingerprint(),
		"app_dir": str(app_dir()),
		"bench_copy_code": code_fingerprint(BENCH_DIR / "apps" / "marketing_flows" / "marketing_flows"),
		"runs": [],
		"notes": [],
	}

	def save() -> None:
		out_file.write_text(json.dumps(results, indent=1, default=str))

	# the settings to put back at the end (kept in a file: a killed run's are put back by the next)
	state_file = RESULTS / f"delivery-state-{args.site}.json"
	if not state_file.exists():
		state_file.write_text(
			json.dumps(
				{
					"suspend_email_queue": frappe.db.get_default("suspend_email_queue"),
					"smtp_connections": settings.get("smtp_connections"),
				}
			)
		)
	saved = json.loads(state_file.read_text())
	scheduler_on = frappe.db.get_single_value("System Settings", "enable_scheduler")
	sink = None
	try:
		SPAWNED.stop_leftovers(args.site)
		cleanup_run(when=" left by an earlier run")
		frappe.db.set_default("suspend_email_queue", 0)
		frappe.db.commit()
		if frappe.are_emails_muted():
			raise SystemExit("emails are muted on this site (mute_emails): nothing would be sent")
		if scheduler_on:
			results["notes"].append(
				"the site's scheduler is enabled: a running scheduler may enqueue flushes"
			)
		if settings.get("max_emails_per_second") or settings.get("sending_limits"):
			results["notes"].append(
				"Marketing Flow Settings has sending limits: the sender runs are bound by them"
			)
		sink = Sink(delays[0])
		sink.ask(f"connect {args.sink_connect_ms}")
		SPAWNED.remember()
		ensure_account(sink.port)
		contacts = common.ensure_contacts(args.size)[: args.size]
		say(
			f"sink on 127.0.0.1:{sink.port}; {len(contacts)} contacts; modes {', '.join(modes)}; "
			f"app {results['code']} from {results['app_dir']}"
		)
		for delay in delays:
			for mode in modes:
				if mode == "stock-back-to-back" and delay > args.stock_max_delay_ms:
					results["notes"].append(
						f"stock-back-to-back at {delay:g} ms skipped (--stock-max-delay-ms {args.stock_max_delay_ms:g})"
					)
					continue
				for c in connections if mode.startswith("sender") else [None]:
					say(f"{mode}: n={len(contacts)}, connections={c or '-'}, sink delay {delay:g} ms")
					results["runs"].append(run_mode(mode, contacts, c, delay, sink, args))
					save()
					if code_fingerprint() != results["code"]:
						results["runs"][-1]["code_changed"] = True
						results["notes"].append(
							"the app's code in the bench changed during the run (a newer checkout was synced): "
							f"stopped after {mode} c={c or '-'} {delay:g} ms; run it again"
						)
						raise SystemExit("the app's code changed during the run: stopped")
	finally:
		SPAWNED.stop()
		results["finished"] = time.strftime("%Y%m%d-%H%M%S")
		bench_copy = code_fingerprint(BENCH_DIR / "apps" / "marketing_flows" / "marketing_flows")
		if bench_copy != results["bench_copy_code"]:
			results["notes"].append(
				"the bench's copy of the app changed during the run"
				+ (": this run used its snapshot taken at the start" if os.environ.get(SNAPSHOT_ENV) else "")
			)
		results["loadavg_end"] = os.getloadavg()
		save()
		report = table(results)
		print(report, flush=True)
		(RESULTS / f"delivery-{stamp}.txt").write_text(report + "\n")
		say(f"results: {out_file}")
		frappe.db.rollback()
		frappe.db.set_default("suspend_email_queue", saved["suspend_email_queue"] or 0)
		frappe.db.set_single_value("Marketing Flow Settings", "smtp_connections", saved["smtp_connections"])
		frappe.db.commit()
		if not args.keep:
			cleanup_run()
			frappe.delete_doc(
				"Email Account", SENDER, ignore_permissions=True, force=True, ignore_missing=True
			)
			frappe.db.commit()
			if not frappe.db.exists(
				"Marketing Flow", {"flow_name": ("like", bench_engine.FLOW_PREFIX + "%")}
			):
				# the contacts too (bench_engine.py's: kept while flows of a kept engine run use them)
				common.remove_contacts()
		SPAWNED.pid_file.unlink(missing_ok=True)
		state_file.unlink(missing_ok=True)
		frappe.destroy()
		if os.environ.get(SNAPSHOT_ENV, "").startswith(tempfile_dir()):
			import shutil

			shutil.rmtree(os.environ[SNAPSHOT_ENV], ignore_errors=True)


if __name__ == "__main__":
	main()
