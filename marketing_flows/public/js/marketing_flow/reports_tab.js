// The flow form's Reports tab: frappe-charts from the figures the form loaded; above them what
// the flow earned (render_earnings, from get_earnings): the lift against the control group,
// revenue per step, branch and variant, and the A/B tests' decisions with their significance.
frappe.provide("marketing_flows");

marketing_flows.render_reports = function (frm, force) {
	const wrapper = frm.get_field("reports_html").$wrapper;
	if (frm.mf_reports_drawn && !force) return;
	if (!wrapper.is(":visible") && !force) return;
	const f = marketing_flows.figures_of(frm);
	if (!wrapper.find(".mf-reports-earnings").length) {
		wrapper.html(`<div class="mf-reports-earnings"></div><div class="mf-reports-figures"></div>`);
	}
	marketing_flows.render_earnings(frm, wrapper.find(".mf-reports-earnings"));
	const $figures = wrapper.find(".mf-reports-figures");
	// the same figures drawn again would only restart the charts (and break their animations)
	const key = JSON.stringify([frm.doc.name, f.reports, f.steps, (frm.doc.steps || []).map((s) => s.step_id)]);
	if (frm.mf_reports_drawn === key && $figures.find(".mf-reports").length) return;
	frm.mf_reports_drawn = key;
	const r = f.reports || {};
	const steps = frm.doc.steps || [];
	const counts = f.steps || {};
	const c = (sid, ...events) => events.reduce((n, e) => n + ((counts[sid] || {})[e] || 0), 0);
	$figures.html(`<div class="row mf-reports">
		<div class="col-md-6 mf-chart" data-chart="over-time"><h6>${__("Enrolments and successes over time")}</h6><div class="mf-chart-body"></div></div>
		<div class="col-md-6 mf-chart" data-chart="status"><h6>${__("Participants by status")}</h6><div class="mf-chart-body"></div></div>
		<div class="col-md-6 mf-chart" data-chart="exit"><h6>${__("Exit reasons")}</h6><div class="mf-chart-body"></div></div>
		<div class="col-md-6 mf-chart" data-chart="emails"><h6>${__("Open and click rate per email")}</h6><div class="mf-chart-body"></div></div>
		<div class="col-md-12 mf-chart" data-chart="funnel"><h6>${__("Step funnel")}</h6><div class="mf-chart-body"></div></div>
	</div>`);
	const draw = (key, data, type, opts = {}) => {
		const $el = $figures.find(`[data-chart="${key}"] .mf-chart-body`);
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
		datasets: [{ name: __("Processed"), values: steps.map((s) => c(s.step_id, "Step Executed", "Email Sent", "SMS Sent", "Branch Yes", "Branch No", "Notified", "Owner Assigned")) }],
	}, "bar");
};

// Numbers as the marketer reads them: one decimal, a sign on differences.
marketing_flows.num1 = (v) => format_number(v || 0, null, 1);
marketing_flows.signed = (v) => `${(v || 0) > 0 ? "+" : (v || 0) < 0 ? "−" : ""}${marketing_flows.num1(Math.abs(v || 0))}`;
marketing_flows.p_value_text = (p) => (p === null || p === undefined ? "" : p < 0.001 ? "< 0.001" : format_number(p, null, 3));

// What the flow earned, above the other charts: drawn once per figures loaded (the earnings
// belong to them: all versions or the one of "Figures of").
marketing_flows.render_earnings = function (frm, $el) {
	const key = marketing_flows.figures_key(frm);
	if (frm.mf_earnings_drawn === key && $el.children().length) return;
	frm.mf_earnings_drawn = key;
	if (!$el.children().length) $el.html(`<div class="text-muted small mb-3">${__("Loading...")}</div>`);
	marketing_flows.earnings_of(frm).then((e) => {
		if (!e || marketing_flows.figures_key(frm) !== key) return; // other figures meanwhile
		marketing_flows.draw_earnings(frm, $el, e);
	});
};

