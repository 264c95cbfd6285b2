"""The sender: flow emails leave as soon as a flow has queued them, over SMTP connections kept open.

Frappe's own flush runs every 4 minutes, takes 500 rows and opens a connection per email: about
2 emails a second. Flow emails (Email Queue rows whose reference is a participant) are sent here
instead, by sender jobs that the mailer wakes when it queues rows and the scheduler wakes every
minute while rows wait:

- a job claims rows with SELECT ... FOR UPDATE SKIP LOCKED and marks them "Sending" with a lease
  (`mf_lease_until`), so no two jobs, on any host, take the same row;
- each Email Account gets N connections (threads, each with its own SMTP session, reused for
  every message); each send first reserves its moment under the rate limits (rate_limits.py);
  a message to a recipient domain with no moment free soon is set aside (`SetAside`) and the
  connection sends others meanwhile, so mail to other domains never waits behind a slow one;
- what the SMTP server answered is written back in bulk: "Sent" on acceptance; a 5xx answer is
  final ("Error"; delivery.py calls it a bounce); a 4xx answer is retried later with backoff,
  up to Frappe's email retry limit; a connection that fails gives the rows back unsent, with the
  error recorded, without spending a retry;
- a job killed while it sends leaves its rows "Sending" until their lease runs out: those the
  acceptance journal (in Redis) knows were accepted are recorded as sent; the others are sent
  again with the same Message-Id, counted in `mf_resends` and the participant's log, never
  silently (a repeat happens only for a message accepted in the instant of the kill).

The Email Queue stays the record: its statuses, errors and retries mean what they mean in Frappe.
"""

from __future__ import annotations

import heapq
import itertools
import queue
import re
import smtplib
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import dkim
import frappe
from frappe.email.doctype.email_queue.email_queue import SendMailContext, get_email_retry_limit
from frappe.email.smtp import SMTPServer
from frappe.utils import cint, now_datetime

from marketing_flows.engine import log
from marketing_flows.engine.running import job_slots
from marketing_flows.engine.sending import delivery, rate_limits

if TYPE_CHECKING:
	from frappe.model.document import Document

PARTICIPANT = "Marketing Flow Participant"
SENDER_JOB = "marketing_flows.engine.sending.sender.send_queued_emails"
QUEUE = "short"  # ahead of the runner's "default": a free worker sends before it runs more steps
BUDGET_SECONDS = 240  # a sender job hands over after this; RQ's timeout is larger
LEASE_SECONDS = 300  # a claimed row not recorded by then is taken again (site config:
# marketing_flows_sender_lease_seconds)
RECORD_SECONDS = 0.5  # results are written (and committed) at least this often
WINDOW = 400  # rows in flight per account and job, at most
RATE_WINDOW_SECONDS = 10  # ... and at most this many seconds of sending at a limited rate
RETRY_BACKOFF_SECONDS = 60  # 4xx answers: 1, 2, 4... minutes
CONNECT_BACKOFF_SECONDS = 30  # rows given back after a connection failure wait this long
# A job that has sent this many and finds nothing due waits up to LINGER_SECONDS for more,
# looking every LINGER_POLL_SECONDS, before it ends (and its connections close): while a large
# flow is queuing, one job and its connections serve it all instead of one job per batch.
LINGER_AFTER = 100
LINGER_SECONDS = 5.0
LINGER_POLL_SECONDS = 0.25
UNREACHABLE_MARKED = 50  # rows that say why, when an account's server can't be reached
ACCOUNTS_SECONDS = 1.0  # which accounts have rows waiting is asked at most this often
HOLD_SECONDS = 0.05  # a connection waits at most this long for a limited domain's moment
POLL_SECONDS = 0.02  # an idle connection looks at the messages set aside this often
DEADLOCK_TRIES = 5  # recording answers after a deadlock with another sender

RELEASE_SECONDS = 2.0  # a job keeps at most this much of a limited domain's sending set aside
SENT, RETRY, FAILED, UNSENT, LATER = "sent", "retry", "failed", "unsent", "later"


