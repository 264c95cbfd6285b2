"""Send Email and Send SMS steps."""

from __future__ import annotations

from typing import TYPE_CHECKING

import frappe
from frappe import _

from marketing_flows.engine.sending import blocklist, links, render, sms
from marketing_flows.engine.steps.base import Outcome, StepContext, StepType

if TYPE_CHECKING:
	from marketing_flows.engine.doctypes import MarketingFlow, MarketingFlowStep


class _MessageStep(StepType):
	writes = False
	may_change_goals = False
	required = (("content", "Content"),)

	def validate(self, step: MarketingFlowStep, flow: MarketingFlow) -> list[str]:
		errors = super().validate(step, flow)
		if step.get("content"):
			channel = frappe.db.get_value("Marketing Flow Content", step.content, "channel")
			if channel is None:
				errors.append(
					_("{0} step '{1}': content '{2}' does not exist.").format(
						_(self.name), step.step_id, step.content
					)
				)
			elif channel != self.channel:
				errors.append(
					_("{0} step '{1}': content '{2}' is {3} content, not {4}.").format(
						_(self.name), step.step_id, step.content, _(channel), _(self.channel)
					)
				)
		return errors


def blocked_in_batch(ctx: StepContext) -> set[str]:
	"""The blocked addresses among the batch's participants (one query per batch)."""
	memo = ctx.memo
	if "blocked_addresses" not in memo:
		memo["blocked_addresses"] = blocklist.blocked(ctx.batch_emails)
	return memo["blocked_addresses"]


class SendEmail(_MessageStep):
	name = "Send Email"
	channel = "Email"

	def execute(self, ctx: StepContext) -> Outcome:
		recipient = ctx.participant.get("email")
		if not recipient:
			return Outcome(ctx.next_step, event="Step Skipped", message=_("No email address"))
		if recipient.strip().lower() in blocked_in_batch(ctx):
			return Outcome(
				ctx.next_step,
				event="Step Skipped",
				message=_("Address blocked ({0} is in Marketing Blocked Address)").format(recipient),
			)
		content = ctx.content(ctx.required("content"))
		settings = ctx.settings
		participant = ctx.participant["name"]

		unsubscribe = links.unsubscribe_url(participant, recipient, ctx.step.step_id)
		tags_of = ctx.memo.setdefault("campaign_tags", {})  # step id -> utm query, once per batch
		if ctx.step.step_id not in tags_of:
			tags_of[ctx.step.step_id] = links.campaign_tags(ctx.flow, ctx.step.step_id)
		tags = tags_of[ctx.step.step_id]

		def add_tracking(body: str) -> str:
			footer = (
				'<p style="font-size:12px;color:#8d99a6;margin-top:24px">'
				f'<a href="{unsubscribe}">Unsubscribe</a></p>'
			)
			at = body.lower().rfind("</body>")
			body = body[:at] + footer + body[at:] if at >= 0 else body + footer
			return links.prepare_html(
				body,
				participant,
				ctx.flow.name,
				ctx.step.step_id,
				track_opens=bool(settings.track_opens),
				track_clicks=bool(settings.track_clicks),
				tags=tags,
			)

		queue_name = ctx.mailer.queue(
			content,
			ctx.template_context(),
			recipient,
			participant,
			add_tracking,
			headers={
				"List-Unsubscribe": f"<{unsubscribe}>",
				"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
			},
		)
		return Outcome(
			ctx.next_step,
			event="Email Sent",
			message=_("{0} v{1} to {2}").format(content.name, content.version or 0, recipient),
			updates={
				"last_sent": content.name,
				"last_sent_on": ctx.now,
				"last_sent_status": "Queued",
				"sent_marketing_email": 1,
				"email_queue": queue_name,
			},
			reference=("Email Queue", queue_name),
		)


class SendSMS(_MessageStep):
	name = "Send SMS"
	channel = "SMS"

	def execute(self, ctx: StepContext) -> Outcome:
		number = ctx.participant.get("mobile_no") or ctx.contact.get("phone")
		if not number:
			if ctx.step.get("exit_if_no_mobile"):
				return Outcome(
					None,
					event="Step Skipped",
					message=_("No mobile number"),
					exit_reason=_("No mobile number"),
				)
			return Outcome(ctx.next_step, event="Step Skipped", message=_("No mobile number"))
		content = ctx.content(ctx.required("content"))
		text = frappe.utils.strip_html(render.render(content.body, ctx.template_context())).strip()
		key = ctx.idempotency_key()
		result = ctx.call_outside(
			"SMS", number, lambda: sms.send_through_sms_settings(number, text, key), payload=text
		)
		return Outcome(
			ctx.next_step,
			event="SMS Sent",
			message=_("{0} v{1} to {2}: {3}").format(content.name, content.version or 0, number, result),
			updates={"last_sent": content.name, "last_sent_on": ctx.now, "last_sent_status": "Sent"},
		)


HANDLERS = (SendEmail(), SendSMS())
