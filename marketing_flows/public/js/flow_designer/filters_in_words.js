// Filters in words ("Status equals Replied and Company is set"), and Frappe's filter editor
// (FilterGroup) for the JSON filters of flows: success criteria, Split branches, audience and
// step conditions. One module for both places that show them: the designer imports it (through
// fields.js, so it is part of marketing_flow_designer.bundle.js), and the flow form's
// criteria_words.js loads that same bundle (the form's Flow tab loads it anyway for its canvas)
// and calls the functions this module puts on `marketing_flows` below. No copy to keep in step.
//
// The operators are Frappe's own words, the ones its filter editor shows (frappe.ui.Filter's
// conditions, already translated by Frappe): what the marketer reads is what they picked.

const SETTINGS = "Marketing Flow Settings";
// Criterion type -> the Marketing Flow Settings role whose doctype it looks at (criteria.py ROLE_OF)
const ROLE_OF = { "Deal Created": "deal", "Appointment Created": "appointment", "Issue Created": "issue" };

// The filters in `value` (JSON text, a list, or a {field: value} object) as Frappe's
// [doctype, field, operator, value] rows, 3-element rows on `doctype`.
export function parse_filters(value, doctype) {
	let data = [];
	try {
		data = typeof value === "string" ? JSON.parse(value || "[]") : value || [];
	} catch (e) {
		data = [];
	}
	if (!Array.isArray(data)) {
		data = Object.entries(data).map(([k, v]) => (Array.isArray(v) ? [k, ...v] : [k, "=", v]));
	}
	return data
		.filter((f) => Array.isArray(f) && f.length >= 2)
		.map((f) => (f.length >= 4 ? f.slice(0, 4) : f.length === 3 ? [doctype, ...f] : [doctype, f[0], "=", f[1]]));
}

let operator_words = null;

// Frappe's filter editor's words for its operators ("=" -> "Equals"), in the user's language.
function operator_word(op) {
	if (!operator_words) {
		const conditions = {};
		frappe.ui.Filter.prototype.set_conditions.call(conditions);
		operator_words = Object.fromEntries(conditions.conditions);
	}
	const word = operator_words[op] ?? operator_words[String(op).toLowerCase()] ?? op;
	return /^[<>=!]+$/.test(word) ? word : word.toLocaleLowerCase();
}

function field_label(doctype, fieldname) {
	const label = doctype && frappe.get_meta(doctype) ? frappe.meta.get_label(doctype, fieldname) : fieldname;
	return label === fieldname ? frappe.model.unscrub(fieldname) : __(label);
}

function one_value(value, df) {
	if (value === null || value === undefined || value === "") return "''";
	const type = df?.fieldtype;
	if (type === "Check") return String(value) === "1" ? __("Yes") : __("No");
	if (type === "Select") return __(String(value));
	if (type === "Date" || type === "Datetime") return frappe.datetime.str_to_user(String(value)) || String(value);
	if (["Currency", "Float", "Percent"].includes(type) && !isNaN(value)) return format_number(value, null, df.precision);
	return String(value);
}

function timespan_word(value) {
	const option = frappe.ui.filter_utils
		.get_timespan_options(["Last", "Yesterday", "Today", "Tomorrow", "This", "Next"])
		.find((o) => o.value === String(value).toLowerCase());
	return option ? __(option.label).toLocaleLowerCase() : String(value);
}

// One filter as a short sentence: field, operator in words, value.
function filter_words([doctype, fieldname, op, value], parent_doctype) {
	let field = field_label(doctype, fieldname);
	if (parent_doctype && doctype && doctype !== parent_doctype) field = `${field} (${__(doctype)})`;
	const df = doctype && frappe.get_meta(doctype) ? frappe.meta.get_docfield(doctype, fieldname) : null;
	const operator = String(op || "=");
	if (operator.toLowerCase() === "is") {
		const set = String(value).toLowerCase() === "set";
		const what = set ? __("Set", null, "Field value is set") : __("Not Set", null, "Field value is not set");
		return `${field} ${operator_word("is")} ${what.toLocaleLowerCase()}`;
	}
	let shown;
	if (["in", "not in"].includes(operator.toLowerCase())) {
		const items = Array.isArray(value) ? value : String(value ?? "").split(",").map((v) => v.trim());
		shown = items.filter((v) => v !== "").map((v) => one_value(v, df)).join(", ");
	} else if (operator === "Between" && Array.isArray(value)) {
		shown = `${one_value(value[0], df)} ${__("and")} ${one_value(value[1], df)}`;
	} else if (operator === "Timespan") {
		shown = timespan_word(value);
	} else {
		shown = one_value(value, df);
	}
	return `${field} ${operator_word(operator)} ${shown}`;
}

