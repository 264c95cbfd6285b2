"""Steps that reach code outside the flow: Webhook (through the outbox) and Run Server Script."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import frappe
from frappe import _
from frappe.utils.safe_exec import is_safe_exec_enabled, safe_exec

from marketing_flows.engine.sending import netguard, render
from marketing_flows.engine.steps.base import Outcome, StepContext, StepType

if TYPE_CHECKING:
	from frappe.model.document import Document

	from marketing_flows.engine.doctypes import MarketingFlow, MarketingFlowStep


class Webhook(StepType):
	name = "Webhook"
	writes = False
	required = (("webhook_url", "URL"),)

	def validate(self, step: MarketingFlowStep, flow: MarketingFlow) -> list[str]:
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
					"contact": ctx.participant.get("contact"),
					"person_doctype": ctx.participant.get("person_doctype") or "Contact",
					"person": ctx.participant.get("person"),
					"email": ctx.participant.get("email"),
					"flow": ctx.flow.name,
					"step_id": ctx.step.step_id,
				}
			)
		method = ctx.step.webhook_method or "POST"
		url = ctx.required("webhook_url")
		key = ctx.idempotency_key()

		def send() -> str:
			# checked again now (one DNS lookup), and connected to the very addresses checked
			response = netguard.request(
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


class RunServerScript(StepType):
	"""SuperOffice's Run script: a Server Script of type API gets the participant's context in
	`frappe.form_dict` and runs as the step's *Run As* user, with that user's permissions; what
	it returns is logged. Its errors are logged on the participant, who goes on: a script never
	holds the flow up. A System Manager picks the script and the user (see
	`permissions.require_system_manager_for_scripts`); the run goes through the outbox, so a
	batch rolled back after the script ran does not run it again uncounted."""

	name = "Run Server Script"
	required = (("server_script", "Server Script"), ("run_as", "Run As"))

	def validate(self, step: MarketingFlowStep, flow: MarketingFlow) -> list[str]:
		errors = super().validate(step, flow)
		what = _("Run Server Script step '{0}'").format(step.step_id)
		if not is_safe_exec_enabled():
			errors.append(
				_(
					"{0}: server scripts are off on this bench (bench set-config -g server_script_enabled 1)."
				).format(what)
			)
		elif step.get("server_script") and (problem := script_problem(step.server_script)):
			errors.append(f"{what}: {problem}")
		if (run_as := step.get("run_as")) and (problem := run_as_problem(run_as)):
			errors.append(f"{what}: {problem}")
		return errors

	def execute(self, ctx: StepContext) -> Outcome:
		if ctx.dry_run:
			return Outcome(ctx.next_step, message=_("would run {0}").format(ctx.step.server_script))
		# refused now too: the script or the user may have changed since the flow was saved
		run_as: str = ctx.step.get("run_as") or ""  # none: refused just below
		problem = script_problem(ctx.step.server_script) or (
			run_as_problem(run_as) if run_as else _("no Run As user")
		)
		if problem:
			return Outcome(ctx.next_step, event="Error", message=problem)
		script = frappe.get_cached_doc("Server Script", ctx.step.server_script)  # not once per person
		context = frappe._dict(
			flow=ctx.flow.name,
			step_id=ctx.step.step_id,
			participant=ctx.participant["name"],
			contact=ctx.participant.get("contact"),
			person_doctype=ctx.participant.get("person_doctype") or "Contact",
			person=ctx.participant.get("person"),
			email=ctx.participant.get("email"),
			company=ctx.participant.get("company"),
		)
		failed: list[str] = []

		def run() -> str:
			failed.clear()
			try:
				return _run_script(script, context, run_as)
			except Exception as e:  # the script's own error: logged on the participant
				failed.append("x")
				return _("{0} failed: {1}").format(script.name, str(e)[:500] or type(e).__name__)

		message = ctx.call_outside("Server Script", script.name, run)
		return Outcome(ctx.next_step, event="Error" if failed else "Step Executed", message=message)


def script_problem(script_name: str | None) -> str | None:
	"""Why this Server Script can't run from a flow (None: it can)."""
	script = frappe.db.get_value("Server Script", script_name, ["script_type", "disabled"], as_dict=True)
	if not script:
		return _("Server Script {0} does not exist.").format(script_name)
	if script.script_type != "API":
		return _("{0} is not a Server Script of type API.").format(script_name)
	if script.disabled:
		return _("Server Script {0} is disabled.").format(script_name)
	return None


def run_as_problem(user: str) -> str | None:
	"""Why a script can't run as `user` (None: it can): never Administrator or Guest, only an
	enabled user."""
	if user in ("Administrator", "Guest"):
		return _("a script can't run as {0}: choose a user with only the rights it needs.").format(user)
	if not frappe.db.get_value("User", user, "enabled"):
		return _("User {0} does not exist or is disabled.").format(user)
	return None


def _run_script(script: Document, context: dict, user: str) -> str:
	"""Run `script` as `user`, as Frappe runs an API script, but without commit / rollback: a
	script must not commit the runner's batch halfway (Frappe's document-event scripts can't
	either). Its writes are undone when it fails."""
	previous = frappe.session.user
	form_dict, response = frappe.local.form_dict, frappe.local.response
	frappe.db.savepoint("mf_script")
	try:
		frappe.set_user(user)  # also empties form_dict: set it after
		frappe.local.form_dict = frappe._dict(context)
		frappe.local.response = frappe._dict(docs=[])  # as Frappe starts a request
		safe_exec(script.script, script_filename=script.name, restrict_commit_rollback=True)
		result = frappe.local.response.get("message")
	except Exception:
		frappe.db.rollback(save_point="mf_script")
		raise
	finally:
		frappe.set_user(previous)
		frappe.local.form_dict, frappe.local.response = form_dict, response
	return _("{0}: {1}").format(
		script.name, frappe.as_json(result)[:500] if result is not None else _("done")
	)


HANDLERS = (
	Webhook(),
	RunServerScript(),
)
