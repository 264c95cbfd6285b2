"""Steps that send people down one of several paths: Split (conditions in order, first match
wins, everyone else to `else_step` or out of the flow) and A/B Test (random but stable shares,
with an optional automatic winner). Their rows live in the flow's `branches` table, by step."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from frappe import _
from frappe.utils import cint, flt

from marketing_flows.engine.measuring import variants
from marketing_flows.engine.steps.base import Outcome, StepContext, StepType
from marketing_flows.engine.steps.condition import condition_holds, condition_problems, describe

if TYPE_CHECKING:
	from marketing_flows.engine.doctypes import MarketingFlow, MarketingFlowBranch, MarketingFlowStep


def branches_of(flow: MarketingFlow, step_id: str) -> list[MarketingFlowBranch]:
	"""The step's branch rows, in table order."""
	return [row for row in flow.get("branches") or [] if row.step_id == step_id]


def _key_problems(rows: list[MarketingFlowBranch], what: str) -> list[str]:
	errors, seen = [], set()
	for row in rows:
		if not row.get("branch_label"):
			errors.append(_("{0}: every branch needs a label (row {1}).").format(what, row.idx))
		if row.get("branch_key") in ("in", "next", "yes", "no", "else"):
			errors.append(_("{0}: '{1}' can't be a branch key.").format(what, row.branch_key))
		if row.get("branch_key") in seen:
			errors.append(_("{0}: the branch key '{1}' is used twice.").format(what, row.branch_key))
		seen.add(row.get("branch_key"))
	return errors


class Split(StepType):
	name = "Split"
	writes = False
	may_change_goals = False

	def validate(self, step: MarketingFlowStep, flow: MarketingFlow) -> list[str]:
		what = _("Split step '{0}'").format(step.step_id)
		rows = branches_of(flow, step.step_id)
		if not rows:
			return [_("{0}: add at least one branch with a condition.").format(what)]
		errors = _key_problems(rows, what)
		for row in rows:
			label = _("{0}, branch '{1}'").format(what, row.get("branch_label") or row.idx)
			errors.extend(condition_problems(row, flow, label))
		return errors

	def execute(self, ctx: StepContext) -> Outcome:
		for row in branches_of(ctx.flow, ctx.step.step_id):
			if condition_holds(ctx, row):
				return Outcome(
					row.next_step or None,
					message=_("branch {0}: {1}").format(row.branch_label, describe(row)),
					branch=row.branch_key,
				)
		if ctx.step.get("else_step"):
			return Outcome(ctx.step.else_step, message=_("everyone else: no branch matched"), branch="else")
		reason = _("No split branch matched")
		return Outcome(None, message=reason, branch="else", exit_reason=reason)


class ABTest(StepType):
	name = "A/B Test"
	writes = True  # deciding the winner writes it on the step
	may_change_goals = False

	def validate(self, step: MarketingFlowStep, flow: MarketingFlow) -> list[str]:
		what = _("A/B Test step '{0}'").format(step.step_id)
		rows = branches_of(flow, step.step_id)
		if len(rows) < 2:
			return [_("{0}: add at least two variants.").format(what)]
		errors = _key_problems(rows, what)
		if any(flt(r.percentage) <= 0 for r in rows):
			errors.append(_("{0}: every variant needs a percentage above 0.").format(what))
		total = sum(flt(r.percentage) for r in rows)
		if abs(total - 100) > 0.01:
			errors.append(_("{0}: the percentages add up to {1}, not 100.").format(what, f"{total:g}"))
		if step.get("ab_auto_winner") and not (step.get("ab_test_days") or step.get("ab_test_size")):
			errors.append(
				_("{0}: to pick a winner, set the test period or the participants per variant.").format(what)
			)
		if (
			step.get("ab_auto_winner")
			and step.get("ab_fallback") == "First Variant"
			and not step.get("ab_test_days")
		):
			errors.append(
				_("{0}: the fallback applies at the end of the test period: set the test period.").format(
					what
				)
			)
		if step.get("ab_auto_winner") and step.get("ab_metric") not in (None, "", *variants.METRICS):
			errors.append(_("{0}: '{1}' is not a way to pick a winner.").format(what, step.ab_metric))
		return errors

	def execute(self, ctx: StepContext) -> Outcome:
		rows = branches_of(ctx.flow, ctx.step.step_id)
		winner = self.winner(ctx, rows)
		if winner is not None:
			return Outcome(
				winner.next_step or None,
				message=_("variant {0} (the winner)").format(winner.branch_label),
				branch=winner.branch_key,
			)
		row = variants.pick(rows, ctx.participant["name"], ctx.step.step_id)
		return Outcome(
			row.next_step or None, message=_("variant {0}").format(row.branch_label), branch=row.branch_key
		)

	def winner(self, ctx: StepContext, rows: list[MarketingFlowBranch]) -> MarketingFlowBranch | None:
		"""The winning row once there is one; asked once per batch and step."""
		if not ctx.step.get("ab_auto_winner") and not ctx.step.get("ab_winner"):
			return None
		cache = ctx.memo.setdefault("ab_winner", {})
		if ctx.step.step_id not in cache:
			if ctx.dry_run:
				key = ctx.step.get("ab_winner")
			else:
				# every branch has its key since the flow was saved (validation.fill_branch_keys)
				keys = cast("list[str]", [r.branch_key for r in rows])
				labels = cast("dict[str, str]", {r.branch_key: r.branch_label for r in rows})
				key = variants.decide(
					ctx.flow, ctx.step, keys, labels, ctx.now, cint(ctx.settings.get("min_group_size"))
				)
			cache[ctx.step.step_id] = key
		key = cache[ctx.step.step_id]
		return next((r for r in rows if r.branch_key == key), None) if key else None


HANDLERS = (Split(), ABTest())
