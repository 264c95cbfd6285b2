// "Add to flow" on the CRM Lead list (marketing_flows; see person_flows.js).
marketing_flows_person_list("CRM Lead");
