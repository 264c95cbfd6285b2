"""Work collected during one transaction and handed on only once it commits, forgotten if it
rolls back: the one way the engine defers to the commit (watched documents' proposals and goal
checks, job slots' wakes). Frappe's after_commit / after_rollback hooks, registered once per
transaction; the state lives in `frappe.local`, tied to the connection it was collected on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

import frappe

T = TypeVar("T")


class UntilCommit(Generic[T]):
	"""One kind of deferred work: `state()` is this transaction's collection (made by `new` on
	first use), `on_commit(state)` runs once after the commit."""

	def __init__(self, attr: str, new: Callable[[], T], on_commit: Callable[[T], None] | None = None):
		self.attr = attr
		self.new = new
		self.on_commit = on_commit

	def state(self) -> T:
		held = getattr(frappe.local, self.attr, None)
		if held is None or held[0] is not frappe.local.db:
			held = (frappe.local.db, self.new())
			setattr(frappe.local, self.attr, held)
			frappe.db.after_commit.add(self._committed)
			frappe.db.after_rollback.add(self.forget)
		return held[1]

	def peek(self) -> T | None:
		"""This transaction's collection, None when nothing was collected (or it was handed on)."""
		held = getattr(frappe.local, self.attr, None)
		return held[1] if held is not None and held[0] is frappe.local.db else None

	def forget(self) -> None:
		setattr(frappe.local, self.attr, None)

	def _committed(self) -> None:
		state = self.peek()
		self.forget()
		if state is not None and self.on_commit is not None:
			self.on_commit(state)
