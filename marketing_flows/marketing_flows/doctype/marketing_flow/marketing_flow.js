// Copyright (c) 2026, marketing_flows contributors
// For license information, please see license.txt

frappe.ui.form.on("Marketing Flow", {
	setup(frm) {
		// the people a flow may enrol here: Contact, and Lead / CRM Lead where installed
		frm.set_query("person_doctype", () => ({
			filters: { name: ["in", frm.doc.__onload?.person_doctypes || ["Contact"]] },
		}));
	},
	refresh(frm) {
		if (frm.is_new()) return;
		const can_operate = frappe.user.has_role(["Flow Administrator", "System Manager"]);
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
		}
		if (can_operate) {  // a dry run answers questions about the data: flow operators only
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
		marketing_flows.render_figures(frm);
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

frappe.provide("marketing_flows");

// The figures come with the document (onload): Overview cards, the Flow tab's canvas with
// per-step figures, the Reports charts, the Participants list and the Flow Content list.
marketing_flows.figures_of = function (frm) {
	return (frm.doc.__onload && frm.doc.__onload.figures) || {};
};

marketing_flows.render_figures = function (frm) {
	const f = marketing_flows.figures_of(frm);
	const esc = frappe.utils.escape_html;
	const card = (label, value, cls) =>
		`<div class="col-6 col-sm-4 col-md-2 mb-3"><div class="border rounded p-2 mf-card ${cls || ""}">
			<div class="text-muted small">${esc(label)}</div><div class="h4 mb-0">${value ?? 0}</div></div></div>`;
	const pct = (v) => `${v || 0}%`;
	frm.get_field("figures_html").$wrapper.html(`<div class="row mf-figures">
		${card(__("Enrolled"), f.enrolled, "mf-enrolled")}${card(__("In progress"), f.active)}
		${card(__("Completed"), f.completed)}${card(__("Succeeded"), f.succeeded)}
		${card(__("Success rate"), pct(f.success_rate))}${card(__("Goal conversion rate"), pct(f.goal_conversion_rate))}
		${card(__("Emails sent"), f.emails_sent)}${card(__("Delivered"), f.delivered)}${card(__("Opened"), f.opened)}${card(__("Clicked"), f.clicked)}
		${card(__("Bounced"), f.bounced)}${card(__("Complained"), f.complained)}${card(__("Unsubscribed"), f.unsubscribed)}
		${card(__("Stalled"), f.stalled)}
		</div><div class="mf-in-words text-muted">${marketing_flows.flow_in_words(frm)}</div>`);
	marketing_flows.render_diagram(frm, f);
	marketing_flows.render_contents(frm);
	if (frm.mf_reports_drawn) marketing_flows.render_reports(frm, true);
	if (frm.mf_participants_drawn) marketing_flows.render_participants(frm);
};

// The trigger and the success criteria in words.
marketing_flows.flow_in_words = function (frm) {
	const d = frm.doc;
	const esc = frappe.utils.escape_html;
	const trigger = {
		Manual: __("People are enrolled by hand (Enrol Contacts, Add to flow)."),
		"Document Event": __("When a {0} is {1}.", [__(d.trigger_doctype || "?"), __((d.trigger_event || "Insert").toLowerCase())]),
		"Web Form": __("When web form {0} is submitted.", [d.trigger_web_form || "?"]),
		"Email Group": __("When someone joins email group {0}.", [d.trigger_email_group || "?"]),
		Segment: __("When someone enters segment {0}.", [d.trigger_segment || "?"]),
		"Date Field": __("{0} days from the date in {1}.", [d.trigger_date_offset || 0, d.trigger_date_field || "?"]),
		"Flow Goal": __("When someone meets the goal of flow {0}.", [d.trigger_flow || "?"]),
	}[d.trigger_type] || "";
	const criteria = (d.success_criteria || []).map((c) => esc(__(c.criterion_type))).join(d.success_logic === "All" ? ` ${__("and")} ` : ` ${__("or")} `);
	return `<p><b>${__("Trigger")}:</b> ${esc(trigger)}</p><p><b>${__("Success")}:</b> ${
		criteria || esc(__("No success criteria"))
	}</p>`;
};

// The Flow tab: the designer's canvas, read-only, with per-step figures; a click on a step
// shows its figures and "Save as segment".
marketing_flows.render_diagram = function (frm, f) {
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

// Reports: frappe-charts from the figures the form loaded.
marketing_flows.render_reports = function (frm, force) {
	const wrapper = frm.get_field("reports_html").$wrapper;
	if (frm.mf_reports_drawn && !force) return;
	if (!wrapper.is(":visible") && !force) return;
	const f = marketing_flows.figures_of(frm);
	// the same figures drawn again would only restart the charts (and break their animations)
	const key = JSON.stringify([frm.doc.name, f.reports, f.steps, (frm.doc.steps || []).map((s) => s.step_id)]);
	if (frm.mf_reports_drawn === key && wrapper.find(".mf-reports").length) return;
	frm.mf_reports_drawn = key;
	const r = f.reports || {};
	const steps = frm.doc.steps || [];
	const counts = f.steps || {};
	const c = (sid, ...events) => events.reduce((n, e) => n + ((counts[sid] || {})[e] || 0), 0);
	wrapper.html(`<div class="row mf-reports">
		<div class="col-md-6 mf-chart" data-chart="over-time"><h6>${__("Enrolments and successes over time")}</h6><div class="mf-chart-body"></div></div>
		<div class="col-md-6 mf-chart" data-chart="status"><h6>${__("Participants by status")}</h6><div class="mf-chart-body"></div></div>
		<div class="col-md-6 mf-chart" data-chart="exit"><h6>${__("Exit reasons")}</h6><div class="mf-chart-body"></div></div>
		<div class="col-md-6 mf-chart" data-chart="emails"><h6>${__("Open and click rate per email")}</h6><div class="mf-chart-body"></div></div>
		<div class="col-md-12 mf-chart" data-chart="funnel"><h6>${__("Step funnel")}</h6><div class="mf-chart-body"></div></div>
	</div>`);
	const draw = (key, data, type, opts = {}) => {
		const $el = wrapper.find(`[data-chart="${key}"] .mf-chart-body`);
		if (!data.labels.length) {
			$el.html(`<div class="text-muted small">${__("No data yet.")}</div>`);
			return;
		}
		// no animations: frappe-charts swaps its SVG for an animated copy for a moment, and a
		// resize in that moment (the form's layout settling) redraws into the missing SVG
		// ("Failed to execute 'removeChild'")
		new frappe.Chart($el.get(0), { data, type, height: 220, animate: 0, disableEntryAnimation: 1, ...opts });
	};
	const days = [...new Set([...(r.enrolled_per_day || []), ...(r.succeeded_per_day || [])].map((x) => x[0]))].sort();
	const by_day = (list) => {
		const m = Object.fromEntries(list || []);
		return days.map((d) => m[d] || 0);
	};
	draw("over-time", {
		labels: days.map((d) => frappe.datetime.str_to_user(d)),
		datasets: [
			{ name: __("Enrolled"), values: by_day(r.enrolled_per_day) },
			{ name: __("Succeeded"), values: by_day(r.succeeded_per_day) },
		],
	}, days.length > 2 ? "line" : "bar");
	const statuses = [["Active", f.active - (f.waiting || 0)], ["Waiting", f.waiting], ["Completed", f.completed], ["Exited", f.exited], ["Stalled", f.stalled]].filter(([, n]) => n > 0);
	draw("status", { labels: statuses.map(([s]) => __(s)), datasets: [{ values: statuses.map(([, n]) => n) }] }, "donut");
	draw("exit", { labels: (r.exit_reasons || []).map(([x]) => x || __("Unknown")), datasets: [{ name: __("Exited"), values: (r.exit_reasons || []).map(([, n]) => n) }] }, "bar");
	const emails = steps.filter((s) => s.step_type === "Send Email");
	const rate = (a, b) => (b ? Math.round((1000 * a) / b) / 10 : 0);
	draw("emails", {
		labels: emails.map((s) => s.label || s.step_id),
		datasets: [
			{ name: __("Open rate %"), values: emails.map((s) => rate(c(s.step_id, "Opened"), c(s.step_id, "Email Sent"))) },
			{ name: __("Click rate %"), values: emails.map((s) => rate(c(s.step_id, "Clicked"), c(s.step_id, "Email Sent"))) },
		],
	}, "bar");
	draw("funnel", {
		labels: steps.map((s) => s.label || s.step_id),
		datasets: [{ name: __("Processed"), values: steps.map((s) => c(s.step_id, "Step Executed", "Email Sent", "SMS Sent", "Branch Yes", "Branch No")) }],
	}, "bar");
};

// Participants: a paged list, filtered by status and step; a click opens the person's timeline.
marketing_flows.render_participants = function (frm) {
	const wrapper = frm.get_field("participants_html").$wrapper;
	const esc = frappe.utils.escape_html;
	const state = (frm.mf_participants = frm.mf_participants || { status: "", step: "", start: 0 });
	frm.mf_participants_drawn = true;
	const PAGE = 20;
	const status_options = ["", "Active", "Waiting", "Completed", "Exited", "Stalled"]
		.map((s) => `<option value="${s}" ${state.status === s ? "selected" : ""}>${s ? esc(__(s)) : esc(__("All statuses"))}</option>`).join("");
	const step_options = [""].concat((frm.doc.steps || []).map((s) => s.step_id))
		.map((s) => {
			const step = (frm.doc.steps || []).find((x) => x.step_id === s);
			return `<option value="${esc(s)}" ${state.step === s ? "selected" : ""}>${s ? esc(step.label || s) : esc(__("All steps"))}</option>`;
		}).join("");
	const filters = { flow: frm.doc.name };
	if (state.status) filters.status = state.status;
	if (state.step) filters.current_step = state.step;
	frappe.db.get_list("Marketing Flow Participant", {
		filters,
		fields: ["name", "email", "person", "full_name", "company", "enrolled_on", "status", "current_step", "last_sent", "last_sent_on", "last_sent_status", "succeeded"],
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
		const body = rows.map((p) => `<tr class="mf-participant" data-name="${esc(p.name)}" style="cursor:pointer">
			<td>${esc(p.email || p.full_name || p.person || "")}</td><td>${esc(p.company || "")}</td>
			<td>${esc(frappe.datetime.str_to_user(p.enrolled_on) || "")}</td>
			<td>${esc(__(p.status))}${p.succeeded ? ` <span class="indicator-pill green">${__("Succeeded")}</span>` : ""}</td>
			<td>${esc(step_name(p.current_step))}</td><td>${esc(p.last_sent || "")}</td>
			<td>${esc(frappe.datetime.str_to_user(p.last_sent_on) || "")}</td><td>${esc(p.last_sent_status ? __(p.last_sent_status) : "")}</td></tr>`).join("");
		wrapper.html(`<div class="mf-participants">
			<div class="d-flex mb-2" style="gap:8px">
				<select class="form-control input-xs mf-filter-status" style="max-width:180px">${status_options}</select>
				<select class="form-control input-xs mf-filter-step" style="max-width:220px">${step_options}</select>
			</div>
			<table class="table table-sm table-hover"><thead><tr>
				<th>${__("Email")}</th><th>${__("Company")}</th><th>${__("Enrolled")}</th><th>${__("Status")}</th>
				<th>${__("Current Step")}</th><th>${__("Last Sent")}</th><th>${__("Sent On")}</th><th>${__("Sent Status")}</th>
			</tr></thead><tbody>${body || `<tr><td colspan="8" class="text-muted">${__("No participants.")}</td></tr>`}</tbody></table>
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
			marketing_flows.timeline_dialog(frm, $(this).attr("data-name"));
		});
	});
};

// A person's timeline in this flow: every event of the log, in order, with its reason.
marketing_flows.timeline_dialog = function (frm, participant) {
	const esc = frappe.utils.escape_html;
	frm.call("get_timeline", { participant }).then((r) => {
		const rows = (r.message || []).map((e) => `<tr class="mf-timeline-row">
			<td class="text-muted small text-nowrap">${esc(frappe.datetime.str_to_user(e.creation))}</td>
			<td>${esc(e.step_id || "")}</td><td><b>${esc(__(e.event))}</b></td>
			<td>${esc(e.message || "")}${e.reference_name ? ` <a href="/app/${frappe.router.slug(e.reference_doctype)}/${encodeURIComponent(e.reference_name)}">${esc(e.reference_name)}</a>` : ""}</td></tr>`).join("");
		frappe.msgprint({
			title: __("Timeline"),
			message: `<div class="mb-2"><a href="/app/marketing-flow-participant/${encodeURIComponent(participant)}">${esc(participant)}</a></div>
				<table class="table table-sm mf-timeline">${rows || `<tr><td>${__("No events yet.")}</td></tr>`}</table>`,
			wide: true,
		});
	});
};

// Flow Content: the emails and SMS texts the steps use, with the steps that use them.
marketing_flows.render_contents = function (frm) {
	const esc = frappe.utils.escape_html;
	const contents = (frm.doc.__onload && frm.doc.__onload.contents) || [];
	const rows = contents.map((c) => {
		const steps = (frm.doc.steps || []).filter((s) => s.content === c.name).map((s) => esc(s.label || s.step_id)).join(", ");
		return `<tr><td><a href="/app/marketing-flow-content/${encodeURIComponent(c.name)}">${esc(c.content_name || c.name)}</a></td>
			<td>${esc(__(c.channel || ""))}</td><td>${esc(c.subject || "")}</td><td>${steps}</td></tr>`;
	}).join("");
	frm.get_field("content_html").$wrapper.html(`<table class="table table-sm mf-contents"><thead><tr>
		<th>${__("Content")}</th><th>${__("Channel")}</th><th>${__("Subject")}</th><th>${__("Used by")}</th></tr></thead>
		<tbody>${rows || `<tr><td colspan="4" class="text-muted">${__("No content used yet.")}</td></tr>`}</tbody></table>
		<button class="btn btn-xs btn-default mf-new-content">${__("New content")}</button>`);
	frm.get_field("content_html").$wrapper.find(".mf-new-content").on("click", () => frappe.new_doc("Marketing Flow Content"));
};

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

marketing_flows.show_enrol_result = function (res) {
	if (!res) return;
	if (res.queued) {
		frappe.msgprint(__("Enrolling {0} people in the background; progress is shown as it goes.", [res.queued]));
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
