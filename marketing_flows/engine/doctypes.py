"""The app's own documents as the engine types them: the doctype controllers' classes, with
Frappe's generated field types (`DF`), re-exported for annotations only.

The controllers import the engine, so the engine may not import them at run time (an import
circle): this leaf names them under TYPE_CHECKING, and engine modules import these names under
TYPE_CHECKING too (`from marketing_flows.engine.doctypes import MarketingFlow`), so annotations
(strings, thanks to `from __future__ import annotations`) are all that use them."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
	from marketing_flows.marketing_flows.doctype.marketing_blocked_address.marketing_blocked_address import (
		MarketingBlockedAddress,
	)
	from marketing_flows.marketing_flows.doctype.marketing_email_confirmation.marketing_email_confirmation import (
		MarketingEmailConfirmation,
	)
	from marketing_flows.marketing_flows.doctype.marketing_flow.marketing_flow import MarketingFlow
	from marketing_flows.marketing_flows.doctype.marketing_flow_branch.marketing_flow_branch import (
		MarketingFlowBranch,
	)
	from marketing_flows.marketing_flows.doctype.marketing_flow_content.marketing_flow_content import (
		MarketingFlowContent,
	)
	from marketing_flows.marketing_flows.doctype.marketing_flow_log.marketing_flow_log import (
		MarketingFlowLog,
	)
	from marketing_flows.marketing_flows.doctype.marketing_flow_outbox.marketing_flow_outbox import (
		MarketingFlowOutbox,
	)
	from marketing_flows.marketing_flows.doctype.marketing_flow_participant.marketing_flow_participant import (
		MarketingFlowParticipant,
	)
	from marketing_flows.marketing_flows.doctype.marketing_flow_quiet_hours.marketing_flow_quiet_hours import (
		MarketingFlowQuietHours,
	)
	from marketing_flows.marketing_flows.doctype.marketing_flow_sending_limit.marketing_flow_sending_limit import (
		MarketingFlowSendingLimit,
	)
	from marketing_flows.marketing_flows.doctype.marketing_flow_settings.marketing_flow_settings import (
		MarketingFlowSettings,
	)
	from marketing_flows.marketing_flows.doctype.marketing_flow_step.marketing_flow_step import (
		MarketingFlowStep,
	)
	from marketing_flows.marketing_flows.doctype.marketing_flow_success_criterion.marketing_flow_success_criterion import (
		MarketingFlowSuccessCriterion,
	)
	from marketing_flows.marketing_flows.doctype.marketing_flow_suppression.marketing_flow_suppression import (
		MarketingFlowSuppression,
	)
	from marketing_flows.marketing_flows.doctype.marketing_flow_update.marketing_flow_update import (
		MarketingFlowUpdate,
	)
	from marketing_flows.marketing_flows.doctype.marketing_segment.marketing_segment import (
		MarketingSegment,
	)


# A person's record as a row (a frappe._dict of `frappe.get_all`): the fields of whichever doctype
# the flow's people are (Contact, Lead, CRM Lead, ...), so of no one shape: values of any type.
PersonRow = dict[str, Any]


class ParticipantRow(dict[str, Any]):
	"""A Marketing Flow Participant as the runner reads it: a row of `frappe.get_all(...,
	fields=["*"])`, a frappe._dict (a dict whose keys are also attributes, so it goes wherever a
	dict does), its fields those of the doctype. Named for annotations only: nothing makes one.
	The runner sets some fields on the row as it goes (`status`, `current_step`, ...)."""

	name: str
	flow: str
	person: str
	person_doctype: str | None
	contact: str | None
	email: str | None
	mobile_no: str | None
	full_name: str | None
	company: str | None
	company_doctype: str | None
	status: str
	current_step: str  # set at enrolment (the start step), then moved by the runner only
	step_seq: int
	attempts: int
	next_run_at: datetime | None
	succeeded: int
	enrolled_on: datetime | None
	time_zone: str | None  # the clock the flow used for the person (send_times.Clock)
	time_zone_source: str | None


__all__ = [
	"ParticipantRow",
	"PersonRow",
	"MarketingBlockedAddress",
	"MarketingEmailConfirmation",
	"MarketingFlow",
	"MarketingFlowBranch",
	"MarketingFlowContent",
	"MarketingFlowLog",
	"MarketingFlowOutbox",
	"MarketingFlowParticipant",
	"MarketingFlowQuietHours",
	"MarketingFlowSendingLimit",
	"MarketingFlowSettings",
	"MarketingFlowStep",
	"MarketingFlowSuccessCriterion",
	"MarketingFlowSuppression",
	"MarketingFlowUpdate",
	"MarketingSegment",
]
