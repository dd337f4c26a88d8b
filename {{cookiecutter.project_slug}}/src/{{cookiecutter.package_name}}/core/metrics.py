"""Model quality metrics, one definition for training, gating, monitoring and shadow evaluation."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from sklearn import metrics as skm


@dataclass(frozen=True)
class Primary:
    """The metric that decides: gates, champion comparisons and shadow evaluation use it."""

    name: str
    higher_is_better: bool

    def better(self, new: float, old: float, tolerance: float = 0.0) -> bool:
        """Is `new` at least as good as `old`, allowing `tolerance` of slack?"""
        return new >= old - tolerance if self.higher_is_better else new <= old + tolerance

    def improvement(self, new: float, old: float) -> float:
        """Positive when `new` is better, in the metric's own units."""
        return new - old if self.higher_is_better else old - new


PRIMARY = {
    "binary_classification": Primary("average_precision", higher_is_better=True),
    "regression": Primary("rmse", higher_is_better=False),
}


def primary_metric(task: str) -> Primary:
    return PRIMARY[task]


def _safe(value: float) -> float:
    return float(value) if math.isfinite(value) else float("nan")


def classification_metrics(y: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """Average precision (primary), ROC AUC, precision/recall/F1 at the threshold, Brier score.
    Ranking metrics are NaN when the labels hold a single class."""
    y = np.asarray(y, dtype=int)
    scores = np.asarray(scores, dtype=float)
    decisions = scores >= threshold
    both_classes = 0 < y.sum() < len(y)
    true_pos = int((decisions & (y == 1)).sum())
    flagged, positives = int(decisions.sum()), int(y.sum())
    precision = true_pos / flagged if flagged else float("nan")
    recall = true_pos / positives if positives else float("nan")
    f1 = 2 * precision * recall / (precision + recall) if flagged and positives and (precision + recall) else 0.0
    return {
        "average_precision": _safe(skm.average_precision_score(y, scores)) if both_classes else float("nan"),
        "roc_auc": _safe(skm.roc_auc_score(y, scores)) if both_classes else float("nan"),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "brier": float(np.mean((scores - y) ** 2)) if len(y) else float("nan"),
        "positive_rate": float(y.mean()) if len(y) else float("nan"),
        "flag_rate": float(decisions.mean()) if len(y) else float("nan"),
        "n": float(len(y)),
    }


def regression_metrics(y: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
    """RMSE (primary), MAE and R²."""
    y = np.asarray(y, dtype=float)
    predictions = np.asarray(predictions, dtype=float)
    if not len(y):
        return {"rmse": float("nan"), "mae": float("nan"), "r2": float("nan"), "n": 0.0}
    return {
        "rmse": float(np.sqrt(np.mean((y - predictions) ** 2))),
        "mae": float(np.mean(np.abs(y - predictions))),
        "r2": _safe(skm.r2_score(y, predictions)) if len(y) > 1 else float("nan"),
        "n": float(len(y)),
    }


def evaluate(task: str, y: np.ndarray, scores: np.ndarray, threshold: float | None) -> dict[str, float]:
    if task == "binary_classification":
        return classification_metrics(y, scores, threshold if threshold is not None else 0.5)
    return regression_metrics(y, scores)


def best_f1_threshold(y: np.ndarray, scores: np.ndarray) -> float:
    """The score cut that maximises F1 on validation data (0.5 when it holds no positives)."""
    y = np.asarray(y, dtype=int)
    if y.sum() == 0 or y.sum() == len(y):
        return 0.5
    precision, recall, thresholds = skm.precision_recall_curve(y, scores)
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0)
    best = int(np.argmax(f1[:-1]))  # the last point has no threshold
    return float(thresholds[best])
