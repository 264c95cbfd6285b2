"""pytest against the real test site: init + connect once, roll back after every test.

Tests that need a background worker to see their data commit it (with unique names) and use
the `worker` fixture, which runs a real `bench worker --burst` and fails the test when the
worker fails or leaves a job of the site queued or failed. After every test, flows it left
Running or Paused are stopped. `settings` / `module_settings` change settings and restore
them. `smtp`, `sink` and `content` send email; `http_receiver` takes webhooks and SMS. Test
data and time travel: factories.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

BENCH_DIR = Path(os.environ.get("MF_BENCH_DIR", "/home/frappe/frappe-bench"))
BENCH_CLI = os.environ.get("MF_BENCH_CLI", str(Path.home() / ".bench-cli/bin/bench"))
SITE = os.environ.get("MF_TEST_SITE", "mf-test.localhost")

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session", autouse=True)
def site():
	import frappe

	frappe.init(site=SITE, sites_path=str(BENCH_DIR / "sites"))
	frappe.connect()
	frappe.flags.in_test = True
	frappe.set_user("Administrator")
	others = live_bench_workers()
	if others and os.environ.get("MF_ALLOW_BENCH_WORKERS") != "1":
		frappe.destroy()
		pytest.exit(
			f"long-lived workers of this bench are running ({', '.join(others)}): they would take the test"
			" site's jobs and run them with the code they started with. Stop them (scripts/desk.sh --stop;"
			" scripts/test.sh does it for the desk's worker and restarts it after the tests), or set"
			" MF_ALLOW_BENCH_WORKERS=1.",
			returncode=3,
		)
	for job in queued_site_jobs():  # left by an earlier session (e.g. for flows gone with an uninstall)
		job.delete()
	park_foreign_jobs()
	# unsent flow emails of earlier sessions: Frappe sends 500 per flush, oldest first, so a
	# backlog would keep this session's emails from going out when a test flushes the queue
	# (and rows a killed sender left "Sending": their accounts' servers died with that session)
	stale = frappe.get_all(
		"Email Queue",
		filters={
			"status": ("in", ("Not Sent", "Sending")),
			"reference_doctype": "Marketing Flow Participant",
		},
		pluck="name",
	)
	for start in range(0, len(stale), 1000):
		chunk = stale[start : start + 1000]
		frappe.db.delete("Email Queue Recipient", {"parent": ("in", chunk)})
		frappe.db.delete("Email Queue", {"name": ("in", chunk)})
	ensure_system_manager()
	frappe.db.commit()
	yield SITE
	frappe.db.rollback()
	unpark_foreign_jobs()
	frappe.destroy()


PARKED_KEY = "marketing_flows:tests:parked_jobs"  # a Redis list of "queue job-id"


def park_foreign_jobs() -> None:
	"""Take the bench's other sites' queued jobs out of the queues while the tests run, and note
	them in Redis: the tests' burst workers run every queued job, and another site's job (a
	host's daily job, a benchmark's leftovers) would run in the middle of a test, slow or hung.
	`unpark_foreign_jobs` queues them again at the end; parked jobs of a session that was killed
	are queued again by the next one first. (A test session on another site of the bench at
	the same time would see its jobs parked: run one at a time, as scripts/test.sh does.)"""
	from frappe.utils.background_jobs import get_queues, get_redis_conn

	conn = get_redis_conn()
	unpark_foreign_jobs()
	for queue in get_queues():
		for job in queue.get_jobs():
			if (job.kwargs or {}).get("site") == SITE:
				continue
			conn.rpush(PARKED_KEY, f"{queue.name} {job.id}")
			queue.remove(job)


def unpark_foreign_jobs() -> None:
	"""Queue again, in their order, the jobs `park_foreign_jobs` took out (gone ones skipped)."""
	from frappe.utils.background_jobs import get_queues, get_redis_conn
	from rq.exceptions import NoSuchJobError
	from rq.job import Job

	conn = get_redis_conn()
	queues = {queue.name: queue for queue in get_queues()}
	while entry := conn.lpop(PARKED_KEY):
		queue_name, job_id = entry.decode().split(" ", 1)
		try:
			job = Job.fetch(job_id, connection=conn)
		except NoSuchJobError:
			continue
		if queue_name in queues:
			queues[queue_name].enqueue_job(job)


SYSTEM_MANAGER = "mf-system-manager@example.com"


def ensure_system_manager() -> None:
	"""Frappe gives System Manager to a new System User when no user but Administrator has it
	(User.add_system_manager_role): on a fresh site the first user a test made, however few its
	roles, could do everything. One System Manager of the tests' own keeps users as made."""
	import frappe

	has = frappe.qb.DocType("Has Role")
	others = (
		frappe.qb.from_(has)
		.select(has.parent)
		.where(
			(has.role == "System Manager")
			& (has.parenttype == "User")
			& has.parent.notin(["Administrator", "Guest"])
		)
		.limit(1)
		.run()
	)
	if others:
		return
	user = frappe.get_doc(
		{
			"doctype": "User",
			"email": SYSTEM_MANAGER,
			"first_name": "Flows Test System Manager",
			"send_welcome_email": 0,
			"user_type": "System User",
		}
	)
	user.append_roles("System Manager")
	user.insert(ignore_permissions=True, ignore_if_duplicate=True)