marketing_flows.draw_earnings = function (frm, $el, e) {
	const esc = frappe.utils.escape_html;
	const { num1, signed } = marketing_flows;
	const money = (v) => esc(marketing_flows.money(v, e));
	const revenue = marketing_flows.has_revenue(e);
	const enrolled = e.enrolled || {};
	const held = e.held_out || {};
	const lift = e.lift || {};
	const confidence = e.confidence || 95;
	const control = (held.people || 0) > 0 || (e.holdout_percent || 0) > 0;

	// the lift in one sentence, or why there is none yet
	let summary;
	let detail = "";
	if (!control) {
		summary = __("No control group: set Control Group (%) on the Success tab to see what the flow adds to what would have happened anyway.");
	} else if (!lift.enough) {
		summary = marketing_flows.not_enough_text(e);
		detail = __("So far: goal rate {0} % of {1} enrolled vs {2} % of {3} held out.", [
			num1(enrolled.rate), enrolled.people || 0, num1(held.rate), held.people || 0,
		]);
	} else {
		summary = __("Goal rate {0} % enrolled vs {1} % held out: {2} points ({3} % interval {4} to {5})", [
			num1(enrolled.rate), num1(held.rate), signed(lift.absolute), confidence, signed(lift.low), signed(lift.high),
		]);
		const parts = [];
		if (lift.relative !== null && lift.relative !== undefined) {
			parts.push(__("{0} % relative to the control group", [signed(lift.relative)]));
		}
		parts.push(__("{0} enrolled, {1} held out", [enrolled.people || 0, held.people || 0]));
		if (lift.p_value !== null && lift.p_value !== undefined) {
			parts.push(lift.p_value < 0.001 ? "p < 0.001" : `p = ${marketing_flows.p_value_text(lift.p_value)}`);
		}
		detail = parts.join(" · ");
	}
	const pill = control && lift.enough
		? (lift.significant
			? `<span class="indicator-pill green mf-lift-significance" data-significant="1">${esc(__("Significant at {0} %", [confidence]))}</span>`
			: `<span class="indicator-pill gray mf-lift-significance" data-significant="0">${esc(__("Not significant at {0} %", [confidence]))}</span>`)
		: "";

	let revenue_line = "";
	const by_step = (revenue && e.revenue_by_step) || {};
	const any_revenue = revenue && ((enrolled.revenue || 0) > 0 || (held.revenue || 0) > 0 || Object.keys(by_step).length > 0);
	if (revenue && !any_revenue) {
		revenue_line = `<div class="text-muted mb-2 mf-revenue-summary mf-no-revenue">${esc(
			__("No revenue yet: the orders, invoices and won deals of the flow's people count within {0} days.", [
				frm.doc.attribution_window_days || 30,
			])
		)}</div>`;
	} else if (revenue) {
		const sentences = [__("Revenue {0} from {1} enrolled ({2} per person)", [
			money(enrolled.revenue), enrolled.people || 0, money(enrolled.revenue_per_person),
		])];
		if (control) {
			sentences[0] += ` ${__("vs {0} from {1} held out ({2} per person)", [
				money(held.revenue), held.people || 0, money(held.revenue_per_person),
			])}`;
		}
		if (e.earned_beyond_control !== null && e.earned_beyond_control !== undefined) {
			sentences.push(__("Earned beyond the control group: {0}", [`<b>${money(e.earned_beyond_control)}</b>`]));
		}
		revenue_line = `<div class="mf-revenue-summary mb-2">${sentences.map((x) => marketing_flows.sentence(x)).join(" ")}</div>`;
	}

	const over_time = e.over_time || [];
	const show_lift_charts = control && over_time.length > 0;
	const branching = (frm.doc.steps || []).filter((s) => s.step_type === "A/B Test" || (revenue && s.step_type === "Split"));
	$el.html(`<div class="mf-earnings mb-4" data-version="${esc(String(frm.mf_figures_version || ""))}">
		<div class="mf-lift mb-2">
			<div class="d-flex align-items-center flex-wrap" style="gap:8px">
				<span class="h5 mb-0 mf-lift-summary">${esc(summary)}</span>${pill}
			</div>
			${detail ? `<div class="text-muted small mf-lift-detail mt-1">${esc(detail)}</div>` : ""}
		</div>
		${revenue_line}
		<div class="row">
			${show_lift_charts ? `
			<div class="col-md-6 mf-chart" data-chart="goal-rates"><h6>${esc(__("Goal rate over time: enrolled vs held out"))}</h6><div class="mf-chart-body"></div></div>
			<div class="col-md-6 mf-chart" data-chart="lift"><h6>${esc(__("Lift over time, with its {0} % interval (points)", [confidence]))}</h6><div class="mf-chart-body"></div></div>` : ""}
			${any_revenue ? `<div class="col-md-12 mf-chart" data-chart="revenue-steps"><h6>${esc(__("Revenue per step"))}</h6><div class="mf-chart-body"></div></div>` : ""}
		</div>
		${marketing_flows.by_version_html(e)}
		${branching.length ? `<div class="row mf-branch-reports">${branching.map((s) => marketing_flows.branch_report_html(frm, s, e)).join("")}</div>` : ""}
	</div>`);

	const draw = (key, data, type, opts = {}) => {
		const $chart = $el.find(`[data-chart="${key}"] .mf-chart-body`);
		if (!data.labels.length) {
			$chart.html(`<div class="text-muted small">${__("No data yet.")}</div>`);
			return;
		}
		// no animations: see render_reports
		new frappe.Chart($chart.get(0), { data, type, height: 220, animate: 0, disableEntryAnimation: 1, ...opts });
	};
	if (show_lift_charts) {
		const both = over_time.filter((r) => r.enrolled_rate !== null && r.enrolled_rate !== undefined
			&& r.held_out_rate !== null && r.held_out_rate !== undefined);
		const axis = { xIsSeries: 1, xAxisMode: "tick" };
		const points = { formatTooltipY: (v) => `${num1(v)} %` };
		draw("goal-rates", {
			labels: both.map((r) => frappe.datetime.str_to_user(r.date)),
			datasets: [
				{ name: __("Enrolled"), values: both.map((r) => r.enrolled_rate) },
				{ name: __("Held out"), values: both.map((r) => r.held_out_rate) },
			],
		}, both.length > 1 ? "line" : "bar", {
			colors: ["#2490ef", "#98a1a9"], axisOptions: axis, tooltipOptions: points, lineOptions: { hideDots: both.length > 30 ? 1 : 0 },
		});
		// the interval as its two edges around the lift, lighter; the zero line is "no difference"
		const known = both.filter((r) => r.low !== null && r.low !== undefined && r.high !== null && r.high !== undefined);
		draw("lift", {
			labels: known.map((r) => frappe.datetime.str_to_user(r.date)),
			datasets: [
				{ name: __("Lift"), values: known.map((r) => Math.round(10 * ((r.enrolled_rate || 0) - (r.held_out_rate || 0))) / 10) },
				{ name: __("Interval low"), values: known.map((r) => r.low) },
				{ name: __("Interval high"), values: known.map((r) => r.high) },
			],
			yMarkers: [{ label: __("No difference"), value: 0, options: { labelPos: "left" } }],
		}, known.length > 1 ? "line" : "bar", {
			colors: ["#29cd42", "#b7e9bf", "#b7e9bf"],
			axisOptions: axis,
			tooltipOptions: { formatTooltipY: (v) => `${signed(v)} ${__("points")}` },
			lineOptions: { hideDots: known.length > 30 ? 1 : 0 },
		});
	}
	if (any_revenue) {
		const steps = (frm.doc.steps || []).filter((s) => by_step[s.step_id] !== undefined);
		draw("revenue-steps", {
			labels: steps.map((s) => s.label || s.step_id),
			datasets: [{ name: __("Revenue"), values: steps.map((s) => by_step[s.step_id] || 0) }],
		}, "bar", { colors: ["#29cd42"], tooltipOptions: { formatTooltipY: (v) => marketing_flows.money(v, e) } });
	}
};

