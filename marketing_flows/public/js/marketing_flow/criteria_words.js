// The flow form's Success tab (and a Split's branches, on a flow with no steps yet, when the
// form shows that table): each criterion's conditions in words in the grid ("Status equals
// Replied and Company is set"; "any" for none), and edited with Frappe's filter editor in the
// row's form, on the doctype the criterion's type names (its person, the Deal / Issue /
// Appointment doctype of Marketing Flow Settings, the row's Document Type). A running flow, or a
// user who may not edit it, reads the words.
//
// The words and the editor are the designer's own functions (flow_designer/filters_in_words.js,
// part of marketing_flow_designer.bundle.js, which the form loads anyway for its Flow tab): the
// bundle puts them on `marketing_flows`, so both places say the same thing.
frappe.provide("marketing_flows");

(() => {
	const load = () => frappe.require("marketing_flow_designer.bundle.js");

	// table fieldname -> the row's filters field, its words, its doctype and what decides it
	const TABLES = {
		success_criteria: {
			doctype_of_rows: "Marketing Flow Success Criterion",
			fieldname: "conditions",
			words: (row, frm) => marketing_flows.criterion_words(row, frm.doc.person_doctype),
			doctype: (row, frm, readonly) =>
				readonly
					? marketing_flows.criterion_doctype_now(row, frm.doc.person_doctype)
					: marketing_flows.criterion_doctype(row, frm.doc.person_doctype),
			depends: ["criterion_type", "reference_doctype", "web_form"],
		},
		branches: {
			doctype_of_rows: "Marketing Flow Branch",
			fieldname: "condition_filters",
			words: (row, frm) => marketing_flows.branch_words(row, frm.doc.person_doctype),
			doctype: (row, frm, readonly) =>
				readonly
					? marketing_flows.branch_doctype_now(row, frm.doc.person_doctype)
					: marketing_flows.branch_doctype(row, frm.doc.person_doctype),
			depends: ["condition_type"],
		},
	};

	// the design can't change: a running or stopped flow, or a field the user may not edit
	function readonly(frm, field) {
		return ["Running", "Stopped"].includes(frm.doc.status) || (field && field.get_status() !== "Write");
	}

	// The flow a row belongs to (the formatter is the doctype's, for every form's grid).
	function flow_of(row) {
		return { doc: locals["Marketing Flow"]?.[row.parent] || cur_frm?.doc || {} };
	}

	// The grid's column of the filters shows them in words: Frappe's grid formats a cell with its
	// docfield's `formatter`; each row has its own copy of the docfields (made from the doctype's
	// when the row is drawn first), so the formatter goes on both.
	function show_words(frm) {
		load().then(() => {
			for (const [table, spec] of Object.entries(TABLES)) {
				const grid = frm.fields_dict[table]?.grid;
				if (!grid) continue;
				const formatter = (value, df, options, row) =>
					`<span class="mf-filter-words">${frappe.utils.escape_html(spec.words(row || {}, flow_of(row || {})))}</span>`;
				const docfields = [
					frappe.meta.docfield_map[spec.doctype_of_rows]?.[spec.fieldname],
					...(grid.docfields || []),
					...(grid.grid_rows || []).flatMap((r) => r.docfields || []),
				];
				for (const df of docfields) {
					if (df?.fieldname === spec.fieldname) df.formatter = formatter;
				}
				const doctypes = (frm.doc[table] || []).flatMap((r) =>
					marketing_flows.doctypes_of(r[spec.fieldname], frm.doc.person_doctype)
				);
				grid.refresh();
				marketing_flows.load_doctypes(doctypes).then(() => grid.refresh());
			}
		});
	}

	// The open row's filters field: Frappe's filter editor (or the words, read-only).
	function edit_row(frm, table, cdn) {
		const spec = TABLES[table];
		load().then(() => {
			const grid_row = frm.fields_dict[table]?.grid?.grid_rows_by_docname?.[cdn];
			const grid_form = grid_row?.grid_form;
			if (!grid_form || !grid_row.wrapper.hasClass("grid-row-open")) return;
			const row = locals[spec.doctype_of_rows][cdn];
			// read-only (a running flow, a reader): the words, and no question to the server
			const read = readonly(frm, grid_form.fields_dict[spec.fieldname]);
			marketing_flows.row_filter_editor(grid_form, spec.fieldname, {
				doctype: spec.doctype(row, frm, read),
				readonly: read,
				changed: (json) => frappe.model.set_value(spec.doctype_of_rows, cdn, spec.fieldname, json),
			});
		});
	}

	frappe.ui.form.on("Marketing Flow", {
		refresh: show_words,
		person_doctype: show_words,
	});

	for (const [table, spec] of Object.entries(TABLES)) {
		const handlers = { form_render: (frm, cdt, cdn) => edit_row(frm, table, cdn) };
		for (const fieldname of spec.depends) {
			handlers[fieldname] = (frm, cdt, cdn) => {
				frm.fields_dict[table]?.grid?.grid_rows_by_docname?.[cdn]?.refresh_field(spec.fieldname);
				edit_row(frm, table, cdn);
			};
		}
		frappe.ui.form.on(spec.doctype_of_rows, handlers);
	}
})();
