#!/usr/bin/env python
"""Sending limits across senders on two hosts (issue 19): are the overall, per-account and
per-domain limits of engine/sending/rate_limits.py held within 5 % when two sender processes send at
once, one of them on another "host" (a Linux network namespace)? A script run on purpose, not
a test.

Run it as root (it makes a network namespace; everything that touches Frappe runs as the bench's
user through runuser), from the bench's `sites` folder, inside the bench's Python:

    cd /home/frappe/frappe-bench/sites && /home/frappe/frappe-bench/env/bin/python \
        /work/main/benchmarks/bench_limits.py --site mf-bench.localhost --snapshot \
        --size 20000 --overall 200 --domain-limit 50 --limited-share 0.25

What it does (see benchmarks/README.md, "Sending limits across hosts"):

1. a network namespace `mf-host2` with a veth pair (10.200.0.1/24 here, 10.200.0.2/24 inside,
   `lo` up, optional netem delay); socat bridges MariaDB (3306), the bench's Redis ports
   (redis_cache, redis_queue) and the SMTP sink's port, so that inside the namespace they are
   reached at 127.0.0.1 exactly as configured, and nothing else is;
2. the SMTP sink of bench_delivery.py (a process of its own, as the bench's user), which keeps
   each Message-Id's acceptance time and recipient domain;
3. baseline: one sender alone, no limits, per host (`--baseline-size`; 0 skips);
4. the limits run: Marketing Flow Settings `max_emails_per_second`, a `Recipient Domain` row
   for the limited domain and optionally an `Email Account` row for the benchmark's account;
   N emails queued (a share of them re-addressed to the limited domain, evenly interleaved),
   then two sender processes (`--child sender`: `send_queued_emails()` again and again, as RQ
   would run the job), one on this host and one in the namespace, told `go` together;
5. at the sink: the acceptance rate overall and per domain in the steady part (from the
   `--warmup`th second after the first acceptance to `--tail` seconds before the first domain
   runs out), the largest 1 s and 5 s windows, per sender process; limit, measured, deviation,
   PASS/FAIL against `--tolerance` (5 %);
6. the settings put back, the data removed, the namespace, veth and socat processes removed:
   at the end, on Ctrl-C or errors, and at the next start after a kill.

Results: a table on stdout, results/limits-<time>.json / .txt (gitignored).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import common  # noqa: E402  (beside this file; imports no Frappe)
from common import BENCH_DIR, RESULTS, SinkClient, SinkProgress, free_port, say  # noqa: E402

PYTHON = str(BENCH_DIR / "env" / "bin" / "python")
FRAPPE_USER = "frappe"
FRAPPE_HOME = "/home/frappe"
FRAPPE_PATH = "/home/frappe/.bench-cli/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
SNAPSHOT_ENV = "MF_DELIVERY_SNAPSHOT"  # bench_delivery.py's: the app copy the processes import
NETNS = "mf-host2"
VETH_ROOT, VETH_NS = "mf-veth0", "mf-veth1"
ROOT_IP, NS_IP = "10.200.0.1", "10.200.0.2"
LIMITED = "slow.mf-limits.example"  # recipients with a domain limit (unique: Redis keys are global)
OPEN = "bench.example.com"  # the shared contacts' domain (common.ensure_contacts): no domain limit
SETTINGS = "Marketing Flow Settings"
PROBE_PORT = 6379  # listening on 127.0.0.1 here, never bridged: refused inside the namespace


# --reserve proposed (the children only; engine/sending/rate_limits.py is not changed): each key moves one
# interval from its own next moment, not from the latest of all keys' moments (the send still
# waits for the latest). The slots of a key that another key made wait are not lost.
PROPOSED_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local at = now
local free = {}
for i, key in ipairs(KEYS) do
	local next_free = tonumber(redis.call('GET', key) or '0')
	if next_free < now then next_free = now end
	free[i] = next_free
	if next_free > at then at = next_free end
end
for i, key in ipairs(KEYS) do
	local after = free[i] + tonumber(ARGV[i])
	redis.call('SET', key, after, 'PX', math.floor((after - now) / 1000) + 60000)
end
return at - now
"""


# -- processes as the bench's user, here or in the namespace ---------------------------------


def frappe_cmd(argv: list[str], netns: bool = False, snapshot: str | None = None) -> list[str]:
	env = [f"HOME={FRAPPE_HOME}", f"PATH={FRAPPE_PATH}", "LANG=C.UTF-8", f"MF_BENCH_DIR={BENCH_DIR}"]
	if snapshot:
		env.append(f"{SNAPSHOT_ENV}={snapshot}")
	cmd = ["/usr/sbin/runuser", "-u", FRAPPE_USER, "--", "env", "-i", *env, PYTHON, *argv]
	return (["ip", "netns", "exec", NETNS] if netns else []) + cmd


def chown(path: Path) -> None:
	import pwd

	user = pwd.getpwnam(FRAPPE_USER)
	try:
		os.chown(path, user.pw_uid, user.pw_gid)
	except OSError:
		pass


def chown_tree(path: Path) -> None:
	for root, dirs, files in os.walk(path):
		chown(Path(root))
		for name in dirs + files:
			chown(Path(root) / name)


