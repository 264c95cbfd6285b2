// What the designer knows about steps. Everything comes from the Marketing Flow Step doctype's
// meta (the `step_type` options, the fields and their depends_on), so a step type added to the
// doctype appears in the palette and the side panel without changes here.

export const STEP_DOCTYPE = "Marketing Flow Step";
export const FLOW_DOCTYPE = "Marketing Flow";

// Fields the designer itself owns (the canvas sets them), never shown in the side panel.
export const DESIGN_FIELDS = ["position_x", "position_y"];
// Data fields that name another step of the flow: pickers of the flow's steps.
export const STEP_LINK_FIELDS = ["next_step", "yes_step", "no_step", "condition_step", "else_step", "timeout_step"];
// Links that are ways out of a step besides next / yes / no / branches: each its own handle
// (Wait for Action: next_step is the "Action" way, timeout_step the "No action" way).
const EXTRA_EXITS = [{ id: "timeout", field: "timeout_step", label: () => __("No action") }];

export function step_types() {
	const df = frappe.meta.get_docfield(STEP_DOCTYPE, "step_type");
	return (df?.options || "").split("\n").filter(Boolean);
}

const ICONS = {
	"Send Email": "mail",
	"Send SMS": "message-1",
	Wait: "calendar",
	"Wait for Action": "notification",
	Condition: "filter",
	Split: "branch",
	"A/B Test": "branch",
	"Update Participant": "edit",
	"Create Activity": "assign",
	"Notify by Email": "notification",
	"Notify by SMS": "notification",
	"Distribute to Owner": "share-people",
	Webhook: "link-url",
	"Add to Email Group": "users",
	"Remove from Email Group": "users",
	"Enroll in Flow": "arrow-right",
	End: "small-file",
};
export function icon_for(step_type) {
	return ICONS[step_type] || "list";
}

// A colour per family of step types (the node's edge and icon): messages, waits, branches,
// changes to records, the outside world, flow control. Frappe's CSS colour variables.
const COLOURS = {
	"Send Email": "blue",
	"Send SMS": "blue",
	Wait: "orange",
	"Wait for Action": "orange",
	Condition: "purple",
	Split: "purple",
	"A/B Test": "purple",
	"Update Participant": "green",
	"Create Activity": "green",
	"Create Request": "green",
	"Create Sale": "green",
	"Distribute to Owner": "green",
	"Notify by Email": "yellow",
	"Notify by SMS": "yellow",
	"Add to Email Group": "cyan",
	"Remove from Email Group": "cyan",
	Webhook: "pink",
	"Run Server Script": "pink",
	"Enroll in Flow": "gray",
	End: "gray",
};
export function colour_for(step_type) {
	return COLOURS[step_type] || "gray";
}

// Rows that belong to one step live in tables of the flow keyed by `step_id` (a child table
// can't have tables of its own): e.g. Split's branches and A/B Test's variants (table
// `branches`, rows with step_id, branch_key, next_step), Update Participant's fields. Any Table
// field of Marketing Flow whose child doctype has a `step_id` field is such a per-step table;
// those whose child doctype also has `next_step` give the step one output handle per row.
export function step_tables() {
	return (frappe.get_meta(FLOW_DOCTYPE)?.fields || []).filter(
		(df) =>
			df.fieldtype === "Table" &&
			df.options &&
			df.options !== STEP_DOCTYPE &&
			frappe.get_meta(df.options)?.fields?.some((f) => f.fieldname === "step_id")
	);
}

export function branch_tables() {
	return step_tables().filter((df) =>
		frappe.get_meta(df.options).fields.some((f) => f.fieldname === "next_step")
	);
}

export function rows_of(doc, table, step_id) {
	return ((doc && doc[table]) || []).filter((r) => r.step_id === step_id);
}