@dataclass
class Outgoing:
	"""One claimed Email Queue row, ready for the wire."""

	name: str
	account: str | None  # None: the default outgoing Email Account
	sender: str
	recipient: str
	message: bytes
	retry: int


@dataclass
class Result:
	item: Outgoing
	outcome: str
	error: str = ""
	after: float = 0.0  # LATER: due again in this many seconds


# --- waking the sender -----------------------------------------------------------------------


def lease_seconds() -> int:
	"""LEASE_SECONDS, or `marketing_flows_sender_lease_seconds` from the site config (at least
	30: a lease must outlast the sending of the rows claimed under it)."""
	return max(30, cint(frappe.conf.get("marketing_flows_sender_lease_seconds")) or LEASE_SECONDS)


def sender_jobs() -> int:
	return max(1, cint(frappe.db.get_single_value("Marketing Flow Settings", "sender_jobs")) or 1)


def sender_job_ids(slot: int) -> job_slots.Slot:
	"""A slot's two job ids (job_slots: a job whose budget is spent hands over to the other)."""
	first = f"marketing_flows:send:{slot}"
	return first, f"{first}:next"


def wake() -> None:
	"""Make sure the sender jobs run once this transaction commits (each slot at most once)."""
	job_slots.wake([sender_job_ids(slot) for slot in range(sender_jobs())], _enqueue)


def _enqueue(job_id: str) -> None:
	frappe.enqueue(
		SENDER_JOB,
		queue=QUEUE,
		timeout=BUDGET_SECONDS + lease_seconds(),
		job_id=job_id,
		deduplicate=True,
		enqueue_after_commit=True,
	)


BACKLOG_SQL = """SELECT name FROM `tabEmail Queue`
	WHERE reference_doctype = %(ref)s AND status = 'Not Sent'
		AND (send_after IS NULL OR send_after <= %(now)s)
	UNION ALL
	SELECT name FROM `tabEmail Queue`
	WHERE reference_doctype = %(ref)s AND status = 'Sending' AND mf_lease_until < %(now)s
	LIMIT 1"""


def schedule_sender() -> None:
	"""Scheduler (every minute): wake the sender when flow emails wait (a retry that is due, a
	lease that ran out, rows queued while no job ran)."""
	if frappe.db.sql(BACKLOG_SQL, {"ref": PARTICIPANT, "now": now_datetime()}):
		wake()
		frappe.db.commit()


# --- the acceptance journal ------------------------------------------------------------------
# A connection writes each acceptance to Redis before it takes the next message; the database
# learns of it at the next record (every RECORD_SECONDS). A job killed in between leaves rows
# "Sending" that the journal says were accepted: they are recorded, not sent again. Only a
# message accepted in the instant before a kill, before its journal write, can go twice: at
# most one per connection and kill.

JOURNAL_SECONDS = LEASE_SECONDS * 12  # long enough for any lease to run out and be claimed


def journal_key(site: str, name: str) -> str:
	return f"mf:accepted:{site}:{name}"


def accepted_before(names: list[str]) -> set[str]:
	"""Those of `names` the journal says an SMTP server accepted."""
	if not names:
		return set()
	site = frappe.local.site
	found = frappe.cache.mget([journal_key(site, n) for n in names])
	return {name for name, hit in zip(names, found, strict=True) if hit}


def forget_accepted(names: list[str]) -> None:
	if names:
		site = frappe.local.site
		frappe.cache.delete(*[journal_key(site, n) for n in names])


# --- claiming --------------------------------------------------------------------------------

# Read from the index alone (whether the rows are due is the claim's question).
ACCOUNTS_SQL = """SELECT DISTINCT email_account FROM `tabEmail Queue`
	WHERE reference_doctype = %(ref)s AND status IN ('Not Sent', 'Sending')"""

