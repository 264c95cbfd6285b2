frappe.listview_settings["Marketing Flow Participant"] = {
	add_fields: ["status", "succeeded"],
	get_indicator(doc) {
		if (doc.succeeded) return [__("Goal Met"), "green", "succeeded,=,1"];
		const colors = { Active: "blue", Waiting: "cyan", Completed: "green", Exited: "gray", Stalled: "red" };
		return [__(doc.status), colors[doc.status] || "gray", `status,=,${doc.status}`];
	},
};
