# Copyright (c) 2026, marketing_flows contributors
# For license information, please see license.txt

import frappe
from frappe import _
from frappe.model.document import Document

from marketing_flows.engine.sending import mailer, render


class MarketingFlowContent(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		attach_files: DF.Check
		body: DF.TextEditor
		channel: DF.Literal["Email", "SMS"]
		content_name: DF.Data
		flow: DF.Link | None
		reply_to: DF.Data | None
		sender: DF.Link | None
		sender_type: DF.Literal["Email Account", "Person's Owner"]
		subject: DF.Data | None
		version: DF.Int

	# end: auto-generated types
	def validate(self) -> None:
		for fieldname in ("subject", "body"):
			if err := render.problem(self.get(fieldname)):
				frappe.throw(
					_("{0} has invalid Jinja ({1}).").format(_(self.meta.get_label(fieldname)), err),
					title=_("Invalid Template"),
				)
		if self.channel == "Email":
			if not self.subject:
				frappe.throw(_("Subject is required for email content."), frappe.MandatoryError)
			self.validate_sender()
			if self.attach_files:
				mailer.attachments_of(self)  # throws when the files weigh too much
		if self.has_value_changed("body") or self.has_value_changed("subject") or self.is_new():
			self.version = (self.version or 0) + 1

	def validate_sender(self) -> None:
		"""A named Sender Account must be able to send. No sender at all is fine here: content may
		be written before any outgoing Email Account exists; Run refuses a flow that would send
		it without one (validation.sender_errors), and the form says so gently (onload)."""
		if self.sender and not frappe.db.get_value("Email Account", self.sender, "enable_outgoing"):
			frappe.throw(
				_("Email Account {0} can't send emails (outgoing is off).").format(self.sender),
				title=_("Sender Account"),
			)
		if self.reply_to:
			self.reply_to = self.reply_to.strip()

	def onload(self) -> None:
		"""Whether the email could find a sender now (the form's note, not an error)."""
		if self.channel == "Email":
			self.set_onload("sender_problem", mailer.sender_problem(self.sender))
