"""Which doctypes running flows watch, cached like Frappe's own Notification map, so that saving
a document nobody watches costs nothing: the map lives in Redis with an in-process copy and
is forgotten whenever a flow changes."""

from __future__ import annotations

from typing import Any

import frappe

CACHE_KEY = "marketing_flows:watched_doctypes"


def flows_changed() -> None:
	"""Called when a flow is saved, run, paused, stopped or deleted: forget the cached map."""
	frappe.cache.delete_value(CACHE_KEY)


def on_insert(doc: Any, method: str | None = None) -> None:
	"""doc_events "*" after_insert."""


def on_update(doc: Any, method: str | None = None) -> None:
	"""doc_events "*" on_update."""


def on_trash(doc: Any, method: str | None = None) -> None:
	"""doc_events "*" on_trash."""
