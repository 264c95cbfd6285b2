// The flow form's Flow tab: the designer's canvas, read-only, with per-step figures; a click on
// a step shows its figures and "Save as segment".
frappe.provide("marketing_flows");

marketing_flows.render_diagram = function (frm) {
	const f = marketing_flows.figures_of(frm);
	const wrapper = frm.get_field("flow_diagram").$wrapper;
	if (!(frm.doc.steps || []).length) {
		frm.mf_canvas = null;
		wrapper.html(`<div class="text-muted">${__("No steps yet: open the designer with Edit.")}</div>`);
		return;
	}
	if (frm.mf_canvas && frm.mf_canvas.frm_name === frm.doc.name && wrapper.find(".mf-canvas-root").length) {
		frm.mf_canvas.update(frm.doc, f);
		return;
	}
	frappe.require("marketing_flow_designer.bundle.js").then(() => {
		frm.mf_canvas = new marketing_flows.FlowCanvas({
			wrapper: wrapper.get(0),
			frm,
			figures: f,
			on_step_click: (step_id) => marketing_flows.step_dialog(frm, step_id),
		});
		frm.mf_canvas.frm_name = frm.doc.name;
	});
};

marketing_flows.step_dialog = function (frm, step_id) {
	const esc = frappe.utils.escape_html;
	const step = (frm.doc.steps || []).find((s) => s.step_id === step_id) || {};
	const counts = (marketing_flows.figures_of(frm).steps || {})[step_id] || {};
	const rows = Object.entries(counts)
		.map(([event, n]) => `<tr><td>${esc(__(event))}</td><td class="text-right">${n}</td></tr>`)
		.join("");
	const can_segment = frappe.model.can_create("Marketing Segment");
	const outcomes = [
		["Step Processed", __("Processed")],
		["Clicked", __("Clicked")],
		["Bounced", __("Bounced")],
		["Stalled", __("Stalled")],
		["Blocked", __("Blocked")],
	];
	const d = new frappe.ui.Dialog({
		title: __("Step {0}", [step.label || step_id]),
		fields: [{ fieldtype: "HTML", fieldname: "body" }],
	});
	d.fields_dict.body.$wrapper.html(`
		<div class="text-muted small mb-2">${esc(__(step.step_type || ""))} · ${esc(step_id)}</div>
		${rows ? `<table class="table table-bordered mf-step-figures">${rows}</table>` : `<p>${__("Nobody has reached this step yet.")}</p>`}
		${can_segment ? `<div class="mt-2"><div class="small text-muted mb-1">${__("Save as segment")}</div>${outcomes
			.map(([o, label]) => `<button class="btn btn-xs btn-default mr-1 mb-1 mf-save-segment" data-outcome="${o}">${esc(label)}</button>`)
			.join("")}</div>` : ""}`);
	d.$wrapper.find(".mf-save-segment").on("click", function () {
		frm.call("save_as_segment", { outcome: $(this).attr("data-outcome"), step_id }).then((r) => {
			d.hide();
			frappe.show_alert({
				message: __("Segment {0} created", [`<a href="/app/marketing-segment/${encodeURIComponent(r.message.name)}">${esc(r.message.name)}</a>`]),
				indicator: "green",
			}, 10);
		});
	});
	d.show();
};
