// What the side panel shows, as Frappe docfields built from the doctypes' meta: a step's panel
// the Marketing Flow Step fields its type needs (plus its rows in the flow's per-step tables);
// with no step selected, the flow's trigger, audience, timing and success fields. Also the filter
// editor (Frappe's FilterGroup) for the JSON filter fields (conditions, audience), and for the
// filters of grid rows (success criteria, Split branches), which the grids show in words.
import { STEP_DOCTYPE, FLOW_DOCTYPE, DESIGN_FIELDS, STEP_LINK_FIELDS, step_tables, rows_of, is_multi_branch } from "./steps";
import {
	filter_editor,
	criterion_words,
	criterion_doctype,
	criterion_doctype_now,
	branch_words,
	branch_doctype,
	branch_doctype_now,
} from "./filters_in_words";

export const LAYOUT = ["Section Break", "Column Break", "Tab Break"];

// A field that holds a value of the target itself (not layout, not a filter editor, not a table).
export function is_value_field(df) {
	return !LAYOUT.includes(df.fieldtype) && df.fieldtype !== "HTML" && df.fieldtype !== "Table";
}

// JSON filters (audience, trigger and condition filters, Wait for Action's record condition);
// not every JSON Code field: a webhook's body is text.
function is_filters_field(df) {
	return df.fieldtype === "Code" && /filters|conditions/.test(df.fieldname);
}

// A filter editor (Frappe's FilterGroup) in an HTML field; `changed(json)` gets the filters as
// JSON ("" for none) when they change. Read-only: the filters in words.
export function mount_filters(field, value, doctype, readonly, changed) {
	const $wrapper = field.$wrapper.empty();
	$wrapper.append(`<label class="control-label">${__(field.df.label)}</label>`);
	filter_editor($wrapper, { value, doctype, readonly, changed });
}

// The JSON filters of a grid's rows (a success criterion's conditions, a Split branch's
// condition): the column shows them in words, the row's form edits them with Frappe's filter
// editor on the doctype the row's type names (filters_in_words.js).
const ROW_FILTERS = {
	"Marketing Flow Success Criterion": {
		fieldname: "conditions",
		words: (row, store) => criterion_words(row, store.person_doctype),
		// read-only: what is known without asking (the words' labels come from the filters)
		doctype: (row, store) =>
			store.readonly ? criterion_doctype_now(row, store.person_doctype) : criterion_doctype(row, store.person_doctype),
		// fields of the row that decide the doctype: the editor is made again when they change
		depends: ["criterion_type", "reference_doctype", "web_form"],
	},
	"Marketing Flow Branch": {
		fieldname: "condition_filters",
		words: (row, store) => branch_words(row, store.person_doctype),
		doctype: (row, store) =>
			store.readonly ? branch_doctype_now(row, store.person_doctype) : branch_doctype(row, store.person_doctype),
		depends: ["condition_type"],
	},
};

export function row_filters_of(doctype) {
	return ROW_FILTERS[doctype];
}

// The words of a row's filters as a grid cell (Frappe's grid formats each cell with
// `df.formatter(value, df, options, row)`).
function words_formatter(spec, store) {
	return (value, df, options, row) =>
		`<span class="mf-filter-words">${frappe.utils.escape_html(spec.words(row || {}, store))}</span>`;
}

// Grids of the flow's panel (340 px) whose columns need a share of the width other than
// Frappe's default and a shorter heading: fieldname -> [columns of 10, label]; the columns not
// named are left out of the grid (they are in the row's form). A Split's branches: their label
// and condition in words; an A/B Test's variants: their label and share.
const NARROW_COLUMNS = {
	"Marketing Flow Quiet Hours": {
		channel: [2, () => __("Channel")],
		days: [4, () => __("Days")],
		quiet_from: [2, () => __("From")],
		quiet_to: [2, () => __("To")],
	},
	"Marketing Flow Success Criterion": {
		criterion_type: [4, () => __("Criterion Type")],
		conditions: [6, () => __("Conditions")],
	},
	Split: {
		branch_label: [4, () => __("Label")],
		condition_filters: [6, () => __("Condition")],
	},
	"A/B Test": {
		branch_label: [6, () => __("Label")],
		percentage: [4, () => __("Percentage")],
	},
};