def live_bench_workers() -> list[str]:
	"""RQ workers alive now that listen to this bench's queues (every site's jobs go there)."""
	import socket

	from frappe.utils.background_jobs import generate_qname, get_queue_list, get_redis_conn
	from rq import Worker

	ours = {generate_qname(q) for q in get_queue_list()}
	found = []
	for w in Worker.all(connection=get_redis_conn()):
		if not ours & set(w.queue_names()):
			continue
		if w.hostname == socket.gethostname():
			try:
				os.kill(w.pid, 0)
			except ProcessLookupError:
				continue  # a killed worker's registration outlives it for a few minutes
			except PermissionError:
				pass  # alive, another user's
		found.append(f"{w.name} (pid {w.pid} on {w.hostname})")
	return found


LIVE_STATUSES = ("Running", "Paused")  # flows that enrol people and run steps


def live_flows() -> set[str]:
	"""Marketing Flows Running or Paused (committed state)."""
	import frappe

	return set(frappe.get_all("Marketing Flow", filters={"status": ("in", LIVE_STATUSES)}, pluck="name"))


@pytest.fixture(autouse=True)
def rollback_after_test():
	"""Roll back what the test left uncommitted; then stop (as Administrator, with the flow's own
	`stop()`) every flow that the test left Running or Paused, so that no flow of one test runs
	steps or enrols people in the next, commit, and drop the queued jobs of ended flows."""
	import frappe

	before = live_flows()
	yield
	frappe.db.rollback()
	frappe.set_user("Administrator")
	errors = []
	for name in sorted(live_flows() - before):
		try:
			frappe.get_doc("Marketing Flow", name).stop()
			frappe.db.commit()
		except Exception as e:
			frappe.db.rollback()
			errors.append(f"{name}: {e!r}")
	if errors:
		pytest.fail("could not stop the flows the test left running: " + "; ".join(errors))
	drop_jobs_of_ended_flows()


def drop_jobs_of_ended_flows() -> None:
	"""Drop the queued runner jobs of flows no longer Running or Paused. Such a job does nothing
	when it runs, but each costs a work horse (about a second of imports): the jobs that tests
	without a worker leave behind (the REST permission matrix runs and enrols a hundred flows)
	would otherwise fill a later test's first worker run for minutes."""
	from marketing_flows.engine.running.runner_jobs import RUNNER_JOB

	live = live_flows()
	for job in queued_site_jobs():
		kwargs = job.kwargs or {}
		if kwargs.get("method") == RUNNER_JOB and (kwargs.get("kwargs") or {}).get("flow_name") not in live:
			job.delete()


def run_bench(*args: str, check: bool = True) -> subprocess.CompletedProcess:
	"""A real bench command against the test site (as the user running the tests)."""
	bench = BENCH_CLI
	return subprocess.run(
		[bench, "--site", SITE, *args],
		cwd=BENCH_DIR,
		capture_output=True,
		text=True,
		check=check,
		timeout=600,
	)


@pytest.fixture(scope="session")
def desk_url(site):
	"""A real `bench serve` for the test site; yields its base URL (*.localhost is loopback)."""
	import socket
	import time
	import urllib.request

	import frappe

	frappe.db.set_single_value("System Settings", "setup_complete", 1)  # no setup wizard in tests
	frappe.db.commit()
	with socket.socket() as s:
		s.bind(("127.0.0.1", 0))
		port = s.getsockname()[1]
	bench = BENCH_CLI
	log = open(BENCH_DIR / "logs" / "test-web.log", "ab")
	proc = subprocess.Popen(
		[bench, "--site", SITE, "serve", "--port", str(port), "--noreload", "--nothreading"],
		cwd=BENCH_DIR,
		stdout=log,
		stderr=log,
	)
	url = f"http://{SITE}:{port}"
	request = urllib.request.Request(f"http://127.0.0.1:{port}/api/method/ping", headers={"Host": SITE})
	for _ in range(60):
		try:
			urllib.request.urlopen(request, timeout=2)
			break
		except OSError:
			time.sleep(0.5)
	else:
		proc.terminate()
		pytest.fail("bench serve did not start: see logs/test-web.log")
	yield url
	proc.terminate()
	proc.wait(timeout=10)


