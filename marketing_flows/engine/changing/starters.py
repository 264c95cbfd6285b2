"""Starter flows ("New from template"): which ready flows this site can have, and making one a
Draft with its own content. The starters themselves are data in marketing_flows/starter_flows/;
here they are fitted to the site, listed for the dialog and created through the same documents
and validation as a flow made by hand (the flow's save refuses what Run would refuse about its
steps, so a starter that is created opens valid in the designer)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

import frappe
from frappe import _

from marketing_flows import starter_flows
from marketing_flows.engine.hosts import doctype_roles
from marketing_flows.starter_flows import Site, Starter

if TYPE_CHECKING:
	from marketing_flows.engine.doctypes import MarketingFlow

FLOW = "Marketing Flow"
CONTENT = "Marketing Flow Content"


def site_facts() -> Site:
	"""What this site offers the starters, as the current user may use it."""
	person = doctype_roles.person_doctype()
	leads = [dt for dt in doctype_roles.person_doctypes() if doctype_roles.is_lead(dt)]
	# Frappe CRM's leads first: where a site has both, that is where the leads are worked
	leads.sort(key=lambda dt: dt != "CRM Lead")
	unsubscribed = doctype_roles.person_type(person).unsubscribed
	if unsubscribed and not (
		frappe.get_meta(person).has_field(unsubscribed) and frappe.has_permission(person, "write")
	):
		unsubscribed = None
	deal = doctype_roles.doctype_for("deal")
	appointment = doctype_roles.doctype_for("appointment")
	return Site(
		person=person,
		leads=next((dt for dt in leads if Site.has(dt)), None),
		deal=deal if deal and Site.has(deal) else None,
		appointment=appointment if appointment and Site.has(appointment) else None,
		unsubscribed=unsubscribed,
	)


def starters(site: Site | None = None) -> list[Starter]:
	"""Every starter, built for this site and in the user's language, in the dialog's order."""
	site = site or site_facts()
	return [
		importlib.import_module(f"{starter_flows.__name__}.{module}").build(site)
		for module in starter_flows.MODULES
	]


def starter(key: str, site: Site | None = None) -> Starter:
	for found in starters(site):
		if found.key == key:
			return found
	raise frappe.DoesNotExistError(_("There is no starter flow '{0}'.").format(key))


def listing() -> list[dict[str, Any]]:
	"""What the "New from template" dialog shows: each starter's title, description and steps,
	and, for one this site can't have, why (shown greyed out)."""
	return [
		{
			"key": s.key,
			"title": s.title,
			"description": s.description,
			"steps": [{"label": row["label"], "step_type": row["step_type"]} for row in s.steps],
			"available": not s.unavailable,
			"reason": s.unavailable or "",
		}
		for s in starters()
	]


def unique_name(doctype: str, base: str) -> str:
	"""`base`, or "`base` (2)", "(3)", ... : the first that no `doctype` record is named yet."""
	name, n = base, 1
	while frappe.db.exists(doctype, name):
		n += 1
		name = f"{base} ({n})"
	return name


def create(key: str) -> MarketingFlow:
	"""Make starter `key` a Draft flow with new content records of its own (the flow's content,
	linked to it); returns the flow. Everything is saved with the user's own permissions and
	the documents' own validation."""
	frappe.has_permission(FLOW, "create", throw=True)
	frappe.has_permission(CONTENT, "create", throw=True)
	chosen = starter(key)
	if chosen.unavailable:
		frappe.throw(
			_("{0} can't be made on this site: {1}").format(chosen.title, chosen.unavailable),
			title=_("Starter flow not available"),
		)
	flow_name = unique_name(FLOW, chosen.title)
	contents = {}
	for content in chosen.contents:
		doc = frappe.get_doc(
			{
				"doctype": CONTENT,
				"content_name": unique_name(CONTENT, f"{flow_name}: {content.title}"),
				"channel": content.channel,
				"subject": content.subject or None,
				"body": content.body,
			}
		).insert()
		contents[content.key] = doc
	steps = [
		{**row, "content": contents[row["content"]].name} if row.get("content") else dict(row)
		for row in chosen.steps
	]
	flow = frappe.get_doc(
		{
			"doctype": FLOW,
			"flow_name": flow_name,
			"description": chosen.description,
			**chosen.flow,
			"steps": [{k: v for k, v in row.items() if v is not None} for row in steps],
		}
	)
	flow.insert()
	for doc in contents.values():  # the flow's own content: copied with it, listed in its tab
		doc.db_set("flow", flow.name, update_modified=False)
	return flow
