// Copyright (c) 2026, marketing_flows contributors
// For license information, please see license.txt

// "New from template" on the flow list: a dialog of starter flows (each with its title, what it
// does and its steps); choosing one makes it a Draft flow with its own emails and SMS texts and
// opens it in the designer (marketing_flows/api/starters.py). Starters this site can't have are
// shown greyed out with the reason. Loaded after marketing_flow_list.js: its `onload` is kept
// and called first.
frappe.provide("marketing_flows");

marketing_flows.starters = {
	add_button(listview) {
		if (!frappe.model.can_create("Marketing Flow") || !frappe.model.can_create("Marketing Flow Content")) return;
		listview.page.add_button(__("New from template"), () => this.show())
			.addClass("mf-new-from-template");
	},

	show() {
		const dialog = new frappe.ui.Dialog({
			title: __("New flow from a template"),
			size: "extra-large",
			fields: [{ fieldtype: "HTML", fieldname: "starters" }],
		});
		const $area = dialog.fields_dict.starters.$wrapper;
		$area.html(`<div class="text-muted">${__("Loading...")}</div>`);
		dialog.show();
		frappe.xcall("marketing_flows.api.starters.starter_flows").then((starters) => {
			$area.html(this.cards(starters));
			$area.find(".mf-starter-create").on("click", (e) => {
				const key = $(e.currentTarget).attr("data-starter");
				this.create(key, dialog, $(e.currentTarget));
			});
		});
	},

	cards(starters) {
		const esc = frappe.utils.escape_html;
		const cards = starters.map((s) => {
			const steps = s.steps
				.map((st) => `<li><span class="mf-starter-step">${esc(st.label)}</span>
					<span class="text-muted small">· ${esc(__(st.step_type))}</span></li>`)
				.join("");
			const action = s.available
				? `<button class="btn btn-primary btn-sm mf-starter-create" data-starter="${esc(s.key)}">
						${__("Create")}</button>`
				: `<div class="mf-starter-reason text-muted small">${frappe.utils.icon("lock", "xs")} ${esc(s.reason)}</div>`;
			return `<div class="mf-starter ${s.available ? "" : "mf-starter-unavailable"}" data-starter="${esc(s.key)}">
					<div class="mf-starter-title">${esc(s.title)}</div>
					<p class="mf-starter-description">${esc(s.description)}</p>
					<ol class="mf-starter-steps">${steps}</ol>
					<div class="mf-starter-action">${action}</div>
				</div>`;
		});
		return `<style>
				.mf-starters { display: grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); gap: var(--padding-md); }
				.mf-starter { border: 1px solid var(--border-color); border-radius: var(--border-radius-md);
					padding: var(--padding-md); display: flex; flex-direction: column; }
				.mf-starter-title { font-weight: 600; font-size: var(--text-lg); margin-bottom: var(--margin-xs); }
				.mf-starter-description { color: var(--text-muted); font-size: var(--text-sm); }
				.mf-starter-steps { font-size: var(--text-sm); padding-left: 1.4em; margin-bottom: var(--margin-sm); flex: 1; }
				.mf-starter-unavailable { background: var(--subtle-fg); }
				.mf-starter-unavailable .mf-starter-title, .mf-starter-unavailable .mf-starter-description,
				.mf-starter-unavailable .mf-starter-steps { opacity: 0.55; }
			</style>
			<div class="mf-starters">${cards.join("")}</div>`;
	},

	create(key, dialog, $button) {
		$button.prop("disabled", true);
		frappe
			.call({
				method: "marketing_flows.api.starters.create_from_starter",
				type: "POST",
				args: { starter: key },
				freeze: true,
				freeze_message: __("Creating the flow and its content..."),
			})
			.then((r) => {
				dialog.hide();
				frappe.show_alert({ message: __("Draft flow {0} created", [r.message.flow_name]), indicator: "green" });
				frappe.set_route("marketing-flow-designer", r.message.name);
			})
			.catch(() => $button.prop("disabled", false));
	},
};

(function () {
	const settings = (frappe.listview_settings["Marketing Flow"] = frappe.listview_settings["Marketing Flow"] || {});
	const theirs = settings.onload;
	settings.onload = function (listview) {
		if (theirs) theirs.call(this, listview);
		marketing_flows.starters.add_button(listview);
	};
})();