@pytest.fixture(scope="session")
def browser():
	from playwright.sync_api import sync_playwright

	chromium = os.environ.get("MF_CHROMIUM", "/usr/bin/chromium")
	with sync_playwright() as p:
		b = p.chromium.launch(
			executable_path=chromium,
			args=[
				"--no-sandbox",
				"--disable-gpu",
				"--disable-background-networking",
				"--disable-component-update",
				"--disable-sync",
				"--no-first-run",
			],
		)
		yield b
		b.close()


ARTIFACTS = Path(os.environ.get("MF_ARTIFACTS", str(BENCH_DIR / "logs" / "test-artifacts")))


def login(browser, desk_url: str, user: str, password: str):
	"""A new browser page logged in as `user`."""
	page = browser.new_page(viewport={"width": 1400, "height": 900})
	page.goto(f"{desk_url}/login")
	page.fill("#login_email", user)
	page.fill("#login_password", password)
	page.click(".btn-login")
	try:
		page.wait_for_url(lambda url: "/login" not in url, timeout=20000, wait_until="domcontentloaded")
	except Exception:
		screenshot(page, f"login-failed-{user}")
		raise
	return page


def screenshot(page, name: str) -> Path:
	ARTIFACTS.mkdir(parents=True, exist_ok=True)
	path = ARTIFACTS / f"{name}.png"
	page.screenshot(path=str(path))
	return path


# --- the desk in a browser: what several desk tests look for -----------------------------------


def watch_errors(page) -> list[str]:
	"""The page's uncaught JS errors, each with where it was thrown (the first stack frames)."""
	errors: list[str] = []
	page.on(
		"pageerror",
		lambda e: errors.append(" | ".join([str(e), *(e.stack or "").splitlines()[1:4]]).strip(" |")),
	)
	return errors


def node(page, step_id: str):
	"""A step's node on the designer's canvas."""
	return page.locator(f".vue-flow__node[data-id='{step_id}']")


def panel_field(page, fieldname: str):
	"""The input of a field in the designer's side panel."""
	return page.locator(f".mf-side-panel [data-fieldname='{fieldname}'] :is(input, select, textarea)").first


def text_of(locator) -> str:
	"""An element's text as one line, its whitespace collapsed."""
	return " ".join(locator.inner_text().split())


def open_tab(page, fieldname: str) -> None:
	"""Open a tab of a desk form by its Tab Break's fieldname."""
	page.locator(f"a[data-fieldname='{fieldname}']").dispatch_event("click")


def worker_env() -> dict:
	"""Frappe's execute_job treats CI=... as "in test" and then never talks to SMTP; our
	workers must deliver for real, so they run without it. PYTHONFAULTHANDLER lets a worker
	that outlived its time say where it was (`stop_with_tracebacks`)."""
	env = {k: v for k, v in os.environ.items() if k != "CI"}
	env["PYTHONFAULTHANDLER"] = "1"
	return env


def stop_with_tracebacks(proc: subprocess.Popen) -> tuple[str, str]:
	"""End a worker that outlived its time, and its work horse, after they printed the stack of
	every thread (faulthandler on SIGABRT): a hung job then names the line it hung on. The horse
	calls setsid, so it is found among the worker's children, not by its process group."""
	import time

	import psutil

	try:
		parent = psutil.Process(proc.pid)
		family = [parent, *parent.children(recursive=True)]
	except psutil.NoSuchProcess:
		family = []
	for sig in (signal.SIGABRT, signal.SIGKILL):
		for process in family:
			try:
				process.send_signal(sig)
			except psutil.NoSuchProcess:
				pass
		if sig == signal.SIGABRT:
			time.sleep(2)
	return proc.communicate()


def tail(text: str, lines: int = 40) -> str:
	return "\n".join((text or "").rstrip().splitlines()[-lines:])


