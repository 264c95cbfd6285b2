// The flow designer (desk page marketing-flow-designer) and the read-only flow canvas of the
// Marketing Flow form. Vue 3, pinia and @vue-flow come from Frappe's own node_modules.
import { createApp, h } from "vue";
import { createPinia } from "pinia";
import FlowDesignerComponent from "./flow_designer/FlowDesigner.vue";
import { useDesigner } from "./flow_designer/store";
import { STEP_DOCTYPE, FLOW_DOCTYPE } from "./flow_designer/steps";
import { steps_to_place, ask_where_people_go } from "./flow_designer/where_people_go";

frappe.provide("marketing_flows");

let canvas_seq = 0;

async function load_meta() {
	await frappe.model.with_doctype(FLOW_DOCTYPE);
	await frappe.model.with_doctype(STEP_DOCTYPE);
	// the flow's child tables: per-step rows (Split branches, ...) give steps their handles
	for (const df of frappe.get_meta(FLOW_DOCTYPE).fields) {
		if (df.fieldtype === "Table" && df.options) await frappe.model.with_doctype(df.options);
	}
}

function mount(wrapper, props) {
	const pinia = createPinia();
	const app = createApp({ render: () => h(FlowDesignerComponent, { ...props, ref: "canvas" }) });
	if (window.SetVueGlobals) SetVueGlobals(app);
	app.config.globalProperties.__ = window.__;
	app.use(pinia);
	const store = useDesigner(pinia);
	const vm = app.mount(wrapper);
	return { app, store, vm };
}

// The page: /app/marketing-flow-designer/<flow>. The page's own parts (title, buttons,
// breadcrumbs, the warning before leaving unsaved changes); the rest is the store's.
class FlowDesigner {
	constructor({ wrapper, page, flow }) {
		this.$wrapper = $(wrapper);
		this.page = page;
		this.flow = flow;
		this.init();
	}

	async init() {
		await load_meta();
		this.$wrapper.empty();
		const el = $('<div class="mf-designer-root"></div>').appendTo(this.$wrapper).get(0);
		const { store, vm } = mount(el, { canvas_id: `mf-designer-${++canvas_seq}` });
		this.store = store;
		this.vm = vm;
		await this.reload();
		this.bind_leave_warning();
	}

	async reload() {
		if (!this.store) return;
		const doc = await this.store.fetch(this.flow);
		if (!doc) {
			frappe.msgprint(__("Flow {0} not found", [this.flow]));
			return;
		}
		this.setup_actions(doc);
	}

	setup_actions(doc) {
		const page = this.page;
		const store = this.store;
		page.set_title(__("Flow Designer: {0}", [doc.flow_name || doc.name]));
		page.clear_actions();
		page.clear_menu();
		page.clear_custom_actions();
		page.set_indicator(__(doc.status), { Draft: "gray", Running: "green", Paused: "orange", Stopped: "red" }[doc.status]);
		this.set_approval_indicator(doc.approval_status);
		if (!store.readonly) {
			page.set_primary_action(__("Save"), () => this.save(), "save");
		} else if (store.can_move && doc.status === "Running") {
			page.set_secondary_action(__("Pause to edit"), () =>
				frappe.call({ method: "run_doc_method", args: { dt: FLOW_DOCTYPE, dn: this.flow, method: "pause" } }).then(() =>
					this.reload()
				)
			);
		}
		page.add_inner_button(__("Open Flow"), () => frappe.set_route("Form", FLOW_DOCTYPE, this.flow));
		frappe.breadcrumbs.clear();
		frappe.breadcrumbs.$breadcrumbs.append(`
			<li><a href="/app/marketing-flow">${__("Marketing Flow")}</a></li>
			<li><a href="/app/marketing-flow/${encodeURIComponent(this.flow)}">${frappe.utils.escape_html(doc.flow_name || this.flow)}</a></li>
			<li class="disabled"><a href="#">${__("Flow Designer")}</a></li>`);
	}

	// The flow's approval (Pending / Approved / Rejected), beside its status, when it has one.
	set_approval_indicator(approval_status) {
		const $title = this.page.$title_area;
		$title.find(".mf-approval-indicator").remove();
		if (!approval_status) return;
		const colour = { Pending: "orange", Approved: "green", Rejected: "red" }[approval_status] || "gray";
		$(`<span class="indicator-pill no-indicator-dot whitespace-nowrap ml-2 mf-approval-indicator ${colour}"></span>`)
			.attr("data-approval", approval_status)
			.attr("title", __("Approval"))
			.text(__("Approval: {0}", [__(approval_status)]))
			.insertAfter($title.find(".indicator-pill").first());
	}

	async save() {
		// where the people at changed steps go (a dialog when someone is at one); then saved as
		// the form saves it. Refused: Frappe has shown the messages, as the form does.
		const proposal = await this.store.migration_proposal();
		if (!proposal) return;
		let plan = null;
		if (steps_to_place(proposal).length) {
			plan = await ask_where_people_go(proposal, this.store.saved_steps);
			if (!plan) return;
		}
		if (!(await this.store.save(plan))) return;
		frappe.show_alert({ message: __("Saved"), indicator: "green" });
		await this.reload();
	}

	bind_leave_warning() {
		$(window).on("beforeunload.mf_designer", (e) => {
			if (this.store && this.store.dirty && !this.store.readonly) {
				e.preventDefault();
				return (e.returnValue = __("The flow has unsaved changes."));
			}
		});
	}
}

// The form's Flow tab: the same canvas, read-only, with per-step figures. `on_step_click`
// gets the step_id.
class FlowCanvas {
	constructor({ wrapper, frm, figures, on_step_click }) {
		this.frm = frm;
		this.ready = load_meta().then(() => {
			const el = $('<div class="mf-canvas-root"></div>').appendTo($(wrapper).empty()).get(0);
			const { store, vm } = mount(el, { canvas_id: `mf-canvas-${++canvas_seq}`, on_step_click });
			this.store = store;
			this.vm = vm;
			store.mode = "view";
			store.readonly = true;
			store.can_move = false;
			this.update(frm.doc, figures);
		});
	}

	update(doc, figures) {
		if (!this.store) return;
		const copy = JSON.parse(JSON.stringify(doc));
		this.store.person_doctype = copy.person_doctype || "Contact";
		this.store.figures = (figures && figures.steps) || {};
		this.store.branch_figures = (figures && figures.branches) || {};
		this.store.load(copy);
	}

	fit() {
		this.vm && this.vm.$refs.canvas && this.vm.$refs.canvas.fit();
	}
}

marketing_flows.FlowDesigner = FlowDesigner;
marketing_flows.FlowCanvas = FlowCanvas;
export { FlowDesigner, FlowCanvas };