class State:
	"""Process groups and netns this run made, in results/limits-pids-<site>.json: a run after
	a kill (SIGKILL) ends them (checked by command line) before it starts."""

	def __init__(self, site: str) -> None:
		self.path = RESULTS / f"limits-pids-{site}.json"
		self.groups: list[int] = []
		self.procs: dict[int, subprocess.Popen] = {}

	def add(self, proc: subprocess.Popen) -> None:
		self.groups.append(proc.pid)
		self.procs[proc.pid] = proc
		self.path.write_text(json.dumps(self.groups))

	def leftovers(self) -> None:
		if self.path.exists():
			self.end(json.loads(self.path.read_text() or "[]"), " left by an earlier run")

	def end_all(self) -> None:
		self.end(self.groups, "")

	def end(self, groups: list[int], why: str) -> None:
		"""End those process groups whose leader is still one of ours (checked by command line)."""
		for pgid in groups:
			proc = self.procs.get(pgid)
			if proc is not None and proc.poll() is not None:
				continue  # ended (and reaped: a zombie would look alive to killpg)
			try:
				cmdline = Path(f"/proc/{pgid}/cmdline").read_bytes().replace(b"\0", b" ")
			except OSError:
				continue
			if b"socat" in cmdline or b"bench_limits.py" in cmdline or b"bench_delivery.py" in cmdline:
				kill_group(pgid, timeout=5, proc=proc)
				if why:
					say(f"cleanup: ended process group {pgid}{why}")
		self.path.unlink(missing_ok=True)


def kill_group(pgid: int, timeout: float = 10, proc: subprocess.Popen | None = None) -> None:
	"""SIGTERM to a process group this script started, SIGKILL after `timeout`."""
	try:
		os.killpg(pgid, signal.SIGTERM)
	except ProcessLookupError:
		return
	end = time.monotonic() + timeout
	while time.monotonic() < end:
		if proc is not None and proc.poll() is not None:
			time.sleep(0.1)  # the leader is gone; its forks (socat's) got the same signal
			return
		try:
			os.killpg(pgid, 0)
		except ProcessLookupError:
			return
		time.sleep(0.1)
	try:
		os.killpg(pgid, signal.SIGKILL)
	except ProcessLookupError:
		pass


def run(cmd: list[str], check: bool = True) -> subprocess.CompletedProcess:
	return subprocess.run(cmd, check=check, capture_output=True, text=True)


# -- the namespace ------------------------------------------------------------------------------


def netns_exists() -> bool:
	return NETNS in run(["ip", "netns", "list"], check=False).stdout.split()


def teardown_netns(state: State | None = None) -> None:
	"""Everything of the namespace: processes still in it (ours: it is this script's), the veth
	pair, the namespace."""
	if netns_exists():
		for pid in run(["ip", "netns", "pids", NETNS], check=False).stdout.split():
			try:
				os.kill(int(pid), signal.SIGTERM)
			except (ProcessLookupError, ValueError):
				pass
		time.sleep(0.3)
		for pid in run(["ip", "netns", "pids", NETNS], check=False).stdout.split():
			try:
				os.kill(int(pid), signal.SIGKILL)
			except (ProcessLookupError, ValueError):
				pass
	if run(["ip", "link", "show", VETH_ROOT], check=False).returncode == 0:
		run(["ip", "link", "del", VETH_ROOT], check=False)
	if netns_exists():
		run(["ip", "netns", "del", NETNS], check=False)


def make_netns(ports: list[int], netem_ms: float, state: State) -> dict:
	"""The second host: a namespace with a veth pair; each port bridged by two socat processes
	(here: 10.200.0.1:port -> 127.0.0.1:port; inside: 127.0.0.1:port -> 10.200.0.1:port)."""
	if not Path("/usr/bin/socat").exists():
		raise SystemExit("socat is missing: apt-get install -y socat")
	run(["ip", "netns", "add", NETNS])
	run(["ip", "link", "add", VETH_ROOT, "type", "veth", "peer", "name", VETH_NS])
	run(["ip", "link", "set", VETH_NS, "netns", NETNS])
	run(["ip", "addr", "add", f"{ROOT_IP}/24", "dev", VETH_ROOT])
	run(["ip", "link", "set", VETH_ROOT, "up"])
	inside = ["ip", "netns", "exec", NETNS]
	run([*inside, "ip", "addr", "add", f"{NS_IP}/24", "dev", VETH_NS])
	run([*inside, "ip", "link", "set", VETH_NS, "up"])
	run([*inside, "ip", "link", "set", "lo", "up"])
	netem = "none asked"
	if netem_ms:  # one way (replies towards the namespace): the round trip is netem_ms longer
		got = run(
			["tc", "qdisc", "add", "dev", VETH_ROOT, "root", "netem", "delay", f"{netem_ms:g}ms"], check=False
		)
		netem = f"delay {netem_ms:g} ms" if got.returncode == 0 else f"not available: {got.stderr.strip()}"
	for port in ports:
		for cmd in (
			["socat", f"TCP-LISTEN:{port},bind={ROOT_IP},fork,reuseaddr", f"TCP:127.0.0.1:{port}"],
			[*inside, "socat", f"TCP-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr", f"TCP:{ROOT_IP}:{port}"],
		):
			proc = subprocess.Popen(cmd, start_new_session=True, stderr=subprocess.DEVNULL)
			state.add(proc)
	end = time.monotonic() + 10
	while time.monotonic() < end:  # every bridge listening, on both sides
		here = run(["ss", "-ltnH"], check=False).stdout
		there = run([*inside, "ss", "-ltnH"], check=False).stdout
		if all(f"{ROOT_IP}:{p} " in here and f"127.0.0.1:{p} " in there for p in ports):
			break
		time.sleep(0.1)
	else:
		raise SystemExit("the socat bridges did not start listening")
	return {
		"netns": NETNS,
		"veth": [VETH_ROOT, VETH_NS],
		"addresses": [f"{ROOT_IP}/24", f"{NS_IP}/24"],
		"bridged_ports": ports,
		"netem": netem,
		"inside_addresses": run([*inside, "ip", "-o", "-4", "addr", "show"], check=False).stdout.strip(),
		"inside_listening": run([*inside, "ss", "-ltnH"], check=False).stdout.strip().splitlines(),
	}


