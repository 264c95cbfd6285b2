// "Add to flow" and the "Flows" panel on the Contact form (marketing_flows; see person_flows.js).
frappe.ui.form.on("Contact", {
	refresh(frm) {
		marketing_flows_person_refresh(frm);
	},
});
