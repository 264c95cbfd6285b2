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
