// The flow form's Participants tab: a paged list, filtered by status and step, with each
// person's time zone (where it was found on hover); a click opens the person's timeline
// (flow_dialogs.js). Also the form's Flow Time Zone picker: the zones the server accepts.
frappe.provide("marketing_flows");

// Where the engine found a participant's time zone (Marketing Flow Participant.time_zone_source).
marketing_flows.time_zone_sources = () => ({
	Person: __("From the person's Time Zone field"),
	Address: __("From the country of the person's address"),
	Country: __("From the person's country"),
	Flow: __("The flow's time zone"),
	Site: __("The site's time zone"),
});

// The zones a flow may be set to (the server's list), fetched once per page.
marketing_flows.time_zones = function () {
	marketing_flows._time_zones =
		marketing_flows._time_zones ||
		frappe.xcall("marketing_flows.api.time_zones.zones").catch(() => {
			marketing_flows._time_zones = null;
			return [];
		});
	return marketing_flows._time_zones;
};

frappe.ui.form.on("Marketing Flow", {
	onload(frm) {
		// the Flow Time Zone field suggests (and keeps to) the zones the server accepts; empty:
		// the site's, shown as its placeholder
		const field = frm.get_field("time_zone");
		if (!field) return;
		field.df.placeholder = frappe.boot?.time_zone?.system || "";
		marketing_flows.time_zones().then((zones) => {
			const control = frm.get_field("time_zone");
			if (!control || !zones.length) return;
			control.df.options = zones;
			if (control.set_data) control.set_data(zones);
			control.refresh();
		});
	},
});

// The tab's filters as the server reads them (api/participant_tasks.py) and as the list asks.
marketing_flows.participant_filters = function (frm) {
	const state = frm.mf_participants;
	const filters = { flow: frm.doc.name };
	if (state.status) filters.status = state.status;
	if (state.step) filters.current_step = state.step;
	let or_filters = null;
	if (state.search) {
		// as the server's search: part of the email, name or person, % and _ taken literally
		const like = "%" + state.search.replace(/\\/g, "\\\\").replace(/%/g, "\\%").replace(/_/g, "\\_") + "%";
		or_filters = [["email", "like", like], ["full_name", "like", like], ["person", "like", like]];
	}
	return { filters, or_filters, task_filters: { status: state.status, step: state.step, search: state.search } };
};

