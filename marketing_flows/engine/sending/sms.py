"""SMS through the gateway of Frappe's SMS Settings, one request per message (the Send SMS
step calls it through the outbox, which records the call)."""

import frappe
import requests
from frappe import _
from frappe.core.doctype.sms_settings.sms_settings import get_headers, validate_receiver_nos

SMS_TIMEOUT_SECONDS = 15  # Frappe's own SMS sender waits forever for a gateway


def send_through_sms_settings(number: str, text: str, idempotency_key: str | None = None) -> str:
	"""One request to the gateway of Frappe's SMS Settings, built the way Frappe's send_sms
	builds it, but with a timeout, an Idempotency-Key header, and raising on any failure (so
	the runner retries); no SMS Log, which some Frappe builds lack. Returns the HTTP status."""
	settings = frappe.get_cached_doc("SMS Settings")
	if not settings.sms_gateway_url:
		raise frappe.ValidationError("SMS Settings has no gateway URL: configure SMS Settings.")
	headers = dict(get_headers(settings))
	if idempotency_key:
		headers["Idempotency-Key"] = idempotency_key
	params = {settings.message_parameter: text}
	for row in settings.get("parameters"):
		if not row.header:
			params[row.parameter] = row.value
	params[settings.receiver_parameter] = validate_receiver_nos([number])[0]
	kwargs: dict = {"headers": headers, "timeout": SMS_TIMEOUT_SECONDS, "allow_redirects": False}
	if headers.get("Content-Type") == "application/json":
		kwargs["json"] = params
	elif settings.use_post:
		kwargs["data"] = params
	else:
		kwargs["params"] = params
	response = requests.request("POST" if settings.use_post else "GET", settings.sms_gateway_url, **kwargs)
	if not 200 <= response.status_code < 300:
		raise frappe.ValidationError(_("SMS gateway answered {0}").format(response.status_code))
	return str(response.status_code)
