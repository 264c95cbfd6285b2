// The flow form's Overview tab: the key figures and the flow in words. The figures come with
// the document (onload: no extra call); the other tabs read them too (marketing_flows.figures_of).
frappe.provide("marketing_flows");

marketing_flows.figures_of = function (frm) {
	return (frm.doc.__onload && frm.doc.__onload.figures) || {};
};

marketing_flows.render_overview = function (frm) {
	const f = marketing_flows.figures_of(frm);
	const esc = frappe.utils.escape_html;
	const card = (label, value, cls) =>
		`<div class="col-6 col-sm-4 col-md-2 mb-3"><div class="border rounded p-2 mf-card ${cls || ""}">
			<div class="text-muted small">${esc(label)}</div><div class="h4 mb-0">${value ?? 0}</div></div></div>`;
	const pct = (v) => `${v || 0}%`;
	frm.get_field("figures_html").$wrapper.html(`<div class="row mf-figures">
		${card(__("Enrolled"), f.enrolled, "mf-enrolled")}${marketing_flows.has_control_group(frm) ? card(__("Held out"), f.held_out, "mf-held-out") : ""}
		<div class="mf-earned-beyond" style="display:contents"></div>
		${card(__("In progress"), f.active)}
		${card(__("Completed"), f.completed)}${card(__("Succeeded"), f.succeeded)}
		${card(__("Success rate"), pct(f.success_rate))}${card(__("Goal conversion rate"), pct(f.goal_conversion_rate))}
		${card(__("Emails sent"), f.emails_sent)}${card(__("Delivered"), f.delivered)}${card(__("Opened"), f.opened)}${card(__("Clicked"), f.clicked)}
		${card(__("Bounced"), f.bounced)}${card(__("Complained"), f.complained)}${card(__("Unsubscribed"), f.unsubscribed)}
		${card(__("Stalled"), f.stalled)}
		</div><div class="mf-in-words text-muted">${marketing_flows.flow_in_words(frm)}</div>`);
	marketing_flows.render_earned_beyond(frm);
};

// A control group: the flow holds people out, or someone was held out (also by the site's
// global control group).
marketing_flows.has_control_group = function (frm) {
	return (marketing_flows.figures_of(frm).held_out || 0) > 0 || (frm.doc.holdout_percent || 0) > 0;
};

// What the flow earned (get_earnings: lift, revenue, over time, per step and branch) for the
// figures shown now (all versions, or the one of "Figures of"): asked once per figures loaded,
// when the Reports tab shows. Resolves to null while other figures are on their way (a version
// chosen). The figures are known by what they say, not by their object: every frm.call comes
// back with a copy of the document, its __onload too.
marketing_flows.figures_key = function (frm) {
	const f = marketing_flows.figures_of(frm);
	return JSON.stringify([frm.doc.name, frm.mf_figures_version || "", f.enrolled, f.held_out, f.succeeded, f.earnings, f.reports]);
};

marketing_flows.earnings_of = function (frm) {
	const key = marketing_flows.figures_key(frm);
	const version = frm.mf_figures_version || "";
	if ((frm.doc.__onload?.figures_version || "") !== version) return Promise.resolve(null);
	if (frm.mf_earnings && frm.mf_earnings.key === key) return frm.mf_earnings.promise;
	const promise = frm
		.call("get_earnings", { version: version || null })
		.then((r) => (marketing_flows.figures_key(frm) === key ? r.message || null : null));
	frm.mf_earnings = { key, promise };
	return promise;
};

// Revenue is shown only to who may read it: the server leaves its keys empty for the others.
marketing_flows.has_revenue = (e) => !!e && e.enrolled && e.enrolled.revenue !== null && e.enrolled.revenue !== undefined;

marketing_flows.sentence = (text) => (/[.!?]$/.test(text || "") ? text : `${text}.`);

// An amount in the currency the server says (the company's, else the site's); a plain number
// on a site that has none (Frappe would guess a currency).
marketing_flows.money = (value, e) =>
	e && e.currency ? format_currency(value || 0, e.currency) : format_number(value || 0, null, 2);

// Why there is no lift (yet): the server's reason, else the smaller group's size against the
// minimum.
marketing_flows.not_enough_text = function (e) {
	if (e.lift && e.lift.reason) return e.lift.reason;
	const need = e.min_group_size || 0;
	const held = (e.held_out && e.held_out.people) || 0;
	const enrolled = (e.enrolled && e.enrolled.people) || 0;
	return held <= enrolled
		? __("Not enough people yet: the control group has {0} of the {1} needed", [held, need])
		: __("Not enough people yet: {0} of the {1} needed are enrolled", [enrolled, need]);
};

// The Overview's "Earned beyond the control group": the amount, or why there is none yet. The
// groups and the lift come with the figures (`earnings`, null for a flow without a control
// group); nothing for who may not see revenue (its keys empty).
marketing_flows.render_earned_beyond = function (frm) {
	const $target = frm.get_field("figures_html").$wrapper.find(".mf-earned-beyond");
	const esc = frappe.utils.escape_html;
	// beside Enrolled and Held out, as wide as two cards
	const box = (body, note) => `<div class="col-12 col-md-4 mb-3"><div class="border rounded p-2 h-100 mf-card mf-earned-card">
		<div class="text-muted small">${esc(__("Earned beyond the control group"))}</div>
		${body}${note ? `<div class="text-muted small mf-earned-note">${esc(note)}</div>` : ""}</div></div>`;
	const f = marketing_flows.figures_of(frm);
	if (!marketing_flows.has_control_group(frm)) {
		// without a control group there is nothing to compare: say how to get one
		if (frappe.model.can_read("Marketing Flow Attribution")) {
			$target.html(box(`<div class="mf-earned-value text-muted">${esc(__("No control group"))}</div>`,
				__("Set Control Group (%) on the Success tab: the people held out show what would have happened anyway.")));
		}
		return;
	}
	const draw = (e) => {
		if (!e || !marketing_flows.has_revenue(e)) return;
		if (e.earned_beyond_control === null || e.earned_beyond_control === undefined) {
			$target.html(box(`<div class="mf-earned-value text-muted">${esc(__("Not yet"))}</div>`,
				marketing_flows.not_enough_text(e)));
			return;
		}
		const per = (g) => marketing_flows.money(g.revenue_per_person, e);
		const note = __("Revenue per person {0} enrolled vs {1} held out, times {2} enrolled.", [
			per(e.enrolled), per(e.held_out), e.enrolled.people,
		]);
		const unsure = e.lift && !e.lift.enough ? ` ${marketing_flows.sentence(marketing_flows.not_enough_text(e))}` : "";
		$target.html(box(`<div class="h4 mb-0 mf-earned-value">${esc(marketing_flows.money(e.earned_beyond_control, e))}</div>`,
			note + unsure));
	};
	if (f.earnings !== undefined) draw(f.earnings);
	else marketing_flows.earnings_of(frm).then(draw); // figures without it: ask
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
		"Link Clicked": d.trigger_link_url
			? __("When someone clicks a link containing '{0}' in an email of flow {1}.", [d.trigger_link_url, d.trigger_flow || "?"])
			: __("When someone clicks a link in an email of flow {0}.", [d.trigger_flow || "?"]),
	}[d.trigger_type] || "";
	const criteria = (d.success_criteria || []).map((c) => esc(__(c.criterion_type))).join(d.success_logic === "All" ? ` ${__("and")} ` : ` ${__("or")} `);
	return `<p><b>${__("Trigger")}:</b> ${esc(trigger)}</p><p><b>${__("Success")}:</b> ${
		criteria || esc(__("No success criteria"))
	}</p>`;
};