// A grid's docfield as the narrow panel shows it (NARROW_COLUMNS), its row filters in words.
function grid_column(f, narrow, store, readonly) {
	const df = { ...f, read_only: readonly ? 1 : f.read_only };
	if (narrow) {
		const column = narrow[f.fieldname];
		df.in_list_view = column ? 1 : 0;
		if (column) Object.assign(df, { columns: column[0], label: column[1]() });
	}
	const spec = ROW_FILTERS[f.parent];
	if (spec && f.fieldname === spec.fieldname) df.formatter = words_formatter(spec, store);
	// a row's form in the panel: its rows are not documents Frappe knows (no form, not in
	// locals), so Frappe's permission check would hide every field; the design decides
	df.get_status = (control) => {
		if (cint(control.df.hidden) || cint(control.df.hidden_due_to_dependency)) return "None";
		return cint(control.df.read_only) ? "Read" : "Write";
	};
	return df;
}

// A value as Frappe's controls take it: a time as HH:mm:ss (the server sends 9:00:00, and a
// Time field Frappe filled with the moment its row was made has microseconds), a moment to the
// second (the engine writes microseconds); anything else as it is.
export function control_value(fieldtype, value) {
	if (typeof value !== "string") return value;
	if (fieldtype === "Datetime") return value.replace(/\.\d+$/, "");
	if (fieldtype === "Time") {
		const m = value.match(/^(\d{1,2}):(\d{2})(?::(\d{2}))?/);
		return m ? `${m[1].padStart(2, "0")}:${m[2]}:${m[3] || "00"}` : value;
	}
	return value;
}

function to_the_second(row, fields) {
	for (const f of fields || []) row[f.fieldname] = control_value(f.fieldtype, row[f.fieldname]);
	return row;
}

function person_field_options(person_doctype, only_dates) {
	const fields = (frappe.get_meta(person_doctype)?.fields || []).filter(
		(df) =>
			!frappe.model.no_value_type.includes(df.fieldtype) &&
			(!only_dates || ["Date", "Datetime"].includes(df.fieldtype))
	);
	return [{ label: "", value: "" }].concat(
		fields.map((df) => ({ label: `${__(df.label || df.fieldname)} (${df.fieldname})`, value: df.fieldname }))
	);
}

// The fields of `doctype` that `wanted`, fit for the panel: pickers of the flow's steps for
// links between steps, pickers of the person's fields for field names, filter editors for
// filters, grids for tables; all read-only when the design is.
function field_defs(store, doctype, wanted, target) {
	const readonly = store.readonly;
	const fields = [];
	for (const meta_df of frappe.get_meta(doctype).fields) {
		if (!wanted(meta_df)) continue;
		const df = { ...meta_df, read_only: readonly ? 1 : meta_df.read_only };
		if (df.fieldname === "person_doctype") {
			// the people this site's flows may enrol: Contact, and Lead / CRM Lead where installed
			df.get_query = () => ({ filters: { name: ["in", target.__onload?.person_doctypes || ["Contact"]] } });
		}
		if (df.fieldname === "time_zone" && doctype === FLOW_DOCTYPE) {
			// the zones the server accepts (Europe/Oslo, ...), as on the form; empty: the site's
			df.options = [...store.time_zones];
			df.placeholder = site_zone();
		}
		if (df.fieldname === "notify_role" && doctype === STEP_DOCTYPE && !readonly) {
			// the roles the server offers (the flow's onload): a Flow Administrator may not read Role
			const roles = store.doc?.__onload?.notify_roles || [];
			const value = target.notify_role;
			df.fieldtype = "Select";
			df.options = [""].concat(roles, value && !roles.includes(value) ? [value] : []);
		}
		if (df.fieldtype === "Autocomplete" && readonly) {
			// Frappe's Autocomplete checks a value against a list it makes only to edit it
			df.fieldtype = "Data";
		}
		if (df.fieldtype === "Tab Break") df.fieldtype = "Section Break";
		if (df.fieldtype === "Section Break") df.collapsible = 0;
		if (STEP_LINK_FIELDS.includes(df.fieldname) && doctype === STEP_DOCTYPE) {
			// pickers of the flow's steps, never free text
			df.fieldtype = "Select";
			df.options = [{ label: "", value: "" }].concat(
				store.steps
					.filter((s) => s.step_id !== target.step_id)
					.map((s) => ({ label: `${s.label || s.step_id} (${s.step_id})`, value: s.step_id }))
			);
		} else if (df.fieldtype === "Data" && (doctype === STEP_DOCTYPE ? /_field$/ : /_date_field$/).test(df.fieldname)) {
			// fields of the person (date fields for the date ones), never typed by hand
			df.fieldtype = "Select";
			df.options = person_field_options(store.person_doctype, /date/.test(df.fieldname));
		} else if (df.fieldtype === "Table MultiSelect" && readonly) {
			// Frappe draws this control only to edit it: the chosen rows as text
			const link = (frappe.get_meta(df.options)?.fields || []).find((f) => f.fieldtype === "Link");
			const chosen = (target[df.fieldname] || []).map((r) => link && r[link.fieldname]).filter(Boolean);
			df.fieldtype = "HTML";
			df.options = `<div class="form-group"><label class="control-label">${frappe.utils.escape_html(__(df.label))}</label>
				<div class="mf-readonly-rows">${frappe.utils.escape_html(chosen.join(", ")) || "–"}</div></div>`;
		} else if (is_filters_field(df)) {
			df.fieldtype = "HTML";
			df.mf_filters = meta_df.fieldname;
		} else if (df.fieldtype === "Table") {
			const child = frappe.get_meta(df.options);
			df.fields = (child?.fields || []).map((f) => grid_column(f, NARROW_COLUMNS[df.options], store, readonly));
			df.data = (target[df.fieldname] || []).map((r) => to_the_second({ ...r }, df.fields));
			df.cannot_add_rows = readonly;
			df.cannot_delete_rows = readonly;
			df.in_place_edit = false;
			df.mf_table = 1;
		}
		fields.push(df);
	}
	return fields;
}

