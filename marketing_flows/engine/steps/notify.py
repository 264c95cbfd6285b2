"""Notify by Email / Notify by SMS: an internal message about the participant to a user, to every
enabled user of a role, or to the person's owner (owners.py; a fallback user when they have
none), with Jinja on the participant ("Hot lead: {{ person.full_name }} clicked the price page").

Not marketing: no sending window, no unsubscribe link, no tracking, nothing counted as sent to
the person. The email is a plain Frappe email (Email Queue, sent by Frappe's own flush) from the
flow's default sender, queued in the batch's transaction: it exists once the batch commits, and
never if the batch rolls back. Each SMS is an outside call through the outbox, one per
recipient: a retry sends only those not confirmed yet."""

from __future__ import annotations

import hashlib
from email.utils import formataddr
from typing import TYPE_CHECKING

import frappe
from frappe import _
from frappe.utils import cint, escape_html, get_url_to_form

from marketing_flows.engine.hosts import doctype_roles, owners
from marketing_flows.engine.sending import mailer, outbox, render, sms
from marketing_flows.engine.steps.base import Outcome, StepContext, StepType

if TYPE_CHECKING:
	from marketing_flows.engine.doctypes import MarketingFlow, MarketingFlowStep

USER, ROLE, OWNER = "User", "Role", "Person's Owner"


def role_choices() -> list[str]:
	"""The roles a Notify step may name (the designer's picker): desk roles, enabled, not the
	automatic ones every user has (All, Guest, Desk User) nor Administrator."""
	return frappe.get_all(
		"Role",
		filters={
			"disabled": 0,
			"desk_access": 1,
			"name": ("not in", ("All", "Guest", "Desk User", "Administrator")),
		},
		pluck="name",
		order_by="name",
	)


class _Notify(StepType):
	may_change_goals = False
	required = (("notify_message", "Message"),)
	how = ""  # "email" / "SMS", in messages

	def validate(self, step: MarketingFlowStep, flow: MarketingFlow) -> list[str]:
		errors = super().validate(step, flow)
		what = _("{0} step '{1}'").format(_(self.name), step.step_id)
		to = step.get("notify_to") or USER
		if to == USER:
			if not step.get("notify_user"):
				errors.append(_("{0}: choose the user to notify.").format(what))
			elif problem := owners.user_problem(step.notify_user):
				errors.append(f"{what}: {problem}")
		elif to == ROLE:
			if not step.get("notify_role"):
				errors.append(_("{0}: choose the role whose users are notified.").format(what))
			elif not frappe.db.exists("Role", step.notify_role):
				errors.append(_("{0}: role {1} does not exist.").format(what, step.notify_role))
			elif not owners.role_users(step.get("notify_role") or ""):
				errors.append(
					_("{0}: no enabled user has the role {1}: nobody would be notified.").format(
						what, step.notify_role
					)
				)
		elif problem := owners.user_problem(step.get("notify_fallback")):
			errors.append(_("{0}: If No Owner, Notify: {1}").format(what, problem))
		for fieldname, label in self.templates():
			if problem := render.problem(step.get(fieldname)):
				errors.append(_("{0}: the {1}'s Jinja is invalid ({2}).").format(what, _(label), problem))
		return errors

	def templates(self) -> tuple[tuple[str, str], ...]:
		return (("notify_message", "Message"),)

	def recipients(self, ctx: StepContext) -> tuple[list[str], str]:
		"""The users to notify now (enabled) and, when it is not plain, how they were found
		(e.g. "the owner, X, is disabled: the fallback")."""
		step = ctx.step
		to = step.get("notify_to") or USER
		if to == ROLE:
			return owners.role_users(step.get("notify_role") or ""), ""
		user: str = step.get("notify_user") or ""
		if to == USER:
			return owners.enabled_users([user] if user else []), ""
		company_dt = ctx.participant.get("company_doctype") or doctype_roles.doctype_for("company")
		owner = owners.person_owner(
			ctx.flow.person_doctype, ctx.contact, company_dt, ctx.participant.get("company")
		)
		if owner and owners.enabled_users([owner]):
			return [owner], ""
		named: str = step.get("notify_fallback") or ""
		fallback = owners.enabled_users([named] if named else [])
		why = _("the owner, {0}, is disabled").format(owner) if owner else _("the person has no owner")
		if fallback:
			return fallback, _("{0}: the fallback user").format(why)
		return [], why

	def nobody(self, ctx: StepContext, why: str) -> Outcome:
		step = ctx.step
		to = step.get("notify_to") or USER
		if not why:
			why = (
				_("no enabled user has the role {0}").format(step.notify_role)
				if to == ROLE
				else _("user {0} is disabled").format(step.get("notify_user"))
			)
		return Outcome(ctx.next_step, event="Step Skipped", message=_("Nobody notified: {0}").format(why))


