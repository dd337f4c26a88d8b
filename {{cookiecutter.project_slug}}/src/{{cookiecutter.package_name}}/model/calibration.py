"""Calibration of classifier scores, fitted on the holdout at training time and stored as JSON.

Estimating performance before labels arrive needs scores that are
probabilities: a score of 0.3 must mean "fraud 30% of the time". LightGBM
trained with class weights is not calibrated, so an isotonic (monotone) map
from score to observed fraud rate is fitted on the holdout. The map is stored
as its blocks (score range, rows, positives), which is all that is needed both
to apply it and to say how uncertain it is: each block's rate is redrawn from
its Beta posterior to give plausible alternative maps.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.optimize import isotonic_regression

JEFFREYS = 0.5  # Beta(k + 1/2, n - k + 1/2): the usual uninformative prior for a rate


def fit_calibration(scores: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Isotonic calibration blocks from holdout scores and 0/1 labels."""
    scores = np.asarray(scores, dtype=float)
    labels = np.asarray(labels, dtype=float)
    keep = np.isfinite(scores) & np.isfinite(labels)
    scores, labels = scores[keep], labels[keep]
    if not len(scores):
        return {"method": "isotonic", "lower": [], "upper": [], "n": [], "positives": []}
    distinct, inverse, size = np.unique(scores, return_inverse=True, return_counts=True)
    positives = np.bincount(inverse, weights=labels, minlength=len(distinct))
    # Pool-adjacent-violators; `blocks` holds where each block starts (adjacent equal rates
    # are one block), then the number of levels.
    bounds = isotonic_regression(positives / size, weights=size.astype(float)).blocks
    starts, ends = bounds[:-1], bounds[1:] - 1
    return {
        "method": "isotonic",
        "lower": distinct[starts].tolist(),
        "upper": distinct[ends].tolist(),
        "n": np.add.reduceat(size, starts).astype(int).tolist(),
        "positives": np.add.reduceat(positives, starts).astype(int).tolist(),
    }


def block_rates(calibration: Mapping[str, Any]) -> np.ndarray:
    n = np.asarray(calibration["n"], dtype=float)
    rates: np.ndarray = np.asarray(calibration["positives"], dtype=float) / np.maximum(n, 1)
    return rates


def calibrate(calibration: Mapping[str, Any], scores: np.ndarray, rates: np.ndarray | None = None) -> np.ndarray:
    """Probabilities for `scores`: the block's rate inside a block, linear between blocks,
    the end rates beyond them. `rates` replaces the fitted block rates (for redrawn maps)."""
    lower = np.asarray(calibration["lower"], dtype=float)
    if not len(lower):
        return np.full(len(scores), np.nan)
    upper = np.asarray(calibration["upper"], dtype=float)
    rates = block_rates(calibration) if rates is None else rates
    xs = np.column_stack((lower, upper)).ravel()
    ys = np.repeat(rates, 2)
    probabilities: np.ndarray = np.interp(np.asarray(scores, dtype=float), xs, ys)
    return probabilities


def draw_rates(calibration: Mapping[str, Any], draws: int, rng: np.random.Generator) -> np.ndarray:
    """`draws` plausible block-rate vectors (one per row): each block's rate from its
    Beta posterior, then made monotone again as the fitted map is."""
    n = np.asarray(calibration["n"], dtype=float)
    k = np.asarray(calibration["positives"], dtype=float)
    if not len(n):
        return np.empty((draws, 0))
    sampled = rng.beta(k + JEFFREYS, n - k + JEFFREYS, size=(draws, len(n)))
    return np.vstack([isotonic_regression(row, weights=n).x for row in sampled])