// The filters in `value` in words, joined by "and"; "any" when there are none. `doctype`: the
// doctype of filters stored without one (labels come from the doctype's meta when it is loaded;
// load_doctypes first to have them).
export function filters_in_words(value, doctype) {
	const filters = parse_filters(value, doctype);
	if (!filters.length) return __("any");
	return filters.map((f) => filter_words(f, doctype)).join(` ${__("and")} `);
}

// The doctypes whose labels the words of these filters need, loaded.
export function load_doctypes(doctypes) {
	const wanted = [...new Set(doctypes.filter((d) => d && !frappe.get_meta(d)))];
	return Promise.all(wanted.map((d) => new Promise((resolve) => frappe.model.with_doctype(d, resolve)).catch(() => null)));
}

export function doctypes_of(value, doctype) {
	return [doctype, ...parse_filters(value, doctype).map((f) => f[0])].filter(Boolean);
}

// --- which doctype a row's filters are on -------------------------------------------------

let settings = null;

// The doctypes Marketing Flow Settings names for deals, issues, appointments and companies (asked
// once; only those who edit criteria ask, and they may read the settings).
function settings_doctypes() {
	if (!settings) {
		settings = frappe.db
			.get_doc(SETTINGS)
			.then((doc) => doc)
			.catch(() => ({}));
	}
	return settings;
}

// The settings when already asked for (words shown before any editor was opened do without).
let known_settings = {};
function remember(promise) {
	return promise.then((doc) => (known_settings = doc || {}));
}

// The doctype a success criterion's conditions filter (criteria.py target_doctype), now if it
// is known without asking the server, else null; false for a type that has no conditions.
export function criterion_doctype_now(row, person_doctype) {
	const kind = row.criterion_type;
	if (kind === "Link Clicked") return false; // no conditions: the log's clicks
	if (kind === "Person Updated" || kind === "Lead Converted") return person_doctype || "Contact";
	if (kind === "Document Condition") return row.reference_doctype || null;
	if (kind === "Added to Email Group") return "Email Group Member";
	if (ROLE_OF[kind]) return known_settings[`${ROLE_OF[kind]}_doctype`] || null;
	return null;
}

// The same, asking the server where needed (the Settings' doctypes, a Web Form's doctype).
export async function criterion_doctype(row, person_doctype) {
	const kind = row.criterion_type;
	if (ROLE_OF[kind]) {
		const doc = await remember(settings_doctypes());
		return doc[`${ROLE_OF[kind]}_doctype`] || null;
	}
	if (kind === "Web Form Submitted") {
		if (!row.web_form) return null;
		const r = await frappe.db.get_value("Web Form", row.web_form, "doc_type");
		return r?.message?.doc_type || null;
	}
	return criterion_doctype_now(row, person_doctype);
}

// A Split branch's Field / Company Field condition: on the person, or on their company.
export function branch_doctype_now(row, person_doctype) {
	if (row.condition_type === "Company Field") return known_settings.company_doctype || null;
	return person_doctype || "Contact";
}

export async function branch_doctype(row, person_doctype) {
	if (row.condition_type === "Company Field") {
		const doc = await remember(settings_doctypes());
		return doc.company_doctype || null;
	}
	return branch_doctype_now(row, person_doctype);
}

// A success criterion's conditions in words (its grid column).
export function criterion_words(row, person_doctype) {
	return filters_in_words(row.conditions, criterion_doctype_now(row, person_doctype));
}

// A Split branch's condition in words; an A/B variant (no condition) its share.
export function branch_words(row, person_doctype) {
	const type = row.condition_type || "Field";
	if (type === "Field" || type === "Company Field") {
		const words = filters_in_words(row.condition_filters, branch_doctype_now(row, person_doctype));
		return type === "Company Field" ? `${__("Company")}: ${words}` : words;
	}
	const parts = [__(type)];
	if (row.condition_step) parts.push(row.condition_step);
	if (row.condition_url) parts.push(`"${row.condition_url}"`);
	if (row.email_group) parts.push(row.email_group);
	if (row.segment) parts.push(row.segment);
	if (row.web_form) parts.push(row.web_form);
	let words = parts.join(": ");
	if (row.condition_days) words += ` (${__("{0} days", [row.condition_days])})`;
	return words;
}