def run_worker(timeout: int = 300, check: bool = True) -> subprocess.CompletedProcess:
	"""A real RQ worker (`bench worker --burst`): runs every queued job, then exits. With `check`
	(the default) the test fails when the worker exits non-zero or outlives `timeout`."""
	bench = BENCH_CLI
	args = [bench, "worker", "--queue", "short,default,long", "--burst"]
	proc = subprocess.Popen(
		args,
		cwd=BENCH_DIR,
		stdout=subprocess.PIPE,
		stderr=subprocess.PIPE,
		text=True,
		env=worker_env(),
		start_new_session=True,  # its work horses too are ended on a timeout
	)
	timed_out = False
	try:
		stdout, stderr = proc.communicate(timeout=timeout)
	except subprocess.TimeoutExpired:
		timed_out = True
		stdout, stderr = stop_with_tracebacks(proc)
	result = subprocess.CompletedProcess(args, proc.returncode, stdout, stderr)
	with open(BENCH_DIR / "logs" / "test-worker.log", "a") as log:
		log.write(result.stdout + result.stderr)
	if check and timed_out:
		pytest.fail(
			f"bench worker --burst still ran after {timeout} s (killed); where it was, then its stderr:\n"
			f"{tail(stderr, 120)}"
		)
	if check and result.returncode != 0:
		pytest.fail(f"bench worker --burst exited with {result.returncode}; its stderr ends:\n{tail(stderr)}")
	return result


@pytest.fixture
def worker():
	"""Call `worker()` to commit and let a real burst worker run everything queued; then the test
	sees what the worker committed. The test fails when the worker exits non-zero, when a job of
	the test site is still queued afterwards, or when a job of the test site failed (unless
	`allow_failed_jobs=True`): an assertion that something did *not* happen proves nothing when
	the job never ran."""
	import frappe

	def run(timeout: int = 300, allow_failed_jobs: bool = False) -> subprocess.CompletedProcess:
		frappe.db.commit()
		failed_before = failed_job_ids()
		result = run_worker(timeout)
		wait_for_site_jobs()
		left = queued_site_jobs()
		assert not left, f"jobs of {SITE} still queued after the worker ran: {describe(left)}"
		if not allow_failed_jobs:
			failed = failed_site_jobs(since=failed_before)
			if failed:
				pytest.fail(
					f"{len(failed)} job(s) of {SITE} failed in the worker:\n"
					+ "\n".join(f"{describe([job])}:\n{tail(job.exc_info or '', 15)}" for job in failed)
				)
		frappe.db.rollback()  # see what the worker committed
		return result

	return run


def queued_site_jobs() -> list:
	"""RQ jobs of the test site still queued (another bench worker may have left some behind).
	Started jobs are not counted: a killed worker's job stays "started" until RQ expires it."""
	from frappe.utils.background_jobs import get_queues

	return [
		job for queue in get_queues() for job in queue.get_jobs() if (job.kwargs or {}).get("site") == SITE
	]


def site_jobs_pending() -> int:
	"""How many jobs of the test site are queued."""
	return len(queued_site_jobs())


def failed_job_ids() -> dict[str, set[str]]:
	"""Ids of the jobs in RQ's failed registries, per queue (every site of the bench)."""
	from frappe.utils.background_jobs import get_queues
	from rq.registry import FailedJobRegistry

	return {queue.name: set(FailedJobRegistry(queue=queue).get_job_ids()) for queue in get_queues()}


def failed_site_jobs(since: dict[str, set[str]]) -> list:
	"""Jobs of the test site that failed since `failed_job_ids()` returned `since`, except those of
	a killed worker (AbandonedJobError: tests kill workers on purpose)."""
	from frappe.utils.background_jobs import get_queues
	from rq.job import Job

	jobs = []
	now = failed_job_ids()
	for queue in get_queues():
		new = sorted(now.get(queue.name, set()) - since.get(queue.name, set()))
		for job in Job.fetch_many(new, connection=queue.connection):
			if job is None or (job.kwargs or {}).get("site") != SITE:
				continue
			if "AbandonedJobError" in (job.exc_info or ""):
				continue
			jobs.append(job)
	return jobs


def describe(jobs: list) -> str:
	"""Queue, method and id of RQ jobs, for failure messages."""
	return ", ".join(
		f"{job.origin}: {(job.kwargs or {}).get('job_name') or (job.kwargs or {}).get('method')} ({job.id})"
		for job in jobs
	)