# The index (reference_doctype, email_account, status, creation) serves both claims: equality on
# the first three, in creation order, so only the rows returned are read and locked.
CLAIM_SQL = """SELECT name, sender, message, retry, reference_name, attachments, status
	FROM `tabEmail Queue`
	WHERE reference_doctype = %(ref)s AND email_account <=> %(account)s AND status = %(status)s
		AND {due}
	ORDER BY creation
	LIMIT %(limit)s
	FOR UPDATE SKIP LOCKED"""
_DUE_NEW = "(send_after IS NULL OR send_after <= %(now)s)"
_DUE_LEASE = "mf_lease_until < %(now)s"


def accounts_with_work() -> list[str | None]:
	"""Email Accounts with flow emails not sent yet (due or not)."""
	return frappe.db.sql(ACCOUNTS_SQL, {"ref": PARTICIPANT}, pluck=True)


def claim(account: str | None, limit: int, now: datetime) -> list[Outgoing]:
	"""Take up to `limit` rows of `account` that are due, or whose lease ran out, and lease them
	to this job (committed). Rows taken again after a lost lease are counted and logged."""
	params = {"ref": PARTICIPANT, "account": account, "now": now, "limit": limit}
	expired = frappe.db.sql(CLAIM_SQL.format(due=_DUE_LEASE), {**params, "status": "Sending"}, as_dict=True)
	done: list[str] = []
	if expired:
		done = sorted(accepted_before([r.name for r in expired]))
		if done:  # accepted before their job stopped: recorded now, not sent again
			_mark_sent(done, now)
			delivery.sync_delivery_status(done)
			expired = [r for r in expired if r.name not in set(done)]
	rows = expired + frappe.db.sql(
		CLAIM_SQL.format(due=_DUE_NEW),
		{**params, "status": "Not Sent", "limit": max(0, limit - len(expired))},
		as_dict=True,
	)
	if not rows:
		frappe.db.commit()
		forget_accepted(done)  # once the database has them
		return []
	names = [r.name for r in rows]
	q = frappe.qb.DocType("Email Queue")
	frappe.qb.update(q).set(q.status, "Sending").set(
		q.mf_lease_until, now + timedelta(seconds=lease_seconds())
	).where(q.name.isin(names)).run()
	if expired:
		frappe.qb.update(q).set(q.mf_resends, q.mf_resends + 1).where(
			q.name.isin([r.name for r in expired])
		).run()
		_log_resends(expired)
	recipients = dict(
		frappe.db.sql(
			"""SELECT parent, recipient FROM `tabEmail Queue Recipient`
			WHERE parent IN %(names)s AND status = 'Not Sent' ORDER BY idx""",
			{"names": names},
		)
	)
	frappe.db.commit()
	forget_accepted(done)  # once the database has them
	items = []
	for r in rows:
		if r.name not in recipients:  # nobody left to send to (sent before a crash): done
			frappe.db.set_value("Email Queue", r.name, {"status": "Sent", "mf_lease_until": None})
			continue
		message = _with_attachments(r.name, recipients[r.name]) if r.attachments else r.message
		items.append(
			Outgoing(
				name=r.name,
				account=account,
				sender=r.sender,
				recipient=recipients[r.name],
				message=_wire(message),
				retry=cint(r.retry),
			)
		)
	frappe.db.commit()
	return items


_EOL = re.compile(rb"\r\n|\n|\r")


def _wire(message: str | bytes) -> bytes:
	"""The message with CRLF line ends, as SMTP wants them (the Email Queue stores LF)."""
	data = message.encode("utf-8") if isinstance(message, str) else message
	return _EOL.sub(b"\r\n", data)


def _with_attachments(name: str, recipient: str) -> bytes:
	"""Frappe adds the files of a queued email when it sends it: so do we, with its code."""
	return with_attachments(frappe.get_doc("Email Queue", name), recipient)


def with_attachments(queue_doc: Document, recipient: str) -> bytes:
	"""The message of an Email Queue row (stored or not: a test send has none) with its files
	added, by Frappe's own code."""
	return SendMailContext(queue_doc).build_message(recipient)