// A Split's or an A/B test's branches: people and revenue per branch; for an A/B test also the
// winning measure, the p-value against the leading variant, and the decision.
marketing_flows.branch_report_html = function (frm, step, e) {
	const esc = frappe.utils.escape_html;
	const f = marketing_flows.figures_of(frm);
	const revenue = marketing_flows.has_revenue(e);
	const ab = step.step_type === "A/B Test";
	const by_branch = (revenue && (e.revenue_by_branch || {})[step.step_id]) || {};
	const people = (f.branches || {})[step.step_id] || {};
	const variants = ab ? ((e && e.variants) || f.variants || {})[step.step_id] || {} : {};
	const rows = (frm.doc.branches || []).filter((b) => b.step_id === step.step_id);
	const keys = rows.map((b) => b.branch_key);
	for (const k of [...Object.keys(variants), ...Object.keys(people), ...Object.keys(by_branch)]) {
		if (k && !keys.includes(k)) keys.push(k); // a branch since removed: its people stay counted
	}
	const label = (k) => {
		const row = rows.find((b) => b.branch_key === k);
		return (row && (row.branch_label || row.branch_key)) || k;
	};
	const metric = step.ab_metric || "Open Rate";
	const p_value_help = __("The chance of a difference this large to the leading variant by noise alone");
	const confidence = step.ab_confidence || "95";
	const significance = (v) => {
		if (!v || !v.assigned) return "";
		if (v.leader || v.p_value === null || v.p_value === undefined) return `<span class="text-muted">${esc(__("Leading"))}</span>`;
		return v.significant
			? `<span class="indicator-pill green">${esc(__("Significant"))}</span>`
			: `<span class="text-muted">${esc(__("Not significant"))}</span>`;
	};
	const body = keys.map((k) => {
		const v = variants[k] || {};
		const winner = ab && step.ab_winner && step.ab_winner === k;
		return `<tr class="mf-branch-row" data-branch="${esc(k)}">
			<td>${esc(label(k))}${winner ? ` <span class="indicator-pill blue mf-winner">${esc(__("Winner"))}</span>` : ""}</td>
			<td class="text-right">${ab ? v.assigned || 0 : people[k] || 0}</td>
			${ab ? `<td class="text-right">${marketing_flows.num1(v[metric])} %</td>
				<td class="text-right mf-p-value">${esc(marketing_flows.p_value_text(v.p_value))}</td><td>${significance(v)}</td>` : ""}
			${revenue ? `<td class="text-right mf-branch-revenue">${esc(marketing_flows.money(by_branch[k], e))}</td>` : ""}
		</tr>`;
	}).join("");
	let decision = "";
	if (ab) {
		const text = step.ab_decision
			|| (step.ab_winner ? __("Winner: {0}", [label(step.ab_winner)])
				: step.ab_auto_winner
					? __("No winner yet: the test keeps splitting until one variant is better at {0} % significance.", [confidence])
					: __("No automatic winner: the variants keep their shares."));
		decision = `<div class="small mb-2 mf-ab-decision">${esc(text)}</div>`;
	}
	return `<div class="col-12 mb-3"><div class="border rounded p-3 mf-branch-report" data-step="${esc(step.step_id)}">
		<h6>${esc(ab ? __("A/B test {0}", [step.label || step.step_id]) : __("Split {0}", [step.label || step.step_id]))}</h6>
		${decision}
		<div class="table-responsive"><table class="table table-sm mb-0 text-nowrap"><thead><tr>
			<th>${esc(ab ? __("Variant") : __("Branch"))}</th><th class="text-right">${esc(__("People"))}</th>
			${ab ? `<th class="text-right">${esc(__(metric))}</th><th class="text-right" title="${esc(p_value_help)}">${esc(__("p-value"))}</th><th>${esc(__("Significance"))}</th>` : ""}
			${revenue ? `<th class="text-right">${esc(__("Revenue"))}</th>` : ""}
		</tr></thead><tbody>${body || `<tr><td colspan="6" class="text-muted">${esc(__("Nobody has taken a branch yet."))}</td></tr>`}</tbody></table></div>
	</div></div>`;
};