def redis_ports() -> list[int]:
	config = json.loads((BENCH_DIR / "sites" / "common_site_config.json").read_text())
	ports = set()
	for key in ("redis_cache", "redis_queue", "redis_socketio"):
		if config.get(key):
			ports.add(int(config[key].rsplit(":", 1)[1].split("/")[0]))
	return sorted(ports)


# -- the sink (bench_delivery.py's, as the bench's user, on a given port) -----------------------


class LimitSink(SinkClient):
	def __init__(self, port: int, snapshot: str | None, log) -> None:
		proc = subprocess.Popen(
			frappe_cmd(
				[str(HERE / "bench_delivery.py"), "--sink", "--sink-port", str(port), "--sink-delay-ms", "0"],
				snapshot=snapshot,
			),
			stdin=subprocess.PIPE,
			stdout=subprocess.PIPE,
			stderr=log,
			text=True,
			cwd=BENCH_DIR / "sites",
			start_new_session=True,
		)
		super().__init__(proc)

	def kill(self) -> None:
		kill_group(self.proc.pid, proc=self.proc)


# -- inside Frappe (as the bench's user): prepare, restore, the sender child ---------------------


def frappe_side():
	import bench_delivery  # sets the snapshot path first, then imports frappe

	return bench_delivery


def state_file(site: str) -> Path:
	return RESULTS / f"limits-state-{site}.json"


def apply_limits(overall: float, domain_limit: float, account_limit: float, connections: int) -> list:
	import frappe

	bd = frappe_side()
	doc = frappe.get_doc(SETTINGS)
	doc.max_emails_per_second = overall
	doc.smtp_connections = connections
	doc.sender_jobs = 1
	doc.set("sending_limits", [])
	if domain_limit:
		doc.append(
			"sending_limits",
			{"applies_to": "Recipient Domain", "domain": LIMITED, "max_per_second": domain_limit},
		)
	if account_limit:
		doc.append(
			"sending_limits",
			{"applies_to": "Email Account", "email_account": bd.SENDER, "max_per_second": account_limit},
		)
	doc.save(ignore_permissions=True)
	frappe.db.commit()
	return [
		{k: row.get(k) for k in ("applies_to", "email_account", "domain", "max_per_second", "connections")}
		for row in doc.sending_limits
	]


def inner_prepare(args) -> dict:
	"""Settings, account, N emails queued and re-addressed; returns what was done."""
	import frappe

	bd = frappe_side()
	bd.connect(args.site)
	bd.cleanup_run(when=" left by an earlier run")
	if bd.foreign_unsent():
		raise SystemExit(
			f"{bd.foreign_unsent()} unsent Email Queue rows of other accounts: use a site of its own"
		)
	if frappe.are_emails_muted():
		raise SystemExit("emails are muted on this site (mute_emails)")
	path = state_file(args.site)
	settings = frappe.get_doc(SETTINGS)
	if not path.exists():  # the first prepare of a run: what restore puts back
		path.write_text(
			json.dumps(
				{
					"suspend_email_queue": frappe.db.get_default("suspend_email_queue"),
					"max_emails_per_second": settings.max_emails_per_second,
					"smtp_connections": settings.smtp_connections,
					"sender_jobs": settings.sender_jobs,
					"sending_limits": [
						{
							k: row.get(k)
							for k in (
								"applies_to",
								"email_account",
								"domain",
								"max_per_second",
								"connections",
							)
						}
						for row in settings.sending_limits
					],
				},
				default=str,
			)
		)
	frappe.db.set_default("suspend_email_queue", 0)
	frappe.db.commit()
	bd.ensure_account(args.sink_port)
	rows = apply_limits(args.overall, args.domain_limit, args.account_limit, args.connections)
	contacts = common.ensure_contacts(args.size)[: args.size]
	flow = bd.make_flow(f"limits {args.size}")
	started = time.time()
	enrol_seconds = bd.enrol(flow, contacts)
	queued = bd.queue_emails(flow)
	queue_seconds = time.time() - started - enrol_seconds
	# a share of the rows to the limited domain, evenly interleaved in the claim order
	names = frappe.db.sql_list(
		"SELECT name FROM `tabEmail Queue` WHERE email_account = %s ORDER BY creation, name", bd.SENDER
	)
	share = args.limited_share
	chosen = [n for i, n in enumerate(names) if int((i + 1) * share) > int(i * share)]
	for start in range(0, len(chosen), 5000):
		frappe.db.sql(
			"""UPDATE `tabEmail Queue Recipient`
			SET recipient = CONCAT(SUBSTRING_INDEX(recipient, '@', 1), '@', %s)
			WHERE parent IN %s""",
			(LIMITED, chosen[start : start + 5000]),
		)
	frappe.db.commit()
	domains = dict(
		frappe.db.sql(
			"""SELECT SUBSTRING_INDEX(r.recipient, '@', -1), COUNT(*) FROM `tabEmail Queue Recipient` r
			JOIN `tabEmail Queue` q ON q.name = r.parent
			WHERE q.email_account = %s AND q.status = 'Not Sent' GROUP BY 1""",
			bd.SENDER,
		)
	)
	return {
		"flow": flow,
		"queued": queued,
		"domains": domains,
		"sending_limits": rows,
		"enrol_seconds": round(enrol_seconds, 1),
		"queue_seconds": round(queue_seconds, 1),
		"app_dir": str(bd.app_dir()),
		"code": bd.code_fingerprint(),
	}


