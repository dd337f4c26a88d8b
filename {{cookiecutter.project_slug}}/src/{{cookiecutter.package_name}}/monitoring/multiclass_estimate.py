"""Estimated performance of a multiclass model before labels arrive: CBPE over several classes.

Each answer kept every class's probability. The one-vs-rest isotonic maps fitted on the
holdout (`model/calibration.py`) turn them into calibrated probabilities, each row
renormalised to add to 1: p_ic, the chance that answer i's true class is c. Answer i named
its most probable class a_i, so the confusion matrix (answered a, true c) is expected to hold
the sum of p_ic over the answers naming a; each class's precision (its diagonal over its
row), recall (over its column) and F1, their macro F1 (primary), balanced accuracy, accuracy
and the log loss of the model's own probabilities follow from it.

They are taken over many plausible label sets: per set, each class's map is redrawn from its
Beta posterior and every answer's true class drawn from the redrawn probabilities. The point
is their mean (what the realized metric averages to; a ratio of expected counts is not where
a class has few rows, and a class no row belongs to has no say, as in metrics.py), the band
their quantiles, so that it carries the calibration's uncertainty and the labels' chance.
Like binary CBPE it assumes P(class | probabilities) is unchanged since training: it sees
covariate shift (a new mix of rows), not concept drift. One-vs-rest maps read each class's
probability alone, so they are only approximately P(class | every probability); tested on
shifted windows, the 90% band held the realized macro F1 in about nine windows of ten.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..core.metrics import PROBABILITY_FLOOR, class_metric_name, primary_metric
from ..model.calibration import calibrate_classes, class_calibration_usable, draw_class_rates
from ..settings import DriftSettings
from .performance import EstimatedMetric, PerformanceEstimate

MULTICLASS = "multiclass_classification"
ESTIMATED = ("macro_f1", "balanced_accuracy", "accuracy", "log_loss")
PER_CLASS = ("precision", "recall")
MULTICLASS_NOTE = (
    "Estimated from every class's probability with the per-class calibration maps fitted at training "
    "(CBPE over several classes); valid while P(class | probabilities) is unchanged: it sees covariate "
    "shift, not concept drift. Compare with realized performance once labels arrive."
)


def probability_matrix(served: pd.DataFrame, n_classes: int) -> np.ndarray:
    """The answers' every-class probabilities (rows x classes), from the prediction log's
    `probabilities` column; rows without them, of another length or not finite are left out."""
    found = served.get("probabilities", pd.Series(dtype=object))
    rows = [row for row in found if isinstance(row, list | tuple | np.ndarray) and len(row) == n_classes]
    matrix = np.asarray(rows, dtype=float).reshape(len(rows), n_classes)
    kept: np.ndarray = matrix[np.isfinite(matrix).all(axis=1)]
    return kept


def confusion_metrics(confusion: np.ndarray) -> dict[str, np.ndarray]:
    """The metrics of confusion matrices (draws x answered x true, counts or expected counts),
    one value per draw, as metrics.py defines them: a class no row truly belongs to has no
    recall or F1, and no say in the macro averages."""
    counts = np.asarray(confusion, dtype=float)
    hits = np.diagonal(counts, axis1=1, axis2=2)
    answered, truth = counts.sum(axis=2), counts.sum(axis=1)
    seen = truth > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(answered > 0, hits / answered, np.nan)
        recall = np.where(seen, hits / truth, np.nan)
        f1 = np.where(seen, 2 * hits / (answered + truth), np.nan)
        found = {
            "macro_f1": np.nanmean(f1, axis=1),
            "balanced_accuracy": np.nanmean(recall, axis=1),
            "accuracy": hits.sum(axis=1) / counts.sum(axis=(1, 2)),
        }
    found.update({f"precision.{i}": precision[:, i] for i in range(counts.shape[1])})
    found.update({f"recall.{i}": recall[:, i] for i in range(counts.shape[1])})
    return found


def _draw_classes(calibrated: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One true class per row, drawn from its calibrated probabilities."""
    below = np.cumsum(calibrated, axis=1)
    drawn: np.ndarray = np.minimum((rng.random((len(calibrated), 1)) > below).sum(axis=1), calibrated.shape[1] - 1)
    return drawn