def _log_resends(rows: list) -> None:
	"""A row whose lease ran out may have reached the server before its sender stopped: it is
	sent again under the same Message-Id, and the participant's log says so."""
	people = [r.reference_name for r in rows if r.reference_name]
	if not people:
		return
	p = frappe.qb.DocType(PARTICIPANT)
	info = {
		r.name: r
		for r in frappe.qb.from_(p)
		.select(p.name, p.flow, p.contact)
		.where(p.name.isin(people))
		.run(as_dict=True)
	}
	steps = log.email_steps({r.reference_name: r.name for r in rows if r.reference_name})
	entries = []
	for r in rows:
		person = info.get(r.reference_name)
		if person:
			entries.append(
				log.entry(
					person.flow,
					person.name,
					person.contact,
					steps.get(person.name),
					"Retry",
					"The email's sender stopped before the mail server's answer was recorded: "
					"sent again with the same Message-Id (the person may get it twice).",
					reference_doctype="Email Queue",
					reference_name=r.name,
				)
			)
	log.write_many(entries)


# --- connections ---------------------------------------------------------------------------


class SetAside:
	"""Messages to a limited recipient domain whose next moment is more than HOLD_SECONDS
	away: kept aside until then, so that the account's connections send other mail meanwhile
	(head-of-line: one slow domain in the queue held every connection, and every other domain
	went at that domain's pace). Shared by the account's connections. What is kept per domain
	is bounded (RELEASE_SECONDS of its rate): beyond, messages go back to the Email Queue, due
	when the domain has room, so they don't fill the job's window either."""

	def __init__(self) -> None:
		self.lock = threading.Lock()
		self.heap: list[tuple[float, int, Outgoing, str]] = []
		self.order = itertools.count()
		self.per_domain: dict[str, int] = {}
		self.given_back: dict[str, int] = {}  # per domain, by this job

	def put(self, item: Outgoing, domain: str, seconds: float) -> None:
		with self.lock:
			heapq.heappush(self.heap, (time.monotonic() + seconds, next(self.order), item, domain))
			self.per_domain[domain] = self.per_domain.get(domain, 0) + 1

	def count(self, domain: str) -> int:
		with self.lock:
			return self.per_domain.get(domain, 0)

	def give_back(self, domain: str) -> int:
		"""Count one more message of `domain` given back to the Email Queue; returns how many
		this job gave back before it."""
		with self.lock:
			before = self.given_back.get(domain, 0)
			self.given_back[domain] = before + 1
			return before

	def ready(self) -> Outgoing | None:
		"""The message set aside whose moment has come, if any."""
		with self.lock:
			if self.heap and self.heap[0][0] <= time.monotonic():
				_, _, item, domain = heapq.heappop(self.heap)
				self.per_domain[domain] -= 1
				return item
		return None

	def drain(self) -> list[Outgoing]:
		with self.lock:
			items = [entry[2] for entry in self.heap]
			self.heap.clear()
			self.per_domain.clear()
		return items


