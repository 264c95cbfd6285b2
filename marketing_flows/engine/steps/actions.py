"""Steps that act on the CRM or the outside world: Update Participant, Create Activity, Webhook,
Add to / Remove from Email Group, Enroll in Flow, Run Server Script, End."""

from __future__ import annotations

import json
from functools import partial
from typing import TYPE_CHECKING, Any

import frappe
from frappe import _
from frappe.utils import add_days, cint, flt, getdate, now_datetime
from frappe.utils.safe_exec import is_safe_exec_enabled, safe_exec

from marketing_flows.engine import enrolment, hosts, netguard, render
from marketing_flows.engine.steps.base import Outcome, StepContext, StepType

if TYPE_CHECKING:
	from frappe.core.doctype.docfield.docfield import DocField
	from frappe.model.document import Document

NUMERIC = ("Int", "Float", "Currency", "Percent")
# action -> the field types it fits (None: any settable field)
ACTION_TYPES: dict[str, tuple[str, ...] | None] = {
	"Set": None,
	"Clear": None,
	"Add": NUMERIC,
	"Subtract": NUMERIC,
	"Add Days": ("Date", "Datetime"),
	"Check": ("Check",),
	"Uncheck": ("Check",),
}


def update_rows(flow: Any, step: Any) -> list[Any]:
	"""The step's changes: its own field (`update_field` / `update_value`, a Set on the
	person) and its rows of the flow's `updates` table."""
	rows = []
	if step.get("update_field"):
		rows.append(
			frappe._dict(
				target="Person", field=step.update_field, action="Set", value=step.get("update_value"), idx=0
			)
		)
	rows.extend(r for r in flow.get("updates") or [] if r.step_id == step.step_id)
	return rows


def changed_value(df: Any, action: str, current: Any, value: str) -> Any:
	"""The new value of a field for an action; `value` is already rendered."""
	if action == "Clear":
		return None
	if action in ("Check", "Uncheck"):
		return 1 if action == "Check" else 0
	if action in ("Add", "Subtract"):
		amount = flt(value) if df.fieldtype != "Int" else cint(value)
		return (current or 0) + (amount if action == "Add" else -amount)
	if action == "Add Days":
		base = current or now_datetime()
		result = add_days(base, cint(value))
		return getdate(result) if df.fieldtype == "Date" else result
	return value


class UpdateParticipant(StepType):
	"""SuperOffice's "Update contact": fields of the person or of their company, each with an
	action fitting its type; one real save per record, so goals see one change."""

	name = "Update Participant"

	def validate(self, step: Any, flow: Any) -> list[str]:
		what = _("Update Participant step '{0}'").format(step.step_id)
		rows = update_rows(flow, step)
		if not rows:
			return [_("{0}: choose the field to update (Update Field, or rows in Updates).").format(what)]
		errors = []
		for row in rows:
			doctype = (
				hosts.person_doctype(flow)
				if (row.target or "Person") == "Person"
				else hosts.doctype_for("company")
			)
			if not doctype:
				errors.append(
					_("{0}: this site has no company doctype (Marketing Flow Settings).").format(what)
				)
				continue
			df = frappe.get_meta(doctype).get_field(row.field)
			action = row.action or "Set"
			author = frappe.session.user  # who saves (or runs, or checks) the flow now
			if not df:
				errors.append(_("{0}: {1} has no field '{2}'.").format(what, _(doctype), row.field))
			elif problem := unsettable(doctype, df, author):
				errors.append(_("{0}: '{1}' can't be set by a flow: {2}.").format(what, row.field, problem))
			elif action not in ACTION_TYPES:
				errors.append(_("{0}: '{1}' is not an action.").format(what, action))
			elif ACTION_TYPES[action] and df.fieldtype not in ACTION_TYPES[action]:
				errors.append(
					_("{0}: '{1}' can't be used on '{2}' (a {3} field).").format(
						what, _(action), row.field, _(df.fieldtype)
					)
				)
			elif action == "Clear" and df.reqd:
				errors.append(_("{0}: '{1}' is mandatory: it can't be cleared.").format(what, row.field))
			elif action in ("Add", "Subtract", "Add Days") and not _is_number(row.value):
				errors.append(
					_("{0}: '{1}' needs a number, not '{2}'.").format(what, _(action), row.value or "")
				)
			if err := render.problem(row.get("value")):
				errors.append(_("{0}: the value's Jinja is invalid ({1}).").format(what, err))
		return errors

	def execute(self, ctx: StepContext) -> Outcome:
		"""A real save per record, so that everything watching it (goals included) sees it."""
		rows = update_rows(ctx.flow, ctx.step)
		targets = {
			"Person": (hosts.person_doctype(ctx.flow), ctx.participant["person"]),
			"Company": (hosts.doctype_for("company"), ctx.participant.get("company")),
		}
		done, skipped = [], []
		for target in ("Person", "Company"):
			mine = [r for r in rows if (r.target or "Person") == target]
			doctype, name = targets[target]
			if not mine:
				continue
			if not (doctype and name):
				skipped.append(_("no company"))
				continue
			doc = frappe.get_doc(doctype, name)
			author = ctx.flow.get("modified_by") or "Administrator"  # the scheduler runs as Administrator
			for row in mine:
				df = doc.meta.get_field(row.field)
				problem = df and frappe.local_cache(  # once per job, not per participant
					"mf_unsettable", (doctype, row.field, author), partial(unsettable, doctype, df, author)
				)
				if not df or problem:  # checked at save too; rights change
					raise frappe.PermissionError(
						_("'{0}' of {1} can't be set by this flow: {2}.").format(
							row.field, _(doctype), problem if df else _("no such field")
						)
					)
				value = render.render(row.value, ctx.template_context()) if row.value else ""
				doc.set(row.field, changed_value(df, row.action or "Set", doc.get(row.field), value))
				done.append(f"{row.field} = {shown_value(df, doc.get(row.field))}")
			doc.flags.ignore_permissions = True
			doc.flags.marketing_flow = ctx.flow.name  # this flow's own trigger must not fire on it
			doc.save()
			if target == "Person":
				ctx.contact.update({r.field: doc.get(r.field) for r in mine})
		return Outcome(ctx.next_step, message="; ".join(done + skipped))


