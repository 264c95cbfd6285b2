"""Marketing Segments: by contact filters or by a flow outcome; export to an Email Group."""

import frappe
import pytest

from factories import make_contact, make_flow, unique
from marketing_flows.engine import log


def test_filter_segment_lists_matching_contacts_and_exports_to_email_group():
	tag = unique("Tag")
	a, b = make_contact(designation=tag), make_contact(designation=tag)
	make_contact(designation="other")
	segment = frappe.get_doc(
		{
			"doctype": "Marketing Segment",
			"segment_name": unique("Seg"),
			"segment_type": "Contact Filters",
			"filters": f'[["Contact", "designation", "=", "{tag}"]]',
		}
	).insert()
	assert sorted(segment.get_contacts()) == sorted([a, b])
	group = frappe.get_doc({"doctype": "Email Group", "title": unique("Export")}).insert()
	assert segment.export_to_email_group(group.name) == {"added": 2, "total": 2}
	assert segment.export_to_email_group(group.name) == {
		"added": 0,
		"total": 2,
	}  # members are kept, not doubled
	assert frappe.db.count("Email Group Member", {"email_group": group.name}) == 2


def test_flow_outcome_segment_from_the_log():
	flow = make_flow()
	flow.run()
	clicker, other = make_contact(), make_contact()
	flow.enroll([clicker, other])
	p = frappe.db.get_value("Marketing Flow Participant", {"flow": flow.name, "contact": clicker})
	log.write(flow.name, p, clicker, "wait", "Clicked", "", url="https://example.com")
	segment = frappe.get_doc(
		{
			"doctype": "Marketing Segment",
			"segment_name": unique("Clickers"),
			"segment_type": "Flow Outcome",
			"flow": flow.name,
			"outcome": "Clicked",
		}
	).insert()
	assert segment.get_contacts() == [clicker]


def test_segment_filters_on_unknown_fields_are_refused():
	with pytest.raises(frappe.ValidationError, match="no field 'shoe_size'"):
		frappe.get_doc(
			{
				"doctype": "Marketing Segment",
				"segment_name": unique("Bad"),
				"segment_type": "Contact Filters",
				"filters": '[["shoe_size", "=", 42]]',
			}
		).insert()
