"""The host apps' doctypes (Frappe, ERPNext, Frappe CRM, Helpdesk): which doctype plays
which role, how a person's record is read and written, companies, and the fields that link
a record to a person or company."""
