"""Weighted metrics for the bootstrap: resampling by Poisson-like counts instead of copying rows.

Shadow evaluation (paired improvements) and monitoring (realized bands) both resample this way.
"""

from __future__ import annotations

import numpy as np

# Resamples x rows held in memory at once; bounds memory to ~100 MB whatever the window size.
BLOCK_CELLS = 4_000_000


def weighted_average_precision(y: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Average precision for each row of `weights` (resamples x rows, integer counts), as
    scikit-learn defines it: the sum over distinct score thresholds, high to low, of the
    recall gained times the precision there. NaN for a resample without positives."""
    order = np.argsort(-scores, kind="mergesort")
    ranked_w = weights[:, order]
    # Tied scores form one threshold: read the running sums at the last row of each tie.
    ranked_scores = scores[order]
    ends = np.r_[np.flatnonzero(np.diff(ranked_scores)), len(ranked_scores) - 1]
    # Integer running sums are exact and about twice as fast as float ones.
    true_pos = np.cumsum(ranked_w * (y[order] > 0.5).astype(ranked_w.dtype), axis=1)[:, ends].astype(float)
    flagged = np.cumsum(ranked_w, axis=1)[:, ends].astype(float)
    positives = true_pos[:, -1:]
    precision = np.divide(true_pos, flagged, out=np.zeros_like(true_pos), where=flagged > 0)
    recall = np.divide(true_pos, positives, out=np.zeros_like(true_pos), where=positives > 0)
    gained = np.diff(recall, axis=1, prepend=0.0)
    result = (gained * precision).sum(axis=1)
    result[positives[:, 0] <= 0] = np.nan
    return result  # type: ignore[no-any-return]


def weighted_rmse(y: np.ndarray, predictions: np.ndarray, weights: np.ndarray) -> np.ndarray:
    squared = (np.asarray(y, dtype=float) - np.asarray(predictions, dtype=float)) ** 2
    totals = weights.sum(axis=1).astype(float)
    return np.sqrt(np.divide(weights @ squared, totals, out=np.full(len(totals), np.nan), where=totals > 0))  # type: ignore[no-any-return]


def weighted_macro_f1(y: np.ndarray, probabilities: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Macro F1 of the most probable class for each row of `weights`, as metrics.py defines
    it: the mean F1 over the classes a resample holds (F1 0 for such a class never answered)."""
    codes = np.asarray(y, dtype=int)
    answered = np.asarray(probabilities).argmax(axis=1)
    classes = range(np.asarray(probabilities).shape[1])
    actual = np.stack([weights @ (codes == c) for c in classes], axis=1).astype(float)
    chosen = np.stack([weights @ (answered == c) for c in classes], axis=1).astype(float)
    hits = np.stack([weights @ ((codes == c) & (answered == c)) for c in classes], axis=1).astype(float)
    f1 = np.divide(2 * hits, actual + chosen, out=np.zeros_like(hits), where=actual + chosen > 0)
    present = actual > 0
    held = present.sum(axis=1)
    return np.divide((f1 * present).sum(axis=1), held, out=np.full(len(held), np.nan), where=held > 0)  # type: ignore[no-any-return]


def weighted_metric(task: str, y: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The task's primary metric (metrics.PRIMARY) for each resample's row counts."""
    if task == "binary_classification":
        return weighted_average_precision(y, scores, weights)
    if task == "multiclass_classification":
        return weighted_macro_f1(y, scores, weights)
    return weighted_rmse(y, scores, weights)


def resample_counts(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """`size` bootstrap resamples of `n` rows, as counts: how often each row was drawn."""
    drawn = rng.integers(0, n, size=(size, n)) + (np.arange(size) * n)[:, None]
    return np.bincount(drawn.ravel(), minlength=size * n).reshape(size, n).astype(np.int32)