marketing_flows.render_participants = function (frm) {
	const wrapper = frm.get_field("participants_html").$wrapper;
	const esc = frappe.utils.escape_html;
	const state = (frm.mf_participants = frm.mf_participants || { status: "", step: "", search: "", start: 0 });
	state.selected = state.selected || new Set();
	frm.mf_participants_drawn = true;
	marketing_flows.listen_for_participant_tasks();
	// enrolling and removing are a Flow Administrator's (SPEC's roles): the tasks are theirs only
	const can_operate = !!frm.doc.__onload?.is_flow_operator;
	const PAGE = 20;
	const status_options = ["", "Active", "Waiting", "Completed", "Exited", "Stalled", "Held Out"]
		.map((s) => `<option value="${s}" ${state.status === s ? "selected" : ""}>${s ? esc(__(s)) : esc(__("All statuses"))}</option>`).join("");
	const step_options = [""].concat((frm.doc.steps || []).map((s) => s.step_id))
		.map((s) => {
			const step = (frm.doc.steps || []).find((x) => x.step_id === s);
			return `<option value="${esc(s)}" ${state.step === s ? "selected" : ""}>${s ? esc(step.label || s) : esc(__("All steps"))}</option>`;
		}).join("");
	const held_out_help = __("In the control group: gets nothing from this flow, its goal is tracked");
	const { filters, or_filters } = marketing_flows.participant_filters(frm);
	frappe.db.get_list("Marketing Flow Participant", {
		filters,
		or_filters,
		fields: ["name", "email", "person", "full_name", "company", "enrolled_on", "status", "current_step", "last_sent", "last_sent_on", "last_sent_status", "succeeded", "time_zone", "time_zone_source"],
		order_by: "enrolled_on desc",
		start: state.start,
		limit: PAGE + 1,
	}).then((rows) => {
		const more = rows.length > PAGE;
		rows = rows.slice(0, PAGE);
		const step_name = (id) => {
			const s = (frm.doc.steps || []).find((x) => x.step_id === id);
			return s ? s.label || s.step_id : id || "";
		};
		const sources = marketing_flows.time_zone_sources();
		// the zone the flow uses for the person (set when the flow first needed it), and where it
		// was found on hover; the flow's or the site's, standing in for a zone of their own, muted
		const zone_cell = (p) => {
			if (!p.time_zone) return `<td class="mf-time-zone text-muted" data-source="">–</td>`;
			const muted = ["Flow", "Site"].includes(p.time_zone_source) ? " text-muted" : "";
			return `<td class="mf-time-zone${muted}" data-source="${esc(p.time_zone_source || "")}"
				title="${esc(sources[p.time_zone_source] || "")}">${esc(p.time_zone)}</td>`;
		};
		// a tick box before the email, for the tasks (in the Email column: the columns stay as they were)
		const tick = (p) => can_operate
			? `<input type="checkbox" class="mf-select mr-2" data-name="${esc(p.name)}" ${state.selected.has(p.name) ? "checked" : ""}
				aria-label="${esc(__("Select {0}", [p.email || p.full_name || p.person || p.name]))}">`
			: "";
		const body = rows.map((p) => `<tr class="mf-participant" data-name="${esc(p.name)}" style="cursor:pointer">
			<td>${tick(p)}${esc(p.email || p.full_name || p.person || "")}</td><td>${esc(p.company || "")}</td>${zone_cell(p)}
			<td>${esc(frappe.datetime.str_to_user(p.enrolled_on) || "")}</td>
			<td>${p.status === "Held Out"
				? `<span class="indicator-pill gray mf-held-out" title="${esc(held_out_help)}">${esc(__(p.status))}</span>`
				: esc(__(p.status))}${p.succeeded ? ` <span class="indicator-pill green">${__("Succeeded")}</span>` : ""}</td>
			<td>${esc(step_name(p.current_step))}</td><td>${esc(p.last_sent || "")}</td>
			<td>${esc(frappe.datetime.str_to_user(p.last_sent_on) || "")}</td><td>${esc(p.last_sent_status ? __(p.last_sent_status) : "")}</td></tr>`).join("");
		const all_ticked = rows.length && rows.every((p) => state.selected.has(p.name));
		const tick_all = can_operate && rows.length
			? `<input type="checkbox" class="mf-select-page mr-2" ${all_ticked ? "checked" : ""} aria-label="${esc(__("Select all on this page"))}">`
			: "";
		const can_group = frappe.model.can_write("Email Group");
		const tasks = can_operate ? `<div class="dropdown mf-tasks ml-auto">
				<button class="btn btn-xs btn-default dropdown-toggle mf-tasks-button" type="button" data-toggle="dropdown" aria-haspopup="true" aria-expanded="false">
					${esc(__("Tasks"))}</button>
				<div class="dropdown-menu dropdown-menu-right">
					<a class="dropdown-item mf-task" data-task="add_to_flow" href="#">${esc(__("Add to another flow…"))}</a>
					<a class="dropdown-item mf-task" data-task="remove" href="#">${esc(__("Remove from this flow…"))}</a>
					${can_group ? `<a class="dropdown-item mf-task" data-task="add_to_email_group" href="#">${esc(__("Add to email group…"))}</a>` : ""}
				</div></div>` : "";
		// what the tasks act on: the ticked rows (kept across pages), or the whole filtered list
		const selection_note = () => state.selected.size
			? `${esc(__("{0} selected", [state.selected.size]))} <a href="#" class="mf-clear-selection">${esc(__("Clear"))}</a>`
			: esc(__("No rows ticked: tasks take the whole list"));
		const chosen = can_operate ? `<span class="mf-selection-note text-muted small">${selection_note()}</span>` : "";
		wrapper.html(`<div class="mf-participants">
			<div class="d-flex mb-2 align-items-center" style="gap:8px">
				<select class="form-control input-xs mf-filter-status" style="max-width:180px">${status_options}</select>
				<select class="form-control input-xs mf-filter-step" style="max-width:220px">${step_options}</select>
				<input type="search" class="form-control input-xs mf-filter-search" style="max-width:220px"
					placeholder="${esc(__("Search email or name"))}" value="${esc(state.search || "")}">
				${chosen}${tasks}
			</div>
			<table class="table table-sm table-hover"><thead><tr>
				<th>${tick_all}${__("Email")}</th><th>${__("Company")}</th><th>${__("Time Zone")}</th><th>${__("Enrolled")}</th><th>${__("Status")}</th>
				<th>${__("Current Step")}</th><th>${__("Last Sent")}</th><th>${__("Sent On")}</th><th>${__("Sent Status")}</th>
			</tr></thead><tbody>${body || `<tr><td colspan="9" class="text-muted">${__("No participants.")}</td></tr>`}</tbody></table>
			<div class="d-flex" style="gap:8px">
				<button class="btn btn-xs btn-default mf-prev" ${state.start ? "" : "disabled"}>${__("Previous")}</button>
				<button class="btn btn-xs btn-default mf-next" ${more ? "" : "disabled"}>${__("Next")}</button>
			</div></div>`);
		const refilter = (values) => {
			// another list: the ticks of the last one no longer mean what is shown
			Object.assign(state, values, { start: 0 });
			state.selected = new Set();
			marketing_flows.render_participants(frm);
		};
		wrapper.find(".mf-filter-status").on("change", function () { refilter({ status: $(this).val() }); });
		wrapper.find(".mf-filter-step").on("change", function () { refilter({ step: $(this).val() }); });
		wrapper.find(".mf-filter-search").on("input", frappe.utils.debounce(function () {
			state.focus_search = true; // the list is drawn anew: typing goes on in the new box
			refilter({ search: ($(this).val() || "").trim() });
		}, 400));
		if (state.focus_search) {
			state.focus_search = false;
			const input = wrapper.find(".mf-filter-search")[0];
			input.focus();
			input.setSelectionRange(input.value.length, input.value.length);
		}
		wrapper.find(".mf-prev").on("click", () => { state.start = Math.max(0, state.start - PAGE); marketing_flows.render_participants(frm); });
		wrapper.find(".mf-next").on("click", () => { state.start += PAGE; marketing_flows.render_participants(frm); });
		const show_selection = () => {
			wrapper.find(".mf-selection-note").html(selection_note());
			wrapper.find(".mf-select-page").prop("checked", rows.every((p) => state.selected.has(p.name)));
			wrapper.find(".mf-clear-selection").on("click", (e) => {
				e.preventDefault();
				state.selected = new Set();
				wrapper.find(".mf-select").prop("checked", false);
				show_selection();
			});
		};
		show_selection();
		wrapper.find(".mf-select").on("click", (e) => e.stopPropagation()).on("change", function () {
			const name = $(this).attr("data-name");
			if (this.checked) state.selected.add(name); else state.selected.delete(name);
			show_selection();
		});
		wrapper.find(".mf-select-page").on("change", function () {
			for (const p of rows) {
				if (this.checked) state.selected.add(p.name); else state.selected.delete(p.name);
			}
			wrapper.find(".mf-select").prop("checked", this.checked);
			show_selection();
		});
		wrapper.find(".mf-task").on("click", function (e) {
			e.preventDefault();
			marketing_flows.participant_task_dialog(frm, $(this).attr("data-task"));
		});
		wrapper.find(".mf-participant").on("click", function () {
			marketing_flows.timeline_dialog(frm.doc.name, $(this).attr("data-name"), frm);
		});
	});
};

