"""What the app costs a document save: median time to save a Contact with 0 and with 50 running
flows watching Contacts, and a ToDo no flow watches, as ratios to the same save without the
app's document hooks. Also counts the queries the app's hook adds. A script, not a test.

	cd /home/frappe/frappe-bench/sites && runuser -u frappe -- env HOME=/home/frappe \\
	    ../env/bin/python /work/main/benchmarks/bench_watch.py --site mf-bench.localhost

"Without the app" is the same site and process with marketing_flows' doc_events taken out of
Frappe's per-request hook map: the hooks are the only thing the app adds to a save, and
comparing on one site removes the site-to-site noise (data size, caches) that dwarfs a hook.
Saves with and without the hooks alternate, so drift hits both equally. Everything is rolled
back at the end.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import frappe
from common import RESULTS  # beside this file; it also puts tests/ on sys.path for factories

from factories import end, step


def hooks(enabled: bool) -> None:
	"""Frappe's doc_events for this request, with or without marketing_flows' entries."""
	if hasattr(frappe.local, "doc_events_hooks"):
		del frappe.local.doc_events_hooks
	full = frappe.get_doc_hooks()
	if enabled:
		return
	frappe.local.doc_events_hooks = {
		doctype: {
			event: [m for m in methods if not m.startswith("marketing_flows.")]
			for event, methods in events.items()
		}
		for doctype, events in full.items()
	}


def timed_save(doc, i: int) -> float:
	doc.reload()
	if doc.doctype == "Contact":
		doc.designation = f"d{i}"
	else:
		doc.description = f"todo {i}"
	start = time.perf_counter()
	doc.save(ignore_permissions=True)
	return (time.perf_counter() - start) * 1000


def compare(doc, rounds: int) -> tuple[float, float]:
	"""Median save time (ms) without and with the app's hooks, alternating."""
	without, with_app = [], []
	for i in range(rounds):
		hooks(False)
		without.append(timed_save(doc, 2 * i))
		hooks(True)
		with_app.append(timed_save(doc, 2 * i + 1))
	skip = rounds // 10  # warm-up
	return statistics.median(without[skip:]), statistics.median(with_app[skip:])


def count_queries(fn) -> int:
	original = frappe.db.sql
	count = 0

	def counting(*args, **kwargs):
		nonlocal count
		count += 1
		return original(*args, **kwargs)

	frappe.db.sql = counting
	try:
		fn()
	finally:
		frappe.db.sql = original
	return count


def add_watching_flows(n: int) -> None:
	for i in range(n):
		flow = frappe.get_doc(
			{
				"doctype": "Marketing Flow",
				"flow_name": f"bench-watch-{i}-{frappe.generate_hash(length=6)}",
				"steps": [
					step("w", "Wait", wait_amount=1, wait_unit="Days", next_step="e"),
					end("e"),
				],
				"success_criteria": [
					{"criterion_type": "Person Updated", "conditions": '[["designation", "=", "never"]]'}
				],
			}
		).insert()
		flow.run()


def main() -> None:
	parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
	parser.add_argument("--site", required=True)
	parser.add_argument("--rounds", type=int, default=300)
	parser.add_argument("--flows", type=int, default=50)
	args = parser.parse_args()
	frappe.init(site=args.site, sites_path=".")
	frappe.connect()
	frappe.set_user("Administrator")
	from marketing_flows.engine.entering import watch

	contact = frappe.get_doc(
		{
			"doctype": "Contact",
			"first_name": "Bench",
			"email_ids": [{"email_id": "bench-watch@example.com", "is_primary": 1}],
		}
	).insert(ignore_permissions=True)
	todo = frappe.get_doc({"doctype": "ToDo", "description": "bench"}).insert(ignore_permissions=True)
	rows = {}
	rows["Contact, 0 flows watching"] = compare(contact, args.rounds)
	add_watching_flows(args.flows)
	assert "Contact" in watch.watched(), "the flows should watch Contact"
	rows[f"Contact, {args.flows} flows watching"] = compare(contact, args.rounds)
	rows["ToDo (no flow watches it)"] = compare(todo, args.rounds)
	hooks(True)
	queries = {
		"ToDo": count_queries(lambda: watch.on_update(todo)),
		"Contact": count_queries(lambda: watch.on_update(contact)),
	}
	frappe.db.rollback()

	print(f"{'median save':<34}{'without hooks':>14}{'with app':>12}{'ratio':>8}")
	for label, (base, app) in rows.items():
		print(f"{label:<34}{base:>12.2f}ms{app:>10.2f}ms{app / base:>8.3f}")
	print(f"queries run by the app's hook in the save: ToDo {queries['ToDo']}, Contact {queries['Contact']}")
	RESULTS.mkdir(exist_ok=True)
	result = {label: {"without_ms": b, "with_ms": a, "ratio": a / b} for label, (b, a) in rows.items()}
	result["hook_queries"] = queries
	(RESULTS / f"watch-{int(time.time())}.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
	main()
