frappe.listview_settings["Marketing Flow"] = {
	add_fields: ["status", "trigger_type"],
	get_indicator(doc) {
		const colors = { Draft: "gray", Running: "green", Paused: "orange", Stopped: "red" };
		return [__(doc.status), colors[doc.status] || "gray", `status,=,${doc.status}`];
	},
};
