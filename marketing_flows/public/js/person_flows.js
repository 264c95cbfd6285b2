// "Add to flow" and the "Flows" panel on the forms and lists of the people flows enrol:
// Contact, ERPNext's Lead, Frappe CRM's CRM Lead (marketing_flows). Each doctype's own small
// file (contact.js, lead.js, crm_lead.js, *_list.js) calls these; the timeline and the
// enrolment's result are the flow form's own dialogs (flow_dialogs.js).

// Who may add people to flows is the server's to say (engine/permissions.py: flow operators),
// told at login (marketing_flows/boot.py); enrolling checks again.
function marketing_flows_may_enrol() {
	return !!frappe.boot.marketing_flows?.is_flow_operator;
}

// Form refresh: the panel for everyone who may read participants, the action for operators.
function marketing_flows_person_refresh(frm) {
	// the Time Zone field (install.py): a zone that is none goes to the server, which refuses it
	// with a message saying what a zone looks like (Frappe's Autocomplete would drop it silently)
	const zone = frm.get_field("mf_time_zone");
	if (zone) zone.df.ignore_validation = 1;
	if (frm.is_new()) return;
	marketing_flows_panel(frm);
	if (!marketing_flows_may_enrol()) return;
	frm.add_custom_button(
		__("Add to flow"),
		() => marketing_flows_add_to_flow([frm.doc.name], frm.doctype),
		__("Actions")
	);
}

// List: "Add to flow" in the Actions menu for the checked rows.
function marketing_flows_person_list(doctype) {
	frappe.listview_settings[doctype] = frappe.listview_settings[doctype] || {};
	const previous = frappe.listview_settings[doctype].onload;
	frappe.listview_settings[doctype].onload = function (listview) {
		previous && previous(listview);
		if (!marketing_flows_may_enrol()) return;
		listview.page.add_actions_menu_item(__("Add to flow"), () => {
			const names = listview.get_checked_items(true);
			if (!names.length) {
				frappe.msgprint(__("Select the people to add first."));
				return;
			}
			marketing_flows_add_to_flow(names, doctype);
		});
	};
}

// The person's participations: flow, status, current step, succeeded; a click shows the
// timeline of that participation. A Contact's include those of the lead it was converted from.
function marketing_flows_panel(frm) {
	if (!frappe.model.can_read("Marketing Flow Participant")) return;
	const esc = frappe.utils.escape_html;
	frappe.db.get_list("Marketing Flow Participant", {
		filters: frm.doctype === "Contact"
			? { contact: frm.doc.name }
			: { person_doctype: frm.doctype, person: frm.doc.name },
		fields: ["name", "flow", "status", "current_step", "succeeded", "enrolled_on"],
		order_by: "enrolled_on desc",
		limit: 20,
	}).then((rows) => {
		$(frm.dashboard.parent).find(".mf-flows-panel").closest(".form-dashboard-section").remove();
		const body = rows.length
			? `<table class="table table-sm mb-0"><thead><tr><th>${__("Flow")}</th><th>${__("Status")}</th>
				<th>${__("Current Step")}</th><th>${__("Succeeded")}</th><th></th></tr></thead><tbody>${rows.map((p) => `<tr>
				<td><a href="/app/marketing-flow/${encodeURIComponent(p.flow)}">${esc(p.flow)}</a></td>
				<td>${esc(__(p.status))}</td><td>${esc(p.current_step || "")}</td>
				<td>${p.succeeded ? `<span class="indicator-pill green">${__("Yes")}</span>` : ""}</td>
				<td><a class="mf-timeline-link" data-flow="${esc(p.flow)}" data-name="${esc(p.name)}">${__("Timeline")}</a></td>
				</tr>`).join("")}</tbody></table>`
			: `<div class="text-muted small">${__("Not in any flow.")}</div>`;
		const $section = frm.dashboard.add_section(`<div class="mf-flows-panel">${body}</div>`, __("Flows"));
		$section.find(".mf-timeline-link").on("click", function () {
			marketing_flows.timeline_dialog($(this).attr("data-flow"), $(this).attr("data-name"));
		});
		frm.dashboard.show();
	});
}

function marketing_flows_add_to_flow(contacts, doctype) {
	const d = new frappe.ui.Dialog({
		title: __("Add to flow"),
		fields: [{
			fieldname: "flow", fieldtype: "Link", options: "Marketing Flow", label: __("Flow"), reqd: 1,
			get_query: () => ({
				filters: { status: ["in", ["Draft", "Running", "Paused"]], person_doctype: doctype || "Contact" },
			}),
		}],
		primary_action_label: __("Add"),
		primary_action({ flow }) {
			frappe.call({
				method: "marketing_flows.api.enrol.add_to_flow",
				args: { flow, contacts },
				freeze: true,
			}).then((r) => {
				d.hide();
				const res = r.message || {};
				if (res.enrolled && !res.queued && window.cur_frm && contacts.includes(cur_frm.doc.name)) {
					marketing_flows_panel(cur_frm); // the form's Flows panel shows the new participation
				}
				marketing_flows.show_enrol_result(res, { flow, asked: contacts.length });
			});
		},
	});
	d.show();
}
window.marketing_flows_add_to_flow = marketing_flows_add_to_flow;
window.marketing_flows_person_refresh = marketing_flows_person_refresh;
window.marketing_flows_person_list = marketing_flows_person_list;
