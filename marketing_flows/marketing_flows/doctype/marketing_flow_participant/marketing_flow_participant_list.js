frappe.listview_settings["Marketing Flow Participant"] = {
	add_fields: ["status", "succeeded"],
	get_indicator(doc) {
		// a held-out person's goal is the control group's: never the flow's green
		if (doc.status === "Held Out") {
			return [doc.succeeded ? __("Held Out, Goal Met") : __("Held Out"), "gray", "status,=,Held Out"];
		}
		if (doc.succeeded) return [__("Goal Met"), "green", "succeeded,=,1"];
		const colors = { Active: "blue", Waiting: "cyan", Completed: "green", Exited: "gray", Stalled: "red" };
		return [__(doc.status), colors[doc.status] || "gray", `status,=,${doc.status}`];
	},
};