function branch_key(row, child_doctype, i) {
	const fields = frappe.get_meta(child_doctype)?.fields || [];
	const key =
		fields.find((f) => ["branch_key", "key", "variant"].includes(f.fieldname)) ||
		fields.find((f) => f.fieldtype === "Data" && !["step_id", "next_step"].includes(f.fieldname));
	return (key && row[key.fieldname]) || String(i + 1);
}

function branch_label(row, child_doctype, key) {
	const fields = frappe.get_meta(child_doctype)?.fields || [];
	const label = fields.find((f) => ["branch_label", "label"].includes(f.fieldname));
	return (label && row[label.fieldname]) || key;
}

function depends_on_ok(df, step) {
	const expr = df.depends_on;
	if (!expr) return true;
	try {
		if (expr.startsWith("eval:")) return !!frappe.utils.eval(expr.slice(5), { doc: step });
		return !!step[expr];
	} catch (e) {
		return false;
	}
}

// Shown for this step: the field's own depends_on and its section's (the Wait for Action fields
// depend only on their section's).
export function step_field_visible(step, fieldname) {
	const fields = frappe.get_meta(STEP_DOCTYPE)?.fields || [];
	const i = fields.findIndex((f) => f.fieldname === fieldname);
	if (i < 0 || !depends_on_ok(fields[i], step)) return false;
	for (let j = i - 1; j >= 0; j--) {
		if (fields[j].fieldtype === "Section Break" || fields[j].fieldtype === "Tab Break") return depends_on_ok(fields[j], step);
	}
	return true;
}

// A step type whose ways out are rows of a branch table: neither next_step nor yes / no apply.
export function is_multi_branch(step) {
	return (
		step.step_type !== "End" &&
		branch_tables().length > 0 &&
		!step_field_visible(step, "next_step") &&
		!step_field_visible(step, "yes_step")
	);
}

// The outgoing handles of a step: [{id, field, label, row?}]. `id` is the handle's
// `data-handleid`; `field` the field of the step (or of `row`) the link is stored in.
//   - Condition (yes_step / no_step shown for the type): yes / no;
//   - a multi-branch type (Split, A/B Test): one handle per row of the branch table for this
//     step, id = the row's branch_key (never in / next / yes / no / else), then "else" (the step's else_step) when the type shows it;
//   - End: none; every other type: next, and the other ways out its type shows (Wait for
//     Action: next is the "Action" way, "timeout" the "No action" way).
export function source_handles(step, doc) {
	if (step.step_type === "End") return [];
	if (step_field_visible(step, "yes_step") && step_field_visible(step, "no_step")) {
		return [
			{ id: "yes", field: "yes_step", label: __("Yes") },
			{ id: "no", field: "no_step", label: __("No") },
		];
	}
	if (is_multi_branch(step)) {
		const handles = [];
		for (const table of branch_tables()) {
			rows_of(doc, table.fieldname, step.step_id).forEach((row, i) => {
				const key = branch_key(row, table.options, i);
				handles.push({
					id: key,
					field: "next_step",
					row,
					table: table.fieldname,
					label: branch_label(row, table.options, key),
				});
			});
		}
		if (step_field_visible(step, "else_step")) {
			handles.push({ id: "else", field: "else_step", label: __("Else") });
		}
		return handles;
	}
	const extra = EXTRA_EXITS.filter((x) => step_field_visible(step, x.field)).map((x) => ({
		id: x.id,
		field: x.field,
		label: x.label(),
	}));
	if (step_field_visible(step, "next_step")) {
		return [{ id: "next", field: "next_step", label: extra.length ? __("Action") : "" }, ...extra];
	}
	return extra;
}

// Every way out of the step with where it leads now.
export function links_of(step, doc) {
	return source_handles(step, doc).map((h) => ({ ...h, target: (h.row || step)[h.field] || null }));
}

export function new_step_id(step_type, steps) {
	const base = (step_type || "step").toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_|_$/g, "");
	const taken = new Set(steps.map((s) => s.step_id));
	if (!taken.has(base)) return base;
	let n = 2;
	while (taken.has(`${base}_${n}`)) n++;
	return `${base}_${n}`;
}

