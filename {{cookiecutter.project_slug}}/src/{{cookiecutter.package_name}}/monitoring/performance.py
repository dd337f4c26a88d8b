"""Model performance in production: realized on labelled rows, estimated before labels arrive.

Realized performance uses the same metric definitions as training (metrics.py)
on a window's labelled rows, overall and per segment of the contract, next to
the holdout baseline stored in the reference profile.

Estimated performance (classification only) is confidence-based performance
estimation (CBPE): the scores are turned into probabilities with the isotonic
map fitted on the holdout, and the expected confusion matrix at the decision
threshold gives precision, recall and F1; ranking metrics (average precision,
ROC AUC) are averaged over labels drawn from those probabilities. The band
comes from redrawing both the calibration map (its Beta posterior) and the
labels. It assumes that P(fraud | score) has not changed since training: it
sees covariate shift, not concept drift, and it is always marked an estimate.
Multiclass CBPE (every class's probability, per-class calibration) is in
multiclass_estimate.py, regression's estimate (direct loss estimation) in loss_estimate.py.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from ..core.histogram import category_labels
from ..core.metrics import class_metric_name, evaluate, primary_metric
from ..errors import DataError
from ..model.calibration import calibrate, draw_rates
from ..model.reference_profile import Reference
from ..settings import DriftSettings

REPORTED = {
    "binary_classification": (
        "average_precision",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "positive_rate",
        "flag_rate",
    ),
    "multiclass_classification": ("macro_f1", "balanced_accuracy", "accuracy", "log_loss"),
    "regression": ("rmse", "mae", "r2"),
}
ESTIMATED = ("average_precision", "precision", "recall", "f1", "roc_auc", "positive_rate")
DRAW_CHUNK = 25  # label draws simulated together: 25 x 50k booleans stay small
ESTIMATE_NOTE = (
    "Estimated from scores with the calibration map fitted at training (CBPE); valid while P(label | score) "
    "is unchanged, so it cannot see concept drift. Compare with realized performance once labels arrive."
)


def _json(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


@dataclass(frozen=True)
class MetricComparison:
    name: str
    current: float
    baseline: float

    @property
    def change(self) -> float:
        return self.current - self.baseline

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "current": _json(self.current),
            "baseline": _json(self.baseline),
            "change": _json(self.change),
        }


@dataclass(frozen=True)
class SegmentPerformance:
    segment: str
    level: str
    n: int
    reliable: bool
    metrics: tuple[MetricComparison, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "segment": self.segment,
            "level": self.level,
            "n": self.n,
            "reliable": self.reliable,
            "metrics": [m.to_dict() for m in self.metrics],
        }


@dataclass(frozen=True)
class PerformanceReport:
    """Realized performance of a window's labelled rows against the training holdout."""

    task: str
    primary_metric: str
    threshold: float | None
    n_labelled: int
    reliable: bool  # at least settings.min_labelled_rows labelled rows
    overall: tuple[MetricComparison, ...]
    segments: tuple[SegmentPerformance, ...] = ()

    def metric(self, name: str) -> MetricComparison:
        for found in self.overall:
            if found.name == name:
                return found
        raise KeyError(name)

    @property
    def primary(self) -> MetricComparison:
        return self.metric(self.primary_metric)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "realized",
            "task": self.task,
            "primary_metric": self.primary_metric,
            "threshold": self.threshold,
            "n_labelled": self.n_labelled,
            "reliable": self.reliable,
            "overall": [m.to_dict() for m in self.overall],
            "segments": [s.to_dict() for s in self.segments],
        }


