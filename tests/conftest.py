"""pytest against the real test site: init + connect once, roll back after every test.

Tests that need a background worker to see their data commit it (with unique names) and use
the `worker` fixture, which runs a real `bench worker --burst`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH_DIR = Path(os.environ.get("MF_BENCH_DIR", "/home/frappe/frappe-bench"))
SITE = os.environ.get("MF_TEST_SITE", "mf-test.localhost")

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session", autouse=True)
def site():
	import frappe

	frappe.init(site=SITE, sites_path=str(BENCH_DIR / "sites"))
	frappe.connect()
	frappe.flags.in_test = True
	frappe.set_user("Administrator")
	yield SITE
	frappe.db.rollback()
	frappe.destroy()


@pytest.fixture(autouse=True)
def rollback_after_test():
	import frappe

	yield
	frappe.db.rollback()
	frappe.set_user("Administrator")


def run_bench(*args: str, check: bool = True) -> subprocess.CompletedProcess:
	"""A real bench command against the test site (as the user running the tests)."""
	bench = os.environ.get("MF_BENCH_CLI", str(Path.home() / ".bench-cli/bin/bench"))
	return subprocess.run(
		[bench, "--site", SITE, *args], cwd=BENCH_DIR, capture_output=True, text=True, check=check, timeout=600
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
	bench = os.environ.get("MF_BENCH_CLI", str(Path.home() / ".bench-cli/bin/bench"))
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
				"--no-sandbox", "--disable-gpu", "--disable-background-networking",
				"--disable-component-update", "--disable-sync", "--no-first-run",
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


def worker_env() -> dict:
	"""Frappe's execute_job treats CI=... as "in test" and then never talks to SMTP; our
	workers must deliver for real, so they run without it."""
	return {k: v for k, v in os.environ.items() if k != "CI"}


def run_worker(timeout: int = 300) -> subprocess.CompletedProcess:
	"""A real RQ worker (`bench worker --burst`): runs every queued job, then exits."""
	bench = os.environ.get("MF_BENCH_CLI", str(Path.home() / ".bench-cli/bin/bench"))
	result = subprocess.run(
		[bench, "worker", "--queue", "short,default,long", "--burst"],
		cwd=BENCH_DIR,
		capture_output=True,
		text=True,
		timeout=timeout,
		env=worker_env(),
	)
	with open(BENCH_DIR / "logs" / "test-worker.log", "a") as log:
		log.write(result.stdout + result.stderr)
	return result


@pytest.fixture
def worker():
	"""Call `worker()` to commit and let a real burst worker run everything queued."""
	import frappe

	def run(timeout: int = 300):
		frappe.db.commit()
		result = run_worker(timeout)
		wait_for_site_jobs()
		frappe.db.rollback()  # see what the worker committed
		return result

	return run


def site_jobs_pending() -> int:
	"""Jobs of the test site still queued (another bench worker may have left some behind).
	Started jobs are not counted: a killed worker's job stays "started" until RQ expires it."""
	from frappe.utils.background_jobs import get_queues

	return sum(1 for queue in get_queues() for job in queue.get_jobs() if (job.kwargs or {}).get("site") == SITE)


def wait_for_site_jobs(timeout: float = 60) -> None:
	"""Run burst workers until no job of this site is queued or running."""
	import time

	deadline = time.monotonic() + timeout
	while site_jobs_pending() and time.monotonic() < deadline:
		time.sleep(0.5)
		run_worker()


def run_scheduled(method: str) -> None:
	"""Enqueue a scheduler event the way Frappe's scheduler does (Scheduled Job Type)."""
	import frappe

	job = frappe.get_doc("Scheduled Job Type", {"method": method})
	job.enqueue(force=True)


@pytest.fixture(scope="session")
def smtp():
	"""A local SMTP server, and the site's default outgoing Email Account pointed at it."""
	import frappe

	from receivers import SMTPReceiver

	server = SMTPReceiver().start()
	name = "Marketing Flows Test Sender"
	values = {
		"email_id": "flows@example.com",
		"enable_outgoing": 1,
		"default_outgoing": 1,
		"smtp_server": "127.0.0.1",
		"smtp_port": server.port,
		"use_tls": 0,
		"use_ssl_for_outgoing": 0,
		"use_imap": 0,
		"enable_incoming": 0,
		"no_smtp_authentication": 1,
		"login_id_is_different": 0,
	}
	frappe.db.set_value("Email Account", {"default_outgoing": 1, "name": ("!=", name)}, "default_outgoing", 0)
	if frappe.db.exists("Email Account", name):
		account = frappe.get_doc("Email Account", name)
		account.update(values)
	else:
		account = frappe.get_doc({"doctype": "Email Account", "email_account_name": name, **values})
	account.flags.ignore_validate = True
	account.flags.ignore_mandatory = True
	account.save(ignore_permissions=True) if not account.is_new() else account.insert(ignore_permissions=True)
	frappe.db.commit()
	frappe.clear_cache()
	server.account = name
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


class SettingsOverride:
	"""Changes single doctypes' values (and the default Email Account) for one test, committed,
	and puts the previous values back afterwards."""

	def __init__(self) -> None:
		self.saved: list[tuple[str, dict]] = []

	def set(self, doctype: str, **values) -> None:
		import frappe

		doc = frappe.get_single(doctype)
		self.saved.append((doctype, {k: doc.get(k) for k in values}))
		frappe.db.set_single_value(doctype, values)
		frappe.db.commit()
		frappe.clear_document_cache(doctype, doctype)

	def restore(self) -> None:
		import frappe

		frappe.db.rollback()
		for doctype, values in reversed(self.saved):
			frappe.db.set_single_value(doctype, values)
			frappe.clear_document_cache(doctype, doctype)
		frappe.db.commit()


@pytest.fixture
def settings():
	override = SettingsOverride()
	yield override
	override.restore()


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
