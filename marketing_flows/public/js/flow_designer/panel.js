// The side panel: Frappe's own controls (frappe.ui.FieldGroup, so Link fields with "+ Create a
// new ...", Selects, Checks, depends_on) built from the doctypes' meta. A step's panel shows
// the Marketing Flow Step fields its type needs; with no step selected, the flow's trigger,
// audience and success fields. Filters (conditions, audience) use Frappe's filter UI.
import { STEP_DOCTYPE, FLOW_DOCTYPE, DESIGN_FIELDS, STEP_LINK_FIELDS, step_tables, rows_of, is_multi_branch } from "./steps";

const LAYOUT = ["Section Break", "Column Break", "Tab Break"];

function is_filters_field(df) {
	return df.fieldtype === "Code" && (df.options === "JSON" || /filters|conditions/.test(df.fieldname));
}

function parse_filters(value, doctype) {
	let data = [];
	try {
		data = typeof value === "string" ? JSON.parse(value || "[]") : value || [];
	} catch (e) {
		data = [];
	}
	if (!Array.isArray(data)) {
		data = Object.entries(data).map(([k, v]) => (Array.isArray(v) ? [k, ...v] : [k, "=", v]));
	}
	return data.map((f) => (f.length >= 4 ? f.slice(0, 4) : [doctype, ...f]));
}

