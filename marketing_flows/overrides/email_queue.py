"""Email Queue, as Frappe has it, except that flow emails are the flow sender's.

Frappe's flush (every scheduler tick) and its "Send Now" call `EmailQueue.send()` on every
row that is not sent. A flow email (its reference is a participant) is left to the app's sender
(engine/sending/sender.py), which claims rows under a lease so that no row is sent twice; here the
sender is only woken. Every other email is sent by Frappe exactly as before.
"""

from frappe.email.doctype.email_queue.email_queue import EmailQueue

from marketing_flows.engine.sending import sender


class FlowAwareEmailQueue(EmailQueue):
	def send(self, smtp_server_instance=None):
		if self.reference_doctype == sender.PARTICIPANT:
			if self.is_to_be_sent():
				sender.wake()
			return
		return super().send(smtp_server_instance=smtp_server_instance)