// The flow's per-step tables (Split branches / A/B variants, Update Participant's fields): the
// rows of this step, edited in a grid. A branch table is shown for multi-branch types; another
// per-step table when the step has rows in it or its type names the table (Marketing Flow
// Update <-> Update Participant).
function step_table_fields(store, step) {
	const out = [];
	const readonly = store.readonly;
	for (const table of step_tables()) {
		const rows = rows_of(store.doc, table.fieldname, step.step_id);
		const child = frappe.get_meta(table.options);
		const is_branch = child.fields.some((f) => f.fieldname === "next_step");
		const word = table.options.replace(/^Marketing Flow /, "").split(" ")[0];
		const show = rows.length || (is_branch ? is_multi_branch(step) : (step.step_type || "").includes(word));
		if (!show) continue;
		out.push({ fieldtype: "Section Break", fieldname: `mf_section_${table.fieldname}`, label: __(table.label) });
		out.push({
			fieldtype: "Table",
			fieldname: table.fieldname,
			label: __(table.label),
			mf_table: 1,
			mf_step_id: step.step_id,
			cannot_add_rows: readonly,
			cannot_delete_rows: readonly,
			in_place_edit: false,
			data: rows.map((r) => to_the_second({ ...r }, child.fields)),
			fields: child.fields
				.filter((f) => f.fieldname !== "step_id")
				.map((f) => {
					const df = grid_column(f, is_branch ? NARROW_COLUMNS[step.step_type] : null, store, readonly);
					if (f.fieldname === "next_step") {
						df.fieldtype = "Select";
						df.options = [""].concat(store.steps.filter((s) => s.step_id !== step.step_id).map((s) => s.step_id));
					}
					return df;
				}),
		});
	}
	return out;
}

// A step's panel: the fields its type needs (depends_on does the rest), then its table rows.
export function step_fields(store, step) {
	return field_defs(
		store,
		STEP_DOCTYPE,
		(df) => !DESIGN_FIELDS.includes(df.fieldname) && df.fieldname !== "step_id" && df.fieldname !== "designer_section",
		step
	).concat(step_table_fields(store, step));
}

// The site's time zone (System Settings), which a flow without its own zone keeps.
export function site_zone() {
	return frappe.boot?.time_zone?.system || "";
}

// The flow's panel: the fields of its trigger, audience, sending window, time zone / quiet
// hours / holidays and exits sections and of its Success tab, in the doctype's order (the
// resume policy stays on the form).
export const FLOW_PANEL_PARTS = [
	"trigger_section",
	"audience_section",
	"sending_window_section",
	"local_time_section",
	"exits_section",
	"success_tab",
];

export function flow_fields(store, doc) {
	const part_of = {};
	let tab = null;
	let section = null;
	for (const df of frappe.get_meta(FLOW_DOCTYPE).fields) {
		if (df.fieldtype === "Tab Break") tab = section = df.fieldname;
		if (df.fieldtype === "Section Break") section = df.fieldname;
		part_of[df.fieldname] = tab === "success_tab" ? tab : section;
	}
	return field_defs(
		store,
		FLOW_DOCTYPE,
		(df) => FLOW_PANEL_PARTS.includes(part_of[df.fieldname]),
		doc
	);
}
