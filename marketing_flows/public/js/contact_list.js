// "Add to flow" on the Contact list (marketing_flows; see person_flows.js).
marketing_flows_person_list("Contact");
