"""Install-time setup: detect which doctypes play each CRM role, add the consent and time-zone
fields (and Contact's "No Longer at the Company"), the flow sender's lease fields and index on
the Email Queue."""

import frappe
from frappe.custom.doctype.custom_field.custom_field import create_custom_fields

from marketing_flows.engine.entering import eligibility
from marketing_flows.engine.hosts import doctype_roles, time_zones
from marketing_flows.integrations import frappe_crm

CONSENT_FIELD = "mf_marketing_consent"
TIME_ZONE_FIELD = time_zones.PERSON_FIELD
LEFT_COMPANY_FIELD = eligibility.LEFT_COMPANY_FIELD  # Contact only: leads have no company to leave


CONSENT_AFTER = {"Contact": "unsubscribed", "Lead": "unsubscribed", "CRM Lead": "converted"}


def custom_fields() -> dict[str, list[dict]]:
	"""Fields the app adds to doctypes it does not own: the consent check and the time zone on
	the people flows enrol (Contact, and the leads of the installed hosts), and "No Longer at the
	Company" on Contact (eligibility.py ends the flows of a person marked so)."""
	fields = {
		doctype: [
			{
				"fieldname": CONSENT_FIELD,
				"fieldtype": "Check",
				"label": "Marketing Consent",
				"insert_after": after,
				"description": "This person agreed to receive marketing (flows that require consent check it).",
			},
			{
				"fieldname": TIME_ZONE_FIELD,
				"fieldtype": "Autocomplete",
				"label": "Time Zone",
				"insert_after": CONSENT_FIELD,
				"options": "\n".join(time_zones.all_zones()),
				"description": "The person's time zone for flows that send in the person's time "
				"(e.g. Europe/Oslo). Empty: found from the address or country.",
			},
		]
		for doctype, after in CONSENT_AFTER.items()
		if doctype == "Contact" or frappe.db.exists("DocType", doctype)
	}
	fields["Contact"].append(
		{
			"fieldname": LEFT_COMPANY_FIELD,
			"fieldtype": "Check",
			"label": "No Longer at the Company",
			"insert_after": TIME_ZONE_FIELD,
			"description": "This person has left their company: flows enrol them no more, and end "
			"their participations before the next step.",
		}
	)
	return fields


# The flow sender's lease on the Email Queue rows it is sending (engine/sending/sender.py).
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
# Optional DKIM signing of flow emails, per Email Account (engine/sending/sender.py signs with dkimpy).
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
	doctype_roles.detect_and_save()
	frappe_crm.install_form_scripts()


def after_migrate() -> None:
	create_custom_fields(custom_fields(), ignore_validate=True)
	sender_setup()
	frappe_crm.install_form_scripts()


def after_app_install(app_name: str) -> None:
	"""A host app installed later (ERPNext, CRM, Helpdesk) may bring better defaults."""
	if app_name != "marketing_flows":
		doctype_roles.detect_and_save(only_empty=True)
		create_custom_fields(custom_fields(), ignore_validate=True)  # its leads get the consent field
		frappe_crm.install_form_scripts()


# --- uninstall: the consent evidence stays ---------------------------------------------------

EVIDENCE_COLUMNS = (
	"kind",
	"doctype",
	"name",
	"email",
	"value",
	"recorded_on",
	"recorded_by",
	"flow",
	"detail",
	"requested_on",
	"source",
	"ip",
	"user_agent",
)


def _csv_cell(value) -> str:
	"""A CSV cell that a spreadsheet shows as text, never runs as a formula."""
	text = "" if value is None else str(value)
	return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def consent_evidence() -> list[dict]:
	"""What the app holds as proof of consent and of its withdrawal, from the columns and tables
	an uninstall removes: every person whose consent field is checked (with when and by whom it
	was last changed, where the doctype keeps a version history), every unsubscribe the flows
	logged, every double opt-in request and confirmation (when, from which IP and browser), and
	every address blocked by a hard bounce, a complaint or by hand."""
	rows: list[dict] = []
	for doctype in CONSENT_AFTER:
		if not frappe.db.table_exists(doctype) or not frappe.db.has_column(doctype, CONSENT_FIELD):
			continue
		email = next((f for f in ("email_id", "email") if frappe.db.has_column(doctype, f)), None)
		fields = ["name", "modified", "modified_by", CONSENT_FIELD] + ([email] if email else [])
		people = frappe.get_all(doctype, filters={CONSENT_FIELD: 1}, fields=fields, order_by="name")
		changes = _consent_changes(doctype)
		for person in people:
			changed_on, changed_by = changes.get(person.name, (None, None))
			rows.append(
				{
					"kind": "Consent",
					"doctype": doctype,
					"name": person.name,
					"email": person.get(email) if email else None,
					"value": person.get(CONSENT_FIELD),
					"recorded_on": changed_on or person.modified,
					"recorded_by": changed_by or person.modified_by,
					"detail": "consent last changed" if changed_on else "record last modified",
				}
			)
	if frappe.db.table_exists("Marketing Flow Log"):
		for entry in frappe.get_all(
			"Marketing Flow Log",
			filters={"event": "Unsubscribed"},
			fields=["participant", "contact", "flow", "message", "creation"],
			order_by="creation",
		):
			rows.append(
				{
					"kind": "Unsubscribed",
					"doctype": "Contact" if entry.contact else "Marketing Flow Participant",
					"name": entry.contact or entry.participant,
					"email": entry.message,
					"recorded_on": entry.creation,
					"recorded_by": "recipient (unsubscribe link)",
					"flow": entry.flow,
					"detail": f"participant {entry.participant}",
				}
			)
	if frappe.db.table_exists("Marketing Email Confirmation"):
		for confirmation in frappe.get_all(
			"Marketing Email Confirmation",
			fields=[
				"name",
				"email_address",
				"status",
				"flow",
				"person_doctype",
				"person",
				"source",
				"requested_on",
				"confirmed_on",
				"confirmed_ip",
				"confirmed_user_agent",
			],
			order_by="requested_on",
		):
			rows.append(
				{
					"kind": "Double Opt-in",
					"doctype": confirmation.person_doctype or "Marketing Email Confirmation",
					"name": confirmation.person or confirmation.name,
					"email": confirmation.email_address,
					"value": confirmation.status,
					"recorded_on": confirmation.confirmed_on,
					"recorded_by": "recipient (confirmation link)" if confirmation.confirmed_on else None,
					"flow": confirmation.flow,
					"detail": f"Marketing Email Confirmation {confirmation.name}",
					"requested_on": confirmation.requested_on,
					"source": confirmation.source,
					"ip": confirmation.confirmed_ip,
					"user_agent": confirmation.confirmed_user_agent,
				}
			)
	if frappe.db.table_exists("Marketing Blocked Address"):
		for blocked in frappe.get_all(
			"Marketing Blocked Address",
			fields=["email_address", "reason", "blocked_on", "owner", "detail"],
			order_by="blocked_on",
		):
			rows.append(
				{
					"kind": "Blocked Address",
					"doctype": "Marketing Blocked Address",
					"name": blocked.email_address,
					"email": blocked.email_address,
					"value": blocked.reason,
					"recorded_on": blocked.blocked_on,
					"recorded_by": blocked.owner,
					"detail": blocked.detail,
				}
			)
	return rows


