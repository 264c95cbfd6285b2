"""Multi-row INSERTs with parameters. `frappe.db.bulk_insert` builds each statement through the
query builder, which wraps and quotes every value in Python objects: profiling the runner and
enrolment showed that building to be most of the cost of writing an Email Queue row or a
participant. Here the statement is a fixed text with placeholders, and the driver escapes the
values (one C-level pass per string)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import frappe

ROWS_PER_STATEMENT = 1000


def insert(
	doctype: str,
	columns: Sequence[str],
	rows: Iterable[Sequence],
	ignore_duplicates: bool = False,
	rows_per_statement: int = ROWS_PER_STATEMENT,
) -> None:
	"""INSERT `rows` (tuples in the order of `columns`) into the doctype's table; with
	`ignore_duplicates`, INSERT IGNORE (a row whose unique key exists is dropped)."""
	rows = list(rows)
	head = (
		f"INSERT {'IGNORE ' if ignore_duplicates else ''}INTO `tab{doctype}` "
		f"({', '.join(f'`{c}`' for c in columns)}) VALUES "
	)
	one = "(" + ", ".join(["%s"] * len(columns)) + ")"
	for start in range(0, len(rows), rows_per_statement):
		chunk = rows[start : start + rows_per_statement]
		frappe.db.sql(head + ", ".join([one] * len(chunk)), [value for row in chunk for value in row])
