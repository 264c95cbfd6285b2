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
		// Frappe's Duplicate (menu, Shift+D) copies the flow with its own content, as Copy does:
		// a plain duplicate would share the original's emails (engine/changing/copying.py)
		frm.copy_doc = () => marketing_flows_copy_into_form(frm);
	},
	folder(frm) {
		marketing_flows_folder_path(frm);
	},
	refresh(frm) {
		marketing_flows_folder_path(frm);
		if (frm.is_new()) return;
		marketing_flows_copy_menu(frm);
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

// Copy (and Duplicate) in the form's menu, for who may create flows.
function marketing_flows_copy_menu(frm) {
	if (!frappe.model.can_create("Marketing Flow")) return;
	// one entry, not two doing the same (Duplicate and its Shift+D copy as Copy does)
	frm.page.menu.find(".menu-item-label")
		.filter((i, el) => $(el).text().trim() === __("Duplicate"))
		.closest("li").toggle(false);
	frm.page.add_menu_item(__("Copy"), () => marketing_flows_copy_into_form(frm));
}

function marketing_flows_copy_into_form(frm) {
	if (frm.is_new()) return;
	frappe
		.call({
			method: "marketing_flows.api.flows.copy_flow",
			args: { flow: frm.doc.name },
			freeze: true,
			freeze_message: __("Copying the flow and its content…"),
		})
		.then((r) => {
			frappe.show_alert({ message: __("Copied as {0}", [r.message.flow_name.bold()]), indicator: "green" });
			frappe.set_route("Form", "Marketing Flow", r.message.name);
		});
}

// Where the flow lives, under its title: "Campaigns / 2026 / Spring", each folder a link to
// the flows in it (and its subfolders). Its own line beside Frappe's subtitle, which the form
// sets again whenever it redraws the title.
function marketing_flows_folder_path(frm) {
	const folder = frm.doc.folder;
	const $area = frm.page.$title_area.children().first();
	if (!folder) {
		$area.find(".mf-folder-path").remove();
		return;
	}
	frappe.db
		.get_list("Marketing Flow Folder", {
			filters: { name: ["ancestors of", folder] },
			fields: ["name"],
			order_by: "lft asc",
			limit: 100,
		})
		.then((ancestors) => {
			if (frm.doc.folder !== folder) return; // changed meanwhile
			const path = [...ancestors.map((a) => a.name), folder];
			const links = path
				.map((name) => `<a href="#" data-folder="${frappe.utils.escape_html(name)}">${frappe.utils.escape_html(name)}</a>`)
				.join(' <span class="text-muted">/</span> ');
			$area.find(".mf-folder-path").remove();
			$(`<div class="mf-folder-path ellipsis text-muted small" title="${__("Folder")}">
				${frappe.utils.icon("folder-normal", "xs")} ${links}</div>`)
				.appendTo($area)
				.on("click", "[data-folder]", (e) => {
					e.preventDefault();
					frappe.set_route("List", "Marketing Flow", { folder: $(e.currentTarget).attr("data-folder") });
				});
		});
}