class Connection(threading.Thread):
	"""One SMTP session, reused for every message this thread sends. Touches no database: it
	takes messages from its account's queue (or those set aside whose moment has come) and puts
	what the server answered in `results`."""

	def __init__(
		self,
		session: smtplib.SMTP,
		tasks: queue.Queue,
		aside: SetAside,
		results: queue.Queue,
		limits: rate_limits.SendingLimits,
		reserver: rate_limits.Reserver,
		account_key: str,
	) -> None:
		super().__init__(daemon=True)
		self.session = session
		self.tasks = tasks
		self.aside = aside
		self.results = results
		self.limits = limits
		self.reserver = reserver
		self.account_key = account_key
		self.broken = False
		self.journal = frappe.cache  # the Redis client (thread-safe); `frappe.local` is not
		self.site = frappe.local.site

	def run(self) -> None:
		while not self.broken:  # a broken connection stops taking messages; the others go on
			item = self.aside.ready()
			if item is None:
				try:
					item = self.tasks.get(timeout=POLL_SECONDS)
				except queue.Empty:
					continue
				if item is None:  # AccountPool.close
					break
			result = self.send(item)
			if result is not None:
				self.results.put(result)
		try:
			self.session.quit()
		except Exception:
			pass

	def send(self, item: Outgoing) -> Result | None:
		"""What the server answered; None when the message was set aside for later."""
		try:
			keys = self.limits.keys_for(self.account_key, item.account or "", item.recipient)
			domain_rate = self.limits.domain_rate(item.recipient)
			wait = self.reserver.reserve(keys, HOLD_SECONDS if domain_rate else None)
			if wait < 0:  # its domain is booked for longer: send others meanwhile
				domain = rate_limits.domain_of(item.recipient)
				waiting = self.aside.count(domain)
				if waiting >= domain_rate * RELEASE_SECONDS:  # enough of it kept here
					# due again one RELEASE_SECONDS on, spread over the domain's moments in it
					spread = self.aside.give_back(domain) % max(1, int(waiting))
					return Result(item, LATER, after=(waiting + spread) / domain_rate)
				self.aside.put(item, domain, max(0.0, -wait - HOLD_SECONDS / 2))
				return None
			if wait > 0:
				time.sleep(wait)
			refused = self.session.sendmail(item.sender, [item.recipient], item.message)
		except smtplib.SMTPRecipientsRefused as e:
			code, text = next(iter(e.recipients.values()), (550, b""))
			return self._answer(item, code, text, "SMTPRecipientsRefused")
		except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as e:
			if e.smtp_code == 421:  # the server closes the connection: try again elsewhere
				self.broken = True
				return Result(item, UNSENT, _text(e.smtp_code, e.smtp_error))
			return self._answer(item, e.smtp_code, e.smtp_error, type(e).__name__)
		except Exception as e:  # disconnected, timed out, refused: this connection is done
			self.broken = True
			return Result(item, UNSENT, f"{type(e).__name__}: {e}")
		if refused:
			code, text = next(iter(refused.values()))
			return self._answer(item, code, text, "SMTPRecipientsRefused")
		try:
			self.journal.set(journal_key(self.site, item.name), 1, ex=JOURNAL_SECONDS)
		except Exception:
			pass  # recorded in the database at the next record all the same
		return Result(item, SENT)

	@staticmethod
	def _answer(item: Outgoing, code: int, text: bytes | str, kind: str) -> Result:
		return Result(item, FAILED if cint(code) >= 500 else RETRY, f"{kind}: {_text(code, text)}")


def _text(code: int, text: bytes | str) -> str:
	if isinstance(text, bytes):
		text = text.decode("utf-8", "replace")
	return f"{code} {text}".strip()


