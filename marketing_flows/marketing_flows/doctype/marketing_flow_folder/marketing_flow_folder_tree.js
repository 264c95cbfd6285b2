// Copyright (c) 2026, marketing_flows contributors
// For license information, please see license.txt

// The folders of flows as a tree (/app/marketing-flow-folder/view/tree). The tree has no root
// record: the top-level folders hang under "All Folders", which stands for no parent folder.
// Frappe's own "New" / "Add Child" would send that label as the parent folder, so folders are
// added here (in the selected folder, or at the top).
frappe.treeview_settings["Marketing Flow Folder"] = {
	breadcrumb: "Marketing Flows",
	title: __("Flow Folders"),
	root_label: __("All Folders"),
	get_tree_root: false,
	disable_add_node: true,
	onload(treeview) {
		treeview.root_value = ""; // the root's children: folders without a parent
		treeview.make_tree();
		if (frappe.model.can_create("Marketing Flow Folder")) {
			treeview.page.set_primary_action(
				__("New Folder"),
				() => marketing_flows_add_folder(treeview, treeview.tree.get_selected_node() || treeview.tree.root_node),
				"add"
			);
		}
	},
	extend_toolbar: true,
	toolbar: [
		{
			label: __("Flows"),
			click(node) {
				frappe.set_route("List", "Marketing Flow", node.is_root ? {} : { folder: node.label });
			},
		},
		{
			label: __("Add Child"),
			condition: () => frappe.model.can_create("Marketing Flow Folder"),
			click(node) {
				marketing_flows_add_folder(frappe.views.trees["Marketing Flow Folder"], node);
			},
			btnClass: "hidden-xs",
		},
	],
};

function marketing_flows_add_folder(treeview, node) {
	frappe.prompt(
		{ fieldname: "folder_name", fieldtype: "Data", label: __("Folder Name"), reqd: 1 },
		({ folder_name }) =>
			frappe.db
				.insert({
					doctype: "Marketing Flow Folder",
					folder_name,
					is_group: 1,
					parent_marketing_flow_folder: node.is_root ? "" : node.label,
				})
				.then(() => treeview.tree.load_children(node)),
		node.is_root ? __("New Folder") : __("New Folder in {0}", [node.label]),
		__("Create")
	);
}
