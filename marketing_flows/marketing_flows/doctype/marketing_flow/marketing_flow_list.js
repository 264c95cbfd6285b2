// Copyright (c) 2026, marketing_flows contributors
// For license information, please see license.txt

// The flow list: All / Recent / Running, figures as columns, a Folder filter that takes the
// subfolders too, and a Tiles view (SuperOffice's thumbnails: each flow's diagram in small, its
// figures and a menu). Other scripts add to these settings (public/js/marketing_flow/
// starter_flows.js, loaded after this file): they wrap `onload` / `refresh` and call ours.

// Folder is a tree (hooks `treeviews`): Frappe's standard filter on a Link to it filters
// "descendants of (inclusive)", so a flow in Campaigns / 2026 shows when filtering Campaigns.

frappe.listview_settings["Marketing Flow"] = {
	add_fields: ["status", "trigger_type", "folder"],
	get_indicator(doc) {
		return [__(doc.status), marketing_flows.tiles.colour(doc.status), `status,=,${doc.status}`];
	},
	onload(listview) {
		// All / Recent / Running, as SuperOffice's flow list
		const show = (filters) => {
			listview.filter_area.clear(false).then(() => listview.filter_area.add(filters));
		};
		listview.page.add_inner_button(__("All"), () => listview.filter_area.clear(), __("Show"));
		listview.page.add_inner_button(__("Recent"), () =>
			show([["Marketing Flow", "modified", "Timespan", "last month"]]), __("Show"));
		listview.page.add_inner_button(__("Running"), () =>
			show([["Marketing Flow", "status", "=", "Running"]]), __("Show"));
		listview.page.add_inner_button(__("Folders"), () =>
			frappe.set_route("Tree", "Marketing Flow Folder"));
		marketing_flows.tiles.add_switch(listview);
	},
	refresh(listview) {
		if (marketing_flows.tiles.is_on()) {
			marketing_flows.tiles.render(listview);
		} else {
			marketing_flows.tiles.clear(listview);
			marketing_flows_list_columns(listview);
		}
	},
};

// Enrolled, active and success rate of the rows shown: one grouped query for the page.
function marketing_flows_list_columns(listview) {
	const names = (listview.data || []).map((d) => d.name);
	if (!names.length) return;
	frappe.xcall("marketing_flows.api.desk.list_figures", { flows: names }).then((figures) => {
		const $result = listview.$result;
		if (!$result.find(".list-row-head .mf-col").length) {
			const head = [__("Enrolled"), __("Active"), __("Success rate")]
				.map((l) => `<div class="list-row-col ellipsis hidden-xs mf-col"><span>${l}</span></div>`).join("");
			$result.find(".list-row-head .level-left").append(head);
		}
		$result.find(".list-row-container .list-row").each(function () {
			const name = $(this).find(".list-row-checkbox").attr("data-name");
			const f = figures[name];
			$(this).find(".mf-col").remove();
			if (!f) return;
			const cells = [f.enrolled, f.active, `${f.success_rate}%`]
				.map((v) => `<div class="list-row-col ellipsis hidden-xs mf-col text-muted">${v}</div>`).join("");
			$(this).find(".level-left").append(cells);
		});
	});
}

