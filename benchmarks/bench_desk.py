"""How fast the flow form opens with many participants: `getdoc` of a Marketing Flow (what the
desk calls when the form opens; `onload` computes every figure of Overview, Flow and Reports)
for a flow with N participants and about 3 log events each, bulk-inserted.

Run from the bench's sites folder with the bench's Python, on a site of its own or the desk
site (the data is removed at the end unless --keep):

  cd /home/frappe/frappe-bench/sites && runuser -u frappe -- env HOME=/home/frappe \\
      ../env/bin/python /path/to/benchmarks/bench_desk.py --site marketing.localhost --size 100000
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import common  # noqa: F401  (beside this file: puts tests/ on sys.path for factories)
import frappe
from frappe.utils import add_to_date, now_datetime

from factories import end, step

FLOW = "MF Desk Bench"
STEPS = [
	step("welcome", "Send Email", next_step="wait", content=None),
	step("wait", "Wait", wait_amount=2, wait_unit="Days", next_step="clicked"),
	step("clicked", "Condition", condition_type="Clicked", condition_step="welcome", yes_step="end"),
	end(),
]


def cleanup() -> None:
	frappe.db.delete("Marketing Flow Log", {"flow": FLOW})
	frappe.db.delete("Marketing Flow Participant", {"flow": FLOW})
	if frappe.db.exists("Marketing Flow", FLOW):
		frappe.db.set_value("Marketing Flow", FLOW, "status", "Stopped")
		frappe.delete_doc("Marketing Flow", FLOW, force=True, ignore_permissions=True)
	frappe.db.commit()


def make_flow() -> str:
	content = frappe.db.get_value("Marketing Flow Content", {"channel": "Email"}, "name")
	if not content:
		doc = frappe.get_doc(
			{
				"doctype": "Marketing Flow Content",
				"content_name": "MF Desk Bench",
				"channel": "Email",
				"subject": "Hi",
				"body": "<p>Hi</p>",
			}
		)
		doc.flags.ignore_validate = True
		content = doc.insert(ignore_permissions=True).name
	steps = [dict(s) for s in STEPS]
	steps[0]["content"] = content
	flow = frappe.get_doc({"doctype": "Marketing Flow", "flow_name": FLOW, "steps": steps})
	flow.flags.ignore_validate = True
	flow.insert(ignore_permissions=True)
	return flow.name


def fill(flow: str, n: int) -> None:
	from marketing_flows.engine import log

	rng = random.Random(7)
	now = now_datetime()
	fields = [
		"name",
		"flow",
		"person_doctype",
		"person",
		"contact",
		"email",
		"status",
		"current_step",
		"enrolled_on",
		"succeeded",
		"succeeded_on",
		"sent_marketing_email",
		"exit_reason",
		"creation",
		"modified",
		"owner",
		"modified_by",
		"docstatus",
		"idx",
	]
	rows, entries = [], []
	statuses = ["Waiting"] * 5 + ["Completed"] * 3 + ["Exited", "Stalled"]
	for i in range(n):
		name = f"mfdb{i:08d}"
		contact = f"MFDB-{i:07d}"
		status = rng.choice(statuses)
		enrolled = add_to_date(now, days=-rng.randint(0, 60))
		succeeded = int(rng.random() < 0.1)
		step = "wait" if status == "Waiting" else rng.choice(["welcome", "clicked", "end"])
		rows.append(
			(
				name,
				flow,
				"Contact",
				contact,
				contact,
				f"{contact.lower()}@example.com",
				status,
				step,
				enrolled,
				succeeded,
				enrolled if succeeded else None,
				1,
				"Unsubscribed" if status == "Exited" else None,
				enrolled,
				enrolled,
				"Administrator",
				"Administrator",
				0,
				0,
			)
		)
		entries.append(log.entry(flow, name, contact, "welcome", "Email Sent"))
		if rng.random() < 0.4:
			entries.append(log.entry(flow, name, contact, "welcome", "Opened"))
		if rng.random() < 0.1:
			entries.append(log.entry(flow, name, contact, "welcome", "Clicked"))
		entries.append(log.entry(flow, name, contact, "wait", "Step Executed"))
	frappe.db.bulk_insert("Marketing Flow Participant", fields, rows, chunk_size=5000)
	log.write_many(entries)
	frappe.db.commit()
	print(f"inserted {n} participants, {len(entries)} log events")


def measure(flow: str, runs: int) -> dict:
	from frappe.desk.form.load import getdoc

	times = []
	for _ in range(runs):
		frappe.clear_document_cache("Marketing Flow", flow)
		frappe.local.response = frappe._dict(docs=[])
		start = time.perf_counter()
		getdoc("Marketing Flow", flow)
		times.append(time.perf_counter() - start)
	figures = frappe.local.response.docs[0].get("__onload")["figures"]
	return {
		"median_s": round(statistics.median(times), 3),
		"max_s": round(max(times), 3),
		"runs": runs,
		"enrolled": figures["enrolled"],
	}


def main() -> None:
	parser = argparse.ArgumentParser(
		description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
	)
	parser.add_argument("--site", required=True)
	parser.add_argument("--size", type=int, default=100000)
	parser.add_argument("--runs", type=int, default=7)
	parser.add_argument("--keep", action="store_true", help="keep the data at the end")
	parser.add_argument("--reuse", action="store_true", help="measure the data a --keep run left")
	args = parser.parse_args()
	frappe.init(site=args.site)
	frappe.connect()
	frappe.set_user("Administrator")
	try:
		if args.reuse and frappe.db.exists("Marketing Flow", FLOW):
			flow = FLOW
		else:
			cleanup()
			flow = make_flow()
			t = time.perf_counter()
			fill(flow, args.size)
			print(f"fill: {time.perf_counter() - t:.1f} s")
		print("getdoc (form open, figures in onload):", measure(flow, args.runs))
		for name, explain in explain_queries(flow).items():
			print(name, explain)
	finally:
		if not args.keep:
			cleanup()
		frappe.destroy()


def explain_queries(flow: str) -> dict:
	"""Which index each figure query uses (EXPLAIN)."""
	q = {
		"by_status": "select status, count(*), sum(succeeded), sum(sent_marketing_email) "
		"from `tabMarketing Flow Participant` where flow=%s group by status",
		"by_step": "select step_id, event, count(*) from `tabMarketing Flow Log` where flow=%s "
		"group by step_id, event",
		"waiting": "select current_step, count(*) from `tabMarketing Flow Participant` where flow=%s "
		"and status in ('Active','Waiting') group by current_step",
		"per_day": "select date(enrolled_on), count(*) from `tabMarketing Flow Participant` where flow=%s "
		"and enrolled_on >= '2000-01-01' group by date(enrolled_on)",
	}
	return {k: [(r[5], r[6], r[9]) for r in frappe.db.sql("explain " + v, flow)] for k, v in q.items()}


if __name__ == "__main__":
	main()
