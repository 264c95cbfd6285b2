// The designer's one store: the flow document being edited (its `steps` rows are the nodes,
// their next_step / yes_step / no_step the edges), the selection, undo / redo, and the server's
// side of editing: loading the flow, its validation messages, saving. The canvas, the nodes and
// the side panel read and change the state only through it. One store per Vue app (each app
// has its own pinia), as Frappe's Workflow Builder.
import { defineStore } from "pinia";
import { ref, computed, toRaw } from "vue";
import { useManualRefHistory } from "@vueuse/core";
import { STEP_DOCTYPE, FLOW_DOCTYPE, links_of, new_step_id, step_tables, rows_of } from "./steps";

const HISTORY_LIMIT = 100;

// What undo / redo restores: the steps and the flow's per-step tables (branches, ...); the
// flow's own fields (trigger, audience, success) are not part of it.
function design_of(doc) {
	const state = { steps: doc?.steps || [] };
	for (const t of step_tables()) state[t.fieldname] = doc?.[t.fieldname] || [];
	return JSON.stringify(state);
}

export const useDesigner = defineStore("marketing-flow-designer", () => {
	const flow = ref(null);
	const doc = ref(null);
	const mode = ref("design"); // "design" (the page) or "view" (the form's Flow tab)
	const readonly = ref(true);
	const can_move = ref(false); // positions may be saved (a flow operator, also while running)
	const figures = ref({});
	const branch_figures = ref({}); // step_id -> branch key -> participants who took it
	const errors = ref([]);
	const selected = ref(null); // step_id
	const selected_edge = ref(null); // edge id
	const dirty = ref(false);
	const person_doctype = ref("Contact");
	const saved_steps = ref([]); // the steps as stored (the save's dialog says what they did)
	const time_zones = ref([]); // the zones the server accepts (the flow panel's Flow Time Zone)

	// Undo / redo: Frappe's Workflow Builder's useManualRefHistory, over the design (design_of);
	// `commit` records a state, undo / redo put one back into the document.
	const history = useManualRefHistory(doc, {
		capacity: HISTORY_LIMIT,
		dump: design_of,
		parse: (json) => JSON.parse(json),
		setSource: (_source, state) => restore(state),
	});
	const can_undo = computed(() => history.canUndo.value);
	const can_redo = computed(() => history.canRedo.value);

	const steps = computed(() => doc.value?.steps || []);
	const selected_step = computed(() => steps.value.find((s) => s.step_id === selected.value) || null);

	function errors_of(step_id) {
		return errors.value.filter((e) => (e.steps || []).includes(step_id)).map((e) => e.message);
	}

	function load(the_doc) {
		the_doc.steps = the_doc.steps || [];
		doc.value = the_doc;
		history.commit();
		history.clear();
		dirty.value = false;
		selected.value = null;
		selected_edge.value = null;
	}

	// Something changed: record it as one undoable change when the design changed, and have
	// the server check the flow again.
	function commit() {
		if (design_of(doc.value) !== history.last.value.snapshot) history.commit();
		dirty.value = true;
		schedule_check();
	}

	function restore(state) {
		doc.value.steps.splice(0, doc.value.steps.length, ...state.steps);
		for (const t of step_tables()) doc.value[t.fieldname] = state[t.fieldname] || [];
		dirty.value = true;
		if (selected.value && !state.steps.some((s) => s.step_id === selected.value)) selected.value = null;
		schedule_check();
	}

	function undo() {
		if (!readonly.value) history.undo();
	}

	function redo() {
		if (!readonly.value) history.redo();
	}

	function renumber() {
		doc.value.steps.forEach((s, i) => (s.idx = i + 1));
	}

	function add_step(step_type, position, extra = {}) {
		const step_id = new_step_id(step_type, steps.value);
		const step = {
			...extra,
			doctype: STEP_DOCTYPE,
			parenttype: FLOW_DOCTYPE,
			parentfield: "steps",
			parent: doc.value.name,
			__islocal: 1,
			step_type,
			step_id,
			label: extra.label || __(step_type),
			position_x: Math.round(position.x),
			position_y: Math.round(position.y),
		};
		// defaults of the doctype (wait unit, webhook method, ...)
		for (const df of frappe.get_meta(STEP_DOCTYPE).fields) {
			if (df.default && step[df.fieldname] === undefined) step[df.fieldname] = df.default;
		}
		doc.value.steps.push(step);
		renumber();
		selected.value = step_id;
		commit();
		return step;
	}

	function duplicate(step_id) {
		const src = steps.value.find((s) => s.step_id === step_id);
		if (!src) return null;
		const copy = JSON.parse(JSON.stringify(src));
		for (const key of ["name", "idx", "creation", "modified", "next_step", "yes_step", "no_step", "else_step", "timeout_step"]) {
			delete copy[key];
		}
		const step = add_step(
			src.step_type,
			{ x: (src.position_x || 0) + 40, y: (src.position_y || 0) + 40 },
			{ ...copy, label: (src.label || src.step_id) + " " + __("(copy)") }
		);
		// its rows in the flow's per-step tables (branches without their links)
		for (const table of step_tables()) {
			for (const row of rows_of(doc.value, table.fieldname, step_id)) {
				const r = { ...row, step_id: step.step_id, next_step: null, __islocal: 1 };
				delete r.name;
				(doc.value[table.fieldname] = doc.value[table.fieldname] || []).push(r);
			}
		}
		commit();
		return step;
	}

	// Every link that points at `step_id` (from handles of any step, branch rows included).
	function clear_links_to(step_id) {
		for (const s of steps.value) {
			for (const link of links_of(s, doc.value)) {
				if (link.target === step_id) (link.row || s)[link.field] = null;
			}
		}
	}

	function remove_step(step_id) {
		const i = steps.value.findIndex((s) => s.step_id === step_id);
		if (i < 0) return;
		doc.value.steps.splice(i, 1);
		for (const table of step_tables()) {
			if (doc.value[table.fieldname]) {
				doc.value[table.fieldname] = doc.value[table.fieldname].filter((r) => r.step_id !== step_id);
			}
		}
		clear_links_to(step_id);
		renumber();
		if (selected.value === step_id) selected.value = null;
		commit();
	}

	// Connect a handle of `source` to `target`: one link per handle, a new one replaces the old.
	function link(source, handle_id, target) {
		const s = steps.value.find((x) => x.step_id === source);
		if (!s || source === target) return false;
		const link = links_of(s, doc.value).find((l) => l.id === handle_id);
		if (!link) return false;
		(link.row || s)[link.field] = target;
		commit();
		return true;
	}

	function unlink(source, handle_id) {
		const s = steps.value.find((x) => x.step_id === source);
		const link = s && links_of(s, doc.value).find((l) => l.id === handle_id);
		if (!link) return;
		(link.row || s)[link.field] = null;
		selected_edge.value = null;
		commit();
	}

	// The first row is where everyone starts.
	function set_start(step_id) {
		const i = steps.value.findIndex((s) => s.step_id === step_id);
		if (i <= 0) return;
		const [step] = doc.value.steps.splice(i, 1);
		doc.value.steps.unshift(step);
		renumber();
		commit();
	}

	function move(step_id, position) {
		const s = steps.value.find((x) => x.step_id === step_id);
		if (!s) return;
		s.position_x = Math.round(position.x);
		s.position_y = Math.round(position.y);
		if (!readonly.value) {
			commit();
		} else if (can_move.value && mode.value === "design") {
			// a running flow's steps stay as they are; where they are drawn is saved at once
			frappe.call({
				method: "run_doc_method",
				args: {
					dt: FLOW_DOCTYPE,
					dn: flow.value,
					method: "save_positions",
					args: { positions: { [step_id]: [position.x, position.y] } },
				},
			});
		}
	}

	// A field of the flow or of one of its steps, edited in the side panel.
	function set_value(target, fieldname, value) {
		target[fieldname] = value;
		if (fieldname === "person_doctype" && value) {
			// filters and field pickers now name the fields of the new people's doctype
			person_doctype.value = value;
			frappe.model.with_doctype(value);
		}
		commit();
	}

	// A table of the flow edited in the side panel: the rows of one step in a per-step table
	// (`step_id` given), or the whole table (success criteria, ...). Rows are compared by their
	// fields' values: only a real change is written and recorded.
	function set_rows(fieldname, rows, step_id = null) {
		const others = step_id ? (doc.value[fieldname] || []).filter((r) => r.step_id !== step_id) : [];
		const before = step_id ? rows_of(doc.value, fieldname, step_id) : doc.value[fieldname] || [];
		const table = frappe.meta.get_docfield(FLOW_DOCTYPE, fieldname);
		if (same_rows(table.options, before, rows)) return false;
		doc.value[fieldname] = others.concat(rows);
		commit();
		return true;
	}

	// --- the server -------------------------------------------------------------------------

	// The flow as stored, with what the server says about the user (onload: may they operate
	// flows?): editable unless running or stopped.
	async function fetch(name) {
		frappe.model.clear_doc(FLOW_DOCTYPE, name);
		await frappe.model.with_doc(FLOW_DOCTYPE, name);
		const saved = frappe.get_doc(FLOW_DOCTYPE, name);
		if (!saved) return null;
		const the_doc = JSON.parse(JSON.stringify(saved));
		flow.value = name;
		mode.value = "design";
		person_doctype.value = the_doc.person_doctype || "Contact";
		await Promise.all([frappe.model.with_doctype(person_doctype.value), load_time_zones()]);
		const is_operator = !!the_doc.__onload?.is_flow_operator;
		readonly.value = !is_operator || the_doc.status === "Running" || the_doc.status === "Stopped";
		can_move.value = is_operator;
		saved_steps.value = JSON.parse(JSON.stringify(the_doc.steps || []));
		load(the_doc);
		check();
		return the_doc;
	}

	// Once per page: the zones a flow may be set to (the server's own list, which its check
	// accepts). Without them the picker takes any text and the server's check says what is wrong.
	async function load_time_zones() {
		if (time_zones.value.length) return;
		try {
			time_zones.value = (await frappe.xcall("marketing_flows.api.time_zones.zones")) || [];
		} catch (e) {
			time_zones.value = [];
		}
	}

	function doc_for_server() {
		const out = JSON.parse(JSON.stringify(toRaw(doc.value)));
		out.steps = (out.steps || []).map((s, i) => ({ ...s, idx: i + 1 }));
		return out;
	}

	// The server's own flow validation (engine/running/validation.py, as the form's save) on the
	// unsaved design: warnings on the steps it names. Only for who may save (the server refuses
	// others).
	let check_seq = 0;
	function check() {
		if (mode.value !== "design" || !doc.value || !can_move.value) return;
		const seq = ++check_seq;
		frappe
			.call({
				method: "run_doc_method",
				args: { docs: doc_for_server(), method: "validate_design" },
				type: "POST",
				freeze: false,
				silent: true,
			})
			.then((r) => {
				if (seq === check_seq) errors.value = (r.message && r.message.errors) || [];
			})
			.catch(() => {});
	}
	const schedule_check = frappe.utils.debounce(check, 400);

	// Before saving: what the new design changes for the people already in the flow (the server
	// compares it with the live version: engine/changing/versions.py) and, for each step with
	// people at it, where they would go. Nothing is written. null when the server refused (it has
	// shown why).
	async function migration_proposal() {
		try {
			const r = await frappe.call({
				method: "run_doc_method",
				args: { docs: doc_for_server(), method: "migration_proposal" },
				type: "POST",
				freeze: true,
				freeze_message: __("Checking where the people go..."),
			});
			return r.message || {};
		} catch (e) {
			return null;
		}
	}

	// Saved as the form saves it, with `plan` (where the people of changed steps go: old step_id
	// -> {to, due} or {drain: 1}) as the flow's version_plan when given; false when the server
	// refused (it has shown why).
	async function save(plan = null) {
		if (readonly.value) return false;
		const out = doc_for_server();
		if (plan) out.version_plan = JSON.stringify(plan);
		try {
			await frappe.call({
				method: "frappe.client.save",
				args: { doc: out },
				freeze: true,
				freeze_message: __("Saving..."),
			});
		} catch (e) {
			return false;
		}
		return true;
	}

	return {
		flow, doc, mode, readonly, can_move, figures, branch_figures, errors, selected, selected_edge, dirty,
		person_doctype, saved_steps, time_zones, steps, selected_step, can_undo, can_redo,
		errors_of, load, commit, undo, redo, add_step, duplicate, remove_step, link, unlink, set_start,
		move, set_value, set_rows, fetch, check, migration_proposal, save,
	};
});

// Rows of a child table compared by what they hold: the values of the child doctype's fields
// (not name, idx or other bookkeeping), empty values alike.
export function rows_key(child_doctype, rows) {
	const fields = (frappe.get_meta(child_doctype)?.fields || [])
		.filter((df) => !frappe.model.no_value_type.includes(df.fieldtype))
		.map((df) => df.fieldname);
	return JSON.stringify((rows || []).map((r) => fields.map((f) => (r[f] === undefined || r[f] === null ? "" : r[f]))));
}

// A number per object of the state: a step put back by undo, or the flow loaded again after a
// save, is a new object with a new number (the canvas and the panel draw it anew).
const object_ids = new WeakMap();
let last_object_id = 0;
export function id_of(obj) {
	obj = toRaw(obj);
	if (!object_ids.has(obj)) object_ids.set(obj, ++last_object_id);
	return object_ids.get(obj);
}

function same_rows(child_doctype, a, b) {
	return rows_key(child_doctype, a) === rows_key(child_doctype, b);
}