def wait_for_site_jobs(timeout: float = 60) -> None:
	"""Run burst workers until no job of this site is queued; fail the test, naming the jobs, if
	some are still queued after `timeout` seconds."""
	import time

	deadline = time.monotonic() + timeout
	while site_jobs_pending():
		if time.monotonic() > deadline:
			pytest.fail(f"jobs of {SITE} still queued after {timeout:.0f} s: {describe(queued_site_jobs())}")
		time.sleep(0.5)
		run_worker()


def run_scheduled(method: str) -> None:
	"""Enqueue a scheduler event the way Frappe's scheduler does (Scheduled Job Type)."""
	import frappe

	job = frappe.get_doc("Scheduled Job Type", {"method": method})
	job.enqueue(force=True)


class SettingsChanger:
	"""Changes settings and puts the previous values back, both committed (workers must see
	them). Through the fixtures `settings` (restored after the test) and `module_settings`
	(after the module):

		settings.set("Marketing Flow Settings", batch_size=5, max_attempts=2)
		settings.set("SMS Settings", sms_gateway_url=url, parameters=[{"parameter": "k", "value": "v"}])
		settings.set_default_email_account(None)  # no default outgoing account
		settings.set_default_email_account(name, smtp_port=2525)
	"""

	def __init__(self) -> None:
		self.singles: dict[str, dict] = {}  # doctype -> field -> value before the first change
		self.accounts: dict[str, dict] = {}  # Email Account -> field -> value before the first change
		self.default_accounts: set[str] | None = None  # the default outgoing accounts before

	def set(self, doctype: str, **values):
		"""Set fields of a single doctype (Marketing Flow Settings, SMS Settings, ...) and save it
		through its controller (validation, cache clearing); a table field takes a list of dicts.
		Commits; returns the saved document."""
		import frappe

		doc = frappe.get_single(doctype)
		before = self.singles.setdefault(doctype, {})
		for field in values:
			if field not in before:
				before[field] = self._value(doc, field)
		doc.update(values)
		doc.flags.ignore_permissions = True
		doc.save()
		frappe.db.commit()
		return doc

	def set_default_email_account(self, account: str | None, **values) -> None:
		"""Make `account` (after setting `values` on it) the only default outgoing Email Account;
		None: no account is the default. Written without the account's validation (it would
		connect to the SMTP server). Commits."""
		import frappe

		if self.default_accounts is None:
			self.default_accounts = set(
				frappe.get_all("Email Account", {"default_outgoing": 1}, pluck="name")
			)
		if account and values:
			before = self.accounts.setdefault(account, {})
			current = frappe.db.get_value("Email Account", account, list(values), as_dict=True)
			for field in values:
				before.setdefault(field, current[field])
			frappe.db.set_value("Email Account", account, values)
		self._set_defaults({account} if account else set())
		frappe.db.commit()

	def restore(self) -> None:
		"""Put back every value changed through this object, then commit. What the test left
		uncommitted is rolled back first."""
		import frappe

		frappe.db.rollback()
		for doctype, before in self.singles.items():
			doc = frappe.get_single(doctype)
			doc.update(before)
			doc.flags.ignore_permissions = True
			doc.flags.ignore_mandatory = True  # back to how it was, even empty (SMS Settings)
			doc.save()
		for account, before in self.accounts.items():
			if frappe.db.exists("Email Account", account):
				frappe.db.set_value("Email Account", account, before)
		if self.default_accounts is not None:
			self._set_defaults(self.default_accounts)
		frappe.db.commit()
		self.singles, self.accounts, self.default_accounts = {}, {}, None

	@staticmethod
	def _value(doc, field: str):
		value = doc.get(field)
		if isinstance(value, list):  # a table: its rows without names and parent fields
			return [row.as_dict(no_default_fields=True, no_child_table_fields=True) for row in value]
		return value

	@staticmethod
	def _set_defaults(accounts: set[str]) -> None:
		import frappe

		for name, is_default in frappe.get_all(
			"Email Account", fields=["name", "default_outgoing"], as_list=True
		):
			if bool(is_default) != (name in accounts):
				frappe.db.set_value("Email Account", name, "default_outgoing", int(name in accounts))
		frappe.local.outgoing_email_account = {}  # Frappe's per-process lookup cache


@pytest.fixture
def settings():
	"""Change Marketing Flow Settings, SMS Settings or the default outgoing Email Account for one
	test (see SettingsChanger); the previous values are restored (committed) after it."""
	changer = SettingsChanger()
	yield changer
	changer.restore()


@pytest.fixture(scope="module")
def module_settings():
	"""`settings` for a module-scoped fixture: restored after the module's last test."""
	changer = SettingsChanger()
	yield changer
	changer.restore()


