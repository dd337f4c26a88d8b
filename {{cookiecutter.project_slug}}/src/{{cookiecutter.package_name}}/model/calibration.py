"""Calibration of classifier scores, fitted on the holdout at training time and stored as JSON.

Estimating performance before labels arrive needs scores that are
probabilities: a score of 0.3 must mean "fraud 30% of the time". LightGBM
trained with class weights is not calibrated, so an isotonic (monotone) map
from score to observed fraud rate is fitted on the holdout. The map is stored
as its blocks (score range, rows, positives), which is all that is needed both
to apply it and to say how uncertain it is: each block's rate is redrawn from
its Beta posterior to give plausible alternative maps.

A multiclass model gets one such map per class, one against the rest (the class's
probability against "is it this class"), stored as `{"method": "isotonic_one_vs_rest",
"per_class": [map, ...]}` in the model's class order. Applied together, each class's
probability is mapped, then every row is divided by its sum so that it is a distribution
again (the maps are fitted one at a time, so their rows need not add to 1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


ONE_VS_REST = "isotonic_one_vs_rest"


def fit_class_calibration(probabilities: np.ndarray, labels: np.ndarray, n_classes: int) -> dict[str, Any]:
    """One isotonic map per class from holdout probabilities (rows x classes) and class indexes."""
    matrix = np.asarray(probabilities, dtype=float).reshape(len(labels), n_classes)
    codes = np.asarray(labels, dtype=float)
    known = np.isfinite(codes)
    per_class = [
        fit_calibration(matrix[:, i], np.where(known, (codes == i).astype(float), np.nan)) for i in range(n_classes)
    ]
    return {"method": ONE_VS_REST, "per_class": per_class}


def class_calibration_usable(calibration: Mapping[str, Any] | None, n_classes: int) -> bool:
    """A one-vs-rest calibration with a fitted map for each of the model's classes."""
    per_class = (calibration or {}).get("per_class") or []
    return n_classes > 1 and len(per_class) == n_classes and all(found.get("n") for found in per_class)


def calibrate_classes(
    calibration: Mapping[str, Any], probabilities: np.ndarray, rates: Sequence[np.ndarray] | None = None
) -> np.ndarray:
    """Calibrated class probabilities (rows x classes), each row adding to 1. `rates` replaces
    each class's fitted block rates (for redrawn maps). A row every map sends to 0 keeps the
    model's own probabilities, normalised."""
    matrix = np.asarray(probabilities, dtype=float)
    per_class = calibration["per_class"]
    mapped = np.column_stack(
        [calibrate(found, matrix[:, i], None if rates is None else rates[i]) for i, found in enumerate(per_class)]
    ).reshape(matrix.shape)
    totals = mapped.sum(axis=1, keepdims=True)
    fallback = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), np.finfo(float).tiny)
    calibrated: np.ndarray = np.where(totals > 0, mapped / np.where(totals > 0, totals, 1.0), fallback)
    return calibrated


def draw_class_rates(calibration: Mapping[str, Any], draws: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Per class, `draws` plausible block-rate vectors (`draw_rates` on each class's map)."""
    return [draw_rates(found, draws, rng) for found in calibration["per_class"]]
