app_name = "marketing_flows"
app_title = "Marketing Flows"
app_publisher = "marketing_flows contributors"
app_description = "Marketing automation flows for Frappe, ERPNext, Frappe CRM and Helpdesk"
app_email = "marketing-flows@example.com"
app_license = "mit"

export_python_type_annotations = True

# Roles are shipped as fixtures so that they exist (with desk access) right after install.
fixtures = [
	{"dt": "Role", "filters": [["name", "in", ["Flow Administrator", "Flow Content Editor"]]]},
]

after_install = "marketing_flows.install.after_install"
after_app_install = "marketing_flows.install.after_app_install"
after_migrate = "marketing_flows.install.after_migrate"
before_uninstall = "marketing_flows.install.before_uninstall"
after_uninstall = "marketing_flows.install.after_uninstall"

# "Add to flow" on Contact forms and lists.
doctype_js = {"Contact": "public/js/contact.js"}
doctype_list_js = {"Contact": "public/js/contact_list.js"}
