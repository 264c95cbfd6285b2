"""The log's (flow, step_id, event, branch, participant) index on sites made before it: an A/B
test's progress (read in every batch until it has a winner), its figures per variant and the
per-branch figures read only this index instead of one log row per person (issue 24)."""

from marketing_flows.marketing_flows.doctype.marketing_flow_log.marketing_flow_log import on_doctype_update


def execute() -> None:
	on_doctype_update()  # adds the indexes missing, by name
