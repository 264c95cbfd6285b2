"""Marketing Flow Attribution's unique (participant, document) index and its covering index for
the reports, on sites that got the doctype before its controller added them (issue 24)."""

from marketing_flows.marketing_flows.doctype.marketing_flow_attribution.marketing_flow_attribution import (
	on_doctype_update,
)


def execute() -> None:
	on_doctype_update()  # adds the indexes missing, by name