def inner_restore(args) -> dict:
	"""The settings as they were before the first prepare, the benchmark's data removed."""
	import bench_engine
	import frappe

	bd = frappe_side()
	bd.connect(args.site)
	bd.cleanup_run()
	path = state_file(args.site)
	restored = None
	if path.exists():
		saved = json.loads(path.read_text())
		doc = frappe.get_doc(SETTINGS)
		for key in ("max_emails_per_second", "smtp_connections", "sender_jobs"):
			doc.set(key, saved.get(key))
		doc.set("sending_limits", [])
		for row in saved.get("sending_limits") or []:
			doc.append("sending_limits", row)
		doc.save(ignore_permissions=True)
		frappe.db.set_default("suspend_email_queue", saved.get("suspend_email_queue") or 0)
		frappe.db.commit()
		path.unlink()
		restored = saved
	frappe.delete_doc("Email Account", bd.SENDER, ignore_permissions=True, force=True, ignore_missing=True)
	frappe.db.commit()
	if args.drop_contacts and not frappe.db.exists(
		"Marketing Flow", {"flow_name": ("like", bench_engine.FLOW_PREFIX + "%")}
	):
		common.remove_contacts()
	frappe.destroy()
	return {"restored": restored}


def network_facts(probe_port: int, bridged: list[int]) -> dict:
	"""Where this process is: its network namespace, addresses, what it can reach at 127.0.0.1."""

	def reach(port: int) -> str:
		try:
			with socket.create_connection(("127.0.0.1", port), timeout=1):
				return "open"
		except OSError as e:
			return type(e).__name__

	facts = {
		"netns_inode": os.readlink("/proc/self/ns/net"),
		"netns_name": run(["ip", "netns", "identify", str(os.getpid())], check=False).stdout.strip(),
		"addresses": run(["ip", "-o", "-4", "addr", "show"], check=False).stdout.split("\n"),
		f"127.0.0.1:{probe_port} (not bridged)": reach(probe_port),
	}
	facts["addresses"] = [" ".join(line.split()[1:4]) for line in facts["addresses"] if line.strip()]
	for port in bridged:
		facts[f"127.0.0.1:{port}"] = reach(port)
	return facts


def round_trips() -> dict:
	"""Median round trip of a Redis PING and a MariaDB SELECT 1, in ms (this host's distance)."""
	import statistics

	import frappe

	def median_ms(fn, n=200) -> float:
		times = []
		for _ in range(n):
			t = time.perf_counter()
			fn()
			times.append(time.perf_counter() - t)
		return round(statistics.median(times) * 1000, 3)

	return {
		"redis_ping_ms": median_ms(frappe.cache.ping),
		"mariadb_select1_ms": median_ms(lambda: frappe.db.sql("SELECT 1")),
	}


def run_child(args) -> None:
	"""--child sender: connect, say where it is, wait for `go`, then send_queued_emails() again and
	again (as RQ would run the job) until no row of the benchmark's account is unsent; every
	acceptance timed here too (per process)."""
	bd = frappe_side()
	from marketing_flows.engine.sending import rate_limits, sender

	facts = network_facts(PROBE_PORT, [int(p) for p in args.bridged.split(",") if p])
	if args.reserve == "proposed":
		rate_limits._RESERVE = PROPOSED_RESERVE  # read when a Reserver is made (each job)
	facts["reserve_script"] = args.reserve
	bd.connect(args.site)
	facts.update(round_trips())
	sent: list = []
	waits = {"reservations": 0, "waited": 0, "wait_seconds": 0.0, "max_wait": 0.0}
	original_send, original_reserve = sender.Connection.send, rate_limits.Reserver.reserve

	def send(self, item):
		result = original_send(self, item)
		if result is not None and result.outcome == sender.SENT:  # None: set aside for later
			sent.append((time.time(), item.recipient.rpartition("@")[2].lower()))
		return result

	def reserve(self, keys, hold=None):
		wait = original_reserve(self, keys, hold)
		if keys and wait >= 0:  # < 0: declined (the domain is booked), nothing reserved
			waits["reservations"] += 1
			if wait > 0:
				waits["waited"] += 1
				waits["wait_seconds"] += wait
				waits["max_wait"] = max(waits["max_wait"], wait)
		return wait

	sender.Connection.send = send
	rate_limits.Reserver.reserve = reserve
	print(json.dumps({"ready": True, "host": args.host, "pid": os.getpid(), **facts}), flush=True)
	if sys.stdin.readline().strip() != "go":
		return
	stop = threading.Event()

	def listen() -> None:
		for _ in sys.stdin:
			pass
		stop.set()  # EOF: the parent is gone or wants us to stop

	threading.Thread(target=listen, daemon=True).start()
	started, cpu0 = time.time(), bd.cpu_of_self()
	deadline = time.monotonic() + args.timeout
	accepted = calls = 0
	try:
		while time.monotonic() < deadline and not stop.is_set():
			got = sender.send_queued_emails()
			bd.frappe.db.commit()
			calls += 1
			accepted += got
			if not got:
				if not bd.pending_rows():
					break
				time.sleep(0.05)
	finally:
		per_domain: dict[str, int] = {}
		for _, domain in sent:
			per_domain[domain] = per_domain.get(domain, 0) + 1
		print(
			json.dumps(
				{
					"host": args.host,
					"accepted": accepted,
					"per_domain": per_domain,
					"calls": calls,
					"started": started,
					"finished": time.time(),
					"cpu_seconds": round(bd.cpu_of_self() - cpu0, 2),
					"timed_out": time.monotonic() >= deadline,
					"reserve": {**waits, "wait_seconds": round(waits["wait_seconds"], 2)},
					"times": [[round(t, 4), d] for t, d in sent],
				}
			),
			flush=True,
		)
		bd.frappe.db.rollback()
		bd.frappe.destroy()


