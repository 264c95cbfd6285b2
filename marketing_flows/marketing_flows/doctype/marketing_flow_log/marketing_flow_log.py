# Copyright (c) 2026, marketing_flows contributors
# For license information, please see license.txt

import frappe
from frappe.model.document import Document


class MarketingFlowLog(Document):
	pass


def on_doctype_update() -> None:
	"""Per-step statistics and segments read the log by (flow, step_id, event); a participant's
	events by (participant, event); "Emailed Recently" a person's emails of every flow by
	(contact, event, creation)."""
	frappe.db.add_index("Marketing Flow Log", ["flow", "step_id", "event"], "flow_step_event")
	frappe.db.add_index("Marketing Flow Log", ["participant", "event"], "participant_event")
	frappe.db.add_index("Marketing Flow Log", ["contact", "event", "creation"], "contact_event_creation")
