"""Dry run: the path each chosen person would take through a flow now, with no side effect.

The runner's own code runs (the same steps, conditions, re-checks and goals), inside a
savepoint that is rolled back at the end, with the batch in dry-run mode: outside calls are
recorded instead of made, no sending counter moves, nothing is written by the batch, and the
emails are rendered but not queued. Waits are passed by moving the simulated clock to their
end, so the whole path shows, with the moment each wait would end. What document hooks meant
to do after the commit (jobs to enqueue) is forgotten with the savepoint.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import frappe
from frappe import _
from frappe.utils import get_datetime, now_datetime

from marketing_flows.engine.entering import eligibility, enrolment, holdout, watch
from marketing_flows.engine.hosts import person_records
from marketing_flows.engine.permissions import readable, require_flow_operator, require_read
from marketing_flows.engine.queries import criteria, segments
from marketing_flows.engine.running import graph, job_slots, validation
from marketing_flows.engine.running.batch import Batch

if TYPE_CHECKING:
	from marketing_flows.engine.doctypes import MarketingFlow, MarketingFlowSettings

MAX_GOES = 20  # waits passed per person
MAX_PEOPLE = 50  # people per dry run


def test_flow(
	flow: MarketingFlow, contacts: list[str] | str | None = None, segment: str | None = None
) -> list[dict]:
	"""Whitelisted entry ("Test flow"): chosen contacts, or the first of a segment, that the user
	may read (others are "no such contact", as at enrolment). The path shows what the flow's
	conditions find in the data it names: only a flow operator who may read all of it asks."""
	require_flow_operator(flow)
	require_read(validation.named_doctypes(flow))
	people = enrolment._as_list(contacts or [])
	if segment:
		frappe.has_permission("Marketing Segment", "read", segment, throw=True)
		people += segments.contacts(frappe.get_doc("Marketing Segment", segment), limit=MAX_PEOPLE)
	people = list(dict.fromkeys(people))[:MAX_PEOPLE]
	if not people:
		frappe.throw(_("Choose contacts or a segment to test the flow with."))
	person_doctype = flow.person_doctype
	visible = readable(person_doctype, people)
	results = simulate(flow, [p for p in people if p in visible])
	hidden = [
		{"person": p, "enrolled": False, "reason": enrolment.no_such_person(person_doctype)}
		for p in people
		if p not in visible
	]
	return hidden + results


def simulate(flow: MarketingFlow, people: list[str]) -> list[dict]:
	"""For each person: the enrolment decision with its reason (one a control group would hold
	out is not enrolled, `held_out` says so, and has no path), then every event of the path
	(step, event, message, when), what would be sent (subject and body of emails, SMS texts,
	webhook bodies) and where they end."""
	results: list[dict] = []
	with _nothing_kept():
		person_doctype = flow.person_doctype
		rows = {
			r.name: r
			for r in frappe.get_all(
				person_doctype,
				filters={"name": ("in", people)},
				fields=eligibility.person_columns(person_doctype),
			)
		}
		present = [p for p in people if p in rows]
		rejected = enrolment.rejections(flow, present, rows) if present and flow.steps else {}
		settings = frappe.get_cached_doc("Marketing Flow Settings")
		control = holdout.Holdout.of(flow)  # the committed settings, as enrolment reads them
		for name in people:
			if name not in rows:
				results.append(
					{"person": name, "enrolled": False, "reason": enrolment.no_such_person(person_doctype)}
				)
			elif not flow.steps:
				results.append({"person": name, "enrolled": False, "reason": _("the flow has no steps")})
			elif name in rejected:
				results.append({"person": name, "enrolled": False, "reason": rejected[name]})
			elif reason := control.reason(person_doctype, name):
				results.append(
					{
						"person": name,
						"enrolled": False,
						"held_out": True,
						"reason": _(
							"would be held out: {0}. Nothing would be sent; the goal would be measured."
						).format(control.describe(reason)),
					}
				)
			else:
				results.append(_walk(flow, settings, name))
	return results


CALLBACKS = ("before_commit", "after_commit", "before_rollback", "after_rollback")


# what hooks and the runner collect in frappe.local until the commit (kept aside meanwhile)
DEFERRED = (watch.proposals, watch.changed_refs, job_slots.deferred_slots)


@contextmanager
def _nothing_kept() -> Iterator[None]:
	"""Roll back to a savepoint afterwards, and forget what hooks registered meanwhile to run at
	the commit (jobs to enqueue for the simulated saves)."""
	callbacks = {name: deque(getattr(frappe.db, name)._functions) for name in CALLBACKS}
	state = {kind.attr: getattr(frappe.local, kind.attr, None) for kind in DEFERRED}
	search = frappe.local.conf.get("disable_global_search")
	frappe.local.conf["disable_global_search"] = True  # Frappe queues search text in Redis at once
	frappe.db.savepoint("mf_dry_run")
	try:
		yield
	finally:
		frappe.db.rollback(save_point="mf_dry_run")
		frappe.local.conf["disable_global_search"] = search
		for name, functions in callbacks.items():
			getattr(frappe.db, name)._functions = functions
		for attr, value in state.items():
			setattr(frappe.local, attr, value)


def _walk(flow: MarketingFlow, settings: MarketingFlowSettings, person: str) -> dict:
	now = now_datetime()
	person_doctype = flow.person_doctype
	start = graph.start_step(flow.steps)
	assert start is not None  # simulate() walks flows that have steps
	contacts = (
		{person: person}
		if person_doctype == "Contact"
		else person_records.converted_contacts(person_doctype, [person])
	)
	p = frappe._dict(
		name=f"dry-run-{frappe.generate_hash(length=8)}",
		flow=flow.name,
		contact=contacts.get(person),
		person=person,
		person_doctype=person_doctype,
		status="Active",
		current_step=start.step_id,
		enrolled_on=now,
		next_run_at=now,
		step_seq=0,
		attempts=0,
		succeeded=0,
	)
	person_row = person_records.person_rows(person_doctype, [person])[person]
	p.update(
		{
			"email": person_row.get("email_id"),
			"mobile_no": person_row.get("mobile_no"),
			"full_name": person_row.get("full_name"),
		}
	)
	met = criteria.newly_successful(flow, [p])
	timeline: list[dict] = []
	goal = met.get(p.name)
	batch = Batch(flow, settings, now, dry_run=True)
	batch.find_zones({person: person_row})  # the path's times on the person's clock
	if goal:
		timeline.append({"when": now, "step_id": None, "event": "Goal Met", "message": goal})
	for _go in range(MAX_GOES):
		if goal and (flow.on_success or "Stop") == "Stop":
			p.status, p.exit_reason = "Exited", _("Goal met")
			break
		batch.now = p.next_run_at or batch.now
		logged = len(batch.logs)
		batch.advance(p, person_row)
		for entry in batch.logs[logged:]:
			timeline.append(
				{
					"when": batch.now,
					"step_id": entry[3],
					"event": entry[4],
					"message": entry[5],
					"branch": entry[9],
				}
			)
		p.update(batch.pending.pop(p.name, {}))
		if p.status != "Waiting":
			break
		timeline.append(
			{
				"when": batch.now,
				"step_id": p.current_step,
				"event": "Waits",
				"message": _("until {0}").format(f"{get_datetime(p.next_run_at):%Y-%m-%d %H:%M}"),
			}
		)
	return {
		"person": person,
		"enrolled": True,
		"reason": _("would be enrolled"),
		"goal_met_now": bool(goal),
		"timeline": timeline,
		"emails": [{k: v for k, v in e.items() if k != "participant"} for e in batch.mailer.rendered],
		"outside_calls": [{k: v for k, v in c.items() if k != "participant"} for c in batch.outside_calls],
		"ends": {
			"status": p.status,
			"step_id": p.current_step,
			"exit_reason": p.get("exit_reason"),
			"error": p.get("last_error"),
		},
	}
