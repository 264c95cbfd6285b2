"""Replies to flow emails: an incoming email (the Communication Frappe makes of mail it pulls,
frappe/email/receive.py InboundMail) that answers a flow email is logged "Replied" on the
participation it answers, whether or not anyone waits for it, and releases a Wait for Action
that waits for a reply (actions.py). Conditions and Split branches of type Replied read it.

Which flow email it answers: Frappe matches the reply's In-Reply-To to the Message-Id of the
Email Queue row it answers (InboundMail.parent_email_queue: flow emails carry the site in their
Message-Id) and links the Communication to that row's reference, which for a flow email is its
participant. Else (a mail client that dropped the header, an Email Queue row purged since), the
reply is matched by its sender, the participant's address, and its subject: a reply prefix
("Re:", "AW:", "SV:", ...) before the subject of a flow email sent to them.

The hook (doc_events Communication after_insert) costs mail that answers no flow email a few
attribute reads, or one indexed query (participants by email) when its subject starts with a
reply prefix; the logging and the release are done by a job after the Communication commits,
which waits for a participant the runner is working on without holding up the mail's pull."""

from __future__ import annotations

import re
from datetime import datetime
from email.parser import HeaderParser
from email.policy import default as default_policy
from typing import TYPE_CHECKING

import frappe

from marketing_flows.engine import log
from marketing_flows.engine.measuring import actions, tracking

if TYPE_CHECKING:
	from frappe.model.document import Document

PARTICIPANT = "Marketing Flow Participant"
REPLIED = "Replied"
MAX_PEOPLE = 50  # participations of one address looked at for a reply matched by its subject
# "Re:", "RE[2]:", "AW:", "SV:", "Antw:", "VS:", "Res:", "R:", repeated
_REPLY_PREFIX = re.compile(r"^\s*((re|aw|sv|vs|antw|antwort|res|r)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)
_SPACES = re.compile(r"\s+")


def is_reply_subject(subject: str | None) -> bool:
	return bool(subject and _REPLY_PREFIX.match(subject))


def plain_subject(subject: str | None) -> str:
	"""The subject without its reply prefixes, spaces folded, lower case: what is compared."""
	return _SPACES.sub(" ", _REPLY_PREFIX.sub("", subject or "")).strip().lower()


# --- the hook --------------------------------------------------------------------------------


def on_communication(doc: Document, method: str | None = None) -> None:
	"""doc_events Communication after_insert: a received email that may answer a flow email
	queues `record_replies` after the commit. Never fails the mail's pull."""
	if (
		doc.get("communication_type") != "Communication"
		or doc.get("communication_medium") != "Email"
		or doc.get("sent_or_received") != "Received"
	):
		return
	flags = frappe.flags
	if flags.in_install or flags.in_migrate or flags.in_patch or flags.in_uninstall:
		return
	try:
		threaded = doc.get("reference_doctype") == PARTICIPANT and bool(doc.get("reference_name"))
		if threaded:
			names = [doc.reference_name]
		elif doc.get("sender") and is_reply_subject(doc.get("subject")):
			names = frappe.get_all(
				PARTICIPANT,
				filters={"email": doc.sender, "sent_marketing_email": 1},
				pluck="name",
				order_by="creation desc",
				limit=MAX_PEOPLE,
			)
		else:
			return
		if names:
			frappe.enqueue(
				"marketing_flows.engine.measuring.replies.record_replies",
				queue="default",
				enqueue_after_commit=True,
				communication=doc.name,
				participants=names,
				threaded=threaded,
			)
	except Exception:
		frappe.log_error(title="Marketing Flows: could not look at an incoming email for flow replies")


# --- the job ---------------------------------------------------------------------------------


def record_replies(communication: str, participants: list[str], threaded: bool = False) -> int:
	"""Background job: log "Replied" (once per Communication) on each participation the email
	answers, and release its Wait for Action when it waits for a reply. `threaded`: Frappe
	matched it to the participant's email by its In-Reply-To; else it counts only when its
	subject answers a flow email sent to the participant. Returns how many were logged."""
	comm = frappe.db.get_value(
		"Communication", communication, ["name", "subject", "sender", "creation"], as_dict=True
	)
	if not comm:
		return 0
	logged = 0
	for name in participants:
		frappe.db.savepoint("mf_reply")
		try:
			if record_reply(name, comm, threaded):
				logged += 1
		except Exception:
			frappe.db.rollback(save_point="mf_reply")
			frappe.log_error(
				title=f"Marketing Flows: the reply {communication} could not be recorded",
				reference_doctype=PARTICIPANT,
				reference_name=name,
			)
	frappe.db.commit()
	return logged


def record_reply(participant_name: str, comm: frappe._dict, threaded: bool) -> bool:
	"""One participation: log the reply and release its wait. False when the email answers none
	of its emails, or was logged already."""
	answered = answered_step(participant_name, comm.subject, comm.creation, threaded)
	if answered is None:
		return False
	p = frappe.qb.DocType(PARTICIPANT)
	rows = (
		frappe.qb.from_(p)
		.select(p.name, p.flow, p.contact, p.flow_version)
		.where(p.name == participant_name)
		.for_update()
		.run(as_dict=True)
	)
	if not rows or frappe.db.exists(
		"Marketing Flow Log",
		{"participant": participant_name, "event": REPLIED, "reference_name": comm.name},
	):
		return False
	row = rows[0]
	subject = tracking.plain_text(comm.subject, 140)
	log.write(
		row.flow,
		row.name,
		row.contact,
		answered or None,
		REPLIED,
		subject,
		reference_doctype="Communication",
		reference_name=comm.name,
		version=row.flow_version or None,
	)
	actions.release(row.name, actions.REPLIED, subject)
	return True


def answered_step(
	participant_name: str, subject: str | None, received: datetime | None, threaded: bool
) -> str | None:
	"""The step whose email the reply answers ("" when threaded but not told which), None when
	it answers none: the flow email with the same subject, else (threaded) the latest sent
	before the reply."""
	lg = frappe.qb.DocType("Marketing Flow Log")
	sent = (
		frappe.qb.from_(lg)
		.select(lg.step_id, lg.reference_name, lg.creation)
		.where(
			(lg.participant == participant_name)
			& (lg.event == "Email Sent")
			& (lg.reference_doctype == "Email Queue")
		)
		.orderby(lg.name, order=frappe.qb.desc)
		.limit(MAX_PEOPLE)
		.run(as_dict=True)
	)
	wanted = plain_subject(subject)
	if sent and wanted:
		subjects = _subjects([row.reference_name for row in sent])
		for row in sent:
			if plain_subject(subjects.get(row.reference_name)) == wanted:
				return row.step_id or ""
	if not threaded:
		return None
	before = [row for row in sent if not received or row.creation <= received]
	return (before[0].step_id if before else "") or ""


def _subjects(queues: list[str]) -> dict[str, str]:
	"""Email Queue row -> the subject of its message (decoded), for the rows still kept."""
	rows = frappe.get_all("Email Queue", filters={"name": ("in", queues)}, fields=["name", "message"])
	parser = HeaderParser(policy=default_policy)
	found = {}
	for row in rows:
		try:
			found[row.name] = str(parser.parsestr(row.message or "", headersonly=True)["Subject"] or "")
		except Exception:
			continue  # an unreadable header: no subject to compare
	return found
