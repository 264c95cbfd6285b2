// Copyright (c) 2026, marketing_flows contributors
// For license information, please see license.txt

frappe.ui.form.on("Marketing Flow Settings", {
	detect_button(frm) {
		// Detect again which installed doctypes play Person, Company, Deal, ... and save them.
		frm.call("detect_doctypes").then((r) => {
			frm.reload_doc();
			frappe.show_alert({ message: __("Doctypes detected"), indicator: "green" });
		});
	},
});
