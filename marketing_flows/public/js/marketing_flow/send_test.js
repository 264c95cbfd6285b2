// "Send a test to me" on a Marketing Flow Content: the dialog is the designer's
// (flow_designer/send_test_dialog.js, part of marketing_flow_designer.bundle.js, loaded on the
// first click), rendered for a person of the content's flow's person doctype, else a Contact.
frappe.provide("marketing_flows");

function add_test_button(frm) {
	if (frm.is_new() || !frm.perm[0] || !frm.perm[0].write) return;
	frm.add_custom_button(__("Send a test to me"), async () => {
		await frappe.require("marketing_flow_designer.bundle.js");
		let person_doctype = "Contact";
		if (frm.doc.flow) {
			const r = await frappe.db.get_value("Marketing Flow", frm.doc.flow, "person_doctype");
			person_doctype = (r.message && r.message.person_doctype) || "Contact";
		}
		marketing_flows.send_test_dialog({
			content: frm.doc.name,
			channel: frm.doc.channel,
			person_doctype,
			flow: frm.doc.flow,
		});
	});
}

frappe.ui.form.on("Marketing Flow Content", {
	refresh: add_test_button,
});
