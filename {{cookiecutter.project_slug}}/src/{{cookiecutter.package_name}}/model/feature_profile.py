"""One feature's part of the reference profile, from a column or from counts added up.

A numeric feature is 50 quantile bins (edges, counts and bin means) with the null rate and
summary statistics; a categorical or boolean one every level's count (up to MAX_LEVELS) with
the null rate. Both are built from counts (`core.histogram`), and counts add: a table counted
in parts (the Dask engine's partitions, `FeatureCounts.add`) gives the same bins and levels
as the whole table counted at once, once the numeric bin edges are fixed beforehand.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..core.contract import Feature
from ..core.histogram import NumericCounts, count_categories, count_numeric, numeric_values

QUANTILE_BINS = 50  # fine bins: KS reads the CDFs at their edges; PSI and JS merge them into deciles
MAX_LEVELS = 5_000  # categoricals keep this many levels' counts; the rarest beyond pool into one count
SUMMARY_QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


def finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _sorted_quantiles(ordered: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """np.quantile's default (linear) quantiles of already sorted values: one sort serves
    all 56 quantiles, where np.quantile would partition the data again for each call."""
    position = levels * (len(ordered) - 1)
    below = np.floor(position).astype(int)
    above = np.minimum(below + 1, len(ordered) - 1)
    weight = position - below
    found: np.ndarray = ordered[below] * (1 - weight) + ordered[above] * weight
    return found


def _finite_sorted(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    return np.sort(values[np.isfinite(values)])


def quantile_edges(values: np.ndarray) -> np.ndarray:
    """The inner edges of QUANTILE_BINS equal-count bins of the finite values (none without any)."""
    finite = _finite_sorted(values)
    if not len(finite):
        return np.empty(0)
    return np.unique(_sorted_quantiles(finite, np.linspace(0, 1, QUANTILE_BINS + 1)[1:-1]))


def summary_quantiles(values: np.ndarray) -> dict[str, float]:
    finite = _finite_sorted(values)
    if not len(finite):
        return {}
    found = _sorted_quantiles(finite, np.array(SUMMARY_QUANTILES)).tolist()
    return dict(zip(map(str, SUMMARY_QUANTILES), found, strict=True))


def numeric_spec(
    counted: NumericCounts, edges: np.ndarray, quantiles: Mapping[str, float], feature_type: str = "numeric"
) -> dict[str, Any]:
    """A numeric feature's profile from its counts into the bins of `edges`."""
    used = counted.counts > 0
    means = np.zeros(len(counted.counts))
    means[used] = counted.sums[used] / counted.counts[used]
    n = counted.n
    return {
        "kind": "numeric",
        "type": feature_type,
        "n": n,
        "missing": counted.missing,
        "null_rate": counted.missing / n if n else 0.0,
        "edges": np.asarray(edges, dtype=np.float64).tolist(),
        "counts": counted.counts.astype(int).tolist(),
        "means": means.tolist(),
        "mean": finite_or_none(counted.mean),
        "std": finite_or_none(counted.std),
        "min": finite_or_none(counted.minimum),
        "max": finite_or_none(counted.maximum),
        "quantiles": dict(quantiles),
    }


def numeric_profile(
    values: np.ndarray, feature_type: str = "numeric", edges: np.ndarray | None = None
) -> dict[str, Any]:
    """Quantile bins of the finite values (or the bins of `edges` when given); NaN,
    infinities and unparseable values count as missing."""
    values = np.asarray(values, dtype=np.float64)
    edges = quantile_edges(values) if edges is None else np.asarray(edges, dtype=np.float64)
    return numeric_spec(count_numeric(values, edges, spread=True), edges, summary_quantiles(values), feature_type)


def categorical_spec(
    counts: Mapping[str, int], missing: int, n: int, boolean: bool = False, normalize: bool = True
) -> dict[str, Any]:
    """A categorical feature's profile from its level counts: most frequent first (ties by
    name, so the profile is deterministic)."""
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    kept = ranked[:MAX_LEVELS]
    return {
        "kind": "categorical",
        "type": "boolean" if boolean else "categorical",
        "normalize": normalize,
        "n": n,
        "missing": missing,
        "null_rate": missing / n if n else 0.0,
        "levels": [level for level, _ in kept],
        "counts": [count for _, count in kept],
        "other_count": sum(count for _, count in ranked[MAX_LEVELS:]),
        "n_levels": len(ranked),
        # Levels seen once: their share estimates how often live data brings a level the
        # reference never saw (Good-Turing), the baseline for the unseen-category check.
        "singletons": sum(1 for _, count in ranked if count == 1),
    }