class AccountPool:
	"""The connections of one Email Account in this job, and the messages waiting for them."""

	def __init__(
		self,
		account: str | None,
		limits: rate_limits.SendingLimits,
		reserver: rate_limits.Reserver,
		results: queue.Queue,
	) -> None:
		self.account = account
		self.connect_error = ""
		try:
			self.doc = _account_doc(account)
		except Exception as e:  # deleted, or no default outgoing account: said on the rows
			self.doc = None
			self.connect_error = f"{type(e).__name__}: {e}"
		self.limits = limits
		self.reserver = reserver
		self.results = results
		self.tasks: queue.Queue = queue.Queue()
		self.aside = SetAside()
		self.threads: list[Connection] = []
		self.in_flight = 0
		doc = self.doc or frappe._dict()
		self.key = f"{doc.login_id or doc.email_id}@{doc.smtp_server}:{doc.smtp_port or ''}"
		rate = limits.accounts.get(account or "", 0)
		overall = limits.overall
		slowest = min([r for r in (rate, overall) if r > 0], default=0)
		self.window = min(WINDOW, max(1, int(slowest * RATE_WINDOW_SECONDS))) if slowest else WINDOW
		self.retry_connect_at = 0.0
		self.dkim = _dkim_key(self.doc) if self.doc else None
		# the envelope sender (MAIL FROM): the account's own address, whatever the From header
		# says (From = Person's Owner, mailer.from_and_reply_to): the server it logs in to sends
		# for its own address, and bounces come back to the account
		self.envelope = (self.doc.email_id if self.doc else None) or None

	def room(self) -> int:
		return max(0, self.window - self.in_flight)

	def live(self) -> int:
		return sum(1 for t in self.threads if t.is_alive() and not t.broken)

	def ensure_connections(self) -> bool:
		"""Open connections up to the account's number (in this thread: Frappe reads the
		password and may log in with OAuth). False when none can be opened now."""
		self.threads = [t for t in self.threads if t.is_alive() and not t.broken]
		if self.doc is None:
			return False
		want = self.limits.connections_for(self.account or "")
		if len(self.threads) >= want or time.monotonic() < self.retry_connect_at:
			return bool(self.threads)
		while len(self.threads) < want:
			try:
				session = SMTPServer(**self.doc.sendmail_config()).session
			except Exception as e:
				self.connect_error = f"{type(e).__name__}: {e}"
				self.retry_connect_at = time.monotonic() + 5
				break
			thread = Connection(
				session, self.tasks, self.aside, self.results, self.limits, self.reserver, self.key
			)
			thread.start()
			self.threads.append(thread)
		return bool(self.threads)

	def submit(self, items: list[Outgoing]) -> None:
		for item in items:
			if self.envelope:
				item.sender = self.envelope
			if self.dkim:
				item.message = dkim_signed(item.message, *self.dkim)
			self.tasks.put(item)
		self.in_flight += len(items)

	def take_back(self) -> list[Outgoing]:
		"""Messages no connection will send (all of them broke)."""
		items = self.aside.drain()
		while True:
			try:
				item = self.tasks.get_nowait()
			except queue.Empty:
				return items
			if item is not None:
				items.append(item)

	def close(self) -> None:
		for thread in self.threads:
			if thread.is_alive():
				self.tasks.put(None)
		for thread in self.threads:
			thread.join(timeout=30)


DKIM_HEADERS = [
	b"from",
	b"to",
	b"subject",
	b"date",
	b"message-id",
	b"mime-version",
	b"content-type",
	b"list-unsubscribe",
	b"list-unsubscribe-post",
]


def _dkim_key(doc: Document) -> tuple[bytes, bytes, bytes] | None:
	"""(selector, domain, private key) when the account signs its flow emails."""
	domain, selector = doc.get("mf_dkim_domain"), doc.get("mf_dkim_selector")
	if not (domain and selector and doc.get("mf_dkim_private_key")):
		return None
	key = doc.get_password("mf_dkim_private_key", raise_exception=False)
	return (selector.strip().encode(), domain.strip().encode(), key.encode()) if key else None


def dkim_signed(message: bytes, selector: bytes, domain: bytes, key: bytes) -> bytes:
	"""`message` with a DKIM-Signature header (relaxed/simple, rsa-sha256, as dkimpy signs)."""
	return dkim.sign(message, selector, domain, key, include_headers=DKIM_HEADERS) + message


def _account_doc(account: str | None):
	if account:
		return frappe.get_doc("Email Account", account)
	from frappe.email.doctype.email_account.email_account import EmailAccount

	return EmailAccount.find_outgoing(_raise_error=True)


# --- recording -----------------------------------------------------------------------------


