// Dialogs the flow form and the people's forms and lists (person_flows.js) share: a person's
// timeline in a flow, and what an enrolment did.
frappe.provide("marketing_flows");

// A person's timeline in a flow: every event of the log, in order, with its reason. On the
// flow's own form pass `frm`: the call goes with the form's document, which comes back as it
// was (a doc method's answer replaces the open document, its figures included).
marketing_flows.timeline_dialog = function (flow, participant, frm = null) {
	const esc = frappe.utils.escape_html;
	const call = frm
		? frm.call("get_timeline", { participant })
		: frappe.call({
			method: "run_doc_method",
			args: { dt: "Marketing Flow", dn: flow, method: "get_timeline", args: { participant } },
		});
	call.then((r) => {
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

// What an enrolment did (the server's {enrolled, not_enrolled, queued}). From a flow's form:
// "3 enrolled."; from people's forms and lists, `flow` and `asked` (how many were chosen):
// "3 of 4 added to Onboarding."; then who was not enrolled and why.
marketing_flows.show_enrol_result = function (res, { flow, asked } = {}) {
	if (!res) return;
	const esc = frappe.utils.escape_html;
	if (res.queued) {
		frappe.msgprint(
			flow
				? __("Enrolling {0} people in {1} in the background; progress is shown as it goes.", [res.queued, flow])
				: __("Enrolling {0} people in the background; progress is shown as it goes.", [res.queued])
		);
		return;
	}
	const skipped = Object.entries(res.not_enrolled || {});
	let msg = asked
		? __("{0} of {1} added to {2}.", [res.enrolled || 0, asked, flow])
		: __("{0} enrolled.", [res.enrolled || 0]);
	if (skipped.length) {
		msg += "<br>" + __("Not enrolled:") + "<ul>" +
			skipped.slice(0, 20).map(([c, why]) => `<li>${esc(c)}: ${esc(why)}</li>`).join("") +
			"</ul>";
		if (skipped.length > 20) msg += __("... and {0} more", [skipped.length - 20]);
	}
	frappe.msgprint({
		title: asked ? __("Add to flow") : __("Enrolment"),
		message: msg,
		indicator: res.enrolled ? "green" : "orange",
	});
};
