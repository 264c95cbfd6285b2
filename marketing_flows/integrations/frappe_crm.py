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
async function setupForm({ doc, call, $dialog, createToast, resource }) {
	const DOCTYPE = %(doctype)s;
	// users without a Marketing Flows role get an error: they see nothing of it
	const ctx = await call("marketing_flows.api.crm.record_context", { doctype: DOCTYPE, name: doc.name }).catch(
		() => null
	);
	if (!ctx) return { actions: [] };
	const L = ctx.labels;
	const esc = (s) =>
		String(s == null ? "" : s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
	// the page's own record: reloading it runs this script again (Flows (n) counts anew)
	const page = resource && (resource.lead || resource.deal);
	const cell = "padding:6px 12px 6px 0;text-align:left;vertical-align:top";
	const head = cell + ";font-weight:500;color:#7c7c7c;border-bottom:1px solid #ededed";
	const timeline = (p) =>
		`<details class="mf-timeline"><summary style="cursor:pointer;color:#0289f7;font-size:12px">${esc(L.timeline)}</summary>` +
		(p.events.length
			? `<table style="margin:4px 0 8px;font-size:12px;color:#525252">` +
			  p.events
					.map(
						(e) =>
							`<tr class="mf-timeline-row"><td style="${cell};white-space:nowrap;color:#7c7c7c">${esc(e.when)}</td>` +
							`<td style="${cell}">${esc(e.step)}</td><td style="${cell};font-weight:500">${esc(e.event)}</td>` +
							`<td style="${cell}">${esc(e.message)}</td></tr>`
					)
					.join("") +
			  `</table>`
			: `<div style="margin:4px 0 8px;font-size:12px;color:#7c7c7c">${esc(L.no_events)}</div>`) +
		`</details>`;
	const panel = () =>
		`<table class="mf-flows" style="width:100%%;border-collapse:collapse;font-size:14px;color:#383838"><thead><tr>` +
		[L.flow, L.person, L.status, L.step, L.succeeded].map((h) => `<th style="${head}">${esc(h)}</th>`).join("") +
		`</tr></thead><tbody>` +
		ctx.participations
			.map(
				(p) =>
					`<tr class="mf-participation" style="border-top:1px solid #ededed"><td style="${cell}">` +
					`<a href="/app/marketing-flow/${encodeURIComponent(p.flow)}" target="_blank" style="text-decoration:underline">${esc(p.flow)}</a></td>` +
					`<td style="${cell}">${esc(p.who)}</td><td style="${cell}">${esc(p.status_label)}</td>` +
					`<td style="${cell}">${esc(p.step)}</td><td style="${cell}">${p.succeeded ? esc(L.yes) : ""}</td></tr>` +
					`<tr><td colspan="5" style="padding:0 0 6px">${timeline(p)}</td></tr>`
			)
			.join("") +
		`</tbody></table>`;
	const actions = [];
	if (ctx.participations.length) {
		actions.push({
			label: L.flows,
			onClick: () => $dialog({ title: L.flows, size: "3xl", html: panel() }),
		});
	}
	if (ctx.can_enrol && ctx.flows.length) {
		const enrol = async (flow, close) => {
			let r;
			try {
				r = await call("marketing_flows.api.crm.add_record_to_flow", {
					doctype: DOCTYPE,
					name: doc.name,
					flow: flow.name,
				});
			} catch (e) {
				createToast({ title: L.add_to_flow, text: (e.messages || [])[0] || String(e), icon: "x", iconClasses: "text-red-600" });
				return;
			}
			close();
			if (r.enrolled && r.enrolled === r.asked && !r.not_enrolled.length) {
				createToast({ title: r.message, icon: "check", iconClasses: "text-green-600" });
			} else {
				// how many got in, and who did not and why: a dialog, to be read
				$dialog({
					title: L.add_to_flow,
					html:
						`<p class="mf-enrol-result" style="font-size:14px;color:#383838">${esc(r.message)}</p>` +
						(r.not_enrolled.length
							? `<p style="margin-top:12px;font-size:14px;color:#7c7c7c">${esc(L.not_enrolled)}</p>` +
							  `<ul style="margin:4px 0 0 18px;list-style:disc;font-size:14px;color:#383838">` +
							  r.not_enrolled.map((why) => `<li>${esc(why)}</li>`).join("") +
							  `</ul>`
							: ""),
				});
			}
			if (r.enrolled && page) page.reload();
		};
		actions.push({
			label: L.add_to_flow,
			onClick: () =>
				$dialog({
					title: L.add_to_flow,
					message: L.choose,
					actions: ctx.flows.map((flow) => ({ label: flow.flow_name, onClick: (close) => enrol(flow, close) })),
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
