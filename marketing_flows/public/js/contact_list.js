// "Add to flow" on the Contact list (marketing_flows).
frappe.listview_settings["Contact"] = frappe.listview_settings["Contact"] || {};
(function () {
	const previous = frappe.listview_settings["Contact"].onload;
	frappe.listview_settings["Contact"].onload = function (listview) {
		previous && previous(listview);
		if (!frappe.user.has_role(["Flow Administrator", "System Manager"])) return;
		listview.page.add_actions_menu_item(__("Add to flow"), () => {
			const names = listview.get_checked_items(true);
			if (!names.length) {
				frappe.msgprint(__("Select the contacts to add first."));
				return;
			}
			frappe.require("/assets/marketing_flows/js/contact.js", () => window.marketing_flows_add_to_flow(names));
		});
	};
})();
