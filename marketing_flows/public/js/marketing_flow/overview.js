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
		${card(__("Enrolled"), f.enrolled, "mf-enrolled")}${card(__("In progress"), f.active)}
		${card(__("Completed"), f.completed)}${card(__("Succeeded"), f.succeeded)}
		${card(__("Success rate"), pct(f.success_rate))}${card(__("Goal conversion rate"), pct(f.goal_conversion_rate))}
		${card(__("Emails sent"), f.emails_sent)}${card(__("Delivered"), f.delivered)}${card(__("Opened"), f.opened)}${card(__("Clicked"), f.clicked)}
		${card(__("Bounced"), f.bounced)}${card(__("Complained"), f.complained)}${card(__("Unsubscribed"), f.unsubscribed)}
		${card(__("Stalled"), f.stalled)}
		</div><div class="mf-in-words text-muted">${marketing_flows.flow_in_words(frm)}</div>`);
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
