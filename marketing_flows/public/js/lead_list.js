// "Add to flow" on the Lead list (marketing_flows; see person_flows.js).
marketing_flows_person_list("Lead");