# -- the measurement ------------------------------------------------------------------------------


def window_rates(times: list[float], start: float, end: float) -> dict:
	"""Rate in [start, end), and the largest / smallest 1 s and the largest 5 s windows inside."""
	inside = sorted(t for t in times if start <= t < end)
	span = max(end - start, 1e-9)
	seconds = int(span)
	bins = [0] * max(seconds, 1)
	for t in inside:
		i = int(t - start)
		if i < seconds:
			bins[i] += 1
	five = [sum(bins[i : i + 5]) / 5 for i in range(0, max(len(bins) - 4, 1))]
	return {
		"count": len(inside),
		"per_s": round(len(inside) / span, 2),
		"max_1s": max(bins) if inside else 0,
		"min_1s": min(bins) if inside else 0,
		"max_5s": round(max(five), 1) if inside else 0,
	}


def verdict(measured: dict, limit: float, tolerance: float) -> dict:
	dev = (measured["per_s"] - limit) / limit * 100
	ok = abs(dev) <= tolerance and measured["max_5s"] <= limit * (1 + tolerance / 100)
	return {"limit": limit, **measured, "deviation_pct": round(dev, 2), "pass": ok}


def analyse(sink_times: list, children: dict, args, warmup: float, tail: float) -> dict:
	times = sorted(sink_times)
	if not times:
		return {"error": "nothing accepted"}
	first = times[0][0]
	last = {d: max(t for t, dd in times if dd == d) for d in {d for _, d in times}}
	start, end = first + warmup, min(last.values()) - tail
	out: dict = {
		"first": first,
		"last": max(last.values()),
		"steady_from_s": warmup,
		"steady_to_s": round(end - first, 2),
		"steady_seconds": round(end - start, 2),
		"first_second": sum(1 for t, _ in times if t < first + 1),
		"all_domains_until_s": {d: round(t - first, 2) for d, t in last.items()},
	}
	if end - start < 5:
		out["note"] = "steady window under 5 s: too short to judge"
	overall_limits = [x for x in (args.overall, args.account_limit) if x > 0]
	effective = min(overall_limits) if overall_limits else 0
	rows = {}
	all_rates = window_rates([t for t, _ in times], start, end)
	if effective:
		label = "overall" if effective == args.overall else "account"
		rows[f"all ({label} limit)"] = verdict(all_rates, effective, args.tolerance)
		if args.overall and args.account_limit and args.overall != args.account_limit:
			rows["all (the other, looser limit)"] = {
				"limit": max(overall_limits),
				**all_rates,
				"note": "not binding",
			}
	else:
		rows["all (no limit)"] = all_rates
	limited = window_rates([t for t, d in times if d == LIMITED], start, end)
	if args.domain_limit:
		rows[f"{LIMITED} (domain limit)"] = verdict(limited, args.domain_limit, args.tolerance)
	else:
		rows[LIMITED] = limited
	open_rates = window_rates([t for t, d in times if d == OPEN], start, end)
	if effective and args.domain_limit and effective > args.domain_limit:
		rows[f"{OPEN} (no domain limit: the rest of the overall)"] = verdict(
			open_rates, effective - args.domain_limit, args.tolerance
		)
	else:
		rows[OPEN] = open_rates
	out["rows"] = rows
	per_host = {}
	for host, child in children.items():
		ctimes = child.get("times") or []
		per_host[host] = {
			"accepted": child.get("accepted"),
			"per_domain": child.get("per_domain"),
			"steady": window_rates([t for t, _ in ctimes], start, end),
			"steady_per_domain": {
				d: window_rates([t for t, dd in ctimes if dd == d], start, end)["per_s"]
				for d in sorted({d for _, d in ctimes})
			},
			"cpu_seconds": child.get("cpu_seconds"),
			"reserve": child.get("reserve"),
			"timed_out": child.get("timed_out"),
		}
	out["per_host"] = per_host
	out["pass"] = all(r.get("pass", True) for r in rows.values()) and "note" not in out
	return out


# -- the orchestration (root) ---------------------------------------------------------------------