function filters_count(json) {
	try {
		return (JSON.parse(json || "[]") || []).length || 0;
	} catch (e) {
		return 0;
	}
}

function trunc(text, n = 48) {
	text = (text || "").toString().replace(/\s+/g, " ").trim();
	return text.length > n ? text.slice(0, n - 1) + "…" : text;
}

// A wait's unit as its amount says it: "days", "day" (for 1).
function unit_word(amount, unit) {
	unit = unit || "Days";
	const one = { Minutes: __("minute"), Hours: __("hour"), Days: __("day"), Weeks: __("week") }[unit];
	// the plural as a word in a sentence: its own msgid (German capitalises its nouns)
	const many = { Minutes: __("minutes"), Hours: __("hours"), Days: __("days"), Weeks: __("weeks") }[unit];
	return Number(amount) === 1 && one ? one : many || __(unit);
}

// Whose clock a flow's times of day are on: the person's, else the flow's time zone (the
// site's when the flow has none).
export function clock_label(doc) {
	if (!doc || (doc.times_in || "Person's Time Zone") === "Person's Time Zone") return __("person's time");
	return doc.time_zone || frappe.boot?.time_zone?.system || __("flow's time");
}

// A Wait's time of day and working day: "09:00 on a working day", "09:00", "the next working
// day"; "" when it has neither.
function time_of_day(step) {
	const m = (step.wait_at_time || "").toString().match(/^(\d{1,2}):(\d{2})/);
	const at = m ? `${m[1].padStart(2, "0")}:${m[2]}` : "";
	if (at && step.wait_working_day) return __("{0} on a working day", [at]);
	if (at) return at;
	return step.wait_working_day ? __("the next working day") : "";
}

