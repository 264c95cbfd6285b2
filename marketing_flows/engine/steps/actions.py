"""Steps that act on the CRM or the outside world: Update Participant, Create Activity, Webhook,
Add to Email Group, Enroll in Flow, End."""

from __future__ import annotations

import json
from typing import Any

import frappe
import requests
from frappe import _
from frappe.utils import add_days, getdate

from marketing_flows.engine import enrolment, hosts, netguard, render
from marketing_flows.engine.steps.base import Outcome, StepContext, StepType


class UpdateParticipant(StepType):
	name = "Update Participant"
	required = (("update_field", "Update Field"),)

	def validate(self, step: Any, flow: Any) -> list[str]:
		errors = super().validate(step, flow)
		if step.get("update_field"):
			person = hosts.person_doctype()
			df = frappe.get_meta(person).get_field(step.update_field)
			if not df:
				errors.append(
					_("Update Participant step '{0}': {1} has no field '{2}'.").format(
						step.step_id, _(person), step.update_field
					)
				)
			elif df.fieldtype in frappe.model.table_fields or df.fieldtype in frappe.model.no_value_fields:
				errors.append(
					_("Update Participant step '{0}': '{1}' can't be set by a flow.").format(
						step.step_id, step.update_field
					)
				)
		if err := render.problem(step.get("update_value")):
			errors.append(
				_("Update Participant step '{0}': the value's Jinja is invalid ({1}).").format(
					step.step_id, err
				)
			)
		return errors

	def execute(self, ctx: StepContext) -> Outcome:
		"""A real save, so that everything watching the person (goals included) sees the change."""
		person = hosts.person_doctype()
		value = render.render(ctx.step.update_value, ctx.template_context())
		doc = frappe.get_doc(person, ctx.participant["contact"])
		doc.set(ctx.step.update_field, value)
		doc.flags.ignore_permissions = True
		doc.flags.marketing_flow = ctx.flow.name  # this flow's own trigger must not fire on it
		doc.save()
		ctx.contact[ctx.step.update_field] = doc.get(ctx.step.update_field)
		return Outcome(ctx.next_step, message=f"{ctx.step.update_field} = {value}")


class CreateActivity(StepType):
	name = "Create Activity"
	required = (("activity_description", "Activity Description"),)

	def validate(self, step: Any, flow: Any) -> list[str]:
		errors = super().validate(step, flow)
		if err := render.problem(step.get("activity_description")):
			errors.append(
				_("Create Activity step '{0}': the description's Jinja is invalid ({1}).").format(
					step.step_id, err
				)
			)
		return errors

	def execute(self, ctx: StepContext) -> Outcome:
		doctype = hosts.doctype_for("activity") or "ToDo"
		person = hosts.person_doctype()
		contact = ctx.participant["contact"]
		description = render.render(ctx.step.activity_description, ctx.template_context())
		owner = ctx.step.assign_to or ctx.contact.get("owner") or "Administrator"
		due = add_days(getdate(ctx.now), ctx.step.activity_due_days or 0)
		doc = frappe.new_doc(doctype)
		if doctype == "Event":
			doc.update(
				{
					"subject": description[:140],
					"description": description,
					"starts_on": ctx.now,
					"event_type": "Private",
				}
			)
			doc.append("event_participants", {"reference_doctype": person, "reference_docname": contact})
		else:
			meta = frappe.get_meta(doctype)
			values = {
				"description": description,
				"title": description[:140],
				"allocated_to": owner,
				"assigned_to": owner,
				"date": due,
				"due_date": due,
				"reference_type": person,
				"reference_name": contact,
				"reference_doctype": person,
				"reference_docname": contact,
			}
			doc.update({k: v for k, v in values.items() if meta.has_field(k)})
		doc.flags.ignore_permissions = True
		doc.insert()
		return Outcome(
			ctx.next_step,
			message=_("{0} {1} for {2}").format(_(doctype), doc.name, owner),
			reference=(doctype, doc.name),
		)


