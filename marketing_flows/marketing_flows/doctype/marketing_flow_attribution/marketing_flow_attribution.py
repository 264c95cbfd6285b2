# Copyright (c) 2026, marketing_flows contributors
# For license information, please see license.txt

import frappe
from frappe.model.document import Document


class MarketingFlowAttribution(Document):
	"""Revenue a flow is credited with: written by engine/measuring/revenue.py only."""

	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		amount: DF.Currency
		document_date: DF.Datetime | None
		document_name: DF.DynamicLink
		document_type: DF.Link
		flow: DF.Link
		flow_version: DF.Int
		held_out: DF.Check
		participant: DF.Link

	# end: auto-generated types
	def before_insert(self) -> None:
		"""Credits come from the revenue documents themselves, never by hand, the API or an import."""
		frappe.throw(
			frappe._("Revenue is credited to flows from the documents that carry it."),
			title=frappe._("Written by the flows"),
		)

	def after_delete(self) -> None:
		"""A System Manager deleted a credit: the participant's sums follow."""
		from marketing_flows.engine.measuring import revenue

		revenue.update_sums([self.participant])


def on_doctype_update() -> None:
	"""One credit per participant and document, whoever writes it (two workers may race); the
	reports sum a flow's credits per group and per person from (flow, held_out, participant,
	amount), which covers those reads."""
	frappe.db.add_unique(
		"Marketing Flow Attribution",
		["participant", "document_type", "document_name"],
		constraint_name="participant_document",
	)
	frappe.db.add_index(
		"Marketing Flow Attribution",
		["flow", "held_out", "participant", "amount"],
		"flow_held_out_participant",
	)
