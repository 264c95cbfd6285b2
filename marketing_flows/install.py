"""Install-time setup: detect which doctypes play each CRM role, add the consent field and the
flow sender's lease fields and index on the Email Queue."""

import frappe
from frappe.custom.doctype.custom_field.custom_field import create_custom_fields

from marketing_flows.engine import hosts
from marketing_flows.integrations import frappe_crm

CONSENT_FIELD = "mf_marketing_consent"


CONSENT_AFTER = {"Contact": "unsubscribed", "Lead": "unsubscribed", "CRM Lead": "converted"}


def custom_fields() -> dict[str, list[dict]]:
	"""Fields the app adds to doctypes it does not own: the consent check on the people flows
	enrol (Contact, and the leads of the installed hosts)."""
	return {
		doctype: [
			{
				"fieldname": CONSENT_FIELD,
				"fieldtype": "Check",
				"label": "Marketing Consent",
				"insert_after": after,
				"description": "This person agreed to receive marketing (flows that require consent check it).",
			}
		]
		for doctype, after in CONSENT_AFTER.items()
		if doctype == "Contact" or frappe.db.exists("DocType", doctype)
	}


# The flow sender's lease on the Email Queue rows it is sending (engine/sender.py).
EMAIL_QUEUE_FIELDS = [
	{
		"fieldname": "mf_lease_until",
		"fieldtype": "Datetime",
		"label": "Flow Sender Lease Until",
		"insert_after": "send_after",
		"read_only": 1,
		"no_copy": 1,
		"description": "A flow email in Sending past this moment is taken again by the flow sender.",
	},
	{
		"fieldname": "mf_resends",
		"fieldtype": "Int",
		"label": "Flow Sender Resends",
		"insert_after": "mf_lease_until",
		"read_only": 1,
		"no_copy": 1,
		"default": "0",
		"description": "Times this flow email was sent again because its sender stopped before the "
		"mail server's answer was recorded (the recipient may have it twice).",
	},
]
# Optional DKIM signing of flow emails, per Email Account (engine/sender.py signs with dkimpy).
EMAIL_ACCOUNT_FIELDS = [
	{
		"fieldname": "mf_dkim_section",
		"fieldtype": "Section Break",
		"label": "Flow Emails: DKIM Signature",
		"insert_after": "signature",
		"collapsible": 1,
		"description": "Marketing Flows signs the flow emails it sends from this account with this key, "
		"when your mail relay does not sign them. Publish the public key as a TXT record at "
		"<selector>._domainkey.<domain>.",
	},
	{
		"fieldname": "mf_dkim_domain",
		"fieldtype": "Data",
		"label": "DKIM Domain",
		"insert_after": "mf_dkim_section",
	},
	{
		"fieldname": "mf_dkim_selector",
		"fieldtype": "Data",
		"label": "DKIM Selector",
		"insert_after": "mf_dkim_domain",
	},
	{
		"fieldname": "mf_dkim_private_key",
		"fieldtype": "Password",
		"label": "DKIM Private Key (PEM)",
		"insert_after": "mf_dkim_selector",
	},
]
SENDER_INDEX = "mf_flow_sender"


def sender_setup() -> None:
	"""The lease fields and the index the sender claims by; the DKIM fields of Email Accounts."""
	create_custom_fields(
		{"Email Queue": EMAIL_QUEUE_FIELDS, "Email Account": EMAIL_ACCOUNT_FIELDS}, ignore_validate=True
	)
	frappe.db.add_index(
		"Email Queue", ["reference_doctype", "email_account", "status", "creation"], SENDER_INDEX
	)


def after_install() -> None:
	create_custom_fields(custom_fields(), ignore_validate=True)
	sender_setup()
	hosts.detect_and_save()
	frappe_crm.install_form_scripts()


def after_migrate() -> None:
	create_custom_fields(custom_fields(), ignore_validate=True)
	sender_setup()
	frappe_crm.install_form_scripts()


def after_app_install(app_name: str) -> None:
	"""A host app installed later (ERPNext, CRM, Helpdesk) may bring better defaults."""
	if app_name != "marketing_flows":
		hosts.detect_and_save(only_empty=True)
		create_custom_fields(custom_fields(), ignore_validate=True)  # its leads get the consent field
		frappe_crm.install_form_scripts()


def before_uninstall() -> None:
	frappe_crm.remove_form_scripts()
	fields = [(doctype, CONSENT_FIELD) for doctype in CONSENT_AFTER]
	fields += [("Email Queue", f["fieldname"]) for f in EMAIL_QUEUE_FIELDS]
	fields += [("Email Account", f["fieldname"]) for f in EMAIL_ACCOUNT_FIELDS]
	for doctype, fieldname in fields:
		name = frappe.db.get_value("Custom Field", {"dt": doctype, "fieldname": fieldname})
		if name:
			frappe.delete_doc("Custom Field", name, ignore_permissions=True, force=True)
	if frappe.db.sql("SHOW INDEX FROM `tabEmail Queue` WHERE Key_name = %s", SENDER_INDEX):
		frappe.db.sql_ddl(f"ALTER TABLE `tabEmail Queue` DROP INDEX `{SENDER_INDEX}`")


def after_uninstall() -> None:
	"""Frappe drops the tables but not the sequence behind the log's autoincrement name."""
	frappe.db.sql_ddl("DROP SEQUENCE IF EXISTS `marketing_flow_log_id_seq`")
