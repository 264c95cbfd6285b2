"""The outbox: every call to the outside world (webhook, SMS gateway) is recorded before and
after the call, each record committed at once on a database connection of its own.

The runner's batch transaction may still roll back after a call (a later participant's error,
an RQ timeout, a deadlock, a killed worker); the outbox row survives it. When the participant
comes to the same step again (same participation, same visit: the same idempotency key):
- the call was confirmed: it is not made again, the recorded result is used;
- the call was started but its outcome is unknown (the worker died during it, or the request
  went out and no answer came back in time: a read timeout, a connection cut mid-exchange, the
  job's own RQ timeout): it is made again with the same Idempotency-Key header, and counted in
  `unknown_outcomes`;
- it failed (nothing was sent, or the other side answered with an error): it is tried again until
  the flow's tries are used up; the count lives here, so a rollback can't make a failing call be
  tried forever. Every try, whatever its outcome, counts against the tries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import frappe
import pymysql
import requests
from frappe.utils import now_datetime
from rq.timeouts import JobTimeoutException
from urllib3.exceptions import NewConnectionError

TABLE = "`tabMarketing Flow Outbox`"
CALLING, CONFIRMED, FAILED = "Calling", "Confirmed", "Failed"

_connections: dict[str, pymysql.connections.Connection] = {}


class OutsideCallFailed(Exception):
	"""The call failed (or was given up); `attempts` is the committed count of tries so far."""

	def __init__(self, message: str, attempts: int, final: bool = False) -> None:
		super().__init__(message)
		self.attempts = attempts
		self.final = final


@dataclass
class Call:
	key: str  # the idempotency key: participant, step and visit
	flow: str
	participant: str
	step_id: str
	channel: str  # Webhook, SMS
	target: str  # URL or number, for the record


def _connection() -> pymysql.connections.Connection:
	"""An autocommit connection to the site's database, apart from `frappe.db`'s transaction."""
	site = frappe.local.site
	conn = _connections.get(site)
	if conn is not None:
		try:
			conn.ping(reconnect=True)
			return conn
		except pymysql.MySQLError:
			_connections.pop(site, None)
	settings = frappe.db.get_connection_settings()
	conn = pymysql.connect(**settings, autocommit=True, read_timeout=30, write_timeout=30)
	_connections[site] = conn
	return conn


def _execute(query: str, values: tuple) -> list[dict]:
	with _connection().cursor(pymysql.cursors.DictCursor) as cursor:
		cursor.execute(query, values)
		return list(cursor.fetchall() or [])


def get(key: str) -> dict | None:
	rows = _execute(f"SELECT * FROM {TABLE} WHERE name = %s", (key,))
	return rows[0] if rows else None


def _record_start(call: Call, attempts: int, unknown: int) -> None:
	now = now_datetime()
	user = frappe.session.user if getattr(frappe.local, "session", None) else "Administrator"
	_execute(
		f"""INSERT INTO {TABLE} (name, flow, participant, step_id, channel, target, status, attempts,
			unknown_outcomes, last_error, creation, modified, owner, modified_by, docstatus)
		VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, NULL, %s, %s, %s, %s, 0)
		ON DUPLICATE KEY UPDATE status = VALUES(status), attempts = VALUES(attempts),
			unknown_outcomes = VALUES(unknown_outcomes), modified = VALUES(modified)""",
		(
			call.key,
			call.flow,
			call.participant,
			call.step_id,
			call.channel,
			call.target[:140],
			CALLING,
			attempts,
			unknown,
			now,
			now,
			user,
			user,
		),
	)


def _record_end(
	key: str, status: str, unknown: int, result: str | None = None, error: str | None = None
) -> None:
	_execute(
		f"""UPDATE {TABLE} SET status = %s, unknown_outcomes = %s, result = %s, last_error = %s, modified = %s
		WHERE name = %s""",
		(status, unknown, (result or "")[:140] or None, (error or "")[:1000] or None, now_datetime(), key),
	)


def outcome_unknown(error: BaseException) -> bool:
	"""Did the request go out without an answer coming back? Then the other side may have acted
	on it: a retry must be counted as a repeat. A refused or timed-out connection sent nothing."""
	if isinstance(error, requests.exceptions.ConnectTimeout):
		return False
	if isinstance(error, requests.exceptions.Timeout):  # ReadTimeout: sent, no answer in time
		return True
	if isinstance(error, requests.exceptions.ConnectionError):
		cause = error.args[0] if error.args else None
		return not isinstance(getattr(cause, "reason", cause), NewConnectionError)
	return isinstance(error, JobTimeoutException)  # the job's time ran out during the call


def call_once(call: Call, send: Callable[[], str], max_attempts: int) -> str:
	"""Make the call unless it was confirmed before; returns the result summary. Raises
	OutsideCallFailed (with the committed number of tries) when it fails or was given up."""
	row = get(call.key)
	if row and row["status"] == CONFIRMED:
		return row["result"] or ""
	attempts = int(row["attempts"]) if row else 0
	if attempts >= max_attempts:
		raise OutsideCallFailed(
			f"gave up after {attempts} tries: {(row or {}).get('last_error') or 'outcome unknown'}",
			attempts,
			final=True,
		)
	unknown = int(row["unknown_outcomes"]) if row else 0
	if row and row["status"] == CALLING:
		unknown += 1  # the last try started and never recorded an end: its outcome is unknown
	_record_start(call, attempts + 1, unknown)
	try:
		result = send()
	except Exception as e:
		message = f"{type(e).__name__}: {e}"
		if outcome_unknown(e):
			unknown += 1  # the request went out, the answer never came: the retry is a repeat
		_record_end(call.key, FAILED, unknown, error=message)
		raise OutsideCallFailed(message, attempts + 1, final=attempts + 1 >= max_attempts) from e
	_record_end(call.key, CONFIRMED, unknown, result=result)
	return result


def reset_tries(participant_names: list[str]) -> None:
	"""Retry Stalled gives a fresh set of tries: unconfirmed calls of these participants start
	counting again (confirmed calls stay confirmed and are still never repeated)."""
	if not participant_names:
		return
	o = frappe.qb.DocType("Marketing Flow Outbox")
	(
		frappe.qb.update(o)
		.set(o.attempts, 0)
		.where(o.participant.isin(participant_names) & (o.status != CONFIRMED))
	).run()
