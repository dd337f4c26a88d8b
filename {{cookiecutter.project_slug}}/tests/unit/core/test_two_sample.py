"""Two-sample statistics from counts at their edges: empty samples and levels, nearly equal
shares, untestable p-values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from {{ cookiecutter.package_name }}.core.two_sample import Correction, adjust_p_values, chi2_two_sample, js_distance


@pytest.mark.parametrize(
    ("reference", "current"),
    [
        ([0.0, 0.0, 0.0], [5.0, 3.0, 2.0]),
        ([5.0, 3.0, 2.0], [0.0, 0.0, 0.0]),
        ([7.0], [9.0]),
        ([7.0, 0.0], [9.0, 0.0]),
    ],
    ids=["empty reference", "empty window", "one level", "one level left"],
)
def test_chi_square_with_nothing_to_compare_finds_no_difference(reference: list[float], current: list[float]) -> None:
    """A sample without rows, or fewer than two levels holding rows, gives no evidence:
    statistic 0 and p-value 1, not an error or NaN."""
    # Given counts with an empty sample or a single used level
    # When the two-sample chi-square is computed
    statistic, p_value = chi2_two_sample(np.array(reference), np.array(current))

    # Then it finds nothing
    assert (statistic, p_value) == (0.0, 1.0)


def test_chi_square_leaves_out_a_level_empty_in_both_samples() -> None:
    """A level no row of either sample has changes nothing: the test is the one on the other levels."""
    # Given three levels, the middle one empty in both samples
    reference, current = np.array([40.0, 0.0, 60.0]), np.array([55.0, 0.0, 45.0])

    # When the chi-square is computed with and without the empty level
    with_empty = chi2_two_sample(reference, current)
    without = stats.chi2_contingency(np.array([[40.0, 60.0], [55.0, 45.0]]), correction=False)

    # Then it is the test on the two used levels (one degree of freedom), finite
    assert with_empty == pytest.approx((without.statistic, without.pvalue))
    assert math.isfinite(with_empty[1])


def test_js_distance_is_the_natural_log_distance_and_nan_without_rows() -> None:
    """The JS distance (not divergence) in nats: disjoint samples are sqrt(ln 2) apart, equal
    shares 0, and an empty histogram has no distance."""
    # Given disjoint, proportional and empty histograms
    # When their distances are computed / Then they are the natural-log distance
    assert js_distance(np.array([10.0, 0.0]), np.array([0.0, 4.0])) == pytest.approx(math.sqrt(math.log(2)))
    assert js_distance(np.array([1.0, 3.0]), np.array([2.0, 6.0])) == 0.0
    assert math.isnan(js_distance(np.array([0.0, 0.0]), np.array([1.0, 2.0])))
    assert math.isnan(js_distance(np.array([1.0, 2.0]), np.array([0.0, 0.0])))


def test_js_distance_of_nearly_equal_shares_is_zero_not_nan() -> None:
    """When the divergence of two nearly equal histograms rounds below zero, the distance is 0."""
    # Given large counts in almost the same proportions (their divergence rounds to about -1e-17)
    reference, current = np.array([550_296.0, 519_609.0]), np.array([1_650_889.0, 1_558_828.0])

    # When the distance is computed
    found = js_distance(reference, current)

    # Then it is zero rather than NaN
    assert found == 0.0


@pytest.mark.parametrize("method", ["bh", "holm", "none"])
def test_adjusting_no_testable_p_value_gives_nan_or_nothing(method: Correction) -> None:
    """Only NaN p-values (nothing could be tested) stay NaN; no p-values give none."""
    # Given p-values of which none could be computed, and an empty set
    # When adjusted
    untested = adjust_p_values(np.array([np.nan, np.nan]), method)
    empty = adjust_p_values(np.array([]), method)

    # Then nothing is invented
    assert np.isnan(untested).all()
    assert len(untested) == 2
    assert len(empty) == 0


def test_benjamini_hochberg_keeps_ties_and_counts_only_tested_values() -> None:
    """Tied p-values get the same adjusted value; k is the number of p-values tested."""
    # Given tied and large p-values around an untestable one
    p = np.array([0.9, 0.02, np.nan, 0.02, 0.95])

    # When adjusted with Benjamini-Hochberg
    adjusted = adjust_p_values(p, "bh")

    # Then ties stay tied, and k/rank is applied over the four tested values with the running minimum
    assert adjusted == pytest.approx([0.95, 0.04, np.nan, 0.04, 0.95], nan_ok=True)