// The tasks: add the chosen participants to another flow, remove them from this one, add them to
// an email group (api/participant_tasks.py). The chosen: the ticked rows, or the whole list as
// filtered. A large list works in the background: Frappe's progress dialog shows how far, and a
// message the counts at the end.
marketing_flows.participant_task_dialog = function (frm, task) {
	const esc = frappe.utils.escape_html;
	const state = frm.mf_participants;
	const { filters, or_filters, task_filters } = marketing_flows.participant_filters(frm);
	const titles = {
		add_to_flow: __("Add to another flow"),
		remove: __("Remove from this flow"),
		add_to_email_group: __("Add to email group"),
	};
	const methods = {
		add_to_flow: "add_to_another_flow",
		remove: "remove_from_flow",
		add_to_email_group: "add_to_email_group",
	};
	frappe.db.get_list("Marketing Flow Participant", { filters, or_filters, fields: ["count(name) as n"], limit: 1 })
		.then((r) => {
			const total = (r && r[0] && r[0].n) || 0;
			const picked = state.selected.size;
			const scope = [];
			if (picked) scope.push({ value: "selected", label: __("The {0} selected", [picked]) });
			scope.push({ value: "all", label: __("Everyone in this list ({0})", [total]) });
			const fields = [{
				fieldname: "apply_to", fieldtype: "Select", label: __("Apply to"), reqd: 1,
				options: scope, default: scope[0].value,
				description: __("The rows you ticked, or everyone the list shows as filtered now (status, step, search), on every page."),
			}];
			if (task === "add_to_flow") {
				fields.push({
					fieldname: "target_flow", fieldtype: "Link", options: "Marketing Flow", label: __("Flow"), reqd: 1,
					description: __("A Draft, Running or Paused flow of the same kind of person. Its rules decide who gets in."),
					get_query: () => ({
						filters: {
							status: ["in", ["Draft", "Running", "Paused"]],
							person_doctype: frm.doc.person_doctype || "Contact",
							name: ["!=", frm.doc.name],
						},
					}),
				});
			} else if (task === "add_to_email_group") {
				fields.push({
					fieldname: "email_group", fieldtype: "Link", options: "Email Group", label: __("Email Group"), reqd: 1,
					description: __("Their email addresses are added; those in the group already stay as they are (unsubscribed ones too)."),
				});
			} else {
				fields.push({
					fieldname: "remove_note", fieldtype: "HTML",
					options: `<p class="text-muted small mf-remove-note">${esc(__("Their participation in this flow ends now (Active, Waiting and Stalled ones), with the exit reason \"Removed by {0}\".", [frappe.session.user]))}</p>`,
				});
			}
			const d = new frappe.ui.Dialog({
				title: titles[task],
				fields,
				primary_action_label: task === "remove" ? __("Remove") : __("Add"),
				primary_action(values) {
					const args = { flow: frm.doc.name };
					if (values.apply_to === "selected") args.participants = JSON.stringify([...state.selected]);
					else args.filters = JSON.stringify(task_filters);
					if (task === "add_to_flow") args.target_flow = values.target_flow;
					if (task === "add_to_email_group") args.email_group = values.email_group;
					frappe.call({
						method: `marketing_flows.api.participant_tasks.${methods[task]}`,
						args,
						freeze: true,
						freeze_message: __("Working…"),
					}).then((res) => {
						d.hide();
						const answer = res.message || {};
						frappe.msgprint({
							title: answer.title || titles[task],
							message: `<div class="mf-task-result" data-task="${esc(task)}">${answer.message || ""}</div>`,
							indicator: answer.queued ? "blue" : answer.indicator,
						});
						if (!answer.queued) {
							state.selected = new Set();
							marketing_flows.render_participants(frm);
						}
					});
				},
			});
			d.$wrapper.addClass("mf-participant-task");
			d.show();
		});
};

// A background task finished (engine/running/participant_tasks.py, DONE_EVENT): the flow's open
// Participants tab shows the list as it is now. Its counts came as a message already.
marketing_flows.listen_for_participant_tasks = function () {
	if (marketing_flows._listening_for_tasks) return;
	marketing_flows._listening_for_tasks = true;
	frappe.realtime.on("marketing_flows_participant_task_done", (data) => {
		const frm = window.cur_frm;
		if (!frm || frm.doctype !== "Marketing Flow" || frm.doc.name !== data.flow || !frm.mf_participants_drawn) return;
		frm.mf_participants.selected = new Set();
		marketing_flows.render_participants(frm);
	});
};
