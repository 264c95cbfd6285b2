app_name = "marketing_flows"
app_title = "Marketing Flows"
app_publisher = "marketing_flows contributors"
app_description = "Marketing automation flows for Frappe, ERPNext, Frappe CRM and Helpdesk"
app_email = "marketing-flows@example.com"
app_license = "mit"

export_python_type_annotations = True

# Roles are shipped as fixtures so that they exist (with desk access) right after install.
fixtures = [
	{
		"dt": "Role",
		"filters": [["name", "in", ["Flow Administrator", "Flow Content Editor", "Flow Approver"]]],
	},
]

after_install = "marketing_flows.install.after_install"
after_app_install = "marketing_flows.install.after_app_install"
after_migrate = "marketing_flows.install.after_migrate"
before_uninstall = "marketing_flows.install.before_uninstall"
after_uninstall = "marketing_flows.install.after_uninstall"

# "Add to flow" and the Flows panel on the forms and lists of the people flows enrol: Contact,
# and the leads of ERPNext (Lead) and Frappe CRM (CRM Lead) where they are installed; the flow
# form's tabs, one file each (public/js/marketing_flow/), beside its marketing_flow.js. The
# timeline and enrolment dialogs (flow_dialogs.js) are shared by all of them.
doctype_js = {
	"Contact": ["public/js/flow_dialogs.js", "public/js/person_flows.js", "public/js/contact.js"],
	"Lead": ["public/js/flow_dialogs.js", "public/js/person_flows.js", "public/js/lead.js"],
	"CRM Lead": ["public/js/flow_dialogs.js", "public/js/person_flows.js", "public/js/crm_lead.js"],
	"Marketing Flow": [
		"public/js/flow_dialogs.js",
		"public/js/marketing_flow/overview.js",
		"public/js/marketing_flow/flow_tab.js",
		"public/js/marketing_flow/reports_tab.js",
		"public/js/marketing_flow/participants_tab.js",
		"public/js/marketing_flow/content_tab.js",
		"public/js/marketing_flow/actions.js",
		"public/js/marketing_flow/approval.js",
		"public/js/marketing_flow/versions_tab.js",
		"public/js/marketing_flow/criteria_words.js",
	],
	"Marketing Flow Content": ["public/js/marketing_flow/send_test.js"],
}
# Flow folders are a tree: the desk's tree view, and a Folder filter that takes the subfolders in
# ("descendants of (inclusive)", as for any doctype among the boot's tree views).
treeviews = ["Marketing Flow Folder"]

doctype_list_js = {
	"Contact": ["public/js/flow_dialogs.js", "public/js/person_flows.js", "public/js/contact_list.js"],
	"Lead": ["public/js/flow_dialogs.js", "public/js/person_flows.js", "public/js/lead_list.js"],
	"CRM Lead": ["public/js/flow_dialogs.js", "public/js/person_flows.js", "public/js/crm_lead_list.js"],
	"Marketing Flow": ["public/js/marketing_flow/starter_flows.js"],
}

# The desk learns at login whether the user may operate flows (the person forms' "Add to flow").
boot_session = "marketing_flows.boot.boot_session"

# Every save passes through here; `watch` answers from a cached map of watched doctypes, so a
# doctype no running flow watches costs no query (see engine/entering/watch.py). `revenue` looks
# the doctype up in a cached map of the doctypes that carry revenue (engine/measuring/revenue.py).
doc_events = {
	"*": {
		"after_insert": "marketing_flows.engine.entering.watch.on_insert",
		"on_update": "marketing_flows.engine.entering.watch.on_update",
		"on_trash": [
			"marketing_flows.engine.entering.watch.on_trash",
			"marketing_flows.engine.measuring.revenue.on_trash",
		],
		"on_change": "marketing_flows.engine.measuring.revenue.on_change",
		"on_submit": "marketing_flows.engine.measuring.revenue.on_submit",
		"on_cancel": "marketing_flows.engine.measuring.revenue.on_cancel",
		"on_update_after_submit": "marketing_flows.engine.measuring.revenue.on_update_after_submit",
	},
	# a reply to a flow email (engine/measuring/replies.py): cheap for mail that is none
	"Communication": {"after_insert": "marketing_flows.engine.measuring.replies.on_communication"},
	# the person's Time Zone field (install.py adds it) holds a real zone, typed or imported
	**{
		person: {"validate": "marketing_flows.engine.hosts.time_zones.check_person_zone"}
		for person in ("Contact", "Lead", "CRM Lead")
	},
}

# Flow emails leave through the app's sender (engine/sending/sender.py), not through Frappe's flush; bounce
# notices and complaints about them, read by an incoming Email Account, go to the flows.
override_doctype_class = {
	"Email Queue": "marketing_flows.overrides.email_queue.FlowAwareEmailQueue",
	"Email Account": "marketing_flows.overrides.email_account.FlowAwareEmailAccount",
}

scheduler_events = {
	"cron": {
		# due participants are found by index; this only enqueues runner jobs
		"* * * * *": [
			"marketing_flows.engine.running.runner.schedule_due_participants",
			"marketing_flows.engine.sending.sender.schedule_sender",
		],
		"*/15 * * * *": ["marketing_flows.engine.entering.triggers.enrol_from_segments"],
		"*/5 * * * *": [
			"marketing_flows.engine.sending.delivery.sync_recent_deliveries",
			"marketing_flows.engine.measuring.goals.retry_follow_ups",  # a met goal's failed follow-ups
			"marketing_flows.engine.measuring.revenue.retry_failed",  # documents whose credit failed
		],
	},
	"daily": [
		"marketing_flows.engine.entering.triggers.enrol_from_date_fields",
		"marketing_flows.engine.sending.delivery.purge_sent_emails",
	],
}