class NotifyByEmail(_Notify):
	name = "Notify by Email"
	how = "email"

	def templates(self) -> tuple[tuple[str, str], ...]:
		return (("notify_subject", "Subject"), ("notify_message", "Message"))

	def execute(self, ctx: StepContext) -> Outcome:
		users, why = self.recipients(ctx)
		emails = dict(
			frappe.get_all("User", filters={"name": ("in", users)}, fields=["name", "email"], as_list=True)
		)
		addresses = [emails[u] for u in users if emails.get(u)]
		if not addresses:
			return self.nobody(ctx, why or _("no email address"))
		context = ctx.template_context()
		person_dt = ctx.flow.person_doctype
		person = ctx.participant["person"]
		subject = render.render(ctx.step.get("notify_subject"), context).strip() or _("{0}: {1}").format(
			ctx.flow.flow_name, ctx.contact.get("full_name") or person
		)
		body = render.render(ctx.step.notify_message, context, html=True).strip().replace("\n", "<br>\n")
		link = get_url_to_form(person_dt, person)
		body += (
			'<p style="margin-top:16px;color:#8d99a6;font-size:12px">'
			+ _("About {0} in flow {1}: {2}").format(
				escape_html(ctx.contact.get("full_name") or person),
				escape_html(ctx.flow.flow_name),
				f'<a href="{link}">{escape_html(_("open {0}").format(_(person_dt)))}</a>',
			)
			+ "</p>"
		)
		who = ", ".join(u for u in users if emails.get(u))
		if ctx.dry_run:
			return Outcome(ctx.next_step, event="Notified", message=_("would email {0}").format(who))
		queued = frappe.sendmail(
			recipients=addresses,
			sender=self.sender(ctx),
			subject=subject[:140],
			message=body,
			reference_doctype=person_dt,
			reference_name=person,
			add_unsubscribe_link=0,
			delayed=True,
		)
		message = _("Emailed {0}").format(who) + (f" ({why})" if why else "")
		return Outcome(
			ctx.next_step,
			event="Notified",
			message=message,
			reference=("Email Queue", queued.name) if queued else None,
		)

	def sender(self, ctx: StepContext) -> str:
		"""The flow's default sender (Marketing Flow Settings), named as the account Frappe's mail
		goes through (mailer.route_frappe_mail), else Frappe's default outgoing account (empty:
		Frappe picks it)."""
		account = ctx.settings.get("default_sender")
		if not account:
			return ""
		row = frappe.db.get_value("Email Account", account, ["email_id", "email_account_name"], as_dict=True)
		if not row or not row.email_id:
			return ""
		sender = formataddr((row.email_account_name, row.email_id))
		mailer.route_frappe_mail(sender, frappe.get_cached_doc("Email Account", account))
		return sender


class NotifyBySMS(_Notify):
	name = "Notify by SMS"
	how = "SMS"
	writes = False  # its calls are the outbox's, each committed on its own

	def validate(self, step: MarketingFlowStep, flow: MarketingFlow) -> list[str]:
		errors = super().validate(step, flow)
		if not frappe.db.get_single_value("SMS Settings", "sms_gateway_url"):
			errors.append(
				_("{0} step '{1}': SMS Settings has no gateway URL: set up SMS Settings first.").format(
					_(self.name), step.step_id
				)
			)
		return errors

	def execute(self, ctx: StepContext) -> Outcome:
		users, why = self.recipients(ctx)
		numbers = dict(
			frappe.get_all(
				"User", filters={"name": ("in", users)}, fields=["name", "mobile_no"], as_list=True
			)
		)
		to = [(u, numbers[u].strip()) for u in users if (numbers.get(u) or "").strip()]
		if not to:
			return self.nobody(ctx, why or _("no mobile number"))
		text = frappe.utils.strip_html(render.render(ctx.step.notify_message, ctx.template_context())).strip()
		visit = ctx.idempotency_key()
		tries = cint(ctx.settings.get("max_attempts")) or 5
		for user, number in to:
			key = hashlib.sha1(f"{visit}:{user}".encode()).hexdigest()  # one call per recipient

			def send(number: str = number, key: str = key) -> str:
				return sms.send_through_sms_settings(number, text, key)

			if ctx.dry_run:
				ctx.call_outside("SMS", number, send, payload=text)  # recorded, not called
				continue
			call = outbox.Call(
				key=key,
				flow=ctx.flow.name,
				participant=ctx.participant["name"],
				step_id=ctx.step.step_id,
				channel="SMS",
				target=number,
			)
			outbox.call_once(call, send, tries)
		without = [u for u in users if not (numbers.get(u) or "").strip()]
		message = _("Texted {0}").format(", ".join(f"{u} ({n})" for u, n in to))
		if without:
			message += "; " + _("no mobile number: {0}").format(", ".join(without))
		if why:
			message += f" ({why})"
		return Outcome(ctx.next_step, event="Notified", message=message)


HANDLERS = (NotifyByEmail(), NotifyBySMS())
