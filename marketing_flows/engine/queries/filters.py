"""Frappe filters stored as JSON on flows, segments, steps and criteria: parse and check them."""

from __future__ import annotations

import json
from typing import Any

import frappe
from frappe import _


def parse(value: str | list | dict | None, what: str) -> list:
	"""The filters in `value` as a list ([] when empty); a clear error when it is not valid JSON."""
	if not value:
		return []
	if isinstance(value, list | dict):
		data: Any = value  # Any: JSON of any shape, until checked below

	else:
		try:
			data = json.loads(value)
		except ValueError as e:
			frappe.throw(_("{0} is not valid JSON: {1}").format(what, e), title=_("Invalid Filters"))
	if isinstance(data, dict):
		data = [[k, "=", v] if not isinstance(v, list) else [k, *v] for k, v in data.items()]
	if not isinstance(data, list):
		frappe.throw(_("{0} must be a list of filters").format(what), title=_("Invalid Filters"))
	return data


def check_fields(doctype: str, filters: list, what: str) -> None:
	"""Reject filters on fields the doctype does not have (a typo would silently match nobody)."""
	meta = frappe.get_meta(doctype)
	standard = {"name", "owner", "creation", "modified", "modified_by", "docstatus", "idx", "_user_tags"}
	for f in filters:
		if not isinstance(f, list | tuple) or len(f) < 3:
			frappe.throw(_("{0}: each filter must be [field, operator, value], got {1}").format(what, f))
		if len(f) >= 4:
			dt, field = f[0], f[1]
		else:
			dt, field = doctype, f[0]
		target = frappe.get_meta(dt) if dt != doctype else meta
		if field not in standard and not target.has_field(field):
			frappe.throw(_("{0}: {1} has no field '{2}'").format(what, dt, field), title=_("Unknown Field"))
