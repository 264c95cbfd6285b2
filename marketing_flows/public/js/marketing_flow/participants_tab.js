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

marketing_flows.render_participants = function (frm) {
	const wrapper = frm.get_field("participants_html").$wrapper;
	const esc = frappe.utils.escape_html;
	const state = (frm.mf_participants = frm.mf_participants || { status: "", step: "", start: 0 });
	frm.mf_participants_drawn = true;
	const PAGE = 20;
	const status_options = ["", "Active", "Waiting", "Completed", "Exited", "Stalled", "Held Out"]
		.map((s) => `<option value="${s}" ${state.status === s ? "selected" : ""}>${s ? esc(__(s)) : esc(__("All statuses"))}</option>`).join("");
	const step_options = [""].concat((frm.doc.steps || []).map((s) => s.step_id))
		.map((s) => {
			const step = (frm.doc.steps || []).find((x) => x.step_id === s);
			return `<option value="${esc(s)}" ${state.step === s ? "selected" : ""}>${s ? esc(step.label || s) : esc(__("All steps"))}</option>`;
		}).join("");
	const held_out_help = __("In the control group: gets nothing from this flow, its goal is tracked");
	const filters = { flow: frm.doc.name };
	if (state.status) filters.status = state.status;
	if (state.step) filters.current_step = state.step;
	frappe.db.get_list("Marketing Flow Participant", {
		filters,
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
		const body = rows.map((p) => `<tr class="mf-participant" data-name="${esc(p.name)}" style="cursor:pointer">
			<td>${esc(p.email || p.full_name || p.person || "")}</td><td>${esc(p.company || "")}</td>${zone_cell(p)}
			<td>${esc(frappe.datetime.str_to_user(p.enrolled_on) || "")}</td>
			<td>${p.status === "Held Out"
				? `<span class="indicator-pill gray mf-held-out" title="${esc(held_out_help)}">${esc(__(p.status))}</span>`
				: esc(__(p.status))}${p.succeeded ? ` <span class="indicator-pill green">${__("Succeeded")}</span>` : ""}</td>
			<td>${esc(step_name(p.current_step))}</td><td>${esc(p.last_sent || "")}</td>
			<td>${esc(frappe.datetime.str_to_user(p.last_sent_on) || "")}</td><td>${esc(p.last_sent_status ? __(p.last_sent_status) : "")}</td></tr>`).join("");
		wrapper.html(`<div class="mf-participants">
			<div class="d-flex mb-2" style="gap:8px">
				<select class="form-control input-xs mf-filter-status" style="max-width:180px">${status_options}</select>
				<select class="form-control input-xs mf-filter-step" style="max-width:220px">${step_options}</select>
			</div>
			<table class="table table-sm table-hover"><thead><tr>
				<th>${__("Email")}</th><th>${__("Company")}</th><th>${__("Time Zone")}</th><th>${__("Enrolled")}</th><th>${__("Status")}</th>
				<th>${__("Current Step")}</th><th>${__("Last Sent")}</th><th>${__("Sent On")}</th><th>${__("Sent Status")}</th>
			</tr></thead><tbody>${body || `<tr><td colspan="9" class="text-muted">${__("No participants.")}</td></tr>`}</tbody></table>
			<div class="d-flex" style="gap:8px">
				<button class="btn btn-xs btn-default mf-prev" ${state.start ? "" : "disabled"}>${__("Previous")}</button>
				<button class="btn btn-xs btn-default mf-next" ${more ? "" : "disabled"}>${__("Next")}</button>
			</div></div>`);
		wrapper.find(".mf-filter-status").on("change", function () {
			Object.assign(state, { status: $(this).val(), start: 0 });
			marketing_flows.render_participants(frm);
		});
		wrapper.find(".mf-filter-step").on("change", function () {
			Object.assign(state, { step: $(this).val(), start: 0 });
			marketing_flows.render_participants(frm);
		});
		wrapper.find(".mf-prev").on("click", () => { state.start = Math.max(0, state.start - PAGE); marketing_flows.render_participants(frm); });
		wrapper.find(".mf-next").on("click", () => { state.start += PAGE; marketing_flows.render_participants(frm); });
		wrapper.find(".mf-participant").on("click", function () {
			marketing_flows.timeline_dialog(frm.doc.name, $(this).attr("data-name"), frm);
		});
	});
};
