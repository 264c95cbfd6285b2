// "Add to flow" and the "Flows" panel on the forms and lists of the people flows enrol:
// Contact, ERPNext's Lead, Frappe CRM's CRM Lead (marketing_flows). Each doctype's own small
// file (contact.js, lead.js, crm_lead.js, *_list.js) calls these.

// Form refresh: the panel for everyone who may read participants, the action for operators.
function marketing_flows_person_refresh(frm) {
	if (frm.is_new()) return;
	marketing_flows_panel(frm);
	if (!frappe.user.has_role(["Flow Administrator", "System Manager"])) return;
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
		if (!frappe.user.has_role(["Flow Administrator", "System Manager"])) return;
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
			marketing_flows_timeline($(this).attr("data-flow"), $(this).attr("data-name"));
		});
		frm.dashboard.show();
	});
}

function marketing_flows_timeline(flow, participant) {
	const esc = frappe.utils.escape_html;
	frappe.call({
		method: "run_doc_method",
		args: { dt: "Marketing Flow", dn: flow, method: "get_timeline", args: { participant } },
	}).then((r) => {
		const rows = (r.message || []).map((e) => `<tr><td class="text-muted small text-nowrap">${esc(frappe.datetime.str_to_user(e.creation))}</td>
			<td>${esc(e.step_id || "")}</td><td><b>${esc(__(e.event))}</b></td><td>${esc(e.message || "")}</td></tr>`).join("");
		frappe.msgprint({
			title: __("Timeline"),
			message: `<table class="table table-sm mf-timeline">${rows || `<tr><td>${__("No events yet.")}</td></tr>`}</table>`,
			wide: true,
		});
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
				if (res.queued) {
					frappe.msgprint(__("Enrolling {0} people in {1} in the background; progress is shown as it goes.", [res.queued, flow]));
					return;
				}
				if (res.enrolled && window.cur_frm && contacts.includes(cur_frm.doc.name)) {
					marketing_flows_panel(cur_frm); // the form's Flows panel shows the new participation
				}
				const skipped = Object.entries(res.not_enrolled || {});
				let msg = __("{0} of {1} added to {2}.", [res.enrolled || 0, contacts.length, flow]);
				if (skipped.length) msg += "<br>" + skipped.slice(0, 10).map(([c, w]) => `${frappe.utils.escape_html(c)}: ${frappe.utils.escape_html(w)}`).join("<br>");
				frappe.msgprint({ title: __("Add to flow"), message: msg, indicator: res.enrolled ? "green" : "orange" });
			});
		},
	});
	d.show();
}
window.marketing_flows_add_to_flow = marketing_flows_add_to_flow;
window.marketing_flows_person_refresh = marketing_flows_person_refresh;
window.marketing_flows_person_list = marketing_flows_person_list;