// All versions' figures: the lift of each version apart (a change to the flow may change what it
// earns); nothing when there is one version, or one is chosen in "Figures of".
marketing_flows.by_version_html = function (e) {
	const versions = e.by_version || [];
	if (versions.length < 2) return "";
	const esc = frappe.utils.escape_html;
	const { num1, signed } = marketing_flows;
	const revenue = marketing_flows.has_revenue(e);
	const rows = versions.map((v) => {
		const lift = v.lift || {};
		const lift_text = lift.enough
			? `${signed(lift.absolute)} (${signed(lift.low)} ${__("to")} ${signed(lift.high)})`
			: `<span class="text-muted">${esc(__("Not enough people yet"))}</span>`;
		const earned = v.earned_beyond_control === null || v.earned_beyond_control === undefined
			? "–" : esc(marketing_flows.money(v.earned_beyond_control, e));
		return `<tr class="mf-version-earnings" data-version="${esc(String(v.version))}">
			<td>${esc(__("Version {0}", [v.version]))}</td>
			<td class="text-right">${(v.enrolled || {}).people || 0}</td><td class="text-right">${(v.held_out || {}).people || 0}</td>
			<td class="text-right">${num1((v.enrolled || {}).rate)} %</td><td class="text-right">${num1((v.held_out || {}).rate)} %</td>
			<td class="text-right">${lift_text}</td>${revenue ? `<td class="text-right">${earned}</td>` : ""}</tr>`;
	}).join("");
	return `<div class="mb-3 mf-earnings-by-version table-responsive"><h6>${esc(__("Per version"))}</h6>
		<table class="table table-sm mb-0 text-nowrap"><thead><tr>
			<th>${esc(__("Version"))}</th><th class="text-right">${esc(__("Enrolled"))}</th><th class="text-right">${esc(__("Held out"))}</th>
			<th class="text-right">${esc(__("Goal rate enrolled"))}</th><th class="text-right">${esc(__("Goal rate held out"))}</th>
			<th class="text-right">${esc(__("Lift (points, {0} % interval)", [e.confidence || 95]))}</th>
			${revenue ? `<th class="text-right">${esc(__("Earned beyond the control group"))}</th>` : ""}
		</tr></thead><tbody>${rows}</tbody></table></div>`;
};