def categorical_profile(column: pd.Series, boolean: bool = False, normalize: bool = True) -> dict[str, Any]:
    """Every level's count, most frequent first (ties by name)."""
    counts, missing = count_categories(column, boolean=boolean, normalize=normalize)
    return categorical_spec(counts, missing, len(column), boolean, normalize)


def is_categorical(feature: Feature) -> bool:
    return feature.type in ("categorical", "boolean")


def feature_profile(column: pd.Series, feature: Feature, edges: np.ndarray | None = None) -> dict[str, Any]:
    """The feature's profile from its whole column (numeric: binned at `edges` when given)."""
    if is_categorical(feature):
        return categorical_profile(column, boolean=feature.type == "boolean", normalize=feature.normalize)
    return numeric_profile(numeric_values(column)[0], feature.type, edges)


# --- counting in parts ------------------------------------------------------------------------------


def _combined_numeric(a: NumericCounts, b: NumericCounts) -> NumericCounts:
    """Two parts' counts as one: bins and sums add; the standard deviation combines through
    the parts' sums of squared deviations (Chan et al.), never through a sum of squares,
    which loses the digits a large mean leaves to the variance."""
    present = a.present + b.present
    if not a.present or not b.present:
        kept = a if a.present else b
        return NumericCounts(
            n=a.n + b.n,
            missing=a.missing + b.missing,
            counts=a.counts + b.counts,
            sums=a.sums + b.sums,
            mean=kept.mean,
            std=kept.std,
            minimum=kept.minimum,
            maximum=kept.maximum,
        )
    mean = (a.mean * a.present + b.mean * b.present) / present
    squares = a.std**2 * a.present + b.std**2 * b.present + (b.mean - a.mean) ** 2 * a.present * b.present / present
    return NumericCounts(
        n=a.n + b.n,
        missing=a.missing + b.missing,
        counts=a.counts + b.counts,
        sums=a.sums + b.sums,
        mean=mean,
        std=float(np.sqrt(squares / present)),
        minimum=min(a.minimum, b.minimum),
        maximum=max(a.maximum, b.maximum),
    )


@dataclass(frozen=True)
class LevelCounts:
    """A categorical column's counts per level (named as the profile names them)."""

    n: int
    missing: int
    levels: Mapping[str, int]


@dataclass(frozen=True)
class FeatureCounts:
    """Every feature of one part of a table counted: numeric features into fixed bins,
    categorical ones per level. Parts add up (`add`) to the whole table's counts."""

    numeric: Mapping[str, NumericCounts]
    categorical: Mapping[str, LevelCounts]

    @classmethod
    def of(cls, frame: pd.DataFrame, features: tuple[Feature, ...], edges: Mapping[str, np.ndarray]) -> FeatureCounts:
        numeric: dict[str, NumericCounts] = {}
        categorical: dict[str, LevelCounts] = {}
        for feature in features:
            column = frame[feature.name]
            if is_categorical(feature):
                levels, missing = count_categories(
                    column, boolean=feature.type == "boolean", normalize=feature.normalize
                )
                categorical[feature.name] = LevelCounts(n=len(column), missing=missing, levels=levels)
            else:
                values = numeric_values(column)[0]
                numeric[feature.name] = count_numeric(values, edges[feature.name], spread=True)
        return cls(numeric=numeric, categorical=categorical)

    def add(self, other: FeatureCounts) -> FeatureCounts:
        categorical = {}
        for name, mine in self.categorical.items():
            theirs = other.categorical[name]
            levels = Counter(mine.levels)
            levels.update(theirs.levels)
            categorical[name] = LevelCounts(mine.n + theirs.n, mine.missing + theirs.missing, dict(levels))
        numeric = {name: _combined_numeric(mine, other.numeric[name]) for name, mine in self.numeric.items()}
        return FeatureCounts(numeric=numeric, categorical=categorical)

    def profiles(
        self,
        features: tuple[Feature, ...],
        edges: Mapping[str, np.ndarray],
        quantiles: Mapping[str, Mapping[str, float]],
    ) -> dict[str, dict[str, Any]]:
        """Each feature's profile from the counts (numeric: with the summary quantiles given)."""
        found: dict[str, dict[str, Any]] = {}
        for feature in features:
            if is_categorical(feature):
                part = self.categorical[feature.name]
                boolean = feature.type == "boolean"
                found[feature.name] = categorical_spec(part.levels, part.missing, part.n, boolean, feature.normalize)
            else:
                counted = self.numeric[feature.name]
                found[feature.name] = numeric_spec(counted, edges[feature.name], quantiles[feature.name], feature.type)
        return found
