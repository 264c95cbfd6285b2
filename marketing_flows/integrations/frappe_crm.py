"""Frappe CRM's own UI: a CRM Form Script (Frappe CRM's mechanism for custom actions on its
pages) that gives the CRM Lead and CRM Deal pages "Add to flow" for Flow Administrators and shows
the flows of the record's people (the lead; the deal's contacts and lead). Installed when Frappe CRM is there (with the app, or when CRM comes later),
removed on uninstall. The script asks the server for everything it shows (labels translated
there, permissions checked there): see marketing_flows/api/crm.py."""

from __future__ import annotations

import frappe

FORM_SCRIPT = "Marketing Flows: {doctype}"
DOCTYPES = ("CRM Lead", "CRM Deal")

SCRIPT = """// Installed by marketing_flows: do not edit (it is rewritten on migrate).
async function setupForm({ doc, call, $dialog, createToast }) {
	const DOCTYPE = %(doctype)s;
	// users without a Marketing Flows role get an error: they see nothing of it
	const ctx = await call("marketing_flows.api.crm.record_context", { doctype: DOCTYPE, name: doc.name }).catch(
		() => null
	);
	if (!ctx) return { actions: [] };
	const actions = [];
	if (ctx.participations.length) {
		actions.push({
			label: ctx.labels.flows,
			onClick: () =>
				$dialog({
					title: ctx.labels.flows,
					message: ctx.participations.map((p) => p.summary).join("\\n"),
				}),
		});
	}
	if (ctx.can_enrol && ctx.flows.length) {
		actions.push({
			label: ctx.labels.add_to_flow,
			onClick: () =>
				$dialog({
					title: ctx.labels.add_to_flow,
					message: ctx.labels.choose,
					actions: ctx.flows.map((flow) => ({
						label: flow.flow_name,
						onClick: async (close) => {
							const r = await call("marketing_flows.api.crm.add_record_to_flow", {
								doctype: DOCTYPE,
								name: doc.name,
								flow: flow.name,
							});
							createToast({ title: r.message, icon: r.enrolled ? "check" : "x" });
							close();
						},
					})),
				}),
		});
	}
	return { actions };
}
"""


def installed() -> bool:
	return "crm" in frappe.get_installed_apps() and frappe.db.exists("DocType", "CRM Form Script")


def install_form_scripts() -> None:
	"""Create (or refresh) the app's CRM Form Scripts when Frappe CRM is installed."""
	if not installed():
		return
	for doctype in DOCTYPES:
		name = FORM_SCRIPT.format(doctype=doctype)
		script = SCRIPT % {"doctype": frappe.as_json(doctype)}
		if frappe.db.exists("CRM Form Script", name):
			if frappe.db.get_value("CRM Form Script", name, "script") != script:
				frappe.db.set_value("CRM Form Script", name, "script", script)
			continue
		doc = frappe.get_doc(
			{
				"doctype": "CRM Form Script",
				"name": name,
				"dt": doctype,
				"view": "Form",
				"enabled": 1,
				"script": script,
			}
		)
		doc.flags.ignore_permissions = True
		doc.insert(set_name=name)


def remove_form_scripts() -> None:
	if not frappe.db.exists("DocType", "CRM Form Script"):
		return
	for doctype in DOCTYPES:
		name = FORM_SCRIPT.format(doctype=doctype)
		if frappe.db.exists("CRM Form Script", name):
			frappe.delete_doc("CRM Form Script", name, ignore_permissions=True, force=True)
