// "Add to flow" and the "Flows" panel on the Lead form (marketing_flows; see person_flows.js).
frappe.ui.form.on("Lead", {
	refresh(frm) {
		marketing_flows_person_refresh(frm);
	},
});
