// The drag-and-drop flow designer: /app/marketing-flow-designer/<flow>. The Vue app lives in
// public/js/marketing_flow_designer.bundle.js (built by `bench build --app marketing_flows`).
frappe.pages["marketing-flow-designer"].on_page_load = function (wrapper) {
	frappe.ui.make_app_page({
		parent: wrapper,
		title: __("Flow Designer"),
		single_column: true,
	});
};

frappe.pages["marketing-flow-designer"].on_page_show = function (wrapper) {
	const route = frappe.get_route();
	const $parent = $(wrapper).find(".layout-main-section");
	const flow = route.slice(1).join("/");
	if (!flow) {
		frappe.set_route("List", "Marketing Flow");
		return;
	}
	if (wrapper.mf_designer && wrapper.mf_designer.flow === flow) {
		wrapper.mf_designer.reload();
		return;
	}
	$parent.empty();
	frappe.require("marketing_flow_designer.bundle.js").then(() => {
		wrapper.mf_designer = new marketing_flows.FlowDesigner({
			wrapper: $parent,
			page: wrapper.page,
			flow,
		});
	});
};
