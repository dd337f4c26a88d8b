"""How sure a realized metric is: a bootstrap band around it.

A week of labelled answers holds a few hundred frauds, a segment far fewer, and
average precision on a few dozen positives moves by a tenth from sample to
sample. A floor judged on the point value alone would false-alarm on small
segments, so the rules and alerts judge the band instead: a realized metric is
below its floor only when its whole band is, just as for the estimate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..core.bootstrap import BLOCK_CELLS, resample_counts, weighted_metric
from ..core.histogram import category_labels

RESAMPLES = 200  # enough for the 5% and 95% quantiles to settle to about a hundredth
# A classifier's band needs this many positives: with fewer, every resample holds the same
# handful of frauds (or none), and the band is as narrow as it is wrong.
MIN_POSITIVES = 10
OVERALL = ""  # the band of the whole period; segments are keyed "segment=level"


def bootstrap_band(
    task: str, labels: np.ndarray, scores: np.ndarray, coverage: float, seed: int = 0, resamples: int = RESAMPLES
) -> tuple[float, float]:
    """The central `coverage` interval of the primary metric over bootstrap resamples (NaN,
    so never judged, for a classifier's rows with fewer than MIN_POSITIVES positives)."""
    n = len(labels)
    if n == 0 or (task == "binary_classification" and int((labels > 0.5).sum()) < MIN_POSITIVES):
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    block = max(1, min(resamples, BLOCK_CELLS // n))
    values = np.concatenate(
        [
            weighted_metric(task, labels, scores, resample_counts(rng, n, min(block, resamples - start)))
            for start in range(0, resamples, block)
        ]
    )
    values = values[np.isfinite(values)]
    if not len(values):
        return float("nan"), float("nan")
    tail = (1 - coverage) / 2
    low, high = np.quantile(values, [tail, 1 - tail])
    return float(low), float(high)


def realized_bands(
    profile: Mapping[str, Any],
    labels: np.ndarray,
    scores: np.ndarray,
    frame: pd.DataFrame,
    coverage: float,
    min_rows: int,
    seed: int = 0,
) -> dict[str, tuple[float, float]]:
    """Bands for the whole period and for each segment level with at least `min_rows`
    labelled rows (the ones realized performance calls reliable)."""
    task = str(profile["task"])
    finite = np.isfinite(scores)
    keep = np.isfinite(labels) & (finite.all(axis=1) if finite.ndim == 2 else finite)
    bands = {OVERALL: bootstrap_band(task, labels[keep], scores[keep], coverage, seed)}
    for segment in profile.get("segments", []):
        if segment not in frame.columns:
            continue
        spec = profile["features"][segment]
        names = category_labels(frame[segment], boolean=spec["type"] == "boolean", normalize=spec["normalize"])
        for level in sorted({str(v) for v in names[keep] if v is not None}):
            rows = keep & (names == level)
            if rows.sum() >= min_rows:
                bands[f"{segment}={level}"] = bootstrap_band(task, labels[rows], scores[rows], coverage, seed)
    return bands
