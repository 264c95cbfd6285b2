// The flow form's Flow Content tab: the emails and SMS texts the steps use, with the steps that
// use them, and the Web Forms the flow uses (its trigger, conditions and split branches, Wait for
// Action steps, success criteria), each with where it is used.
frappe.provide("marketing_flows");

// [{web_form, where}] in the flow's order: trigger, steps (and their branches), success criteria.
marketing_flows.flow_forms = function (doc) {
	const found = [];
	const step_name = (step_id) => {
		const s = (doc.steps || []).find((row) => row.step_id === step_id);
		return s ? s.label || s.step_id : step_id;
	};
	if (doc.trigger_type === "Web Form" && doc.trigger_web_form) {
		found.push({ web_form: doc.trigger_web_form, where: __("Trigger") });
	}
	for (const s of doc.steps || []) {
		if (s.step_type === "Condition" && s.condition_type === "Web Form Submitted" && s.web_form) {
			found.push({ web_form: s.web_form, where: __("Condition {0}", [s.label || s.step_id]) });
		}
		if (s.step_type === "Wait for Action" && s.action_web_form) {
			found.push({ web_form: s.action_web_form, where: __("Wait for Action {0}", [s.label || s.step_id]) });
		}
	}
	for (const b of doc.branches || []) {
		if (b.condition_type === "Web Form Submitted" && b.web_form) {
			found.push({
				web_form: b.web_form,
				where: __("Branch {0} of step {1}", [b.branch_label || b.branch_key || b.idx, step_name(b.step_id)]),
			});
		}
	}
	(doc.success_criteria || []).forEach((c, i) => {
		if (c.criterion_type === "Web Form Submitted" && c.web_form) {
			found.push({ web_form: c.web_form, where: __("Success criterion {0}", [c.label || c.idx || i + 1]) });
		}
	});
	return found;
};

marketing_flows.render_contents = function (frm) {
	const esc = frappe.utils.escape_html;
	const contents = (frm.doc.__onload && frm.doc.__onload.contents) || [];
	const rows = contents.map((c) => {
		const steps = (frm.doc.steps || []).filter((s) => s.content === c.name).map((s) => esc(s.label || s.step_id)).join(", ");
		return `<tr><td><a href="/app/marketing-flow-content/${encodeURIComponent(c.name)}">${esc(c.content_name || c.name)}</a></td>
			<td>${esc(__(c.channel || ""))}</td><td>${esc(c.subject || "")}</td><td>${steps}</td></tr>`;
	}).join("");
	// one row per form, with every place that uses it
	const forms = new Map();
	for (const f of marketing_flows.flow_forms(frm.doc)) {
		if (!forms.has(f.web_form)) forms.set(f.web_form, []);
		forms.get(f.web_form).push(f.where);
	}
	const form_rows = [...forms.entries()]
		.map(
			([name, where]) => `<tr data-web-form="${esc(name)}"><td><a href="/app/web-form/${encodeURIComponent(name)}">${esc(name)}</a></td>
			<td>${esc(__("Web Form"))}</td><td></td><td>${where.map(esc).join(", ")}</td></tr>`
		)
		.join("");
	frm.get_field("content_html").$wrapper.html(`<table class="table table-sm mf-contents"><thead><tr>
		<th>${__("Content")}</th><th>${__("Channel")}</th><th>${__("Subject")}</th><th>${__("Used by")}</th></tr></thead>
		<tbody>${rows || `<tr><td colspan="4" class="text-muted">${__("No content used yet.")}</td></tr>`}</tbody></table>
		<button class="btn btn-xs btn-default mf-new-content">${__("New content")}</button>
		${
			form_rows
				? `<table class="table table-sm mf-forms mt-4"><thead><tr>
			<th>${__("Form")}</th><th>${__("Type")}</th><th></th><th>${__("Used by")}</th></tr></thead>
			<tbody>${form_rows}</tbody></table>`
				: ""
		}`);
	frm.get_field("content_html").$wrapper.find(".mf-new-content").on("click", () => frappe.new_doc("Marketing Flow Content"));
};