// One line that says what the step does (`doc`, the flow: whose clock its times are on).
export function summary(step, steps, doc = null) {
	const name_of = (id) => {
		const s = steps.find((x) => x.step_id === id);
		return s ? s.label || s.step_id : id;
	};
	switch (step.step_type) {
		case "Send Email":
		case "Send SMS":
			return step.content ? trunc(step.content) : __("No content chosen");
		case "Wait": {
			let text = "";
			if (step.wait_amount) text = __("Wait {0} {1}", [step.wait_amount, unit_word(step.wait_amount, step.wait_unit)]);
			else if (step.wait_until) text = __("Wait until {0}", [frappe.datetime.str_to_user(step.wait_until)]);
			else if (step.wait_date_field) text = __("Wait until {0}", [step.wait_date_field]);
			const at = time_of_day(step);
			if (!at) return text || (step.use_sending_window ? __("Wait for the sending window") : __("No wait set"));
			if (!text) text = __("Wait until {0}", [at]);
			else if (step.wait_date_field && step.wait_at_time) text = __("Wait until {0} at {1}", [step.wait_date_field, at]);
			else text = __("{0}, then {1}", [text, at]);
			return `${text} (${clock_label(doc)})`;
		}
		case "Wait for Action": {
			const actions = [];
			if (step.action_clicked) {
				actions.push(step.action_url ? __("a click on '{0}'", [trunc(step.action_url, 24)]) : __("a click"));
			}
			if (step.action_replied) actions.push(__("a reply"));
			if (step.action_web_form) actions.push(__("web form '{0}'", [step.action_web_form]));
			if (filters_count(step.action_filters)) actions.push(__("a record change"));
			const what = actions.length ? actions.join(", ") : __("no action chosen");
			return step.wait_amount
				? __("Up to {0} {1} for {2}", [step.wait_amount, unit_word(step.wait_amount, step.wait_unit), what])
				: __("Waits for {0}", [what]);
		}
		case "Condition": {
			const days = step.condition_days ? " " + __("within {0} days", [step.condition_days]) : "";
			switch (step.condition_type) {
				case "Opened":
					return __("Opened '{0}'", [name_of(step.condition_step) || "?"]) + days + "?";
				case "Clicked":
					return __("Clicked '{0}'", [name_of(step.condition_step) || "?"]) + days + "?";
				case "In Email Group":
					return __("In email group '{0}'?", [step.email_group || "?"]);
				case "In Segment":
					return __("In segment '{0}'?", [step.segment || "?"]);
				case "Emailed Recently":
					return __("Emailed recently") + days + "?";
				case "Replied":
					return __("Replied to an email of the flow?");
				case "Web Form Submitted":
					return __("Submitted web form '{0}'?", [step.web_form || "?"]);
				case "Company Field":
					return __("Company matches {0} conditions?", [filters_count(step.condition_filters)]);
				case "Field":
					return __("Matches {0} conditions?", [filters_count(step.condition_filters)]);
				default:
					return __("No condition set");
			}
		}
		case "Update Participant":
			return step.update_field ? `${step.update_field} = ${trunc(step.update_value, 24)}` : __("No field chosen");
		case "Create Activity": {
			const what = trunc(step.activity_description) || __("No description");
			if (step.activity_kind !== "Calendar Event") return what;
			const at = (step.activity_time || "").toString().slice(0, 5) || __("first free slot");
			return __("Event at {0}: {1}", [at, what]);
		}
		case "Notify by Email":
		case "Notify by SMS": {
			const to =
				step.notify_to === "Role"
					? step.notify_role && __("role {0}", [step.notify_role])
					: step.notify_to === "Person's Owner"
					? __("the person's owner")
					: step.notify_user;
			return to ? __("Notify {0}", [trunc(to, 40)]) : __("Nobody to notify chosen");
		}
		case "Distribute to Owner": {
			const users = (step.distribute_users || "").split(/[\n,]+/).filter((u) => u.trim()).length;
			if (!users) return __("No users listed");
			return step.distribute_to === "Company"
				? __("Give the company an owner: {0} users in turn", [users])
				: __("Give the person an owner: {0} users in turn", [users]);
		}
		case "Webhook":
			return step.webhook_url ? `${step.webhook_method || "POST"} ${trunc(step.webhook_url, 40)}` : __("No URL");
		case "Add to Email Group":
		case "Remove from Email Group":
			return step.email_group || __("No email group chosen");
		case "Enroll in Flow":
			return step.target_flow || __("No flow chosen");
		case "End":
			return __("End of the flow");
		default:
			return "";
	}
}

// Per-step figures shown on a node: [label, count], from the log's events and who waits there.
export function node_figures(step, counts, branches) {
	if (!counts) return [];
	const c = (...events) => events.reduce((n, e) => n + (counts[e] || 0), 0);
	const out = [
		[__("Processed"), c("Step Executed", "Email Sent", "SMS Sent", "Branch Yes", "Branch No", "Notified", "Owner Assigned")],
		[__("Waiting here"), c("Waiting Here")],
	];
	if (["Send Email", "Send SMS"].includes(step.step_type)) {
		out.push([__("Sent"), c("Email Sent", "SMS Sent")]);
	}
	if (step.step_type === "Send Email") {
		out.push(
			[__("Queued"), c("Queued")],
			[__("Delivered"), c("Delivered")],
			[__("Opened"), c("Opened")],
			[__("Clicked"), c("Clicked")],
			[__("Bounced"), c("Bounced")],
			[__("Complained"), c("Complained")],
			[__("Unsubscribed"), c("Unsubscribed")]
		);
	}
	if (step.step_type === "Condition") {
		out.push([__("Yes"), c("Branch Yes")], [__("No"), c("Branch No")]);
	}
	if (step.step_type === "Wait for Action") {
		out.push([__("Action"), c("Action Taken")], [__("No action"), c("Action Timed Out")]);
	}
	for (const [key, n] of Object.entries(branches || {})) out.push([key, n]); // Split / A/B Test
	return out;
}
