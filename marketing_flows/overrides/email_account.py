"""Email Account, as Frappe has it, except that bounce notices and complaint reports about flow
emails go to the flows (engine/sending/bounces.py) instead of becoming Communications."""

from frappe.email.doctype.email_account.email_account import EmailAccount

from marketing_flows.engine.sending import bounces


class FlowAwareEmailAccount(EmailAccount):
	def get_inbound_mails(self):
		return [mail for mail in super().get_inbound_mails() if not bounces.take(mail.mail)]