def simulate(
    calibration: Mapping[str, Any], probabilities: np.ndarray, draws: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """The metrics of `draws` plausible label sets: per draw, every class's map redrawn from
    its posterior, then each row's true class from the probabilities it gives."""
    k = probabilities.shape[1]
    answered = probabilities.argmax(axis=1)
    log_model = np.log(np.clip(probabilities, PROBABILITY_FLOOR, 1.0))
    rates = draw_class_rates(calibration, draws, rng)
    confusions = np.zeros((draws, k, k))
    losses = np.full(draws, np.nan)
    rows = np.arange(len(probabilities))
    for d in range(draws):
        calibrated = calibrate_classes(calibration, probabilities, [found[d] for found in rates])
        truth = _draw_classes(calibrated, rng)
        confusions[d] = np.bincount(answered * k + truth, minlength=k * k).reshape(k, k)
        losses[d] = -log_model[rows, truth].mean() if len(rows) else np.nan
    return {**confusion_metrics(confusions), "log_loss": losses}


def _metric_names(labels: Sequence[Any]) -> list[tuple[str, str]]:
    """(name in the estimate, key in the simulated metrics): the overall metrics, then each
    class's precision and recall under its name as metrics.py writes it."""
    per_class = [(class_metric_name(m, label), f"{m}.{i}") for i, label in enumerate(labels) for m in PER_CLASS]
    return [(name, name) for name in ESTIMATED] + per_class


def _mean(draws: np.ndarray) -> float:
    finite = draws[np.isfinite(draws)]
    return float(finite.mean()) if len(finite) else float("nan")


def _band(draws: np.ndarray, tail: float) -> tuple[float, float]:
    finite = draws[np.isfinite(draws)]
    if not len(finite):
        return float("nan"), float("nan")
    return float(np.quantile(finite, tail)), float(np.quantile(finite, 1 - tail))


def estimate_classes(
    profile: Mapping[str, Any],
    probabilities: np.ndarray,
    settings: DriftSettings | None = None,
    seed: int = 0,
) -> PerformanceEstimate | None:
    """CBPE for a multiclass model's window (`probabilities`: rows x classes, as answered);
    None for other tasks, a profile without per-class calibration, or an empty window.
    Seeded, so a window always gets the same answer."""
    settings = settings or DriftSettings()
    labels = tuple((profile.get("classes") or {}).get("labels") or ())
    calibration = profile.get("calibration")
    matrix = np.asarray(probabilities, dtype=float)
    if profile.get("task") != MULTICLASS or not calibration or not class_calibration_usable(calibration, len(labels)):
        return None
    matrix = matrix.reshape(-1, len(labels))
    matrix = matrix[np.isfinite(matrix).all(axis=1)]
    if not len(matrix):
        return None
    rng = np.random.default_rng(seed)
    sample = (
        matrix
        if len(matrix) <= settings.estimate_max_rows
        else matrix[rng.choice(len(matrix), settings.estimate_max_rows, replace=False)]
    )
    # Every class's map redrawn from its posterior, then the labels from it: the point is the
    # mean over those label sets, the band their quantiles, so that both carry the calibration's
    # own uncertainty as well as the labels' chance. (A map's block of no members of a class
    # would, as fitted, make that class impossible; redrawn, it stays merely rare.)
    spread = simulate(calibration, sample, settings.estimate_draws, rng)
    tail = (1 - settings.band) / 2
    baseline = profile.get("performance", {})
    metrics = []
    for name, key in _metric_names(labels):
        lower, upper = _band(spread[key], tail)
        known = baseline.get(name)
        value = _mean(spread[key])
        metrics.append(EstimatedMetric(name, value, lower, upper, float(known) if known is not None else float("nan")))
    return PerformanceEstimate(
        n=len(matrix),
        band=settings.band,
        threshold=None,
        primary_metric=primary_metric(MULTICLASS).name,
        metrics=tuple(metrics),
        method="cbpe",
        note=MULTICLASS_NOTE,
    )
