"""Participants of the previous version named their person by `contact` only: name it by
`person_doctype` + `person` too, and mark existing flows as flows of Contacts."""

import frappe


def execute() -> None:
	frappe.db.sql(
		"""UPDATE `tabMarketing Flow Participant`
		SET person_doctype = 'Contact', person = contact
		WHERE IFNULL(person, '') = '' AND IFNULL(contact, '') != ''"""
	)
	frappe.db.sql(
		"UPDATE `tabMarketing Flow` SET person_doctype = 'Contact' WHERE IFNULL(person_doctype, '') = ''"
	)