def _consent_changes(doctype: str) -> dict[str, tuple]:
	"""name -> (when, by whom) the consent field last changed, from the doctype's Version
	history (only doctypes that track changes have one)."""
	found: dict[str, tuple] = {}
	versions = frappe.get_all(
		"Version",
		filters={"ref_doctype": doctype, "data": ("like", f"%{CONSENT_FIELD}%")},
		fields=["docname", "data", "creation", "owner"],
		order_by="creation",
	)
	for version in versions:
		try:
			changed = frappe.parse_json(version.data).get("changed") or []
		except Exception:
			continue
		if any(row and row[0] == CONSENT_FIELD for row in changed):
			found[version.docname] = (version.creation, version.owner)
	return found


def export_consent_evidence() -> str | None:
	"""Save the consent evidence as a private CSV File of the site (Home folder, System Managers
	only) and say where; its URL, or None when there is nothing to keep."""
	import csv
	import io

	from frappe.utils import now_datetime

	rows = consent_evidence()
	if not rows:
		print("Marketing Flows: no consent evidence to keep.")
		return None
	out = io.StringIO()
	writer = csv.writer(out)
	writer.writerow(EVIDENCE_COLUMNS)
	for row in rows:
		writer.writerow([_csv_cell(row.get(column)) for column in EVIDENCE_COLUMNS])
	file = frappe.get_doc(
		{
			"doctype": "File",
			"file_name": f"marketing-flows-consent-evidence-{now_datetime():%Y%m%d-%H%M%S}.csv",
			"is_private": 1,
			"content": out.getvalue().encode(),
		}
	)
	file.flags.ignore_permissions = True
	file.insert()
	frappe.db.commit()  # kept even if the rest of the uninstall fails
	print(
		f"Marketing Flows: consent evidence ({len(rows)} rows: consent, unsubscribes, double "
		f"opt-ins, blocked addresses) kept in the private file {file.file_url} "
		f"({frappe.get_site_path('private', 'files', file.file_name)}). The consent column "
		f"`{CONSENT_FIELD}` keeps its values in the database; they show again if the app is "
		"installed again."
	)
	return file.file_url


def before_uninstall() -> None:
	export_consent_evidence()
	frappe_crm.remove_form_scripts()
	fields = [(doctype, field) for doctype in CONSENT_AFTER for field in (CONSENT_FIELD, TIME_ZONE_FIELD)]
	fields.append(("Contact", LEFT_COMPANY_FIELD))
	fields += [("Email Queue", f["fieldname"]) for f in EMAIL_QUEUE_FIELDS]
	fields += [("Email Account", f["fieldname"]) for f in EMAIL_ACCOUNT_FIELDS]
	for doctype, fieldname in fields:
		name = frappe.db.get_value("Custom Field", {"dt": doctype, "fieldname": fieldname})
		if name:
			# the field goes, its column and values stay (Frappe drops no column with a Custom
			# Field): consent evidence is not destroyed, and a reinstall shows it again
			frappe.delete_doc("Custom Field", name, ignore_permissions=True, force=True)
	if frappe.db.sql("SHOW INDEX FROM `tabEmail Queue` WHERE Key_name = %s", SENDER_INDEX):
		frappe.db.sql_ddl(f"ALTER TABLE `tabEmail Queue` DROP INDEX `{SENDER_INDEX}`")


def after_uninstall() -> None:
	"""Frappe drops the tables but not the sequence behind the log's autoincrement name."""
	frappe.db.sql_ddl("DROP SEQUENCE IF EXISTS `marketing_flow_log_id_seq`")