class Webhook(StepType):
	name = "Webhook"
	writes = False
	required = (("webhook_url", "URL"),)

	def validate(self, step: Any, flow: Any) -> list[str]:
		errors = super().validate(step, flow)
		what = _("Webhook step '{0}'").format(step.step_id)
		if step.get("webhook_url") and (problem := netguard.url_problem(step.webhook_url, resolve="lenient")):
			errors.append(f"{what}: {problem}")
		if problem := render.problem(step.get("webhook_body")):
			errors.append(_("{0}: the body's Jinja is invalid ({1}).").format(what, problem))
		elif problem := render.json_shape_problem(step.get("webhook_body")):
			errors.append(_("{0}: the body is not JSON ({1}).").format(what, problem))
		if (step.get("webhook_timeout") or 0) < 0:
			errors.append(_("{0}: the timeout can't be negative.").format(what))
		if (step.get("webhook_timeout") or 0) > 60:
			errors.append(_("{0}: the timeout can't be more than 60 seconds.").format(what))
		return errors

	def execute(self, ctx: StepContext) -> Outcome:
		"""One HTTP call through the outbox: never made again once confirmed; an error raises so
		the runner retries with backoff. The Idempotency-Key header is the same on every try of
		this visit, so a receiver can drop a repeat after a lost answer."""
		body = None
		if ctx.step.webhook_body:
			body = render.render(ctx.step.webhook_body, ctx.template_context(), json_values=True)
			try:
				json.loads(body)
			except ValueError as e:
				raise render.RenderError(_("the rendered body is not JSON: {0}").format(e)) from e
		if body is None:
			body = frappe.as_json(
				{
					"participant": ctx.participant["name"],
					"contact": ctx.participant["contact"],
					"email": ctx.participant.get("email"),
					"flow": ctx.flow.name,
					"step_id": ctx.step.step_id,
				}
			)
		method = ctx.step.webhook_method or "POST"
		url = ctx.step.webhook_url
		key = ctx.idempotency_key()

		def send() -> str:
			netguard.check_url(url)  # again now, after DNS resolution
			response = requests.request(
				method,
				url,
				data=body.encode(),
				headers={"Content-Type": "application/json", "Idempotency-Key": key},
				timeout=ctx.step.webhook_timeout or 10,
				allow_redirects=False,
			)
			if not 200 <= response.status_code < 300:
				raise frappe.ValidationError(
					_("{0} {1} answered {2}").format(method, url, response.status_code)
				)
			return str(response.status_code)

		status = ctx.call_outside("Webhook", f"{method} {url}", send, payload=body)
		return Outcome(ctx.next_step, message=f"{method} {url}: {status}")


class AddToEmailGroup(StepType):
	name = "Add to Email Group"
	required = (("email_group", "Email Group"),)

	def execute(self, ctx: StepContext) -> Outcome:
		email = ctx.participant.get("email")
		if not email:
			return Outcome(ctx.next_step, event="Step Skipped", message=_("No email address"))
		if not frappe.db.exists("Email Group Member", {"email_group": ctx.step.email_group, "email": email}):
			frappe.get_doc(
				{"doctype": "Email Group Member", "email_group": ctx.step.email_group, "email": email}
			).insert(ignore_permissions=True)
		return Outcome(ctx.next_step, message=_("{0} in {1}").format(email, ctx.step.email_group))


class RemoveFromEmailGroup(StepType):
	name = "Remove from Email Group"
	required = (("email_group", "Email Group"),)

	def execute(self, ctx: StepContext) -> Outcome:
		"""The person's email leaves the group (its member row is removed, as Frappe's own
		"remove from group" does); nothing happens when it was not in it."""
		email = ctx.participant.get("email")
		if not email:
			return Outcome(ctx.next_step, event="Step Skipped", message=_("No email address"))
		members = frappe.get_all(
			"Email Group Member", filters={"email_group": ctx.step.email_group, "email": email}, pluck="name"
		)
		for name in members:
			frappe.delete_doc("Email Group Member", name, ignore_permissions=True)
		message = (
			_("{0} removed from {1}").format(email, ctx.step.email_group)
			if members
			else _("{0} was not in {1}").format(email, ctx.step.email_group)
		)
		return Outcome(ctx.next_step, message=message)


class EnrollInFlow(StepType):
	name = "Enroll in Flow"
	required = (("target_flow", "Target Flow"),)

	def validate(self, step: Any, flow: Any) -> list[str]:
		errors = super().validate(step, flow)
		if step.get("target_flow") and step.target_flow == flow.name:
			errors.append(
				_("Enroll in Flow step '{0}': a flow can't enrol into itself.").format(step.step_id)
			)
		return errors

	def execute(self, ctx: StepContext) -> Outcome:
		target = frappe.get_cached_doc("Marketing Flow", ctx.step.target_flow)
		result = enrolment.enroll(target, [ctx.participant["contact"]], source=f"Flow {ctx.flow.name}")
		why = result.not_enrolled.get(ctx.participant["contact"])
		return Outcome(
			ctx.next_step,
			message=_("Enrolled in {0}").format(target.name)
			if not why
			else _("Not enrolled in {0}: {1}").format(target.name, why),
		)


class End(StepType):
	name = "End"
	writes = False
	may_change_goals = False

	def execute(self, ctx: StepContext) -> Outcome:
		return Outcome(None, event="Completed")


HANDLERS = (
	UpdateParticipant(),
	CreateActivity(),
	Webhook(),
	AddToEmailGroup(),
	RemoveFromEmailGroup(),
	EnrollInFlow(),
	End(),
)
