// Copyright (c) 2026, marketing_flows contributors
// For license information, please see license.txt

// The flow form: its actions, and which tab draws what. Each tab has its own file in
// public/js/marketing_flow/ (overview, flow, reports, participants, content; the actions'
// dialogs in actions.js), loaded with this one (hooks.py doctype_js), and the dialogs it shares
// with the people's forms in public/js/flow_dialogs.js.
frappe.ui.form.on("Marketing Flow", {
	setup(frm) {
		// the people a flow may enrol here: Contact, and Lead / CRM Lead where installed
		frm.set_query("person_doctype", () => ({
			filters: { name: ["in", frm.doc.__onload?.person_doctypes || ["Contact"]] },
		}));
	},
	refresh(frm) {
		if (frm.is_new()) return;
		// the server says whether the user may operate flows (onload: engine/permissions.py)
		const can_operate = !!frm.doc.__onload?.is_flow_operator;
		const call = (method, confirm_msg) => {
			const go = () =>
				frm.call(method).then(() => frm.reload_doc());
			confirm_msg ? frappe.confirm(confirm_msg, go) : go();
		};
		frm.add_custom_button(
			can_operate && frm.doc.status !== "Running" && frm.doc.status !== "Stopped" ? __("Edit") : __("Designer"),
			() => frappe.set_route("marketing-flow-designer", frm.doc.name)
		);
		if (can_operate) {
			if (["Draft", "Paused", "Stopped"].includes(frm.doc.status)) {
				const label = { Draft: __("Run"), Paused: __("Resume"), Stopped: __("Run Again") }[frm.doc.status];
				const again = frm.doc.status === "Stopped"
					? __("Run this flow again for new people? The earlier participations stay as they ended.")
					: null;
				frm.add_custom_button(label, () => call("run", again)).addClass("btn-primary");
			}
			if (frm.doc.status === "Running") {
				frm.add_custom_button(__("Pause"), () => call("pause"));
			}
			if (frm.doc.status !== "Stopped") {
				frm.add_custom_button(__("Stop"), () =>
					call("stop", __("Stop this flow? Every active participant exits; you can run it again later for new people.")),
				__("Actions"));
				frm.add_custom_button(
					marketing_flows.person_doctype(frm) === "Contact" ? __("Enrol Contacts") : __("Enrol {0}", [__(frm.doc.person_doctype)]),
					() => marketing_flows.enrol_dialog(frm),
					__("Actions")
				);
				frm.add_custom_button(__("Retry Stalled"), () =>
					frm.call("retry_stalled").then((r) => {
						frappe.show_alert({ message: __("{0} participants retried", [r.message.retried]), indicator: "green" });
					}), __("Actions"));
			}
			// a dry run answers questions about the data: flow operators only
			frm.add_custom_button(__("Test Flow"), () => marketing_flows.test_dialog(frm), __("Actions"));
		}
		frm.add_custom_button(__("Participants"), () =>
			frappe.set_route("List", "Marketing Flow Participant", { flow: frm.doc.name }), __("View"));
		frm.add_custom_button(__("Log"), () =>
			frappe.set_route("List", "Marketing Flow Log", { flow: frm.doc.name }), __("View"));
		frm.set_df_property("steps", "read_only", frm.doc.status === "Running" ? 1 : 0);
		// the designer edits the steps; the Flow tab shows them as a diagram
		// (and their per-step rows: Split branches, A/B variants, updates)
		for (const df of frm.meta.fields) {
			if (df.fieldname === "steps" || (df.fieldtype === "Table" && frappe.get_meta(df.options)?.fields?.some((f) => f.fieldname === "step_id"))) {
				frm.set_df_property(df.fieldname, "hidden", (frm.doc.steps || []).length ? 1 : 0);
			}
		}
		// the figures came with the document: every tab drawn with them (Reports and
		// Participants again only once shown)
		marketing_flows.render_overview(frm);
		marketing_flows.render_diagram(frm);
		marketing_flows.render_contents(frm);
		if (frm.mf_reports_drawn) marketing_flows.render_reports(frm, true);
		if (frm.mf_participants_drawn) marketing_flows.render_participants(frm);
	},
	on_tab_change(frm) {
		// a canvas or a chart in a hidden tab has no size: draw it when its tab shows
		const tab = frm.get_active_tab && frm.get_active_tab();
		const name = tab && tab.df && tab.df.fieldname;
		if (name === "steps_tab" && frm.mf_canvas) setTimeout(() => frm.mf_canvas.fit(), 50);
		if (name === "reports_tab") marketing_flows.render_reports(frm);
		if (name === "participants_tab") marketing_flows.render_participants(frm);
	},
});
