"""Install-time setup: detect which doctypes play each CRM role and add the consent field."""

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


def after_install() -> None:
	create_custom_fields(custom_fields(), ignore_validate=True)
	hosts.detect_and_save()
	frappe_crm.install_form_scripts()


def after_migrate() -> None:
	create_custom_fields(custom_fields(), ignore_validate=True)
	frappe_crm.install_form_scripts()


def after_app_install(app_name: str) -> None:
	"""A host app installed later (ERPNext, CRM, Helpdesk) may bring better defaults."""
	if app_name != "marketing_flows":
		hosts.detect_and_save(only_empty=True)
		create_custom_fields(custom_fields(), ignore_validate=True)  # its leads get the consent field
		frappe_crm.install_form_scripts()


def before_uninstall() -> None:
	frappe_crm.remove_form_scripts()
	for doctype in CONSENT_AFTER:
		name = frappe.db.get_value("Custom Field", {"dt": doctype, "fieldname": CONSENT_FIELD})
		if name:
			frappe.delete_doc("Custom Field", name, ignore_permissions=True, force=True)


def after_uninstall() -> None:
	"""Frappe drops the tables but not the sequence behind the log's autoincrement name."""
	frappe.db.sql_ddl("DROP SEQUENCE IF EXISTS `marketing_flow_log_id_seq`")
