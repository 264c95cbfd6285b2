frappe.listview_settings["Marketing Flow Log"] = {
	add_fields: ["event"],
	get_indicator(doc) {
		const colors = {
			Error: "red", Bounced: "red", Exited: "gray", Completed: "green", "Goal Met": "green",
			Clicked: "purple", Opened: "cyan", "Email Sent": "blue", "SMS Sent": "blue", Retry: "orange",
			"Step Skipped": "orange",
		};
		return [__(doc.event), colors[doc.event] || "gray", `event,=,${doc.event}`];
	},
};
