// "Send a test to me": the content rendered for a chosen person (of the flow's person doctype,
// else a Contact) and sent only to the current user, marked as a test
// (marketing_flows/api/test_send.py). One dialog for both places that offer it: the designer's
// step panel (SidePanel.vue imports it) and the content form (marketing_flow/send_test.js loads
// marketing_flow_designer.bundle.js, which puts the function on `marketing_flows`).
frappe.provide("marketing_flows");

export function send_test_dialog({ content, channel, person_doctype, flow }) {
	const doctype = person_doctype || "Contact";
	const to = channel === "SMS" ? __("your mobile number") : frappe.session.user_email;
	const dialog = new frappe.ui.Dialog({
		title: __("Send a test to me"),
		fields: [
			{
				fieldname: "person",
				fieldtype: "Link",
				options: doctype,
				label: __("Render it for"),
				reqd: 1,
				description: __("The {0} whose data fills the placeholders. Only you receive the test ({1}).", [
					__(doctype),
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
					args: { content, person: values.person, person_doctype: doctype, flow: flow || null },
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
}

marketing_flows.send_test_dialog = send_test_dialog;
