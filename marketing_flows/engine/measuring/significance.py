"""Is one success rate really above another? Two independent proportions compared with
statsmodels, not by hand: the interval of the difference and its p-value.

The interval is Newcombe's hybrid score interval (Newcombe 1998, method 10; statsmodels'
default for a difference): it keeps its coverage with small groups and with 0 % or 100 %
rates, where the Wald interval collapses to a width of zero (0 of 10 against 0 of 10 gives
[0, 0]) or leaves [-100, 100] pp. The p-value is the score test (statsmodels' "score" method:
the pooled two-proportion z-test with Miettinen and Nurminen's n / (n - 1) correction), the
test Newcombe's interval is built from; it too stays defined with a 0 % rate.

A difference is `significant` only when both agree: p below the level and an interval that
leaves out 0 (at the edge the two can differ by a hair; then the answer is the cautious one).

statsmodels (with scipy and pandas) takes most of a second to import: it is imported inside
`compare`, on the first comparison, so that importing the engine stays quick.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Comparison:
	"""Group a against group b. Rates in percent; the difference and its interval in percentage
	points (a - b); `relative` in percent of b's rate (None when b's rate is 0). `low` / `high`
	are None when a group is empty (no interval without people)."""

	rate_a: float
	rate_b: float
	difference: float
	low: float | None
	high: float | None
	relative: float | None
	p_value: float
	significant: bool
	confidence: float

	def as_dict(self) -> dict:
		return asdict(self)


def compare(success_a: int, n_a: int, success_b: int, n_b: int, confidence: float = 95) -> Comparison:
	"""Success rate of a (success_a of n_a) against b's, at `confidence` percent (e.g. 95, or
	97.5 for a Bonferroni-corrected comparison)."""
	success_a, n_a, success_b, n_b = int(success_a), int(n_a), int(success_b), int(n_b)
	if min(n_a, n_b) < 0 or not (0 <= success_a <= n_a) or not (0 <= success_b <= n_b):
		raise ValueError(f"not counts of successes among people: {success_a}/{n_a}, {success_b}/{n_b}")
	if not 0 < confidence < 100:
		raise ValueError(f"confidence {confidence} is not a percentage between 0 and 100")
	rate_a = 100.0 * success_a / n_a if n_a else 0.0
	rate_b = 100.0 * success_b / n_b if n_b else 0.0
	difference = rate_a - rate_b
	relative = 100.0 * difference / rate_b if rate_b else None
	if not n_a or not n_b:
		return Comparison(rate_a, rate_b, difference, None, None, relative, 1.0, False, confidence)

	from statsmodels.stats.proportion import confint_proportions_2indep, test_proportions_2indep

	alpha = 1 - confidence / 100.0
	with warnings.catch_warnings():  # a 0 % rate: numpy warns about the ratios it computes beside
		warnings.simplefilter("ignore", RuntimeWarning)
		low, high = confint_proportions_2indep(
			success_a, n_a, success_b, n_b, method="newcomb", compare="diff", alpha=alpha
		)
		test = test_proportions_2indep(
			success_a, n_a, success_b, n_b, method="score", compare="diff", alternative="two-sided"
		)
	p_value = float(test.pvalue)
	if math.isnan(p_value):  # both rates 0 % or both 100 %: nothing tells the groups apart
		p_value = 1.0
	low, high = 100.0 * float(low), 100.0 * float(high)
	significant = p_value < alpha and (low > 0 or high < 0)
	return Comparison(rate_a, rate_b, difference, low, high, relative, p_value, significant, confidence)


def corrected_confidence(confidence: float, comparisons: int) -> float:
	"""Bonferroni: the level of each of `comparisons` tests so that all of them together keep
	`confidence` (95 % over two comparisons: 97.5 % each)."""
	return 100.0 - (100.0 - float(confidence)) / max(1, comparisons)
