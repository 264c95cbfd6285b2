frappe.listview_settings["Marketing Flow"] = {
	add_fields: ["status", "trigger_type"],
	get_indicator(doc) {
		const colors = { Draft: "gray", Running: "green", Paused: "orange", Stopped: "red" };
		return [__(doc.status), colors[doc.status] || "gray", `status,=,${doc.status}`];
	},
	onload(listview) {
		// All / Recent / Running, as SuperOffice's flow list
		const show = (filters) => {
			listview.filter_area.clear(false).then(() => listview.filter_area.add(filters));
		};
		listview.page.add_inner_button(__("All"), () => listview.filter_area.clear(), __("Show"));
		listview.page.add_inner_button(__("Recent"), () =>
			show([["Marketing Flow", "modified", "Timespan", "last month"]]), __("Show"));
		listview.page.add_inner_button(__("Running"), () =>
			show([["Marketing Flow", "status", "=", "Running"]]), __("Show"));
	},
	refresh(listview) {
		marketing_flows_list_columns(listview);
	},
};

// Enrolled, active and success rate of the rows shown: one grouped query for the page.
function marketing_flows_list_columns(listview) {
	const names = (listview.data || []).map((d) => d.name);
	if (!names.length) return;
	frappe.xcall("marketing_flows.api.desk.list_figures", { flows: names }).then((figures) => {
		const $result = listview.$result;
		if (!$result.find(".list-row-head .mf-col").length) {
			const head = [__("Enrolled"), __("Active"), __("Success rate")]
				.map((l) => `<div class="list-row-col ellipsis hidden-xs mf-col"><span>${l}</span></div>`).join("");
			$result.find(".list-row-head .level-left").append(head);
		}
		$result.find(".list-row-container .list-row").each(function () {
			const name = $(this).find(".list-row-checkbox").attr("data-name");
			const f = figures[name];
			$(this).find(".mf-col").remove();
			if (!f) return;
			const cells = [f.enrolled, f.active, `${f.success_rate}%`]
				.map((v) => `<div class="list-row-col ellipsis hidden-xs mf-col text-muted">${v}</div>`).join("");
			$(this).find(".level-left").append(cells);
		});
	});
}