class Runner:
	def __init__(self, args, state: State, snapshot: str | None, log, bridged: list[int]) -> None:
		self.args, self.state, self.snapshot, self.log, self.bridged = args, state, snapshot, log, bridged
		self.children: list[subprocess.Popen] = []

	def inner(self, what: str, **extra) -> dict:
		"""`prepare` / `restore` as the bench's user; its output is passed on, its result parsed."""
		a = self.args
		argv = [
			__file__,
			"--site",
			a.site,
			"--inner",
			what,
			"--size",
			str(extra.get("size", a.size)),
			"--overall",
			str(extra.get("overall", a.overall)),
			"--domain-limit",
			str(extra.get("domain_limit", a.domain_limit)),
			"--account-limit",
			str(extra.get("account_limit", a.account_limit)),
			"--limited-share",
			str(a.limited_share),
			"--connections",
			str(a.connections),
			"--sink-port",
			str(extra.get("sink_port", 0)),
		]
		if extra.get("drop_contacts"):
			argv.append("--drop-contacts")
		proc = subprocess.Popen(
			frappe_cmd(argv, snapshot=self.snapshot),
			stdout=subprocess.PIPE,
			stderr=self.log,
			text=True,
			cwd=BENCH_DIR / "sites",
		)
		result = None
		for line in proc.stdout:
			if line.startswith("RESULT "):
				result = json.loads(line[7:])
			else:
				print(line, end="", flush=True)
		if proc.wait() != 0 or result is None:
			raise SystemExit(f"{what} failed (status {proc.returncode}): see {self.log.name}")
		return result

	def senders(self, hosts: list[str], sink: LimitSink, n: int) -> dict:
		"""Sender children on `hosts` (host1: here; host2: in the namespace), `go` together."""
		procs = {}
		for host in hosts:
			argv = [
				__file__,
				"--site",
				self.args.site,
				"--child",
				"sender",
				"--host",
				host,
				"--bridged",
				",".join(map(str, self.bridged)),
				"--timeout",
				str(self.args.timeout),
				"--reserve",
				self.args.reserve,
			]
			proc = subprocess.Popen(
				frappe_cmd(argv, netns=host == "host2", snapshot=self.snapshot),
				stdin=subprocess.PIPE,
				stdout=subprocess.PIPE,
				stderr=self.log,
				text=True,
				cwd=BENCH_DIR / "sites",
				start_new_session=True,  # Ctrl-C reaches this script, which stops them
			)
			self.state.add(proc)
			self.children.append(proc)
			procs[host] = proc
		ready = {}
		for host, proc in procs.items():
			line = ""
			while not line.startswith("{"):
				line = proc.stdout.readline()
				if not line:
					raise SystemExit(f"the sender on {host} did not start: see {self.log.name}")
			ready[host] = json.loads(line)
			facts = {k: v for k, v in ready[host].items() if k not in ("ready",)}
			say(f"  {host} ready: {json.dumps(facts)}")
		sink.ask("reset")
		progress = SinkProgress(sink, n, every=10)
		go = time.time()
		for proc in procs.values():
			proc.stdin.write("go\n")
			proc.stdin.flush()
		progress.start()
		results = {}
		outputs: dict[str, list[str]] = {host: [] for host in procs}
		# stdout read in threads, stdin left open (communicate() would close it: EOF tells a
		# child to stop)
		readers = [
			threading.Thread(target=lambda p=proc, o=outputs[host]: o.extend(p.stdout), daemon=True)
			for host, proc in procs.items()
		]
		for reader in readers:
			reader.start()
		try:
			end = time.monotonic() + self.args.timeout + 120
			for (host, proc), reader in zip(procs.items(), readers, strict=True):
				try:
					proc.wait(timeout=max(1, end - time.monotonic()))
				except subprocess.TimeoutExpired:
					kill_group(proc.pid, proc=proc)
				reader.join(timeout=10)
				lines = [x for x in outputs[host] if x.startswith("{")]
				results[host] = (
					json.loads(lines[-1]) if lines else {"error": f"no result: see {self.log.name}"}
				)
		finally:
			progress.stop()
		stats = sink.ask("stats")
		times = sink.ask("times")["times"]
		return {"go": go, "ready": ready, "children": results, "sink": stats, "sink_times": times}

	def stop_children(self) -> None:
		for proc in self.children:
			if proc.poll() is None:
				try:
					proc.stdin.close()  # EOF: the child stops after its current call
				except OSError:
					pass
		for proc in self.children:
			try:
				proc.wait(timeout=20)
			except subprocess.TimeoutExpired:
				kill_group(proc.pid, proc=proc)


def fmt_rows(rows: dict) -> list[str]:
	lines = [
		f"  {'what':<58} {'limit':>7} {'measured/s':>10} {'dev %':>7} {'max 1s':>6} {'max 5s':>7} {'':>5}",
	]
	for label, r in rows.items():
		limit = r.get("limit")
		dev = r.get("deviation_pct")
		verdict_ = "" if "pass" not in r else ("PASS" if r["pass"] else "FAIL")
		lines.append(
			f"  {label:<58} {limit if limit is not None else '-':>7} {r['per_s']:>10.1f} "
			f"{dev if dev is not None else '-':>7} {r['max_1s']:>6} {r['max_5s']:>7} {verdict_:>5}"
			+ (f"  ({r['note']})" if r.get("note") else "")
		)
	return lines