def record(results: list[Result], now: datetime) -> None:
	"""Write what the servers answered onto the Email Queue rows and their recipients, pass it
	on to the participants (delivery.py), and commit."""
	if not results:
		return
	sent = [x.item.name for x in results if x.outcome == SENT]
	_mark_sent(sent, now)
	limit = get_email_retry_limit()
	for x in results:
		if x.outcome == SENT:
			continue
		values: dict[str, Any] = {"mf_lease_until": None, "error": x.error[:10000], "modified": now}
		if x.outcome == FAILED or (x.outcome == RETRY and x.item.retry + 1 >= limit):
			values["status"] = "Error"
		elif x.outcome == RETRY:
			values.update(
				status="Not Sent",
				retry=x.item.retry + 1,
				send_after=now + timedelta(seconds=RETRY_BACKOFF_SECONDS * 2**x.item.retry),
			)
		elif x.outcome == LATER:  # its domain's limit: due again when the domain has room
			values.update(status="Not Sent", send_after=now + timedelta(seconds=x.after), error=None)
		else:  # UNSENT: the connection failed, not the message
			values.update(status="Not Sent", send_after=now + timedelta(seconds=CONNECT_BACKOFF_SECONDS))
		frappe.db.set_value("Email Queue", x.item.name, values, update_modified=False)
	final = [x.item.name for x in results if x.outcome in (SENT, FAILED)] + [
		x.item.name for x in results if x.outcome == RETRY and x.item.retry + 1 >= limit
	]
	frappe.db.commit()
	forget_accepted(sent)
	if final:
		delivery.sync_delivery_status(final)
		frappe.db.commit()


def _mark_sent(names: list[str], now: datetime) -> None:
	if not names:
		return
	q = frappe.qb.DocType("Email Queue")
	r = frappe.qb.DocType("Email Queue Recipient")
	frappe.qb.update(q).set(q.status, "Sent").set(q.mf_lease_until, None).set(q.modified, now).where(
		q.name.isin(names)
	).run()
	frappe.qb.update(r).set(r.status, "Sent").set(r.modified, now).where(
		(r.parenttype == "Email Queue") & r.parent.isin(names)
	).run()


# --- the job -------------------------------------------------------------------------------


