// Copyright (c) 2026, marketing_flows contributors
// For license information, please see license.txt

frappe.ui.form.on("Marketing Flow", {
	refresh(frm) {
		if (frm.is_new()) return;
		const can_operate = frappe.user.has_role(["Flow Administrator", "System Manager"]);
		const call = (method, confirm_msg) => {
			const go = () =>
				frm.call(method).then(() => frm.reload_doc());
			confirm_msg ? frappe.confirm(confirm_msg, go) : go();
		};
		if (can_operate) {
			if (["Draft", "Paused"].includes(frm.doc.status)) {
				frm.add_custom_button(frm.doc.status === "Paused" ? __("Resume") : __("Run"), () => call("run")).addClass("btn-primary");
			}
			if (frm.doc.status === "Running") {
				frm.add_custom_button(__("Pause"), () => call("pause"));
			}
			if (frm.doc.status !== "Stopped") {
				frm.add_custom_button(__("Stop"), () =>
					call("stop", __("Stop this flow? Every active participant exits and the flow can't be resumed.")),
				__("Actions"));
				frm.add_custom_button(__("Enrol Contacts"), () => marketing_flows.enrol_dialog(frm), __("Actions"));
				frm.add_custom_button(__("Retry Stalled"), () =>
					frm.call("retry_stalled").then((r) => {
						frappe.show_alert({ message: __("{0} participants retried", [r.message.retried]), indicator: "green" });
					}), __("Actions"));
			}
		}
		frm.add_custom_button(__("Test Flow"), () => marketing_flows.test_dialog(frm), __("Actions"));
		frm.add_custom_button(__("Participants"), () =>
			frappe.set_route("List", "Marketing Flow Participant", { flow: frm.doc.name }), __("View"));
		frm.add_custom_button(__("Log"), () =>
			frappe.set_route("List", "Marketing Flow Log", { flow: frm.doc.name }), __("View"));
		frm.set_df_property("steps", "read_only", frm.doc.status === "Running" ? 1 : 0);
		marketing_flows.render_figures(frm);
	},
});

frappe.provide("marketing_flows");

marketing_flows.render_figures = function (frm) {
	frm.call("get_figures").then((r) => {
		const f = r.message || {};
		const card = (label, value) =>
			`<div class="col-sm-2"><div class="text-muted small">${label}</div><div class="h4">${value ?? 0}</div></div>`;
		frm.get_field("figures_html").$wrapper.html(`<div class="row">
			${card(__("Enrolled"), f.enrolled)}${card(__("Active"), f.active)}${card(__("Completed"), f.completed)}
			${card(__("Succeeded"), f.succeeded)}${card(__("Success rate"), (f.success_rate || 0) + "%")}
			${card(__("Goal conversion"), (f.goal_conversion_rate || 0) + "%")}</div>`);
		marketing_flows.render_diagram(frm, f.steps || {});
	});
};

// Read-only diagram of the steps (first row first), with what the log counted per step.
marketing_flows.render_diagram = function (frm, step_figures) {
	const esc = frappe.utils.escape_html;
	const links = (s) =>
		s.step_type === "Condition"
			? `${__("Yes")} → ${esc(s.yes_step || __("end of the flow"))} · ${__("No")} → ${esc(s.no_step || __("end of the flow"))}`
			: s.step_type === "End" || !s.next_step ? __("end of the flow") : `→ ${esc(s.next_step)}`;
	const badges = (counts) =>
		Object.entries(counts || {})
			.map(([event, n]) => `<span class="indicator-pill gray mr-1">${esc(__(event))}: ${n}</span>`)
			.join("");
	const boxes = (frm.doc.steps || []).map((s) => `
		<div class="mf-step border rounded p-2 mb-2" data-step="${esc(s.step_id)}" style="cursor:pointer">
			<div><b>${esc(s.step_id)}</b> · ${esc(__(s.step_type || ""))} ${s.label ? "· " + esc(s.label) : ""}</div>
			<div class="text-muted small">${links(s)}</div>
			<div class="mt-1">${badges(step_figures[s.step_id])}</div>
		</div>`);
	const wrapper = frm.get_field("flow_diagram").$wrapper;
	wrapper.html(boxes.length ? boxes.join("") : `<div class="text-muted">${__("No steps yet.")}</div>`);
	wrapper.find(".mf-step").on("click", function () {
		const step = $(this).attr("data-step");
		const rows = Object.entries(step_figures[step] || {})
			.map(([event, n]) => `<tr><td>${esc(__(event))}</td><td class="text-right">${n}</td></tr>`)
			.join("");
		frappe.msgprint({
			title: __("Step {0}", [step]),
			message: rows ? `<table class="table table-bordered">${rows}</table>` : __("Nobody has reached this step yet."),
		});
	});
};

marketing_flows.enrol_dialog = function (frm) {
	const d = new frappe.ui.form.MultiSelectDialog({
		doctype: "Contact",
		target: frm,
		setters: { company_name: null },
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

marketing_flows.show_enrol_result = function (res) {
	if (!res) return;
	if (res.queued) {
		frappe.msgprint(__("Enrolling {0} contacts in the background; progress is shown as it goes.", [res.queued]));
		return;
	}
	const skipped = Object.entries(res.not_enrolled || {});
	let msg = __("{0} enrolled.", [res.enrolled]);
	if (skipped.length) {
		msg += "<br>" + __("Not enrolled:") + "<ul>" +
			skipped.slice(0, 20).map(([c, why]) => `<li>${frappe.utils.escape_html(c)}: ${frappe.utils.escape_html(why)}</li>`).join("") +
			"</ul>";
		if (skipped.length > 20) msg += __("... and {0} more", [skipped.length - 20]);
	}
	frappe.msgprint({ title: __("Enrolment"), message: msg, indicator: res.enrolled ? "green" : "orange" });
};

// Dry run: each chosen person's path through the flow now; nothing is sent, queued or saved.
marketing_flows.test_dialog = function (frm) {
	const d = new frappe.ui.Dialog({
		title: __("Test Flow"),
		fields: [
			{ fieldname: "contact", fieldtype: "Link", label: __("Contact"), options: "Contact" },
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
