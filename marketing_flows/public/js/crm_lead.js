// "Add to flow" and the "Flows" panel on the CRM Lead form (marketing_flows; see person_flows.js).
frappe.ui.form.on("CRM Lead", {
	refresh(frm) {
		marketing_flows_person_refresh(frm);
	},
});
