// The flow form's Reports tab: frappe-charts from the figures the form loaded.
frappe.provide("marketing_flows");

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