// --- Frappe's filter editor -----------------------------------------------------------------

// The filters in words, as a read-only block (a running flow, a Content Editor).
export function words_block(value, doctype) {
	const $block = $(`<div class="mf-filter-words"></div>`);
	$block.text(filters_in_words(value, doctype));
	load_doctypes(doctypes_of(value, doctype)).then(() => $block.text(filters_in_words(value, doctype)));
	return $block;
}

// Frappe's FilterGroup for the filters in `value`, on `doctype`, appended to `$parent`;
// `changed(json)` gets the filters as JSON ("" for none) when they change. Read-only: the
// filters in words instead.
export function filter_editor($parent, { value, doctype, readonly, changed }) {
	if (readonly) return words_block(value, doctype).appendTo($parent);
	if (!doctype) {
		return $(`<div class="text-muted small mf-filter-area">${__("Choose the doctype first.")}</div>`).appendTo($parent);
	}
	const $area = $(`<div class="mf-filter-area"></div>`).appendTo($parent);
	let current = value || "[]";
	frappe.model.with_doctype(doctype, () => {
		const group = new frappe.ui.FilterGroup({
			parent: $area,
			doctype,
			on_change: () => {
				const filters = group.get_filters().map((f) => f.slice(0, 4));
				const json = JSON.stringify(filters);
				if (json !== current) {
					current = json;
					changed(filters.length ? json : "");
				}
			},
		});
		group.add_filters_to_filter_group(parse_filters(value, doctype));
		$area.data("filter_group", group);
	});
	return $area;
}

let styled = false;
// The words wrap in their grid cell (the row grows with them: Frappe's rows are one line high,
// cut off); a row's form hides the JSON's own control where the filter editor stands.
function add_style() {
	if (styled) return;
	styled = true;
	frappe.dom.set_style(`
		.mf-has-row-filters > .form-group > .control-input-wrapper {
			display: none !important;
		}
		.grid-row:has(.mf-filter-words) > .row > .grid-static-col,
		.grid-row:has(.mf-filter-words) > .row > .row-index {
			height: auto;
			min-height: 38px;
		}
		.grid-static-col .static-area:has(.mf-filter-words) {
			white-space: normal;
			overflow: visible;
			text-overflow: clip;
			margin-top: 0 !important; /* Frappe lifts a Code cell for its <pre>: the words sit level */
		}
		.mf-row-filters .mf-filter-words { padding: 6px 0; }
		.frappe-control.mf-no-filters { display: none !important; }
	`);
}

// In a grid's row form (the designer's or the flow form's): the filters field `fieldname` edited
// with Frappe's filter editor (or shown in words when read-only) instead of its JSON. `doctype`:
// a promise of the doctype its filters are on; `changed(json)` when they change.
export function row_filter_editor(grid_form, fieldname, { doctype, readonly, changed }) {
	const field = grid_form?.fields_dict?.[fieldname];
	if (!field) return;
	const $wrapper = field.$wrapper;
	add_style();
	$wrapper.find(".mf-row-filters").remove();
	// the JSON's own control hidden by a class (a refresh of the control shows its parts again)
	$wrapper.addClass("mf-has-row-filters");
	const $group = $wrapper.children(".form-group").first();
	const $box = $(`<div class="mf-row-filters"></div>`).appendTo($group.length ? $group : $wrapper);
	const value = grid_form.row?.doc?.[fieldname];
	$wrapper.removeClass("mf-no-filters");
	Promise.resolve(doctype).then((dt) => {
		if (!$box.closest("body").length) return;
		// a type without conditions (a criterion on clicked links): the field is left out
		if (dt === false) return $wrapper.addClass("mf-no-filters");
		filter_editor($box, { value, doctype: dt, readonly, changed });
	});
}

add_style();
frappe.provide("marketing_flows");
Object.assign(marketing_flows, {
	parse_filters,
	filters_in_words,
	load_doctypes,
	doctypes_of,
	criterion_doctype,
	criterion_doctype_now,
	branch_doctype,
	branch_doctype_now,
	criterion_words,
	branch_words,
	words_block,
	filter_editor,
	row_filter_editor,
});
