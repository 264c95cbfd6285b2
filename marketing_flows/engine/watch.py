"""Which doctypes running flows watch, cached like Frappe's own Notification map, so that saving
a document nobody watches costs nothing."""

from __future__ import annotations

import frappe

CACHE_KEY = "marketing_flows:watched_doctypes"


def flows_changed() -> None:
	"""Called when a flow is saved, run, paused, stopped or deleted: forget the cached map."""
	frappe.cache.delete_value(CACHE_KEY)
