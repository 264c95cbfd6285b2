"""What the benchmark scripts share: where the bench is, the contacts they run with (one data
generator), the processes they start, the client of bench_delivery.py's SMTP sink process, and
the tests' makers: importing this module puts tests/ on `sys.path`, so that a benchmark builds
its steps and its Email Account with tests/factories.py's `step`, `end` and `smtp_account`,
as the tests do.

The scripts import it from beside them (`import common`: Python puts a script's folder on
`sys.path`). It imports Frappe only inside the functions that need a site, so that
bench_limits.py's root side can import it too.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

BENCH_DIR = Path(os.environ.get("MF_BENCH_DIR", "/home/frappe/frappe-bench"))
BENCH_CLI = os.environ.get("MF_BENCH_CLI", str(Path.home() / ".bench-cli/bin/bench"))
RESULTS = Path(__file__).resolve().parent / "results"
TESTS = Path(__file__).resolve().parent.parent / "tests"
if str(TESTS) not in sys.path:
	sys.path.append(str(TESTS))  # after the bench's packages: `import factories` finds tests/factories.py
CONTACTS = "MFB-"  # names of the contacts bench_engine.py, bench_delivery.py and bench_limits.py share


def say(*args) -> None:
	print(time.strftime("%H:%M:%S"), *args, flush=True)


def child_env() -> dict:
	"""The environment of a worker or child process: Frappe's execute_job treats CI=... as test
	mode (it then never talks to SMTP), so no CI there."""
	return {k: v for k, v in os.environ.items() if k != "CI"}


def free_port() -> int:
	"""A TCP port free on 127.0.0.1 now."""
	with socket.socket() as s:
		s.bind(("127.0.0.1", 0))
		return s.getsockname()[1]


# -- data -------------------------------------------------------------------------------------


def delete_chunked(sql: str, values: tuple, chunk: int = 20000) -> None:
	"""Run a DELETE in chunks of `chunk` rows, committing each: one DELETE of millions of rows
	would be one huge transaction."""
	import frappe

	while True:
		frappe.db.sql(f"{sql} LIMIT {chunk}", values)
		deleted = frappe.db._cursor.rowcount
		frappe.db.commit()
		if deleted < chunk:
			return


def ensure_contacts(
	n: int,
	prefix: str = CONTACTS,
	first: str = "Bench",
	domain: str = "bench.example.com",
	mobile_of: Callable[[str], str] | None = None,
) -> list[str]:
	"""Contacts `<prefix>0000001` ... `<prefix><n>` (first name `<first><number>`, last name
	Tester) with one primary email `<name>@<domain>` each and, with `mobile_of`, one primary
	mobile number; bulk-inserted (no controllers), those missing only. Every name comes from the
	number (the emails `<prefix without ->E-<number>`, the phones `...P-<number>`), none is
	random, so a million rows never collide. Returns the n names."""
	import frappe
	from frappe.utils import now_datetime

	names = [f"{prefix}{i:07d}" for i in range(1, n + 1)]
	if frappe.db.count("Contact", {"name": ("like", prefix + "%")}) >= n:
		return names
	existing = set(frappe.db.sql_list("SELECT name FROM `tabContact` WHERE name LIKE %s", (prefix + "%",)))
	todo = [c for c in names if c not in existing]
	started = time.perf_counter()
	now = now_datetime()
	stamps = (now, now, "Administrator", "Administrator")
	rows = prefix.rstrip("-")
	contact_rows, email_rows, phone_rows = [], [], []
	for name in todo:
		number = name[len(prefix) :]
		email = email_of(name, domain)
		mobile = (mobile_of(name),) if mobile_of else ()
		contact_rows.append(
			(
				name,
				f"{first}{number}",
				"Tester",
				f"{first}{number} Tester",
				email,
				*mobile,
				"Passive",
				0,
				0,
				*stamps,
			)
		)
		email_rows.append((f"{rows}E-{number}", name, "Contact", "email_ids", 1, email, 1, *stamps))
		if mobile_of:
			phone_rows.append((f"{rows}P-{number}", name, "Contact", "phone_nos", 1, *mobile, 1, *stamps))
	stamp_fields = ("creation", "modified", "owner", "modified_by")
	contact_fields = ("name", "first_name", "last_name", "full_name", "email_id")
	contact_fields += ("mobile_no",) if mobile_of else ()
	contact_fields += ("status", "unsubscribed", "docstatus", *stamp_fields)
	child_fields = ("name", "parent", "parenttype", "parentfield", "idx")
	frappe.db.bulk_insert("Contact", contact_fields, contact_rows, chunk_size=5000)
	frappe.db.bulk_insert(
		"Contact Email", (*child_fields, "email_id", "is_primary", *stamp_fields), email_rows, chunk_size=5000
	)
	if mobile_of:
		phone_fields = (*child_fields, "phone", "is_primary_mobile_no", *stamp_fields)
		frappe.db.bulk_insert("Contact Phone", phone_fields, phone_rows, chunk_size=5000)
	frappe.db.commit()
	say(f"contacts: inserted {len(todo)} in {time.perf_counter() - started:.1f}s")
	return names


def remove_contacts(prefix: str = CONTACTS) -> None:
	"""Remove the contacts `ensure_contacts` made with `prefix`, with their email and phone rows."""
	rows = prefix.rstrip("-")
	for table, kind in (("Contact Email", "E"), ("Contact Phone", "P")):
		delete_chunked(f"DELETE FROM `tab{table}` WHERE name LIKE %s", (f"{rows}{kind}-%",))
		delete_chunked(  # rows of contacts made before their names came from the number
			f"DELETE FROM `tab{table}` WHERE parenttype = 'Contact' AND parent LIKE %s", (prefix + "%",)
		)
	delete_chunked("DELETE FROM `tabContact` WHERE name LIKE %s", (prefix + "%",))


def draft_flow(flow_name: str, steps: list[dict]) -> str:
	"""A Draft flow with a Manual trigger (enrolment enqueues nothing: the benchmark sets it
	Running itself), committed; returns its name."""
	import frappe

	doc = frappe.get_doc(
		{"doctype": "Marketing Flow", "flow_name": flow_name, "trigger_type": "Manual", "steps": steps}
	)
	doc.insert(ignore_permissions=True)
	frappe.db.commit()
	return doc.name


def email_of(contact: str, domain: str = "bench.example.com") -> str:
	"""The email address `ensure_contacts` gives a contact."""
	return f"{contact.lower()}@{domain}"


# -- processes --------------------------------------------------------------------------------


class Spawned(list):
	"""Processes a benchmark started, recorded in `pid_file` so that the next run after a crash
	(SIGKILL) can end them: only those, checked by their command line."""

	def __init__(self, kind: str, marks: tuple[str, ...]) -> None:
		super().__init__()
		self.kind = kind
		self.marks = marks  # one of these is in the command line of each process started
		self.pid_file: Path | None = None  # results/<kind>-pids-<site>.json, from stop_leftovers

	def remember(self) -> None:
		self.pid_file.parent.mkdir(parents=True, exist_ok=True)
		self.pid_file.write_text(json.dumps([p.pid for p in self if p.poll() is None]))

	def stop_leftovers(self, site: str) -> None:
		"""End the processes a crashed earlier run on `site` recorded; call before starting any."""
		import psutil

		self.pid_file = RESULTS / f"{self.kind}-pids-{site}.json"
		if not self.pid_file.exists():
			return
		for pid in json.loads(self.pid_file.read_text() or "[]"):
			try:
				proc = psutil.Process(pid)
				cmd = " ".join(proc.cmdline())
				if any(mark in cmd for mark in self.marks):
					proc.terminate()
					proc.wait(timeout=30)
					say(f"cleanup: stopped process {pid} left by an earlier run")
			except (psutil.Error, psutil.TimeoutExpired):
				pass
		self.pid_file.unlink()

	def stop(self) -> None:
		"""End the processes this run started (terminate, then kill what is left after 10 s)."""
		for p in self:
			if p.poll() is None:
				p.terminate()
		for p in self:
			try:
				p.wait(timeout=10)
			except subprocess.TimeoutExpired:
				p.kill()


def lock_site(site: str, name: str = "another benchmark") -> object:
	"""One benchmark per site at a time (they share the contacts, and a second run would remove the
	first one's in its cleanup): hold results/bench-<site>.lock for as long as the returned file
	stays open, or exit when another run holds it."""
	import fcntl

	RESULTS.mkdir(parents=True, exist_ok=True)
	lock = open(RESULTS / f"bench-{site}.lock", "a")
	try:
		fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
	except BlockingIOError:
		raise SystemExit(f"{name} is using {site}: wait for it to end") from None
	return lock


class SinkClient:
	"""The benchmark's side of bench_delivery.py's SMTP sink process (`--sink`): the process
	prints its port first, then answers each command on stdin with one JSON line."""

	def __init__(self, proc: subprocess.Popen, log_hint: str = "") -> None:
		self.proc = proc
		self.log_hint = log_hint
		self.lock = threading.Lock()
		self.port = int(self._read()["port"])

	def _read(self) -> dict:
		line = self.proc.stdout.readline()
		if not line:
			raise SystemExit(f"the SMTP sink exited (status {self.proc.poll()}){self.log_hint}")
		return json.loads(line)

	def ask(self, command: str) -> dict:
		with self.lock:
			self.proc.stdin.write(command + "\n")
			self.proc.stdin.flush()
			return self._read()

	def stop(self) -> None:
		if self.proc.poll() is None:
			try:
				self.proc.stdin.write("quit\n")
				self.proc.stdin.flush()
				self.proc.wait(timeout=10)
			except (OSError, subprocess.TimeoutExpired):
				self.kill()

	def kill(self) -> None:
		self.proc.kill()


class SinkProgress(threading.Thread):
	"""A line every `every` seconds with what the sink accepted so far, until `stop()`."""

	def __init__(self, sink: SinkClient, n: int, every: float) -> None:
		super().__init__(daemon=True)
		self.sink, self.n, self.every = sink, n, every
		self.stop_event = threading.Event()

	def run(self) -> None:
		started, before = time.time(), 0
		while not self.stop_event.wait(self.every):
			got = self.sink.ask("stats")["accepted"]
			say(
				f"    {time.time() - started:.0f}s: {got}/{self.n} accepted ({(got - before) / self.every:.0f}/s now)"
			)
			before = got

	def stop(self) -> None:
		self.stop_event.set()
		self.join()
