# Copyright (c) 2026, marketing_flows contributors
# For license information, please see license.txt

from frappe.model.document import Document


class MarketingEmailConfirmation(Document):
	"""Written by the engine only (engine/entering/confirmation.py): users read it, as evidence."""

	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		confirmation_sent: DF.Check
		confirmed_ip: DF.Data | None
		confirmed_on: DF.Datetime | None
		confirmed_user_agent: DF.SmallText | None
		email_address: DF.Data
		email_queue: DF.Data | None
		flow: DF.Link | None
		person: DF.DynamicLink | None
		person_doctype: DF.Link | None
		requested_on: DF.Datetime | None
		source: DF.Data | None
		status: DF.Literal["Pending", "Confirmed"]
	# end: auto-generated types
