// The flow form's actions for flow operators: enrol people (the result in flow_dialogs.js) and
// the dry run (Test Flow).
frappe.provide("marketing_flows");

marketing_flows.person_doctype = (frm) => frm.doc.person_doctype || "Contact";

marketing_flows.enrol_dialog = function (frm) {
	const doctype = marketing_flows.person_doctype(frm);
	const company_field = { Contact: "company_name", Lead: "company_name", "CRM Lead": "organization" }[doctype];
	const d = new frappe.ui.form.MultiSelectDialog({
		doctype,
		target: frm,
		setters: company_field ? { [company_field]: null } : {},
		add_filters_group: 1,
		primary_action_label: __("Enrol"),
		action(selections) {
			if (!selections.length) return;
			frm.call("enroll", { contacts: selections }).then((r) => {
				d.dialog.hide();
				marketing_flows.show_enrol_result(r.message);
				frm.reload_doc();
			});
		},
	});
};

// Dry run: each chosen person's path through the flow now; nothing is sent, queued or saved.
marketing_flows.test_dialog = function (frm) {
	const d = new frappe.ui.Dialog({
		title: __("Test Flow"),
		fields: [
			{
				fieldname: "contact", fieldtype: "Link", label: __(marketing_flows.person_doctype(frm)),
				options: marketing_flows.person_doctype(frm),
			},
			{ fieldname: "segment", fieldtype: "Link", label: __("Segment"), options: "Marketing Segment" },
			{ fieldname: "note", fieldtype: "HTML",
				options: `<p class="text-muted small">${__("Nothing is sent, queued or saved: this shows what would happen now.")}</p>` },
		],
		primary_action_label: __("Test"),
		primary_action(values) {
			const contacts = values.contact ? [values.contact] : [];
			frm.call("test_flow", { contacts, segment: values.segment || null }).then((r) => {
				d.hide();
				marketing_flows.show_test_result(r.message || []);
			});
		},
	});
	d.show();
};

marketing_flows.show_test_result = function (people) {
	const esc = frappe.utils.escape_html;
	const html = people.map((p) => {
		if (!p.enrolled) {
			return `<h5>${esc(p.person)}</h5><p class="text-muted">${__("Not enrolled")}: ${esc(p.reason)}</p>`;
		}
		const rows = (p.timeline || []).map((e) => `<tr><td class="text-muted small">${esc(frappe.datetime.str_to_user(e.when))}</td>
			<td>${esc(e.step_id || "")}</td><td>${esc(__(e.event))}</td><td>${esc(e.message || "")}</td></tr>`).join("");
		const mails = (p.emails || []).map((m) => `<div class="border rounded p-2 mb-2"><b>${esc(m.subject)}</b>
			<div class="small">${__("To")}: ${esc(m.to)}</div><iframe sandbox class="mt-1" style="width:100%;height:220px;border:0" srcdoc="${esc(m.body)}"></iframe></div>`).join("");
		const calls = (p.outside_calls || []).map((c) => `<div class="small"><b>${esc(c.channel)}</b> ${esc(c.to)}:
			<code>${esc(c.payload || "")}</code></div>`).join("");
		return `<h5>${esc(p.person)}</h5><table class="table table-sm">${rows}</table>${mails}${calls}
			<p class="small">${__("Ends")}: ${esc(__(p.ends.status))} ${p.ends.exit_reason ? "(" + esc(p.ends.exit_reason) + ")" : ""}</p>`;
	}).join("<hr>");
	frappe.msgprint({ title: __("Test Flow"), message: html || __("Nobody to test."), wide: true });
};
