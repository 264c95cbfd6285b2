"""Addresses flows no longer email (Marketing Blocked Address): a hard bounce or a complaint put
them there, a person can take them out. A leaf: asked by the Send Email step, written by the
mailbox's answers (bounces.py)."""

from __future__ import annotations

from collections.abc import Iterable

import frappe
from frappe.utils import now_datetime

BLOCKED = "Marketing Blocked Address"


def blocked(addresses: Iterable[str]) -> set[str]:
	"""Those of `addresses` that are blocked, lowercased (one query)."""
	wanted = {a.strip().lower() for a in addresses if a}
	if not wanted:
		return set()
	return set(frappe.get_all(BLOCKED, filters={"name": ("in", list(wanted))}, pluck="name"))


def block(address: str, reason: str, detail: str = "", email_queue: str | None = None) -> bool:
	"""Block `address` (once; the first reason stays). Returns whether it was new."""
	address = (address or "").strip().lower()
	if not address or frappe.db.exists(BLOCKED, address):
		return False
	frappe.get_doc(
		{
			"doctype": BLOCKED,
			"email_address": address,
			"reason": reason,
			"blocked_on": now_datetime(),
			"detail": (detail or "")[:1000],
			"email_queue": email_queue,
		}
	).insert(ignore_permissions=True)
	return True
