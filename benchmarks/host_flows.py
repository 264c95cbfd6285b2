"""Make running flows that watch the host's doctypes on a site (for scripts/host_suites.sh):
a Document Event trigger and a goal on every doctype that plays Person, Deal and Issue there,
and a flow of the host's leads (ERPNext Lead, CRM Lead) with a Lead Converted goal, so the
host's own tests save those documents with the app's hooks at work.

Run with the bench's Python from the bench's sites directory:
  python <app>/benchmarks/host_flows.py <site>
Idempotent: flows that exist are left as they are.
"""

from __future__ import annotations

import sys

import frappe

from marketing_flows.engine.hosts import doctype_roles  # noqa: E402

WAIT = [{"step_id": "wait", "step_type": "Wait", "wait_amount": 7, "wait_unit": "Days"}]


def make_flows() -> list[str]:

	goals = [
		{"criterion_type": kind}
		for kind, role in (("Deal Created", "deal"), ("Issue Created", "issue"))
		if doctype_roles.doctype_for(role)
	] or [{"criterion_type": "Person Updated", "conditions": '[["designation", "=", "Host check"]]'}]
	# doctype -> (trigger event, the flow's people, its goals)
	person = doctype_roles.person_doctype()
	watched = {person: ("Insert or Update", person, goals)}
	for role in ("deal", "issue"):
		if doctype := doctype_roles.doctype_for(role):
			watched[doctype] = ("Insert", person, goals)
	for lead in doctype_roles.person_doctypes()[1:]:  # the leads of the installed hosts
		watched[lead] = ("Insert or Update", lead, [{"criterion_type": "Lead Converted"}])
	made = []
	for doctype, (event, people, criteria) in watched.items():
		name = f"Host check: {doctype}"
		if frappe.db.exists("Marketing Flow", name):
			continue
		flow = frappe.get_doc(
			{
				"doctype": "Marketing Flow",
				"flow_name": name,
				"person_doctype": people,
				"trigger_type": "Document Event",
				"trigger_doctype": doctype,
				"trigger_event": event,
				"steps": WAIT,
				"success_criteria": criteria,
			}
		).insert()
		flow.run()
		made.append(flow.name)
	frappe.db.commit()
	return made


if __name__ == "__main__":
	frappe.init(site=sys.argv[1], sites_path=".")
	frappe.connect()
	frappe.set_user("Administrator")
	try:
		print("flows made:", ", ".join(make_flows()) or "none (they exist)")
	finally:
		frappe.destroy()
