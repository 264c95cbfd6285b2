"""Who may operate flows. Whitelisted doc methods are only checked for read access by Frappe,
so every operation that changes a flow or its participants asks here first."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Concatenate, ParamSpec, TypeVar

import frappe
from frappe import _

if TYPE_CHECKING:
	from frappe.model.document import Document

	from marketing_flows.engine.doctypes import MarketingFlow

OPERATOR_ROLES = {"Flow Administrator", "System Manager"}

D = TypeVar("D", bound="Document")
P = ParamSpec("P")
R = TypeVar("R")


def has_operator_role() -> bool:
	user = frappe.session.user
	return user == "Administrator" or bool(set(frappe.get_roles(user)) & OPERATOR_ROLES)


def is_flow_operator() -> bool:
	"""May the user run flows and enrol people (Flow Administrator, System Manager)?"""
	return has_operator_role() and bool(frappe.has_permission("Marketing Flow", "write"))


def require_flow_operator(flow: MarketingFlow) -> None:
	"""Run / pause / stop / enrol / remove: Flow Administrator or System Manager with write access."""
	if not has_operator_role():
		frappe.throw(
			_("Only a Flow Administrator can run, pause, stop or enrol people in flows."),
			frappe.PermissionError,
		)
	frappe.has_permission("Marketing Flow", "write", flow, throw=True)


def readable(doctype: str, names: list[str]) -> set[str]:
	"""Which of `names` the current user may read (user permissions and sharing included): a
	record they may not see is treated like one that does not exist."""
	found: set[str] = set()
	for start in range(0, len(names), 1000):
		chunk = names[start : start + 1000]
		found.update(
			frappe.get_list(doctype, filters={"name": ("in", chunk)}, pluck="name", limit_page_length=0)
		)
	return found


def require_read(doctypes: dict[str, str]) -> None:
	"""doctype -> what names it. A flow may only look at data its author may read: a Document
	Condition on a doctype they can't read would be a yes/no oracle on that data."""
	for doctype, what in doctypes.items():
		if doctype and frappe.db.exists("DocType", doctype) and not frappe.has_permission(doctype, "read"):
			frappe.throw(
				_("{0}: you can't read {1}, so a flow of yours can't use it.").format(what, _(doctype)),
				frappe.PermissionError,
			)


def work_on_stored(doc: Document, ptype: str = "read") -> None:
	"""Frappe runs a whitelisted doc method on the document the client sends
	(`run_doc_method(docs=…)`) and checks only read on it: a forged, unsaved flow or segment
	would run with whatever steps, filters or criteria the caller made up. Refuse unsaved
	documents, reload what is stored, and check the permission the action needs on that."""
	if doc.get("__islocal") or not doc.name or not frappe.db.exists(doc.doctype, doc.name):
		frappe.throw(
			_("Save the {0} first: this works on the saved {0} only.").format(_(doc.doctype)),
			title=_("Not saved"),
		)
	doc.reload()
	doc.check_permission(ptype)


def on_stored(
	ptype: str = "read",
) -> Callable[[Callable[Concatenate[D, P], R]], Callable[Concatenate[D, P], R]]:
	"""Decorator for whitelisted doc methods (put it under `@frappe.whitelist()`): the method
	works on the stored document, after `work_on_stored(self, ptype)`."""

	def wrap(method: Callable[Concatenate[D, P], R]) -> Callable[Concatenate[D, P], R]:
		@functools.wraps(method)
		def run(self: D, /, *args: P.args, **kwargs: P.kwargs) -> R:
			work_on_stored(self, ptype)
			return method(self, *args, **kwargs)

		return run

	return wrap


def require_system_manager_for_scripts(flow: MarketingFlow, before: MarketingFlow | None) -> None:
	"""A Run Server Script step runs code with the rights of its Run As user: only a System
	Manager picks the script and the user (a Flow Administrator may move, relabel or remove
	the step, not choose what it runs or as whom)."""
	if "System Manager" in frappe.get_roles():
		return
	chosen = {
		s.step_id: (s.get("server_script") or None, s.get("run_as") or None)
		for s in (before.steps if before else [])
		if s.step_type == "Run Server Script"
	}
	for step in flow.steps:
		if step.step_type != "Run Server Script":
			continue
		now = (step.get("server_script") or None, step.get("run_as") or None)
		if now != (None, None) and chosen.get(step.step_id) != now:
			frappe.throw(
				_(
					"Step '{0}': only a System Manager chooses the Server Script a flow runs and the user it runs as."
				).format(step.step_id),
				frappe.PermissionError,
			)