def unsettable(doctype: str, df: DocField, user: str) -> str | None:
	"""Why a flow of `user` must not write field `df` of `doctype` (None: it may). A flow writes
	with the engine's rights, so it may only write what its author could write by hand in the
	form, and never what ties a record to a login or names it."""
	meta = frappe.get_meta(doctype)
	if df.fieldtype in frappe.model.table_fields or df.fieldtype in frappe.model.no_value_fields:
		return _("a table or layout field")
	if df.fieldtype in ("Password", "Dynamic Link") or (df.fieldtype == "Link" and df.options == "User"):
		return _("a password or a link to a user or any doctype")
	if df.fieldname in frappe.model.default_fields or df.fieldname in ("user", "docstatus", "owner"):
		return _("a field the system keeps")
	if df.read_only or df.set_only_once:
		return _("read-only or set only once")
	if (meta.autoname or "").replace(" ", "") == f"field:{df.fieldname}":
		return _("the record's name comes from it")
	if not frappe.has_permission(doctype, "write", user=user):
		return _("{0} may not edit {1}").format(user, _(doctype))
	if (df.permlevel or 0) > 0 and df.permlevel not in meta.get_permlevel_access("write", user=user):
		return _("{0} may not edit this field").format(user)
	return None


def shown_value(df: DocField, value: Any) -> str:
	"""What the step's log shows of a value written: never that of a hidden field."""
	return "…" if df.hidden or df.fieldtype == "Password" else str(value)


def _is_number(value: Any) -> bool:
	try:
		float(str(value).strip())
		return True
	except ValueError:
		return "{{" in str(value)  # Jinja: checked when rendered


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
		person = hosts.person_doctype(ctx.flow)
		contact = ctx.participant["person"]
		description = render.render(ctx.step.activity_description, ctx.template_context())
		owner = (
			ctx.step.assign_to or ctx.contact.get("lead_owner") or ctx.contact.get("owner") or "Administrator"
		)
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
					"contact": ctx.participant.get("contact"),
					"person_doctype": ctx.participant.get("person_doctype") or "Contact",
					"person": ctx.participant.get("person"),
					"email": ctx.participant.get("email"),
					"flow": ctx.flow.name,
					"step_id": ctx.step.step_id,
				}
			)
		method = ctx.step.webhook_method or "POST"
		url = ctx.step.webhook_url
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
		names = enrolment.names_for(target, [ctx.participant])
		if not names:
			why = _("it enrols {0}, and this person is not one").format(_(hosts.person_doctype(target)))
		else:
			result = enrolment.enroll(target, names, source=f"Flow {ctx.flow.name}")
			why = result.not_enrolled.get(names[0])
		return Outcome(
			ctx.next_step,
			message=_("Enrolled in {0}").format(target.name)
			if not why
			else _("Not enrolled in {0}: {1}").format(target.name, why),
		)


class RunServerScript(StepType):
	"""SuperOffice's Run script: a Server Script of type API gets the participant's context in
	`frappe.form_dict` and runs as the step's *Run As* user, with that user's permissions; what
	it returns is logged. Its errors are logged on the participant, who goes on: a script never
	holds the flow up. A System Manager picks the script and the user (see
	`permissions.require_system_manager_for_scripts`); the run goes through the outbox, so a
	batch rolled back after the script ran does not run it again uncounted."""

	name = "Run Server Script"
	required = (("server_script", "Server Script"), ("run_as", "Run As"))

	def validate(self, step: Any, flow: Any) -> list[str]:
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
		if step.get("run_as") and (problem := run_as_problem(step.run_as)):
			errors.append(f"{what}: {problem}")
		return errors

	def execute(self, ctx: StepContext) -> Outcome:
		if ctx.batch.dry_run:
			return Outcome(ctx.next_step, message=_("would run {0}").format(ctx.step.server_script))
		# refused now too: the script or the user may have changed since the flow was saved
		problem = script_problem(ctx.step.server_script) or (
			run_as_problem(ctx.step.run_as) if ctx.step.get("run_as") else _("no Run As user")
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
				return _run_script(script, context, ctx.step.run_as)
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
	RunServerScript(),
	End(),
)
