"""Distribute to Owner: give the person (or their company) an owner, the next user of the step's
list in turn (round robin), as the host has owners (owners.py: a lead's `lead_owner`, a CRM
deal's `deal_owner`, a Customer's account manager, else Frappe's assignment), only if they have
none yet unless told otherwise; disabled users are passed over, and the fallback user takes
them when nobody of the list can.

Whose turn it is lives in the database, so it survives restarts and is shared by every worker:
it is the number of "Owner Assigned" entries of this step in the flow's log (committed ones, and
this batch's own, not written yet). A batch that distributes locks the step's row first (FOR
UPDATE, until it commits): a second worker's batch waits there, then counts with a locking read,
which sees the first one's committed entries. Two workers never give the same turn twice, and a
batch that rolls back gives its turns back with its assignments."""

from __future__ import annotations

from typing import TYPE_CHECKING

import frappe
from frappe import _

from marketing_flows.engine.hosts import company_links, doctype_roles, owners
from marketing_flows.engine.steps.base import Outcome, StepContext, StepType

if TYPE_CHECKING:
	from marketing_flows.engine.doctypes import MarketingFlow, MarketingFlowStep

PERSON, COMPANY = "Person", "Company"
OWNER_ASSIGNED = "Owner Assigned"


def users_of(step: MarketingFlowStep) -> list[str]:
	"""The step's users, one per line (commas too), each once, in order."""
	text = (step.get("distribute_users") or "").replace(",", "\n")
	return list(dict.fromkeys(u.strip() for u in text.splitlines() if u.strip()))


def assigned_so_far(flow: str, step_id: str, lock: bool) -> int:
	"""How many owners this step gave so far (its committed "Owner Assigned" log entries).
	`lock`: first lock the step's row, then count with a locking read (the latest committed
	entries, not this transaction's older snapshot)."""
	if lock:
		frappe.db.sql(
			"""SELECT name FROM `tabMarketing Flow Step`
			WHERE parent = %s AND parenttype = 'Marketing Flow' AND step_id = %s FOR UPDATE""",
			(flow, step_id),
		)
	query = """SELECT COUNT(*) FROM `tabMarketing Flow Log`
		WHERE flow = %s AND step_id = %s AND event = %s"""
	return frappe.db.sql(query + (" LOCK IN SHARE MODE" if lock else ""), (flow, step_id, OWNER_ASSIGNED))[0][
		0
	]


class DistributeToOwner(StepType):
	name = "Distribute to Owner"

	def validate(self, step: MarketingFlowStep, flow: MarketingFlow) -> list[str]:
		errors = super().validate(step, flow)
		what = _("Distribute to Owner step '{0}'").format(step.step_id)
		users = users_of(step)
		if not users and not step.get("distribute_fallback"):
			errors.append(_("{0}: list the users who take turns, one per line.").format(what))
		if users:
			known = set(frappe.get_all("User", filters={"name": ("in", users)}, pluck="name"))
			if missing := [u for u in users if u not in known]:
				errors.append(_("{0}: no user {1}.").format(what, ", ".join(missing)))
		if problem := owners.user_problem(step.get("distribute_fallback")):
			errors.append(_("{0}: Fallback User: {1}").format(what, problem))
		if step.get("distribute_to") == COMPANY and not doctype_roles.doctype_for("company"):
			errors.append(
				_("{0}: this site has no company doctype: choose one in Marketing Flow Settings.").format(
					what
				)
			)
		return errors

	def execute(self, ctx: StepContext) -> Outcome:
		target = self.target(ctx)
		if target is None:
			return Outcome(
				ctx.next_step,
				event="Step Skipped",
				message=_("No company: the {0} is linked to none").format(_(ctx.flow.person_doctype)),
			)
		doctype, name = target
		what = f"{_(doctype)} {name}"
		current = owners.owner_of(doctype, name, lock=not ctx.dry_run)  # two workers: one waits
		only_unowned = ctx.step.get("distribute_only_unowned")
		if only_unowned is None:
			only_unowned = 1  # the field's default
		if current and int(only_unowned) and owners.enabled_users([current]):
			return Outcome(
				ctx.next_step,
				event="Step Skipped",
				message=_("Kept owner {0}: {1} has one already").format(current, what),
			)
		user, note = self.next_user(ctx)
		if not user:
			return Outcome(
				ctx.next_step,
				event="Step Skipped",
				message=_("Nobody to give {0} to: {1}").format(what, note),
			)
		if user != current and not ctx.dry_run:
			owners.assign(
				doctype,
				name,
				user,
				ctx.flow.name,
				_("Assigned by marketing flow {0}").format(ctx.flow.flow_name),
			)
		self.took_turn(ctx)
		message = _("{0} to {1}").format(what, user)
		if user == current:
			message += " " + _("(already the owner)")
		if note:
			message += f" ({note})"
		if ctx.dry_run:
			message = _("would give {0}").format(message)
		return Outcome(ctx.next_step, event=OWNER_ASSIGNED, message=message, reference=(doctype, name))

	def target(self, ctx: StepContext) -> tuple[str, str] | None:
		"""(doctype, name) of the record to give an owner; None: no company to give one to."""
		person_dt = ctx.flow.person_doctype
		if ctx.step.get("distribute_to") != COMPANY:
			return person_dt, ctx.participant["person"]
		company_dt = ctx.participant.get("company_doctype") or doctype_roles.doctype_for("company")
		if not company_dt:
			return None
		company = ctx.participant.get("company") or company_links.companies_of(
			[ctx.participant["person"]], person_dt
		).get(ctx.participant["person"])
		return (company_dt, company) if company else None

	def next_user(self, ctx: StepContext) -> tuple[str | None, str]:
		"""Whose turn it is among the enabled users of the list; else the fallback user (and why)."""
		users = owners.enabled_users(users_of(ctx.step))
		if users:
			return users[self.turn(ctx) % len(users)], ""
		fallback = ctx.step.get("distribute_fallback")
		note = _("nobody of the list is enabled")
		if fallback and owners.enabled_users([fallback]):
			return fallback, _("{0}: the fallback user").format(note)
		return None, note + (
			"; " + _("the fallback user {0} is disabled").format(fallback) if fallback else ""
		)

	def turn(self, ctx: StepContext) -> int:
		"""The number of owners this step gave so far, this batch's included."""
		turns = ctx.memo.setdefault("owner_turns", {})
		if ctx.step.step_id not in turns:
			turns[ctx.step.step_id] = assigned_so_far(ctx.flow.name, ctx.step.step_id, lock=not ctx.dry_run)
		return turns[ctx.step.step_id]

	def took_turn(self, ctx: StepContext) -> None:
		turns = ctx.memo.setdefault("owner_turns", {})
		turns[ctx.step.step_id] = self.turn(ctx) + 1


HANDLERS = (DistributeToOwner(),)
