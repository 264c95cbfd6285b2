"""Two success rates compared (engine/measuring/significance.py): Newcombe's interval of the
difference and the score test's p-value, from statsmodels. Pure logic, no site data."""

from __future__ import annotations

import pytest

from marketing_flows.engine.measuring import significance
from marketing_flows.engine.measuring.significance import compare


def test_five_of_ten_against_four_of_ten_is_noise():
	c = compare(5, 10, 4, 10)
	assert (c.rate_a, c.rate_b, c.difference, c.relative) == (50.0, 40.0, 10.0, 25.0)
	assert not c.significant
	assert c.p_value > 0.5
	assert c.low < 0 < c.high  # the interval holds "no difference"


def test_three_hundred_of_a_thousand_against_two_hundred_is_real():
	c = compare(300, 1000, 200, 1000)
	assert c.significant
	assert c.p_value < 1e-6
	# Newcombe's hybrid score interval (statsmodels' "newcomb"), in percentage points
	assert c.low == pytest.approx(6.214, abs=0.01) and c.high == pytest.approx(13.750, abs=0.01)
	assert c.relative == pytest.approx(50.0)


def test_the_level_decides():
	"""About p = 0.06: significant at 90 %, not at 95 % or 99 %; the interval widens with the level."""
	at = {level: compare(110, 1000, 85, 1000, confidence=level) for level in (90, 95, 99)}
	assert [at[level].significant for level in (90, 95, 99)] == [True, False, False]
	assert at[90].high - at[90].low < at[95].high - at[95].low < at[99].high - at[99].low
	assert len({round(c.p_value, 12) for c in at.values()}) == 1  # the p-value is the same


def test_the_difference_goes_both_ways():
	up, down = compare(300, 1000, 200, 1000), compare(200, 1000, 300, 1000)
	assert down.difference == -up.difference and down.significant
	assert down.low == pytest.approx(-up.high) and down.high == pytest.approx(-up.low)


@pytest.mark.parametrize(
	"counts, significant",
	[
		((0, 10, 0, 10), False),  # both 0 %: nothing tells them apart (Wald would say [0, 0])
		((10, 10, 10, 10), False),  # both 100 %
		((10, 10, 0, 10), True),  # all against none, 10 each
		((1, 1, 0, 1), False),  # one person each
	],
)
def test_rates_at_the_edges_keep_an_interval(counts, significant):
	c = compare(*counts)
	assert c.significant is significant
	assert c.low is not None and c.high is not None and c.low < c.high
	assert -100 <= c.low and c.high <= 100
	assert 0 <= c.p_value <= 1


def test_an_empty_group_has_no_interval():
	c = compare(0, 0, 3, 10)
	assert (c.low, c.high, c.p_value, c.significant) == (None, None, 1.0, False)
	assert c.relative == -100.0
	assert compare(3, 10, 0, 0).relative is None  # no rate to be relative to


@pytest.mark.parametrize("counts", [(11, 10, 0, 10), (-1, 10, 0, 10), (1, 10, 0, -1)])
def test_what_is_not_a_count_is_refused(counts):
	with pytest.raises(ValueError):
		compare(*counts)


def test_bonferroni_level():
	assert significance.corrected_confidence(95, 1) == 95
	assert significance.corrected_confidence(95, 2) == pytest.approx(97.5)
	assert significance.corrected_confidence(90, 3) == pytest.approx(100 - 10 / 3)


def test_statsmodels_is_imported_only_when_asked():
	"""Importing the engine's measuring modules does not import statsmodels (most of a second)."""
	import subprocess
	import sys

	code = (
		"import sys; import marketing_flows.engine.measuring.significance, marketing_flows.engine.measuring.variants, marketing_flows.engine.measuring.earnings; "
		"print('statsmodels' in sys.modules)"
	)
	out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
	assert out.stdout.strip() == "False"
