"""What the app costs a document save: median time to save a Contact with 0 and with 50 running
flows watching Contacts, and a ToDo no flow watches, as ratios to the same saves on a site
without the app. Also counts the queries the app's hook adds. A script, not a test.

	cd /home/frappe/frappe-bench/sites && runuser -u frappe -- env HOME=/home/frappe \\
	    ../env/bin/python /work/main/benchmarks/bench_watch.py \\
	    --site mf-bench.localhost --baseline-site mf-noapp.localhost

The baseline site is a Frappe site without marketing_flows (create it once with
`bench new-site mf-noapp.localhost`). Each measurement saves the same document N times in one
process (warm caches, as in a long-running web worker) and rolls back at the end.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import frappe

RESULTS = Path(__file__).parent / "results"


def connect(site: str) -> None:
	if getattr(frappe.local, "site", None):
		frappe.destroy()
	frappe.init(site=site, sites_path=".")
	frappe.connect()
	frappe.set_user("Administrator")


def median_save_ms(doc, rounds: int) -> float:
	times = []
	for i in range(rounds):
		doc.reload()
		if doc.doctype == "Contact":
			doc.designation = f"d{i}"
		else:
			doc.description = f"todo {i}"
		start = time.perf_counter()
		doc.save(ignore_permissions=True)
		times.append((time.perf_counter() - start) * 1000)
	return statistics.median(times[rounds // 10 :])  # skip warm-up


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


def fixtures():
	contact = frappe.get_doc({"doctype": "Contact", "first_name": "Bench", "email_ids": [{"email_id": "bench-watch@example.com", "is_primary": 1}]}).insert(ignore_permissions=True)
	todo = frappe.get_doc({"doctype": "ToDo", "description": "bench"}).insert(ignore_permissions=True)
	return contact, todo


def measure(site: str, rounds: int, watching_flows: int) -> dict:
	connect(site)
	contact, todo = fixtures()
	installed = "marketing_flows" in frappe.get_installed_apps()
	out = {"site": site, "app_installed": installed}
	if installed:
		from marketing_flows.engine import watch

		out["contact_0_flows_ms"] = median_save_ms(contact, rounds)
		for i in range(watching_flows):
			flow = frappe.get_doc(
				{
					"doctype": "Marketing Flow",
					"flow_name": f"bench-watch-{i}-{frappe.generate_hash(length=6)}",
					"steps": [{"step_id": "w", "step_type": "Wait", "wait_amount": 1, "wait_unit": "Days", "next_step": "e"}, {"step_id": "e", "step_type": "End"}],
					"success_criteria": [{"criterion_type": "Person Updated", "conditions": '[["designation", "=", "never"]]'}],
				}
			).insert()
			flow.run()
		watch.watched()
		out["watched_doctypes"] = sorted(watch.watched())
		out[f"contact_{watching_flows}_flows_ms"] = median_save_ms(contact, rounds)
		out["todo_ms"] = median_save_ms(todo, rounds)
		out["hook_queries_todo"] = count_queries(lambda: watch.on_update(todo))
		out["hook_queries_contact"] = count_queries(lambda: watch.on_update(contact))
	else:
		out["contact_ms"] = median_save_ms(contact, rounds)
		out["todo_ms"] = median_save_ms(todo, rounds)
	frappe.db.rollback()
	return out


def main() -> None:
	parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
	parser.add_argument("--site", required=True)
	parser.add_argument("--baseline-site", required=True)
	parser.add_argument("--rounds", type=int, default=300)
	parser.add_argument("--flows", type=int, default=50)
	args = parser.parse_args()
	base = measure(args.baseline_site, args.rounds, 0)
	app = measure(args.site, args.rounds, args.flows)
	result = {
		"baseline": base,
		"app": app,
		"ratio_contact_0_flows": app["contact_0_flows_ms"] / base["contact_ms"],
		f"ratio_contact_{args.flows}_flows": app[f"contact_{args.flows}_flows_ms"] / base["contact_ms"],
		"ratio_todo": app["todo_ms"] / base["todo_ms"],
	}
	print(f"{'save':<32}{'without app':>14}{'with app':>12}{'ratio':>8}")
	print(f"{'Contact, 0 flows':<32}{base['contact_ms']:>12.2f}ms{app['contact_0_flows_ms']:>10.2f}ms{result['ratio_contact_0_flows']:>8.3f}")
	key = f"contact_{args.flows}_flows_ms"
	print(f"{f'Contact, {args.flows} flows watching':<32}{base['contact_ms']:>12.2f}ms{app[key]:>10.2f}ms{result[f'ratio_contact_{args.flows}_flows']:>8.3f}")
	print(f"{'ToDo (no flow watches)':<32}{base['todo_ms']:>12.2f}ms{app['todo_ms']:>10.2f}ms{result['ratio_todo']:>8.3f}")
	print(f"queries added by the hook: ToDo {app['hook_queries_todo']}, Contact {app['hook_queries_contact']}")
	RESULTS.mkdir(exist_ok=True)
	(RESULTS / f"watch-{int(time.time())}.json").write_text(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
	main()
