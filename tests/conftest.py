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
