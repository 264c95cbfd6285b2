// The designer's Save, when people are at steps the new design removes or changes: a dialog
// asks where they go. The proposal comes from the server (the flow's migration_proposal: what
// changed, the steps with people, the new design's steps and a proposed target for each); the
// answer becomes the flow's version_plan ({old step_id: {to, due}} or {old step_id: {drain: 1}}).

import { summary } from "./steps";

const DRAIN = "__drain__";

// The steps whose people need a place: someone is there and the step is gone or changed.
export function steps_to_place(proposal) {
	return ((proposal && proposal.steps) || []).filter(
		(s) => s.people > 0 && (s.removed || s.changed || s.wait_changed)
	);
}

function why(step) {
	if (step.removed) return __("removed from the design");
	if (step.wait_changed) return __("its wait changed");
	return __("changed");
}

// "12 people at W1 (Wait 3 days): removed from the design"; the step as saved (`old_steps`) says
// what it did, else its type.
function heading(step, old_steps) {
	const name = step.label || step.step_id;
	const old = old_steps.find((s) => s.step_id === step.step_id);
	const what = (old && summary(old, old_steps)) || __(step.step_type || "");
	const text =
		step.people === 1
			? __("1 person at {0} ({1}): {2}", [name, what, why(step)])
			: __("{0} people at {1} ({2}): {3}", [step.people, name, what, why(step)]);
	return frappe.utils.escape_html(text);
}

// Asks where the people go; resolves to the plan, or null when the user cancelled. `old_steps`:
// the steps as saved (what the people's steps did).
export function ask_where_people_go(proposal, old_steps = []) {
	const esc = frappe.utils.escape_html;
	const rows = steps_to_place(proposal);
	const new_steps = proposal.new_steps || [];
	const is_wait = Object.fromEntries(new_steps.map((s) => [s.step_id, !!s.is_wait]));
	const targets = new_steps
		.map((s) => ({ label: `${s.label || s.step_id} (${s.step_id})`, value: s.step_id }))
		.concat([{ label: __("Let them finish on the current version (drain)"), value: DRAIN }]);
	const changes = (proposal.changes || []).map((c) => `<li>${esc(c)}</li>`).join("");

	const fields = [
		{
			fieldtype: "HTML",
			fieldname: "changes",
			options: `<div class="mf-plan-changes">
				<p>${esc(__("Saving publishes a new version of the flow. People already in it are at steps that change: choose where each of them goes."))}</p>
				${changes ? `<div class="text-muted small mb-1">${esc(__("What changes"))}</div><ul class="small">${changes}</ul>` : ""}
			</div>`,
		},
	];
	rows.forEach((step, i) => {
		fields.push(
			{ fieldtype: "Section Break", fieldname: `section_${i}`, label: heading(step, old_steps) },
			{
				fieldtype: "Select",
				fieldname: `to_${i}`,
				label: __("Move them to"),
				options: [{ label: "", value: "" }].concat(targets),
				default: step.proposed && step.proposed in is_wait ? step.proposed : "",
				reqd: 1,
			},
			{ fieldtype: "Column Break", fieldname: `column_${i}` },
			{
				fieldtype: "Select",
				fieldname: `due_${i}`,
				label: __("Their wait"),
				options: [
					{ label: __("Keep their due time"), value: "keep" },
					{ label: __("Start the new wait now"), value: "restart" },
				],
				default: "keep",
				depends_on: (doc) => !!is_wait[doc[`to_${i}`]],
			}
		);
	});

	return new Promise((resolve) => {
		const d = new frappe.ui.Dialog({
			title: __("Where the people go"),
			size: "large",
			fields,
			primary_action_label: __("Save"),
			primary_action(values) {
				const plan = {};
				rows.forEach((step, i) => {
					const to = values[`to_${i}`];
					if (to === DRAIN) plan[step.step_id] = { drain: 1 };
					else if (is_wait[to]) plan[step.step_id] = { to, due: values[`due_${i}`] || "keep" };
					else plan[step.step_id] = { to };
				});
				resolve(plan);
				d.hide();
			},
			secondary_action_label: __("Cancel"),
			secondary_action() {
				d.hide();
			},
		});
		d.onhide = () => resolve(null);
		d.$wrapper.addClass("mf-where-people-go");
		d.show();
	});
}