// The Tiles view: the list's own page of flows (its filters, sort and paging), drawn as tiles.
// What a tile needs comes in one call for the page (api/flows.py `tiles`).
frappe.provide("marketing_flows");
marketing_flows.tiles = {
	SETTING: "mf_list_view",
	COLOURS: { Draft: "gray", Running: "green", Paused: "orange", Stopped: "red" },
	// the designer's colour per family of step types (flow_designer/steps.js)
	STEP_COLOURS: {
		"Send Email": "blue", "Send SMS": "blue", Wait: "orange", "Wait for Action": "orange",
		Condition: "purple", Split: "purple", "A/B Test": "purple", "Update Participant": "green",
		"Create Activity": "green", "Create Request": "green", "Create Sale": "green",
		"Add to Email Group": "cyan", "Remove from Email Group": "cyan", Webhook: "pink",
		"Run Server Script": "pink",
	},

	colour(status) {
		return this.COLOURS[status] || "gray";
	},

	is_on() {
		// remembered per user (user settings), and in this browser until they arrive
		// (the user settings' local copy changes only once the server has answered)
		const saved = (frappe.get_user_settings("Marketing Flow") || {})[this.SETTING];
		return (this.mode || saved || localStorage.getItem(this.SETTING)) === "Tiles";
	},

	choose(listview, mode) {
		this.mode = mode;
		localStorage.setItem(this.SETTING, mode);
		frappe.model.user_settings.save("Marketing Flow", this.SETTING, mode);
		this.mark_switch(listview);
		// drawn from the rows the list has (its refresh skips a call made within 3 s of the last)
		frappe.listview_settings["Marketing Flow"].refresh(listview);
	},

	add_switch(listview) {
		this.style();
		const $switch = $(`<div class="btn-group mf-view-switch" role="group">
			<button class="btn btn-default btn-sm" data-mode="List">${frappe.utils.icon("list", "sm")}
				<span class="hidden-xs">${__("List")}</span></button>
			<button class="btn btn-default btn-sm" data-mode="Tiles">${frappe.utils.icon("image-view", "sm")}
				<span class="hidden-xs">${__("Tiles")}</span></button>
		</div>`);
		$switch.on("click", "button", (e) => this.choose(listview, $(e.currentTarget).attr("data-mode")));
		listview.page.custom_actions.removeClass("hide").prepend($switch);
		this.mark_switch(listview);
	},

	mark_switch(listview) {
		const mode = this.is_on() ? "Tiles" : "List";
		listview.page.wrapper.find(".mf-view-switch button").each(function () {
			$(this).toggleClass("btn-primary", $(this).attr("data-mode") === mode)
				.toggleClass("btn-default", $(this).attr("data-mode") !== mode);
		});
	},

	reload(listview) {
		listview.last_args = null; // a refresh within 3 s of the last would be skipped
		listview.refresh();
	},

	clear(listview) {
		listview.$result.removeClass("mf-tile-mode").find(".mf-tiles").remove();
	},

	render(listview) {
		const flows = (listview.data || []).map((d) => d.name);
		listview.$result.addClass("mf-tile-mode");
		let $tiles = listview.$result.find(".mf-tiles");
		if (!$tiles.length) $tiles = $('<div class="mf-tiles"></div>').appendTo(listview.$result);
		const token = (this.token = (this.token || 0) + 1);
		if (!flows.length) {
			$tiles.empty();
			return;
		}
		frappe.xcall("marketing_flows.api.flows.tiles", { flows }).then((tiles) => {
			if (token !== this.token) return; // a newer page is being drawn
			$tiles.html(flows.filter((f) => tiles[f]).map((f) => this.tile_html(tiles[f])).join(""));
			$tiles.find(".mf-tile-menu").on("click", "[data-action]", (e) => {
				e.preventDefault();
				const name = $(e.currentTarget).closest(".mf-tile").attr("data-name");
				this.act(listview, $(e.currentTarget).attr("data-action"), name);
			});
		});
	},

	tile_html(t) {
		const esc = frappe.utils.escape_html;
		const url = `/app/marketing-flow/${encodeURIComponent(t.name)}`;
		const f = t.figures;
		const figures = f
			? [[__("Enrolled"), f.enrolled], [__("Active"), f.active], [__("Succeeded"), f.succeeded],
				[__("Success rate"), `${f.success_rate}%`]]
				.map(([label, value]) => `<div class="mf-tile-figure"><div class="mf-tile-value">${value}</div>
					<div class="mf-tile-label text-muted">${label}</div></div>`).join("")
			: "";
		const folder = t.folder
			? `<span class="mf-tile-folder text-muted ellipsis" title="${esc(t.folder)}">
				${frappe.utils.icon("folder-normal", "xs")} ${esc(t.folder)}</span>`
			: "";
		return `<div class="mf-tile" data-name="${esc(t.name)}">
			<a class="mf-tile-picture" href="${url}">${this.diagram_svg(t.diagram)}</a>
			<div class="mf-tile-body">
				<div class="mf-tile-head">
					<a class="mf-tile-title ellipsis" href="${url}" title="${esc(t.flow_name)}">${esc(t.flow_name)}</a>
					${this.menu_html(t)}
				</div>
				<div class="mf-tile-meta">
					<span class="indicator-pill ${this.colour(t.status)} filterable"
						data-filter="status,=,${esc(t.status)}">${__(t.status)}</span>
					${folder}
				</div>
				<div class="mf-tile-figures">${figures}</div>
			</div>
		</div>`;
	},

	menu_html(t) {
		const items = [["open", __("Open")]];
		items.push(["edit", frappe.model.can_write("Marketing Flow") ? __("Edit") : __("Designer")]);
		if (frappe.model.can_create("Marketing Flow")) items.push(["copy", __("Copy")]);
		if (frappe.model.can_delete("Marketing Flow")) items.push(["delete", __("Delete")]);
		return `<div class="dropdown mf-tile-menu">
			<button class="btn btn-xs btn-link mf-tile-menu-button" data-toggle="dropdown"
				aria-haspopup="true" aria-expanded="false" title="${__("Menu")}">
				${frappe.utils.icon("dot-horizontal", "sm")}</button>
			<div class="dropdown-menu dropdown-menu-right">
				${items.map(([action, label]) =>
					`<a class="dropdown-item" href="#" data-action="${action}">${label}</a>`).join("")}
			</div>
		</div>`;
	},

	act(listview, action, name) {
		if (action === "open") frappe.set_route("Form", "Marketing Flow", name);
		if (action === "edit") frappe.set_route("marketing-flow-designer", name);
		if (action === "copy") {
			marketing_flows.copy_flow(name).then((r) => {
				frappe.show_alert({ message: __("Copied as {0}", [r.flow_name.bold()]), indicator: "green" });
				marketing_flows.tiles.reload(listview);
			});
		}
		if (action === "delete") {
			frappe.confirm(
				__("Delete the flow {0}? Its participants and log are deleted with it.", [name.bold()]),
				() => frappe.xcall("frappe.client.delete", { doctype: "Marketing Flow", name }).then(() => {
					frappe.show_alert({ message: __("Deleted {0}", [name.bold()]), indicator: "green" });
					marketing_flows.tiles.reload(listview);
				})
			);
		}
	},

	// The flow's diagram in small: a box per step at its designer position (a layered layout for
	// steps never placed, as the designer's), a line per link. Plain SVG, no library.
	diagram_svg(diagram) {
		const steps = diagram.steps || [];
		if (!steps.length) {
			return `<div class="mf-tile-empty text-muted">${__("No steps yet")}</div>`;
		}
		const at = this.layout(diagram);
		const W = 220, H = 90;
		const xs = steps.map(([id]) => at[id].x), ys = steps.map(([id]) => at[id].y);
		const pad = 40;
		const x0 = Math.min(...xs) - pad, y0 = Math.min(...ys) - pad;
		const width = Math.max(...xs) + W + pad - x0, height = Math.max(...ys) + H + pad - y0;
		const lines = (diagram.links || [])
			.filter(([from, to]) => at[from] && at[to])
			.map(([from, to]) => {
				const a = at[from], b = at[to];
				const x1 = a.x + W / 2, y1 = a.y + H, x2 = b.x + W / 2, y2 = b.y;
				const mid = (y1 + y2) / 2;
				return `<path d="M${x1},${y1} C${x1},${mid} ${x2},${mid} ${x2},${y2}" />`;
			}).join("");
		const boxes = steps.map(([id, type]) => {
			const colour = this.STEP_COLOURS[type] || "gray";
			return `<rect x="${at[id].x}" y="${at[id].y}" width="${W}" height="${H}" rx="14"
				style="fill: var(--bg-${colour}); stroke: var(--${colour}-500)"><title>${frappe.utils.escape_html(__(type))}</title></rect>`;
		}).join("");
		return `<svg class="mf-tile-diagram" viewBox="${x0} ${y0} ${width} ${height}"
			preserveAspectRatio="xMidYMid meet" role="img" aria-label="${__("Diagram of the flow")}">
			<g class="mf-tile-links">${lines}</g><g class="mf-tile-steps">${boxes}</g></svg>`;
	},

	layout(diagram) {
		const at = {};
		const placed = ([, , x, y]) => x || y;
		for (const s of diagram.steps) if (placed(s)) at[s[0]] = { x: s[2], y: s[3] };
		if (diagram.steps.every(placed)) return at;
		const next = {};
		for (const [from, to] of diagram.links || []) (next[from] = next[from] || []).push(to);
		const depth = {};
		const queue = [[diagram.steps[0][0], 0]];
		while (queue.length) {
			const [id, d] = queue.shift();
			if (id in depth) continue;
			depth[id] = d;
			for (const to of next[id] || []) queue.push([to, d + 1]);
		}
		let extra = Math.max(0, ...Object.values(depth)) + 1;
		const per_layer = {};
		for (const s of diagram.steps) {
			if (placed(s)) continue;
			const d = s[0] in depth ? depth[s[0]] : extra++;
			const col = (per_layer[d] = (per_layer[d] || 0) + 1) - 1;
			at[s[0]] = { x: 40 + col * 280, y: 40 + d * 190 };
		}
		return at;
	},

	style() {
		if (document.getElementById("mf-tiles-style")) return;
		$(`<style id="mf-tiles-style">
			.mf-tile-mode > .list-row-head, .mf-tile-mode > .list-row-container { display: none; }
			.mf-tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(240px, 1fr));
				gap: var(--padding-md); padding: var(--padding-md); }
			.mf-tile { border: 1px solid var(--border-color); border-radius: var(--border-radius-md);
				background: var(--fg-color); display: flex; flex-direction: column; min-width: 0; }
			.mf-tile:hover { box-shadow: var(--shadow-base); }
			.mf-tile-picture { display: flex; align-items: center; justify-content: center; height: 140px;
				padding: var(--padding-sm); background: var(--subtle-fg); border-bottom: 1px solid var(--border-color);
				border-radius: var(--border-radius-md) var(--border-radius-md) 0 0; }
			.mf-tile-diagram { width: 100%; height: 100%; }
			.mf-tile-links path { fill: none; stroke: var(--gray-500); stroke-width: 6; }
			.mf-tile-steps rect { stroke-width: 5; }
			.mf-tile-body { padding: var(--padding-sm) var(--padding-md) var(--padding-md); min-width: 0; }
			.mf-tile-head { display: flex; align-items: center; justify-content: space-between; gap: 4px; }
			.mf-tile-title { font-weight: 600; color: var(--text-color); min-width: 0; }
			.mf-tile-meta { display: flex; align-items: center; gap: var(--margin-sm); margin: 4px 0 8px;
				min-width: 0; font-size: var(--text-sm); }
			.mf-tile-figures { display: grid; grid-template-columns: repeat(4, 1fr); gap: 4px; }
			.mf-tile-value { font-weight: 600; font-size: var(--text-md); }
			.mf-tile-label { font-size: var(--text-xs); line-height: 1.2; }
			.mf-view-switch { margin-right: var(--margin-sm); }
		</style>`).appendTo("head");
	},
};

// Copy a flow with its content (api/flows.py): the tiles' Copy, the form's Copy and Duplicate.
marketing_flows.copy_flow = function (name) {
	return frappe
		.call({
			method: "marketing_flows.api.flows.copy_flow",
			args: { flow: name },
			freeze: true,
			freeze_message: __("Copying the flow and its content…"),
		})
		.then((r) => r.message);
};