def _labels(labels: np.ndarray | Sequence[Any] | pd.Series, task: str) -> np.ndarray:
    """Labels as floats, NaN where a row has none yet; a binary classifier's must be 0 or 1
    (a multiclass one's are class indexes, checked where they are stored)."""
    values = pd.to_numeric(pd.Series(labels), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    if task == "binary_classification":
        odd = values[~np.isnan(values) & (values != 0) & (values != 1)]
        if len(odd):
            raise DataError(f"classification labels must be 0 or 1, found {odd[0]:g}")
    return values


def reported(task: str, classes: Sequence[Any] = ()) -> tuple[str, ...]:
    """The metrics monitoring reports for a task: for multiclass also each class's recall and
    precision, so that a class the model stops recognising shows by name."""
    per_class = tuple(class_metric_name(m, label) for label in classes for m in ("recall", "precision"))
    return REPORTED[task] + per_class


def _compare(
    task: str, metrics: Mapping[str, float], baseline: Mapping[str, Any], classes: Sequence[Any] = ()
) -> tuple[MetricComparison, ...]:
    return tuple(
        MetricComparison(
            name,
            float(metrics.get(name, float("nan"))),
            float(baseline[name]) if baseline.get(name) is not None else float("nan"),
        )
        for name in reported(task, classes)
    )


def labelled_mask(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Rows with a label and a finite score (multiclass: every class's probability finite)."""
    finite = np.isfinite(scores)
    rows: np.ndarray = finite.all(axis=1) if finite.ndim == 2 else finite
    mask: np.ndarray = np.isfinite(labels) & rows
    return mask


def _raw(profile: Mapping[str, Any] | Reference) -> Mapping[str, Any]:
    return profile.profile if isinstance(profile, Reference) else profile


def realized_performance(
    profile: Mapping[str, Any] | Reference,
    scores: np.ndarray | Sequence[float],
    labels: np.ndarray | Sequence[Any] | pd.Series,
    frame: pd.DataFrame | None = None,
    settings: DriftSettings | None = None,
) -> PerformanceReport:
    """Metrics on the rows that have a label (NaN labels are skipped), overall and, when
    `frame` (the same rows) holds the contract's segment columns, per segment level."""
    settings = settings or DriftSettings()
    profile = _raw(profile)
    task, threshold = str(profile["task"]), profile.get("threshold")
    score_array = np.asarray(scores, dtype=float)
    label_array = _labels(labels, task)
    if len(score_array) != len(label_array) or (frame is not None and len(frame) != len(score_array)):
        rows = len(frame) if frame is not None else len(score_array)
        raise DataError(f"{len(score_array)} scores, {len(label_array)} labels and {rows} rows do not line up")
    classes = tuple((profile.get("classes") or {}).get("labels") or ())
    labelled = labelled_mask(label_array, score_array)
    overall = evaluate(task, label_array[labelled], score_array[labelled], threshold, classes)
    segments: list[SegmentPerformance] = []
    for segment in profile.get("segments", []):
        if frame is None or segment not in frame.columns:
            continue
        spec = profile["features"][segment]
        names = category_labels(frame[segment], boolean=spec["type"] == "boolean", normalize=spec["normalize"])
        baselines = profile.get("segment_performance", {}).get(segment, {})
        for level in sorted({str(v) for v in names[labelled] if v is not None}):
            rows = labelled & (names == level)
            found = evaluate(task, label_array[rows], score_array[rows], threshold, classes)
            n = int(rows.sum())
            compared = _compare(task, found, baselines.get(level, {}))
            segments.append(SegmentPerformance(segment, level, n, n >= settings.min_labelled_rows, compared))
    n_labelled = int(labelled.sum())
    return PerformanceReport(
        task=task,
        primary_metric=primary_metric(task).name,
        threshold=threshold,
        n_labelled=n_labelled,
        reliable=n_labelled >= settings.min_labelled_rows,
        overall=_compare(task, overall, profile.get("performance", {}), classes),
        segments=tuple(segments),
    )


# --- estimated performance (CBPE) ---------------------------------------------------------------------


@dataclass(frozen=True)
class EstimatedMetric:
    name: str
    value: float
    lower: float
    upper: float
    baseline: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": _json(self.value),
            "lower": _json(self.lower),
            "upper": _json(self.upper),
            "baseline": _json(self.baseline),
        }


@dataclass(frozen=True)
class PerformanceEstimate:
    """Performance estimated from scores alone. Always an estimate: see `note`."""

    n: int
    band: float
    threshold: float | None  # None: multiclass CBPE and regression's direct loss estimation
    primary_metric: str
    metrics: tuple[EstimatedMetric, ...]
    method: str = "cbpe"
    note: str = ESTIMATE_NOTE

    def metric(self, name: str) -> EstimatedMetric:
        for found in self.metrics:
            if found.name == name:
                return found
        raise KeyError(name)

    @property
    def primary(self) -> EstimatedMetric:
        return self.metric(self.primary_metric)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "estimated",
            "is_estimate": True,
            "method": self.method,
            "note": self.note,
            "n": self.n,
            "band": self.band,
            "threshold": self.threshold,
            "primary_metric": self.primary_metric,
            "metrics": [m.to_dict() for m in self.metrics],
        }


def expected_confusion(probabilities: np.ndarray, flagged: np.ndarray) -> dict[str, float]:
    """Precision, recall, F1 and prevalence from the expected confusion matrix."""
    true_pos = float(probabilities[flagged].sum())
    positives = float(probabilities.sum())
    n_flagged = int(flagged.sum())
    return {
        "precision": true_pos / n_flagged if n_flagged else float("nan"),
        "recall": true_pos / positives if positives else float("nan"),
        "f1": 2 * true_pos / (n_flagged + positives) if n_flagged + positives else float("nan"),
        "positive_rate": positives / len(probabilities) if len(probabilities) else float("nan"),
    }


@dataclass(frozen=True)
class _Ranking:
    """A fixed ordering of scores, against which many label draws are scored at once."""

    order: np.ndarray  # rows by descending score
    last_of_tie: np.ndarray  # positions (in that order) closing each group of tied scores
    ranks: np.ndarray  # ascending average ranks, for ROC AUC
    flagged: np.ndarray

    @classmethod
    def of(cls, scores: np.ndarray, threshold: float) -> _Ranking:
        order = np.argsort(-scores, kind="stable")
        ordered = scores[order]
        last = np.flatnonzero(np.append(ordered[1:] != ordered[:-1], True))
        return cls(order, last, rankdata(scores), scores >= threshold)

    def metrics(self, labels: np.ndarray) -> dict[str, np.ndarray]:
        """Per row of a (draws x rows) 0/1 matrix: the metrics as metrics.py defines them
        (average precision over distinct thresholds, ROC AUC with ties counted half)."""
        n = labels.shape[1]
        positives = labels.sum(axis=1)
        negatives = n - positives
        hits = np.cumsum(labels[:, self.order], axis=1)[:, self.last_of_tie]
        precision_at = hits / (self.last_of_tie + 1)
        gained = np.diff(hits, axis=1, prepend=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            average_precision = (gained * precision_at).sum(axis=1) / positives
            auc = (labels @ self.ranks - positives * (positives + 1) / 2) / (positives * negatives)
            true_pos = labels[:, self.flagged].sum(axis=1)
            n_flagged = self.flagged.sum()
            return {
                "average_precision": average_precision,
                "roc_auc": np.where((positives > 0) & (negatives > 0), auc, np.nan),
                "precision": true_pos / n_flagged if n_flagged else np.full(len(labels), np.nan),
                "recall": true_pos / positives,
                "f1": 2 * true_pos / (n_flagged + positives),
                "positive_rate": positives / n,
            }


def _simulate(
    ranking: _Ranking, probabilities: Sequence[np.ndarray] | np.ndarray, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Metrics for one label draw per row of `probabilities` (draws x rows)."""
    found: dict[str, list[np.ndarray]] = {}
    matrix = np.asarray(probabilities)
    for start in range(0, len(matrix), DRAW_CHUNK):
        chunk = matrix[start : start + DRAW_CHUNK]
        labels = (rng.random(chunk.shape) < chunk).astype(np.float64)
        for name, values in ranking.metrics(labels).items():
            found.setdefault(name, []).append(values)
    return {name: np.concatenate(parts) for name, parts in found.items()}


def estimate_performance(
    profile: Mapping[str, Any] | Reference,
    scores: np.ndarray | Sequence[float],
    settings: DriftSettings | None = None,
    seed: int = 0,
) -> PerformanceEstimate | None:
    """CBPE for a classifier's window of scores; None for regression (`loss_estimate.estimate_loss`)
    or a profile without a calibration map (fitted without labels). Seeded, so a window always gets the same answer."""
    settings = settings or DriftSettings()
    profile = _raw(profile)
    calibration = profile.get("calibration")
    if profile.get("task") != "binary_classification" or not calibration or not calibration.get("n"):
        return None
    threshold = float(profile["threshold"]) if profile.get("threshold") is not None else 0.5
    score_array = np.asarray(scores, dtype=float)
    score_array = score_array[np.isfinite(score_array)]
    rng = np.random.default_rng(seed)
    point = expected_confusion(calibrate(calibration, score_array), score_array >= threshold)
    sample = (
        score_array
        if len(score_array) <= settings.estimate_max_rows
        else rng.choice(score_array, settings.estimate_max_rows, replace=False)
    )
    ranking = _Ranking.of(sample, threshold)
    fitted = calibrate(calibration, sample)
    # Point: labels drawn from the fitted map. Band: from maps redrawn from their posterior,
    # so that it carries the calibration's own uncertainty as well as the labels' chance.
    centre = _simulate(ranking, np.broadcast_to(fitted, (settings.estimate_draws, len(sample))), rng)
    maps = draw_rates(calibration, settings.estimate_draws, rng)
    spread = _simulate(ranking, [calibrate(calibration, sample, rates) for rates in maps], rng)
    tail = (1 - settings.band) / 2
    baseline = profile.get("performance", {})
    metrics = []
    for name in ESTIMATED:
        value = point[name] if name in point else float(np.nanmean(centre[name])) if len(sample) else float("nan")
        draws = spread[name][np.isfinite(spread[name])]
        lower, upper = (
            (float(np.quantile(draws, tail)), float(np.quantile(draws, 1 - tail)))
            if len(draws)
            else (
                float("nan"),
                float("nan"),
            )
        )
        known = baseline.get(name)
        metrics.append(EstimatedMetric(name, value, lower, upper, float(known) if known is not None else float("nan")))
    return PerformanceEstimate(
        n=len(score_array),
        band=settings.band,
        threshold=threshold,
        primary_metric=primary_metric("binary_classification").name,
        metrics=tuple(metrics),
    )