def report(results: dict) -> str:
	lines = [""]
	for b in results.get("baselines", []):
		lines.append(
			f"baseline, one sender alone on {b['host']}, no limit: {b['accepted']} in {b['seconds']} s = "
			f"{b['per_s']}/s (steady {b['steady_per_s']}/s, from the {results['args']['warmup']:g}th second)"
		)
	run_ = results.get("limits")
	if run_:
		a = results["args"]
		lines.append(
			f"limits run: {run_['queued']} emails ({', '.join(f'{d} {n}' for d, n in run_['domains'].items())}), "
			f"overall {a['overall']:g}/s, {LIMITED} {a['domain_limit']:g}/s, account {a['account_limit']:g}/s "
			f"(0: none); two senders, {a['connections']} connections each; reserve script: {a.get('reserve', 'app')}"
		)
		m = run_.get("measure") or {}
		if m.get("rows"):
			lines.append(
				f"steady window: {m['steady_from_s']:g} s to {m['steady_to_s']:g} s after the first acceptance "
				f"({m['steady_seconds']} s); first second: {m['first_second']} accepted; "
				f"each domain's last acceptance at {m['all_domains_until_s']} s"
			)
			lines += fmt_rows(m["rows"])
			for host, h in m["per_host"].items():
				lines.append(
					f"  sender on {host}: {h['accepted']} accepted {h['per_domain']}, steady {h['steady']['per_s']}/s "
					f"{h['steady_per_domain']}, cpu {h['cpu_seconds']} s, reservations that waited "
					f"{(h.get('reserve') or {}).get('waited')} of {(h.get('reserve') or {}).get('reservations')} "
					f"(max wait {round((h.get('reserve') or {}).get('max_wait', 0), 3)} s)"
				)
			lines.append(
				f"sink: {run_['sink']['unique']} distinct Message-Ids, {run_['sink']['repeats']} repeats; "
				f"verdict (all within {a['tolerance']:g} %): {'PASS' if m['pass'] else 'FAIL'}"
			)
			if m.get("note"):
				lines.append(f"note: {m['note']}")
	for note in results.get("notes", []):
		lines.append(f"note: {note}")
	return "\n".join(lines)


def orchestrate(args) -> None:
	if os.geteuid() != 0:
		raise SystemExit(
			"run it as root: it makes a network namespace (Frappe's parts run as the bench's user)"
		)
	RESULTS.mkdir(parents=True, exist_ok=True)
	chown(RESULTS)
	import fcntl

	lock_path = RESULTS / f"bench-{args.site}.lock"  # bench_engine / bench_delivery's lock
	lock = open(lock_path, "a")
	chown(lock_path)
	try:
		fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
	except BlockingIOError:
		raise SystemExit(f"another benchmark is using {args.site}: wait for it to end") from None
	signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
	stamp = time.strftime("%Y%m%d-%H%M%S")
	log_path = RESULTS / f"limits-{stamp}.log"
	log = open(log_path, "ab")
	chown(log_path)
	state = State(args.site)
	state.leftovers()
	teardown_netns()
	snapshot = None
	if args.snapshot:
		bd = frappe_side()
		snapshot = str(bd.take_snapshot())
		chown_tree(Path(snapshot))
		os.chmod(snapshot, 0o755)
	results: dict = {
		"site": args.site,
		"started": stamp,
		"args": vars(args),
		"nproc": os.cpu_count(),
		"loadavg_start": os.getloadavg(),
		"snapshot": snapshot,
		"baselines": [],
		"notes": [],
	}
	out_file = RESULTS / f"limits-{stamp}.json"

	def save() -> None:
		out_file.write_text(json.dumps(results, indent=1, default=str))
		chown(out_file)

	sink = None
	runner = None
	bridged: list[int] = []
	try:
		port = free_port()
		bridged = [3306, *redis_ports(), port]
		probe = run(["ss", "-ltnH"], check=False).stdout
		if f"127.0.0.1:{PROBE_PORT} " not in probe:
			results["notes"].append(f"127.0.0.1:{PROBE_PORT} is not listening here: the probe proves less")
		results["netns"] = make_netns(bridged, args.netem_ms, state)
		say(f"namespace {NETNS}: {results['netns']['inside_addresses']!r}; bridged {bridged}")
		sink = LimitSink(port, snapshot, log)
		state.add(sink.proc)
		runner = Runner(args, state, snapshot, log, bridged)
		for host in [h for h in args.baseline_hosts.split(",") if h] if args.baseline_size else []:
			say(f"baseline on {host}: {args.baseline_size} emails, no limit")
			prep = runner.inner(
				"prepare", size=args.baseline_size, overall=0, domain_limit=0, account_limit=0, sink_port=port
			)
			if prep["queued"] != args.baseline_size:
				raise SystemExit(f"baseline: {prep['queued']} queued of {args.baseline_size}")
			got = runner.senders([host], sink, prep["queued"])
			times = sorted(t for t, _ in got["sink_times"])
			if not times:
				raise SystemExit(
					f"baseline on {host}: nothing accepted; the sender said {got['children'][host]}"
				)
			first, last = times[0], times[-1]
			warm = args.warmup if last - first > 3 * (args.warmup + args.tail) else 0
			steady = window_rates(times, first + warm, last - (args.tail if warm else 0))
			b = {
				"host": host,
				"queued": prep["queued"],
				"accepted": len(times),
				"seconds": round(last - first, 2),
				"per_s": round(len(times) / max(last - first, 1e-9), 1),
				"steady_per_s": steady["per_s"],
				"ready": got["ready"][host],
				"child": {k: v for k, v in got["children"][host].items() if k != "times"},
			}
			results["baselines"].append(b)
			say(
				f"  baseline {host}: {b['per_s']}/s ({b['accepted']} in {b['seconds']} s, steady {b['steady_per_s']}/s)"
			)
			save()
		say(
			f"limits: {args.size} emails, overall {args.overall:g}/s, {LIMITED} {args.domain_limit:g}/s "
			f"({args.limited_share:.0%} of them), account {args.account_limit:g}/s; senders on host1 and host2"
		)
		prep = runner.inner("prepare", sink_port=port)
		say(f"  queued {prep['queued']} ({prep['domains']}), app {prep['code']} from {prep['app_dir']}")
		got = runner.senders(["host1", "host2"], sink, prep["queued"])
		run_ = {
			**prep,
			"sink": got["sink"],
			"ready": got["ready"],
			"children": {h: {k: v for k, v in c.items() if k != "times"} for h, c in got["children"].items()},
		}
		run_["measure"] = analyse(got["sink_times"], got["children"], args, args.warmup, args.tail)
		if args.keep_times:
			run_["sink_times"] = got["sink_times"]
		results["limits"] = run_
		save()
	finally:
		if runner:
			runner.stop_children()
		if sink:
			sink.stop()
		try:
			if runner:
				runner.inner("restore", drop_contacts=not args.keep_contacts)
				say("settings restored, data removed")
		except BaseException as e:  # noqa: BLE001 (the namespace must go all the same)
			results["notes"].append(f"restore failed: {e}")
		state.end_all()
		teardown_netns()
		say(f"namespace {NETNS} and bridges removed: {'still there!' if netns_exists() else 'gone'}")
		results["finished"] = time.strftime("%Y%m%d-%H%M%S")
		results["loadavg_end"] = os.getloadavg()
		save()
		text = report(results)
		print(text, flush=True)
		txt = RESULTS / f"limits-{stamp}.txt"
		txt.write_text(text + "\n")
		chown(txt)
		say(f"results: {out_file}")
		if snapshot:
			import shutil

			shutil.rmtree(snapshot, ignore_errors=True)


