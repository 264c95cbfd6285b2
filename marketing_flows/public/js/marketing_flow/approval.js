// The flow form's approval (Marketing Flow Settings: Require Approval): the state of the flow as it
// is now in the form's intro, Request Approval for flow operators, Approve / Reject for approvers
// who did not make the change, with what changed against the live version shown before deciding.
// Whether approval is required and what the user may do is the server's answer (the onload's
// "approval", engine/changing/approval.py), never a role list here.
frappe.provide("marketing_flows");

frappe.ui.form.on("Marketing Flow", {
	refresh(frm) {
		marketing_flows.render_approval(frm);
	},
});

marketing_flows.approval_changes_html = function (changes) {
	const esc = frappe.utils.escape_html;
	if (!changes || !changes.length) {
		return `<p class="text-muted">${__("Nothing changed against the live version.")}</p>`;
	}
	return `<ul class="small mf-approval-changes">${changes.map((c) => `<li>${esc(c)}</li>`).join("")}</ul>`;
};

marketing_flows.render_approval = function (frm) {
	const state = frm.doc.__onload && frm.doc.__onload.approval;
	if (frm.is_new() || !state || !state.required) return;
	const esc = frappe.utils.escape_html;
	const req = state.request || {};
	const when = (value) => (value ? frappe.datetime.str_to_user(value) : "");
	const [text, color] = {
		Pending: [__("Waiting for a Flow Approver: {0} requested approval on {1}.", [esc(req.requested_by_name || ""), when(req.requested_on)]), "yellow"],
		Approved: [__("Approved by {0} on {1}: the flow can run.", [esc(req.decided_by_name || ""), when(req.decided_on)]), "green"],
		Rejected: [
			__("Rejected by {0} on {1}: {2}", [esc(req.decided_by_name || ""), when(req.decided_on), esc(req.comment || "")]),
			"red",
		],
	}[state.status] || [
		state.outdated_request
			? __("The flow changed after approval was requested: request approval again before it runs.")
			: __("Needs approval: a Flow Approver approves the flow as it is now before it runs."),
		"orange",
	];
	// an approver who made the change learns why there is no Approve for them
	frm.set_intro(state.cannot_decide ? `${text}<br>${esc(state.cannot_decide)}` : text, color);

	if (state.can_request) {
		frm.add_custom_button(__("Request Approval"), () => marketing_flows.request_approval_dialog(frm, state));
	}
	if (state.can_decide) {
		frm.add_custom_button(__("Approve"), () => marketing_flows.decide_dialog(frm, state, "approve"), __("Approval"));
		frm.add_custom_button(__("Reject"), () => marketing_flows.decide_dialog(frm, state, "reject"), __("Approval"));
	}
	frm.add_custom_button(__("Approvals"), () =>
		frappe.set_route("List", "Marketing Flow Approval", { flow: frm.doc.name }), __("View"));
};

// what the approvers will see, before asking them
marketing_flows.request_approval_dialog = function (frm, state) {
	const d = new frappe.ui.Dialog({
		title: __("Request Approval"),
		fields: [
			{ fieldname: "intro", fieldtype: "HTML",
				options: `<p>${__("The Flow Approvers are notified and see these changes against the live version:")}</p>` },
			{ fieldname: "changes", fieldtype: "HTML", options: marketing_flows.approval_changes_html(state.differences) },
		],
		primary_action_label: __("Request Approval"),
		primary_action() {
			frm.call("request_approval").then(() => {
				d.hide();
				frappe.show_alert({ message: __("Approval requested"), indicator: "green" });
				frm.reload_doc();
			});
		},
	});
	d.show();
};

// Approve or Reject: the changes of the request first, then the decision (a rejection says why)
marketing_flows.decide_dialog = function (frm, state, action) {
	const req = state.request || {};
	const approve = action === "approve";
	const d = new frappe.ui.Dialog({
		title: approve ? __("Approve Flow") : __("Reject Flow"),
		fields: [
			{ fieldname: "intro", fieldtype: "HTML",
				options: `<p>${__("{0} asks for approval of these changes against the live version:", [frappe.utils.escape_html(req.requested_by_name || "")])}</p>` },
			{ fieldname: "changes", fieldtype: "HTML", options: marketing_flows.approval_changes_html(req.changes) },
			{ fieldname: "comment", fieldtype: "Small Text", label: approve ? __("Comment") : __("Why"), reqd: approve ? 0 : 1 },
		],
		primary_action_label: approve ? __("Approve") : __("Reject"),
		primary_action(values) {
			frm.call(action, { comment: values.comment || null }).then(() => {
				d.hide();
				frappe.show_alert({
					message: approve ? __("Flow approved") : __("Flow rejected"),
					indicator: approve ? "green" : "red",
				});
				frm.reload_doc();
			});
		},
	});
	if (!approve) d.get_primary_btn().removeClass("btn-primary").addClass("btn-danger");
	d.show();
};
