// The designer's state: the flow document being edited (its `steps` rows are the nodes, their
// next_step / yes_step / no_step the edges), the selection, undo / redo and the server's
// validation messages. One store per Vue app (each app has its own pinia).
import { defineStore } from "pinia";
import { ref, computed } from "vue";
import { STEP_DOCTYPE, FLOW_DOCTYPE, links_of, new_step_id, step_tables, rows_of } from "./steps";

const HISTORY_LIMIT = 100;

export const useDesigner = defineStore("marketing-flow-designer", () => {
	const flow = ref(null);
	const doc = ref(null);
	const mode = ref("design"); // "design" (the page) or "view" (the form's Flow tab)
	const readonly = ref(true);
	const can_move = ref(false); // positions may be saved (Flow Administrator, also while running)
	const figures = ref({});
	const branch_figures = ref({}); // step_id -> branch key -> participants who took it
	const errors = ref([]);
	const selected = ref(null); // step_id
	const selected_edge = ref(null); // edge id
	const version = ref(0); // bumped when the graph changes: the canvas rebuilds, the panel too
	const graph_version = ref(0); // the canvas only (links edited in the panel's grids)
	const dirty = ref(false);
	const undo_stack = ref([]);
	const redo_stack = ref([]);
	const person_doctype = ref("Contact");
	let last_snapshot = null;
	let on_change = null; // set by the app: validation after each change

	const steps = computed(() => doc.value?.steps || []);
	const selected_step = computed(() => steps.value.find((s) => s.step_id === selected.value) || null);

	function errors_of(step_id) {
		return errors.value.filter((e) => (e.steps || []).includes(step_id)).map((e) => e.message);
	}

	// What undo / redo restores: the steps and the flow's per-step tables (branches, ...).
	function snapshot() {
		const state = { steps: steps.value };
		for (const t of step_tables()) state[t.fieldname] = doc.value?.[t.fieldname] || [];
		return JSON.stringify(state);
	}

	function load(the_doc) {
		doc.value = the_doc;
		doc.value.steps = doc.value.steps || [];
		undo_stack.value = [];
		redo_stack.value = [];
		last_snapshot = snapshot();
		dirty.value = false;
		selected.value = null;
		selected_edge.value = null;
		version.value++;
	}

	// Record the current steps as one undoable change (no-op when nothing changed).
	function commit({ rebuild = true } = {}) {
		const now = snapshot();
		if (now === last_snapshot) return;
		undo_stack.value.push(last_snapshot);
		if (undo_stack.value.length > HISTORY_LIMIT) undo_stack.value.shift();
		redo_stack.value = [];
		last_snapshot = now;
		dirty.value = true;
		if (rebuild) version.value++;
		on_change && on_change();
	}

	function restore(json) {
		const state = JSON.parse(json);
		const rows = state.steps;
		doc.value.steps.splice(0, doc.value.steps.length, ...rows);
		for (const t of step_tables()) doc.value[t.fieldname] = state[t.fieldname] || [];
		last_snapshot = json;
		dirty.value = true;
		if (selected.value && !rows.some((s) => s.step_id === selected.value)) selected.value = null;
		version.value++;
		on_change && on_change();
	}

	function undo() {
		if (readonly.value || !undo_stack.value.length) return;
		redo_stack.value.push(snapshot());
		restore(undo_stack.value.pop());
	}

	function redo() {
		if (readonly.value || !redo_stack.value.length) return;
		undo_stack.value.push(snapshot());
		restore(redo_stack.value.pop());
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
		for (const key of ["name", "idx", "creation", "modified", "next_step", "yes_step", "no_step", "else_step"]) {
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
		if (!readonly.value) commit({ rebuild: false });
	}

	function set_on_change(fn) {
		on_change = fn;
	}

	return {
		flow, doc, mode, readonly, can_move, figures, branch_figures, errors, selected, selected_edge, version, graph_version, dirty,
		undo_stack, redo_stack, person_doctype, steps, selected_step,
		errors_of, load, commit, undo, redo, add_step, duplicate, remove_step, link, unlink, set_start,
		move, set_on_change,
	};
});
