// "Send a test to me" on a Marketing Flow Content: the content rendered for a chosen person (of
// the content's flow's person doctype, else a Contact) and sent only to the current user, marked
// as a test (marketing_flows/api/test_send.py). The designer's step panel has the same button.
frappe.provide("marketing_flows");

marketing_flows.send_test_dialog = function ({ content, channel, person_doctype, flow }) {
	const to = channel === "SMS" ? __("your mobile number") : frappe.session.user_email;
	const dialog = new frappe.ui.Dialog({
		title: __("Send a test to me"),
		fields: [
			{
				fieldname: "person",
				fieldtype: "Link",
				options: person_doctype || "Contact",
				label: __("Render it for"),
				reqd: 1,
				description: __("The {0} whose data fills the placeholders. Only you receive the test ({1}).", [
					__(person_doctype || "Contact"),
					to,
				]),
			},
		],
		primary_action_label: __("Send test"),
		primary_action(values) {
			dialog.disable_primary_action();
			frappe
				.call({
					method: "marketing_flows.api.test_send.send_test",
					type: "POST",
					args: { content, person: values.person, person_doctype: person_doctype || "Contact", flow: flow || null },
					freeze: true,
					freeze_message: __("Sending the test..."),
				})
				.then((r) => {
					dialog.hide();
					const sent = r.message || {};
					frappe.msgprint({
						title: __("Test sent"),
						indicator: "green",
						message: sent.subject
							? __("Sent to {0}: {1}", [frappe.utils.escape_html(sent.to), frappe.utils.escape_html(sent.subject)])
							: __("Sent to {0}.", [frappe.utils.escape_html(sent.to || "")]),
					});
				})
				.always(() => dialog.enable_primary_action());
		},
	});
	dialog.show();
	return dialog;
};

function add_test_button(frm) {
	if (frm.is_new() || !frm.perm[0] || !frm.perm[0].write) return;
	frm.add_custom_button(__("Send a test to me"), () => {
		const open = (person_doctype) =>
			marketing_flows.send_test_dialog({
				content: frm.doc.name,
				channel: frm.doc.channel,
				person_doctype,
				flow: frm.doc.flow,
			});
		if (!frm.doc.flow) return open("Contact");
		frappe.db.get_value("Marketing Flow", frm.doc.flow, "person_doctype").then((r) => open((r.message && r.message.person_doctype) || "Contact"));
	});
}

frappe.ui.form.on("Marketing Flow Content", {
	refresh: add_test_button,
});
