// "Add to flow" on the Contact form (marketing_flows).
frappe.ui.form.on("Contact", {
	refresh(frm) {
		if (frm.is_new() || !frappe.user.has_role(["Flow Administrator", "System Manager"])) return;
		frm.add_custom_button(__("Add to flow"), () => marketing_flows_add_to_flow([frm.doc.name]), __("Actions"));
	},
});

function marketing_flows_add_to_flow(contacts) {
	const d = new frappe.ui.Dialog({
		title: __("Add to flow"),
		fields: [{
			fieldname: "flow", fieldtype: "Link", options: "Marketing Flow", label: __("Flow"), reqd: 1,
			get_query: () => ({ filters: { status: ["in", ["Draft", "Running", "Paused"]] } }),
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
					frappe.msgprint(__("Enrolling {0} contacts in {1} in the background; progress is shown as it goes.", [res.queued, flow]));
					return;
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