def send_queued_emails() -> int:
	"""Background job: send flow emails until none is due or the time budget is spent (then the
	slot is handed over). Returns how many the servers accepted."""
	if frappe.are_emails_muted() or cint(frappe.db.get_default("suspend_email_queue")) == 1:
		return 0
	frappe.db.sql("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
	frappe.db.commit()
	return Sender(time.monotonic() + BUDGET_SECONDS).run()


class Sender:
	"""One job's loop: claim for every account with room, collect answers, record them."""

	def __init__(self, deadline: float) -> None:
		self.deadline = deadline
		self.limits = rate_limits.load()
		self.reserver = rate_limits.Reserver()
		self.results: queue.Queue = queue.Queue()
		self.pools: dict[str | None, AccountPool] = {}
		self.accepted = 0
		self.accounts: list[str | None] = []
		self.accounts_checked_at = -ACCOUNTS_SECONDS
		self.idle_until: dict[str | None, float] = {}  # account -> nothing due at its last claim
		self.later_until = 0.0  # rows given back for a limited domain are due by then

	def run(self) -> int:
		pending: list[Result] = []
		last_record = time.monotonic()
		idle_since = None
		try:
			while True:
				out_of_time = time.monotonic() >= self.deadline
				claimed = 0 if out_of_time else self.claim_round()
				in_flight = sum(p.in_flight for p in self.pools.values())
				if not claimed and not in_flight:
					# nothing due: a job in a large send keeps its connections open a little
					# longer for what the flows queue next; any other job ends
					self.record(pending)
					pending = []
					idle_since = idle_since or time.monotonic()
					if out_of_time or (
						(self.accepted < LINGER_AFTER or time.monotonic() - idle_since >= LINGER_SECONDS)
						and time.monotonic() >= self.later_until  # what it gave back for later
					):
						if self.later_until and not out_of_time:
							# what it gave back is due now: one more look that no earlier look
							# (an account marked idle, its list of accounts) can skip
							self.later_until = 0.0
							self.idle_until.clear()
							self.accounts_checked_at = -ACCOUNTS_SECONDS
							continue
						break
					time.sleep(LINGER_POLL_SECONDS)
					continue
				idle_since = None
				pending += self.collect(timeout=0.05 if claimed else RECORD_SECONDS)
				for pool in self.pools.values():
					if pool.in_flight and not pool.live():
						pending += self.give_back(pool)
				if pending and (time.monotonic() - last_record >= RECORD_SECONDS or not in_flight):
					self.record(pending)
					pending, last_record = [], time.monotonic()
			self.record(pending)
		finally:
			for pool in self.pools.values():
				pool.close()
			frappe.db.rollback()
		if time.monotonic() >= self.deadline:
			if not job_slots.hand_over([sender_job_ids(slot) for slot in range(sender_jobs())], _enqueue):
				wake()
			frappe.db.commit()
		return self.accepted

	def claim_round(self) -> int:
		"""Claim for each account with work and room; returns how many rows were claimed."""
		now, clock = now_datetime(), time.monotonic()
		if clock >= self.accounts_checked_at + ACCOUNTS_SECONDS:
			self.accounts = accounts_with_work()
			self.accounts_checked_at = clock
			frappe.db.commit()
		claimed = 0
		for account in self.accounts:
			if self.idle_until.get(account, 0) > clock:
				continue
			pool = self.pools.get(account)
			if pool is None:
				pool = self.pools[account] = AccountPool(account, self.limits, self.reserver, self.results)
			if pool.room() < min(pool.window, 50) // 2:
				continue
			if not pool.ensure_connections():
				claimed += self.unreachable(pool, now)
				continue
			try:
				items = claim(account, pool.room(), now)
			except (frappe.QueryDeadlockError, frappe.QueryTimeoutError):
				# another sender claims or records the same index range: its rows, then ours
				frappe.db.rollback()
				continue
			if not items:
				self.idle_until[account] = clock + ACCOUNTS_SECONDS  # nothing due: look again later
			pool.submit(items)
			claimed += len(items)
		return claimed

	def unreachable(self, pool: AccountPool, now: datetime) -> int:
		"""The account's server can't be reached: said in the Error Log, and on the first rows
		(given back unsent, due again later, no retry spent); this job leaves the account alone,
		the scheduler's next tick tries again. Returns how many rows were marked."""
		self.idle_until[pool.account] = self.deadline
		frappe.log_error(
			title=f"Marketing Flows: can't send through Email Account {pool.account}",
			message=pool.connect_error,
		)
		items = claim(pool.account, UNREACHABLE_MARKED, now)
		self.record([Result(item, UNSENT, pool.connect_error) for item in items])
		return len(items)

	def collect(self, timeout: float) -> list[Result]:
		"""The answers that came in, waiting up to `timeout` for the first."""
		got = []
		try:
			got.append(self.results.get(timeout=timeout))
			while True:
				got.append(self.results.get_nowait())
		except queue.Empty:
			pass
		for result in got:
			self.pools[result.item.account].in_flight -= 1
		return got

	def give_back(self, pool: AccountPool) -> list[Result]:
		"""Every connection of the account broke: its waiting messages go back unsent."""
		if pool.ensure_connections():
			return []
		items = pool.take_back()
		pool.in_flight -= len(items)
		error = pool.connect_error or "SMTP connection lost"
		return [Result(item, UNSENT, error) for item in items]

	def record(self, results: list[Result]) -> None:
		"""Write the answers (committed); a deadlock with another sender is tried again, the
		answers are never dropped for it."""
		if not results:
			return
		for attempt in range(DEADLOCK_TRIES):
			try:
				record(results, now_datetime())
				break
			except (frappe.QueryDeadlockError, frappe.QueryTimeoutError):
				frappe.db.rollback()
				if attempt == DEADLOCK_TRIES - 1:
					raise
				time.sleep(0.05 * (attempt + 1))
		self.accepted += sum(1 for x in results if x.outcome == SENT)
		# given back for a limited domain: due `after` seconds from the write; this job stays
		# until then to send them
		later = [x.after for x in results if x.outcome == LATER]
		if later:
			self.later_until = max(self.later_until, time.monotonic() + max(later) + 0.2)
