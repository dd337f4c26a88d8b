"""Two-sample tests and effect sizes computed from counts, never from raw rows.

The reference exists only as its profile (bins and level counts), so every
statistic here compares two histograms on the same bins. The tests are
two-sample tests: the reference is a sample too, and treating its shares as
the truth (a goodness-of-fit test) alarms on undrifted data.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from scipy import special, stats
from scipy.spatial import distance

Correction = Literal["bh", "holm", "none"]
PSI_SMOOTHING = 0.5  # added to every count so that an empty bin gives a finite PSI


def _shares(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total else np.zeros(len(counts))


def ks_from_counts(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """The Kolmogorov-Smirnov statistic on the bin edges, and its p-value.

    Evaluating the two CDFs only at the reference's quantile edges can miss the
    largest gap inside a bin, so the statistic is a lower bound of the exact
    one and the test errs on the side of fewer alarms. The p-value uses the
    effective sample size n*m/(n+m) with Stephens' small-sample correction.
    """
    m, n = int(reference.sum()), int(current.sum())
    if m == 0 or n == 0:
        return float("nan"), float("nan")
    gap = np.abs(np.cumsum(reference)[:-1] / m - np.cumsum(current)[:-1] / n)
    statistic = float(gap.max()) if len(gap) else 0.0
    root = np.sqrt(m * n / (m + n))
    return statistic, float(special.kolmogorov((root + 0.12 + 0.11 / root) * statistic))


def pool_levels(
    reference: np.ndarray, current: np.ndarray, min_expected: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge the levels whose expected count in either sample is below `min_expected`
    into one pooled level (the last), and return which input levels were kept.

    The rule looks at both samples together (level totals), so it treats the
    reference and the window alike: pooling by the reference's counts alone
    would favour levels that happened to be frequent in the reference sample.
    """
    m, n = reference.sum(), current.sum()
    if m == 0 or n == 0:
        return reference, current, np.zeros(len(reference), dtype=bool)
    expected = (reference + current) * min(m, n) / (m + n)
    kept = expected >= min_expected
    pooled_ref = np.append(reference[kept], reference[~kept].sum())
    pooled_cur = np.append(current[kept], current[~kept].sum())
    nonempty = (pooled_ref + pooled_cur) > 0
    return pooled_ref[nonempty], pooled_cur[nonempty], kept


def chi2_two_sample(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """Pearson's chi-square on the 2 x k table of (already pooled) level counts.

    A level empty in both samples says nothing and is left out (it has no expected
    count); with an empty sample or fewer than two levels left there is nothing to test.
    """
    if not reference.sum() or not current.sum():
        return 0.0, 1.0
    table = np.vstack((reference, current))
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 0.0, 1.0
    result = stats.chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue)


def js_distance(reference: np.ndarray, current: np.ndarray) -> float:
    """Jensen-Shannon distance (natural log, as scipy computes it: 0 to sqrt(ln 2) ~ 0.83)."""
    if not reference.any() or not current.any():
        return float("nan")
    # On nearly equal shares the divergence can round to -1e-17, whose root scipy gives as NaN.
    with np.errstate(invalid="ignore"):
        value = float(distance.jensenshannon(reference, current))
    return 0.0 if math.isnan(value) else value


def psi(reference: np.ndarray, current: np.ndarray) -> float:
    """Population stability index, sum of (q - p) ln(q / p), with half a count added to every bin."""
    if not reference.any() or not current.any():
        return float("nan")
    p = _shares(reference + PSI_SMOOTHING)
    q = _shares(current + PSI_SMOOTHING)
    return float(np.sum((q - p) * np.log(q / p)))


def max_share_change(reference: np.ndarray, current: np.ndarray) -> float:
    """The largest change, in share of rows, of any one level."""
    if not reference.any() or not current.any():
        return float("nan")
    return float(np.max(np.abs(_shares(reference) - _shares(current))))


def total_variation(reference: np.ndarray, current: np.ndarray) -> float:
    """Half the L1 distance between the shares: the share of rows that would have to move."""
    if not reference.any() or not current.any():
        return float("nan")
    return float(0.5 * np.abs(_shares(reference) - _shares(current)).sum())


def wasserstein_from_bins(
    reference_counts: np.ndarray, reference_sums: np.ndarray, current_counts: np.ndarray, current_sums: np.ndarray
) -> float:
    """Earth mover's distance between the two histograms, each bin's mass placed at its mean.

    Bin means rather than bin ranges: the open end bins have no width (a heavy
    tail would otherwise spread their mass out to a single extreme value), and
    their means move only as far as the data does.
    """
    ref_used, cur_used = reference_counts > 0, current_counts > 0
    if not ref_used.any() or not cur_used.any():
        return float("nan")
    return float(
        stats.wasserstein_distance(
            reference_sums[ref_used] / reference_counts[ref_used],
            current_sums[cur_used] / current_counts[cur_used],
            reference_counts[ref_used],
            current_counts[cur_used],
        )
    )


def quantile_groups(counts: np.ndarray, groups: int = 10) -> np.ndarray:
    """Group label per fine bin such that the groups hold ~1/`groups` of the reference each.

    PSI and JS distance on deciles rather than on the 50 fine bins: their noise
    floor grows with the number of bins (~(k-1)/n), and on 50 bins an undrifted
    1,000-row window would already score JS ~0.08.
    """
    total = counts.sum()
    if total == 0:
        return np.zeros(len(counts), dtype=int)
    before = (np.cumsum(counts) - counts) / total
    labels = np.minimum((before * groups + 1e-9).astype(int), groups - 1)
    return np.unique(labels, return_inverse=True)[1]


def regroup(counts: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return np.bincount(labels, weights=counts, minlength=int(labels.max()) + 1 if len(labels) else 0)


def proportion_test(hits_a: int, n_a: int, hits_b: int, n_b: int) -> float:
    """Two-sided two-proportion z-test (pooled); NaN when it cannot be computed."""
    if n_a == 0 or n_b == 0:
        return float("nan")
    pooled = (hits_a + hits_b) / (n_a + n_b)
    if pooled in (0.0, 1.0):
        return float("nan")
    z = (hits_a / n_a - hits_b / n_b) / np.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    return float(special.erfc(abs(z) / np.sqrt(2)))


def adjust_p_values(p_values: np.ndarray, method: Correction) -> np.ndarray:
    """Benjamini-Hochberg or Holm adjusted p-values (NaN entries stay NaN and do not count)."""
    adjusted = np.full(len(p_values), np.nan)
    tested = ~np.isnan(p_values)
    if not tested.any():
        return adjusted
    p = p_values[tested]
    if method == "bh":
        adjusted[tested] = stats.false_discovery_control(p, method="bh")
    elif method == "holm":
        adjusted[tested] = _holm(p)
    else:
        adjusted[tested] = np.minimum(p, 1.0)
    return adjusted


def _holm(p: np.ndarray) -> np.ndarray:
    """Step-down: each p times the number of hypotheses still standing, running maximum."""
    order = np.argsort(p, kind="stable")
    scaled = np.maximum.accumulate(p[order] * (len(p) - np.arange(len(p))))
    result = np.empty(len(p))
    result[order] = np.minimum(scaled, 1.0)
    return result