def main() -> None:
	parser = argparse.ArgumentParser(
		description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
	)
	parser.add_argument("--site")
	parser.add_argument("--size", type=int, default=20000, help="emails of the limits run")
	parser.add_argument("--overall", type=float, default=200, help="max_emails_per_second (0: none)")
	parser.add_argument("--domain-limit", type=float, default=50, help=f"per second to {LIMITED} (0: none)")
	parser.add_argument(
		"--account-limit", type=float, default=0, help="per second for the benchmark's account"
	)
	parser.add_argument(
		"--limited-share", type=float, default=0.25, help=f"share of the emails addressed to {LIMITED}"
	)
	parser.add_argument("--connections", type=int, default=4, help="smtp_connections of each sender")
	parser.add_argument("--baseline-size", type=int, default=5000, help="emails per baseline run (0: none)")
	parser.add_argument(
		"--baseline-hosts", default="host1,host2", help="where a sender runs alone, unlimited"
	)
	parser.add_argument(
		"--netem-ms", type=float, default=1.0, help="delay on the veth towards host2 (0: none)"
	)
	parser.add_argument(
		"--warmup", type=float, default=5, help="seconds after the first acceptance not counted"
	)
	parser.add_argument(
		"--tail", type=float, default=1, help="seconds before the first domain runs out not counted"
	)
	parser.add_argument("--tolerance", type=float, default=5, help="percent")
	parser.add_argument("--timeout", type=float, default=420, help="seconds of sending per sender, at most")
	parser.add_argument(
		"--reserve",
		choices=("app", "proposed"),
		default="app",
		help="the senders' Redis script: the app's (rate_limits._RESERVE) or the fix proposed here",
	)
	parser.add_argument(
		"--snapshot", action="store_true", help="run every process on a private copy of the app"
	)
	parser.add_argument(
		"--keep-contacts", action="store_true", help="keep bench_engine's contacts at the end"
	)
	parser.add_argument("--keep-times", action="store_true", help="store every acceptance time in the JSON")
	parser.add_argument("--report", help="print the table of an earlier results/limits-*.json")
	parser.add_argument("--inner", choices=("prepare", "restore"), help=argparse.SUPPRESS)
	parser.add_argument("--child", choices=("sender",), help=argparse.SUPPRESS)
	parser.add_argument("--host", default="host1", help=argparse.SUPPRESS)
	parser.add_argument("--bridged", default="", help=argparse.SUPPRESS)
	parser.add_argument("--sink-port", type=int, default=0, help=argparse.SUPPRESS)
	parser.add_argument("--drop-contacts", action="store_true", help=argparse.SUPPRESS)
	args = parser.parse_args()
	if args.report:
		print(report(json.loads(Path(args.report).read_text())))
		return
	if not args.site:
		parser.error("--site is required")
	if args.child:
		run_child(args)
	elif args.inner == "prepare":
		result = inner_prepare(args)
		print("RESULT " + json.dumps(result, default=str), flush=True)
		import frappe

		frappe.destroy()
	elif args.inner == "restore":
		print("RESULT " + json.dumps(inner_restore(args), default=str), flush=True)
	else:
		orchestrate(args)


if __name__ == "__main__":
	main()
