"""What a large flow earns, how fast: the form's figures (`get_all_figures`, with the Overview's
"earned beyond the control group") and the Reports tab's earnings (`get_earnings`: lift, over
time, per version, revenue per step and branch) for a flow with N participants (10 % Held Out,
three versions, some goals met) and M Marketing Flow Attribution rows, with their log rows (an
A/B test, a Split). Issue 24's target: both under a second at 100 000 participants and 50 000
documents.

"Cold": the first call in this process (statsmodels not imported yet, Frappe's caches cleared);
the database's buffer pool holds the rows (they were just written, or read by an earlier run).
"Warm": the median of the next runs. Prints the EXPLAIN of the queries that read the large
tables. A script run on purpose, not a test.

  cd /home/frappe/frappe-bench/sites && runuser -u frappe -- env HOME=/home/frappe \\
      ../env/bin/python /work/main/benchmarks/bench_earnings.py --site mf-bench.localhost

Options: --size 100000 --documents 50000 --runs 7, --keep (keep the flow "MF Earnings Bench"),
--reuse (measure a kept flow again without filling).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time

import common
import frappe
from frappe.utils import add_to_date, now_datetime

from factories import end, step

FLOW = "MF Earnings Bench"
STEPS = [
	step("mail", "Wait", wait_amount=1, wait_unit="Days", next_step="ab"),
	step("ab", "A/B Test", ab_auto_winner=1, ab_metric="Goal Conversion", ab_test_size=1000, ab_test_days=30),
	step("offer_a", "Wait", wait_amount=2, wait_unit="Days", next_step="split"),
	step("offer_b", "Wait", wait_amount=2, wait_unit="Days", next_step="split"),
	step("split", "Split", else_step="end"),
	step("vip", "Wait", wait_amount=1, wait_unit="Days", next_step="end"),
	end(),
]
BRANCHES = [
	{"step_id": "ab", "branch_label": "Offer A", "branch_key": "a", "percentage": 50, "next_step": "offer_a"},
	{"step_id": "ab", "branch_label": "Offer B", "branch_key": "b", "percentage": 50, "next_step": "offer_b"},
	{
		"step_id": "split",
		"branch_label": "Board",
		"branch_key": "board",
		"condition_type": "Field",
		"condition_filters": '[["department", "=", "Board"]]',
		"next_step": "vip",
	},
]
PARTICIPANT_FIELDS = (
	"name",
	"flow",
	"person_doctype",
	"person",
	"contact",
	"email",
	"status",
	"current_step",
	"flow_version",
	"enrolled_on",
	"succeeded",
	"succeeded_on",
	"sent_marketing_email",
	"revenue",
	"revenue_documents",
	"exit_reason",
	"creation",
	"modified",
	"owner",
	"modified_by",
)
ATTRIBUTION_FIELDS = (
	"name",
	"flow",
	"participant",
	"flow_version",
	"held_out",
	"document_type",
	"document_name",
	"document_date",
	"amount",
	"creation",
	"modified",
	"owner",
	"modified_by",
)


def cleanup() -> None:
	for doctype in ("Marketing Flow Attribution", "Marketing Flow Log", "Marketing Flow Participant"):
		common.delete_chunked(f"DELETE FROM `tab{doctype}` WHERE flow = %s", (FLOW,))
	if frappe.db.exists("Marketing Flow", FLOW):
		frappe.db.set_value("Marketing Flow", FLOW, "status", "Stopped")
		frappe.delete_doc("Marketing Flow", FLOW, force=True, ignore_permissions=True)
	frappe.db.commit()


def make_flow() -> str:
	flow = frappe.get_doc(
		{
			"doctype": "Marketing Flow",
			"flow_name": FLOW,
			"trigger_type": "Manual",
			"holdout_percent": 10,
			"steps": STEPS,
			"branches": BRANCHES,
		}
	)
	flow.flags.ignore_validate = True
	flow.insert(ignore_permissions=True)
	frappe.db.commit()
	return flow.name


def fill(flow: str, n: int, documents: int) -> None:
	"""N participants (10 % Held Out; versions 1-3; enrolled over 120 days; 12 % of the enrolled
	and 9 % of the held out met the goal), `documents` attributions spread over a third of them
	(some people two or three documents), participant revenue = the sum of theirs; log rows: every
	enrolled person passed mail, the A/B test (a or b) and the Split (a fifth to the Board branch),
	got an email (40 % opened); every held-out person one "Held Out" event."""
	from marketing_flows.engine import bulk, log

	rng = random.Random(24)
	now = now_datetime()
	names = [f"mfeb{i:08d}" for i in range(n)]
	held = [rng.random() < 0.10 for _ in range(n)]
	version = [1 + min(2, int(rng.random() * 3)) for _ in range(n)]
	enrolled_on = [
		add_to_date(now, days=-rng.randint(0, 120), minutes=-rng.randint(1, 1400)) for _ in range(n)
	]
	revenue = [0.0] * n
	docs = [0] * n
	attributions = []
	buyers = rng.sample(range(n), min(n, documents * 2 // 3))
	for k in range(documents):
		i = buyers[k % len(buyers)]
		amount = round(rng.uniform(20, 2000), 2)
		revenue[i] += amount
		docs[i] += 1
		attributions.append(
			(
				f"mfea{k:08d}",
				flow,
				names[i],
				version[i],
				int(held[i]),
				"Sales Invoice",
				f"MFEB-SINV-{k:08d}",
				add_to_date(enrolled_on[i], days=rng.randint(0, 30)),
				amount,
				now,
				now,
				"Administrator",
				"Administrator",
			)
		)
	statuses = ["Waiting"] * 4 + ["Completed"] * 4 + ["Exited"]
	rows, entries = [], []
	for i, name in enumerate(names):
		won = rng.random() < (0.09 if held[i] else 0.12)
		status = "Held Out" if held[i] else rng.choice(statuses)
		rows.append(
			(
				name,
				flow,
				"Contact",
				f"MFEB-{i:07d}",
				f"MFEB-{i:07d}",
				f"mfeb-{i:07d}@example.com",
				status,
				None if held[i] else ("offer_a" if status == "Waiting" else "end"),
				version[i],
				enrolled_on[i],
				int(won),
				enrolled_on[i] if won else None,
				int(not held[i]),
				round(revenue[i], 2),
				docs[i],
				"Control group" if held[i] else ("Unsubscribed" if status == "Exited" else None),
				enrolled_on[i],
				enrolled_on[i],
				"Administrator",
				"Administrator",
			)
		)
		contact = f"MFEB-{i:07d}"
		v = version[i]
		if held[i]:
			entries.append(log.entry(flow, name, contact, None, "Held Out", version=v))
			continue
		entries.append(log.entry(flow, name, contact, "mail", "Step Executed", version=v))
		entries.append(
			log.entry(flow, name, contact, "ab", "Step Executed", branch=rng.choice("ab"), version=v)
		)
		entries.append(log.entry(flow, name, contact, "offer_a", "Email Sent", version=v))
		if rng.random() < 0.4:
			entries.append(log.entry(flow, name, contact, "offer_a", "Opened", version=v))
		board = rng.random() < 0.2
		entries.append(
			log.entry(
				flow, name, contact, "split", "Step Executed", branch="board" if board else "else", version=v
			)
		)
	bulk.insert("Marketing Flow Participant", PARTICIPANT_FIELDS, rows)
	bulk.insert("Marketing Flow Attribution", ATTRIBUTION_FIELDS, attributions)
	log.write_many(entries)
	frappe.db.commit()
	for table in ("Marketing Flow Participant", "Marketing Flow Log", "Marketing Flow Attribution"):
		frappe.db.sql(f"ANALYZE TABLE `tab{table}`")
	common.say(
		f"inserted {n} participants ({sum(held)} held out), {len(attributions)} attributions,"
		f" {len(entries)} log rows"
	)


def timed(call) -> float:
	start = time.perf_counter()
	call()
	return time.perf_counter() - start


def measure(flow: str, runs: int) -> dict:
	"""The first call of each (cold) and the median / max of `runs` more (warm)."""
	out: dict = {"statsmodels_imported_before": "statsmodels" in sys.modules}

	def fresh() -> frappe.model.document.Document:
		frappe.clear_document_cache("Marketing Flow", flow)
		return frappe.get_doc("Marketing Flow", flow)

	cold_start = time.perf_counter()
	out["cold_get_all_figures_s"] = round(timed(lambda: fresh().get_all_figures()), 3)
	out["cold_get_earnings_s"] = round(timed(lambda: fresh().get_earnings()), 3)
	out["cold_both_s"] = round(time.perf_counter() - cold_start, 3)
	for label, call in (
		("get_all_figures", lambda: fresh().get_all_figures()),
		("get_earnings", lambda: fresh().get_earnings()),
		("get_all_figures_v2", lambda: fresh().get_all_figures(version=2)),
		("get_earnings_v2", lambda: fresh().get_earnings(version=2)),
	):
		times = [timed(call) for _ in range(runs)]
		out[f"warm_{label}_median_s"] = round(statistics.median(times), 3)
		out[f"warm_{label}_max_s"] = round(max(times), 3)
	both = [timed(lambda: (fresh().get_all_figures(), fresh().get_earnings())) for _ in range(runs)]
	out["warm_both_median_s"] = round(statistics.median(both), 3)
	e = fresh().get_earnings()
	out["figures"] = {
		"enrolled": e["enrolled"],
		"held_out": e["held_out"],
		"lift": e["lift"],
		"earned_beyond_control": e["earned_beyond_control"],
		"over_time_points": len(e["over_time"]),
		"versions": len(e["by_version"]),
		"revenue_by_step": e["revenue_by_step"],
		"revenue_by_branch": e["revenue_by_branch"],
	}
	return out


def parts(flow: str) -> dict:
	"""Each part of the two calls on its own (warm, median of 5)."""
	from marketing_flows.engine.measuring import earnings, figures, revenue, variants

	doc = frappe.get_doc("Marketing Flow", flow)
	calls = {
		"figures.flow_figures": lambda: figures.flow_figures(flow),
		"figures.step_figures + add_delivery": lambda: figures.add_delivery(flow, figures.step_figures(flow)),
		"figures.waiting_by_step": lambda: figures.waiting_by_step(flow),
		"figures.per_day (enrolled + succeeded)": lambda: (
			figures.per_day(flow, "enrolled_on"),
			figures.per_day(flow, "succeeded_on", only_succeeded=True),
		),
		"figures.exit_reasons": lambda: figures.exit_reasons(flow),
		"figures.branch_figures": lambda: figures.branch_figures(flow),
		"variants.figures (A/B step)": lambda: variants.figures(flow, "ab"),
		"variants.progress (A/B step, each batch until decided)": lambda: variants.progress(flow, "ab"),
		"earnings groups (by version, day, group)": lambda: earnings._rows(flow, None),
		"earnings.summary": lambda: earnings.summary(doc),
		"revenue per step and branch (one query)": lambda: revenue.revenue_by_step_and_branch(flow),
		"earnings over_time (Python, 3 versions)": lambda: earnings._over_time(earnings._rows(flow, None)),
	}
	out = {k: round(statistics.median(timed(c) for _ in range(5)), 3) for k, c in calls.items()}
	return out


def explain(flow: str) -> dict:
	"""Which index each query of the app's earnings and A/B figures uses (EXPLAIN)."""
	from marketing_flows.engine.measuring import earnings, variants

	queries = {
		"earnings groups": (
			earnings.GROUPS_SQL.format(version=""),
			{"flow": flow, "version": None, "held_out": "Held Out"},
		),
		"variants.figures": (variants.FIGURES_SQL, {"flow": flow, "step": "ab"}),
		"variants.progress": (
			"select branch, count(*), min(name) from `tabMarketing Flow Log` where flow = %(flow)s"
			" and step_id = %(step)s and event = 'Step Executed' and branch is not null group by branch",
			{"flow": flow, "step": "ab"},
		),
	}
	return {
		k: [(r[2], r[3], r[5], r[6], r[9]) for r in frappe.db.sql("explain " + sql, values)]
		for k, (sql, values) in queries.items()
	}


def main() -> None:
	parser = argparse.ArgumentParser(
		description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
	)
	parser.add_argument("--site", required=True)
	parser.add_argument("--size", type=int, default=100000)
	parser.add_argument("--documents", type=int, default=50000)
	parser.add_argument("--runs", type=int, default=7)
	parser.add_argument("--keep", action="store_true", help="keep the data at the end")
	parser.add_argument("--reuse", action="store_true", help="measure the data a --keep run left")
	args = parser.parse_args()
	lock = common.lock_site(args.site, "another benchmark")
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
			fill(flow, args.size, args.documents)
			common.say(f"fill: {time.perf_counter() - t:.1f} s")
		result = {"size": args.size, "documents": args.documents, **measure(flow, args.runs)}
		result["parts_s"] = parts(flow)
		result["explain"] = explain(flow)
		print(json.dumps(result, indent=1, default=str))
	finally:
		if not args.keep:
			cleanup()
		frappe.destroy()
		lock.close()


if __name__ == "__main__":
	main()