@pytest.fixture(scope="session")
def smtp():
	"""A local SMTP server, and the site's default outgoing Email Account pointed at it (the
	previous default is restored at the end of the session)."""
	import frappe

	from factories import smtp_account
	from receivers import SMTPReceiver

	server = SMTPReceiver().start()
	name = "Marketing Flows Test Sender"
	smtp_account(name, server.port)
	changer = SettingsChanger()
	changer.set_default_email_account(name)
	frappe.clear_cache()
	server.account = name
	yield server
	server.stop()
	changer.restore()
	frappe.clear_cache()


@pytest.fixture
def content(smtp):
	"""A welcome email (Marketing Flow Content) with a tracked link, sent through `smtp`'s account."""
	from factories import make_content, unique

	return make_content(
		"Email",
		content_name=unique("Welcome"),
		subject="Welcome {{ contact.first_name }}!",
		body='<p>Hello {{ contact.first_name }} from {{ flow.flow_name }}.</p><p><a href="https://example.com/offer?x=1">See the offer</a></p>',
		sender=smtp.account,
	)


@pytest.fixture
def sink():
	"""An SMTP server of the test's own, and the Email Account "Marketing Flows Test Sink" that
	sends to it (`sink.account`)."""
	from factories import smtp_account
	from receivers import SMTPReceiver

	server = SMTPReceiver().start()
	server.account = smtp_account(
		"Marketing Flows Test Sink", server.port, email_id="sink-sender@example.com"
	)
	yield server
	server.stop()


@pytest.fixture(scope="session")
def http_receiver():
	"""A local HTTP receiver; webhooks may call it because 127.0.0.1 is allowed in Marketing
	Flow Settings for the session (internal addresses are refused otherwise)."""
	import frappe

	from receivers import HTTPReceiver

	server = HTTPReceiver().start()
	before = frappe.db.get_single_value("Marketing Flow Settings", "webhook_allowed_hosts")
	frappe.db.set_single_value("Marketing Flow Settings", "webhook_allowed_hosts", "127.0.0.1")
	frappe.db.commit()
	yield server
	frappe.db.rollback()
	frappe.db.set_single_value("Marketing Flow Settings", "webhook_allowed_hosts", before)
	frappe.db.commit()
	server.stop()


def flush_email_queue() -> None:
	"""Send what is in the Email Queue now, the way the scheduler's flush job does (in a worker)."""
	import frappe

	frappe.enqueue("frappe.email.queue.flush", queue="short")


def kill_worker(proc) -> None:
	"""SIGKILL a `bench worker` and every process under it. RQ's work horse (the forked process
	that runs the job) calls setsid, so killing the worker's process group alone leaves it running."""
	import signal

	import psutil

	try:
		parent = psutil.Process(proc.pid)
		family = [*parent.children(recursive=True), parent]
	except psutil.NoSuchProcess:
		family = []
	for process in family:
		try:
			process.send_signal(signal.SIGKILL)
		except psutil.NoSuchProcess:
			pass
	proc.wait(timeout=30)


# --- fixtures of time: the site's time zone, date fields on Contact -----------------------

# the Date and Datetime custom fields on Contact (the Date Field trigger, waits on a date)
DATE_FIELD = "mf_trigger_date"
DATETIME_FIELD = "mf_trigger_datetime"


@pytest.fixture
def site_zone():
	"""`site_zone(name)` sets the site's time zone (System Settings) for the test."""
	import frappe

	def set_zone(zone: str | None) -> None:
		frappe.db.set_single_value("System Settings", "time_zone", zone)
		frappe.clear_document_cache("System Settings", "System Settings")
		frappe.cache.delete_value("time_zone")

	before = frappe.db.get_single_value("System Settings", "time_zone")
	yield set_zone
	frappe.db.rollback()
	set_zone(before)
	frappe.db.commit()


@pytest.fixture(scope="session")
def contact_date_fields(site) -> None:
	"""A Date and a Datetime custom field on Contact for the Date Field trigger (kept)."""
	import frappe
	from frappe.custom.doctype.custom_field.custom_field import create_custom_field

	create_custom_field("Contact", {"fieldname": DATE_FIELD, "fieldtype": "Date", "label": "MF Trigger Date"})
	create_custom_field(
		"Contact", {"fieldname": DATETIME_FIELD, "fieldtype": "Datetime", "label": "MF Trigger Datetime"}
	)
	frappe.db.commit()
	frappe.clear_cache(doctype="Contact")