// A filter editor (Frappe's FilterGroup) in an HTML field, writing JSON into `target[fieldname]`.
function mount_filters(field, target, fieldname, doctype, readonly, changed) {
	const $wrapper = field.$wrapper.empty();
	if (!doctype) {
		$wrapper.html(`<div class="text-muted small">${__("Choose the doctype first.")}</div>`);
		return;
	}
	$wrapper.append(`<label class="control-label">${__(field.df.label)}</label>`);
	const $area = $(`<div class="mf-filter-area"></div>`).appendTo($wrapper);
	frappe.model.with_doctype(doctype, () => {
		const group = new frappe.ui.FilterGroup({
			parent: $area,
			doctype,
			on_change: () => {
				const filters = group.get_filters().map((f) => f.slice(0, 4));
				const json = JSON.stringify(filters);
				if (json !== (target[fieldname] || "[]")) {
					target[fieldname] = filters.length ? json : "";
					changed();
				}
			},
		});
		group.add_filters_to_filter_group(parse_filters(target[fieldname], doctype));
		if (readonly) $area.find("button").prop("disabled", true);
	});
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

export class Panel {
	constructor({ wrapper, store }) {
		this.$wrapper = $(wrapper);
		this.store = store;
	}

	// Build the panel for the selected step, or for the flow when none is selected.
	render() {
		this.sync_tables();
		this.sync_step_tables(false);
		this.$wrapper.empty();
		this.group = null;
		const step = this.store.selected_step;
		step ? this.render_step(step) : this.render_flow();
	}

	field_defs(doctype, wanted, target) {
		const store = this.store;
		const readonly = store.readonly;
		const fields = [];
		for (const meta_df of frappe.get_meta(doctype).fields) {
			if (!wanted(meta_df)) continue;
			const df = { ...meta_df, read_only: readonly ? 1 : meta_df.read_only };
			if (df.fieldname === "person_doctype") {
				// the people this site's flows may enrol: Contact, and Lead / CRM Lead where installed
				df.get_query = () => ({ filters: { name: ["in", target.__onload?.person_doctypes || ["Contact"]] } });
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
			} else if (is_filters_field(df)) {
				df.fieldtype = "HTML";
				df.mf_filters = meta_df.fieldname;
			} else if (df.fieldtype === "Table") {
				const child = frappe.get_meta(df.options);
				df.fields = (child?.fields || []).map((f) => ({ ...f, in_list_view: f.in_list_view, read_only: readonly ? 1 : f.read_only }));
				df.data = (target[df.fieldname] || []).map((r) => ({ ...r }));
				df.cannot_add_rows = readonly;
				df.cannot_delete_rows = readonly;
				df.in_place_edit = false;
			}
			if (!LAYOUT.includes(df.fieldtype) && df.fieldtype !== "HTML" && df.fieldtype !== "Table") {
				const fieldname = df.fieldname;
				const panel = this;
				// the control itself says its value: a late change (Data fields debounce their
				// input) lands on the step it was typed for, even when another is shown now
				df.onchange = function () {
					panel.changed(target, fieldname, this);
				};
			}
			fields.push(df);
		}
		return fields;
	}

	make_group(fields, target, filters_doctype) {
		this.loading = true;
		this.tables_edited = false;
		this.target = target;
		this.group = new frappe.ui.FieldGroup({ fields, body: this.$body.get(0), no_submit_on_enter: true });
		this.group.make();
		const values = {};
		for (const df of fields) {
			if (!LAYOUT.includes(df.fieldtype) && df.fieldtype !== "HTML" && df.fieldtype !== "Table") {
				values[df.fieldname] = target[df.fieldname] ?? "";
			}
		}
		this.group.set_values(values).then(() => {
			this.loading = false;
			this.group.refresh_dependency();
		});
		for (const df of fields) {
			if (df.mf_filters) {
				mount_filters(this.group.get_field(df.fieldname), target, df.mf_filters, filters_doctype(df), this.store.readonly, () =>
					this.store.commit({ rebuild: false })
				);
			}
		}
	}

	changed(target, fieldname, control) {
		if (!control || !control.get_value) return;
		if (this.loading && target === this.target) return;
		const value = control.get_value();
		if (value === undefined) return;
		if ((target[fieldname] ?? "") === (value ?? "")) return;
		target[fieldname] = value;
		if (fieldname === "person_doctype" && value) {
			// filters and field pickers now name the fields of the new people's doctype
			this.store.person_doctype = value;
			frappe.model.with_doctype(value);
		}
		// a link to another step is an edge of the canvas; other fields change the node's text
		this.store.commit({ rebuild: STEP_LINK_FIELDS.includes(fieldname) || fieldname === "step_type" });
		if (target === this.target && (fieldname === "step_type" || fieldname === "trigger_doctype")) this.render();
	}

	render_step(step) {
		const store = this.store;
		const $head = $(`<div class="mf-panel-head">
			<div class="mf-panel-title"></div>
			<div class="text-muted small mf-panel-id"></div>
			<div class="mf-panel-actions"></div>
		</div>`).appendTo(this.$wrapper);
		$head.find(".mf-panel-title").text(step.label || step.step_id);
		$head.find(".mf-panel-id").text(`${__(step.step_type)} · ${__("Step ID")}: ${step.step_id}`);
		if (!store.readonly) {
			const $actions = $head.find(".mf-panel-actions");
			const button = (label, cls, fn) =>
				$(`<button class="btn btn-xs btn-default mr-1 ${cls}"></button>`).text(label).on("click", fn).appendTo($actions);
			if (store.steps[0]?.step_id !== step.step_id) {
				button(__("Set as start"), "mf-set-start", () => store.set_start(step.step_id));
			}
			button(__("Duplicate"), "mf-duplicate", () => store.duplicate(step.step_id));
			button(__("Delete"), "mf-delete text-danger", () => store.remove_step(step.step_id));
		}
		this.$warnings = $(`<div class="mf-panel-warnings alert alert-warning small"></div>`).appendTo(this.$wrapper);
		this.update_warnings();
		this.$body = $(`<div class="mf-panel-body"></div>`).appendTo(this.$wrapper);
		const fields = this.field_defs(
			STEP_DOCTYPE,
			(df) => !DESIGN_FIELDS.includes(df.fieldname) && df.fieldname !== "step_id" && df.fieldname !== "designer_section",
			step
		);
		fields.push(...this.step_table_fields(step));
		this.make_group(fields, step, () => store.person_doctype);
	}

	// The flow's per-step tables (Split branches / A/B variants, Update Participant's fields):
	// the rows of this step, edited in a grid and written back by sync_tables. A branch table is
	// shown for multi-branch types; another per-step table when the step has rows in it or its
	// type names the table (Marketing Flow Update <-> Update Participant).
	step_table_fields(step) {
		const out = [];
		const readonly = this.store.readonly;
		for (const table of step_tables()) {
			const rows = rows_of(this.store.doc, table.fieldname, step.step_id);
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
				mf_step_table: 1,
				cannot_add_rows: readonly,
				cannot_delete_rows: readonly,
				in_place_edit: false,
				data: rows.map((r) => ({ ...r })),
				fields: child.fields
					.filter((f) => f.fieldname !== "step_id")
					.map((f) => {
						const df = { ...f, read_only: readonly ? 1 : f.read_only };
						if (f.fieldname === "next_step") {
							df.fieldtype = "Select";
							df.options = [""].concat(this.store.steps.filter((s) => s.step_id !== step.step_id).map((s) => s.step_id));
						}
						df.onchange = () => {
							this.tables_edited = true;
							setTimeout(() => this.sync_step_tables(true), 0);
						};
						return df;
					}),
			});
		}
		return out;
	}

	// Write the grid rows of the shown step back into the flow's tables.
	sync_step_tables(commit) {
		const step = this.target;
		// only what was edited in the grids: links drawn on the canvas change the rows directly
		if (!this.tables_edited || !this.group || !step || step === this.store.doc || this.store.readonly) return;
		let changed = false;
		for (const field of this.group.fields_list) {
			if (!field.df.mf_step_table) continue;
			const name = field.df.fieldname;
			const rows = (field.get_value() || []).map((r) => {
				const row = { ...r, step_id: step.step_id };
				delete row.name;
				delete row.idx;
				row.__islocal = 1;
				return row;
			});
			const others = (this.store.doc[name] || []).filter((r) => r.step_id !== step.step_id);
			const before = JSON.stringify(rows_of(this.store.doc, name, step.step_id).map((r) => ({ ...r, name: undefined, idx: undefined, __islocal: 1 })));
			this.store.doc[name] = others.concat(rows);
			if (before !== JSON.stringify(rows)) changed = true;
		}
		if (changed && commit) {
			this.store.commit({ rebuild: false }); // keep the grid being edited
			this.store.graph_version++; // the canvas redraws the step's handles and links
		}
	}

	render_flow() {
		const store = this.store;
		const doc = store.doc;
		if (!doc) return;
		const $head = $(`<div class="mf-panel-head"><div class="mf-panel-title"></div>
			<div class="text-muted small"></div></div>`).appendTo(this.$wrapper);
		$head.find(".mf-panel-title").text(__("Trigger, audience and success"));
		$head.find(".text-muted").text(__("Select a step to edit it."));
		this.$warnings = $(`<div class="mf-panel-warnings alert alert-warning small"></div>`).appendTo(this.$wrapper);
		this.update_warnings();
		this.$body = $(`<div class="mf-panel-body"></div>`).appendTo(this.$wrapper);
		// the flow's fields from its Trigger & Audience and Success tabs, in the doctype's order
		const meta = frappe.get_meta(FLOW_DOCTYPE).fields;
		const part_of = {};
		let tab = null;
		let section = null;
		for (const df of meta) {
			if (df.fieldtype === "Tab Break") tab = section = df.fieldname;
			if (df.fieldtype === "Section Break") section = df.fieldname;
			part_of[df.fieldname] = tab === "success_tab" ? tab : section;
		}
		// the trigger, the audience and the success criteria (the sending window and the resume
		// policy stay on the form)
		const fields = this.field_defs(
			FLOW_DOCTYPE,
			(df) => ["trigger_section", "audience_section", "success_tab"].includes(part_of[df.fieldname]),
			doc
		);
		this.make_group(fields, doc, (df) =>
			df.fieldname === "trigger_conditions" ? doc.trigger_doctype : store.person_doctype
		);
	}

	// The server's messages for what the panel shows: the step's own, or the flow's general ones
	// (with the number of steps that have warnings). Updated in place: typing keeps its focus.
	update_warnings() {
		if (!this.$warnings) return;
		const store = this.store;
		const step = store.selected_step;
		let messages;
		if (step) {
			messages = store.errors_of(step.step_id);
		} else {
			messages = store.errors.filter((e) => !(e.steps || []).length).map((e) => e.message);
			const n = new Set(store.errors.flatMap((e) => e.steps || [])).size;
			if (n) messages.push(__("{0} steps have warnings: select one to see them.", [n]));
		}
		this.$warnings.empty().toggle(messages.length > 0);
		messages.forEach((m) => $("<div></div>").text(m).appendTo(this.$warnings));
	}

	// Tables of the flow panel (success criteria, suppression lists) are read back before a
	// check or a save.
	sync_tables() {
		if (!this.group || this.target !== this.store.doc || this.store.readonly) return;
		for (const field of this.group.fields_list) {
			if (field.df.fieldtype === "Table") {
				const rows = (field.get_value() || []).map((r) => {
					const row = { ...r };
					delete row.name;
					delete row.idx;
					return row;
				});
				this.store.doc[field.df.fieldname] = rows;
			}
		}
	}
}
