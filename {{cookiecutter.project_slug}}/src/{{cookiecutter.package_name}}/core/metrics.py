"""Model quality metrics, one definition for training, gating, monitoring and shadow evaluation."""

from __future__ import annotations

import math
from collections.abc import Sequence
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
    # Macro F1 weighs every class alike: a model that ignores a rare class (the kind of fraud
    # seen once a week) is marked down as much as one that ignores the common one, which
    # accuracy and log loss, dominated by the majority class, would forgive.
    "multiclass_classification": Primary("macro_f1", higher_is_better=True),
    "regression": Primary("rmse", higher_is_better=False),
}
PROBABILITY_FLOOR = 1e-15  # log loss of a probability of 0: finite, as scikit-learn clips it


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


def class_metric_name(metric: str, label: object) -> str:
    """A per-class metric's name, e.g. `recall.account_takeover`: the class as written, with
    what MLflow refuses in a metric name (anything but letters, digits, _ - . / and spaces) as _."""
    text = "".join(c if c.isalnum() or c in "_-./ " else "_" for c in str(label))
    return f"{metric}.{text}"


def multiclass_metrics(y: np.ndarray, probabilities: np.ndarray, labels: Sequence[object]) -> dict[str, float]:
    """Macro F1 (primary), log loss, balanced accuracy and accuracy of the most probable class,
    and each class's precision and recall (`class_metric_name`). `y` holds class indexes
    (0 to k-1), `probabilities` one column per class, `labels` the classes' names."""
    y = np.asarray(y, dtype=int)
    matrix = np.asarray(probabilities, dtype=float).reshape(len(y), len(labels))
    if not len(y):
        return {"macro_f1": float("nan"), "log_loss": float("nan"), "balanced_accuracy": float("nan"), "n": 0.0}
    predicted = matrix.argmax(axis=1)
    classes = np.arange(len(labels))
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        y, predicted, labels=classes, zero_division=np.nan
    )
    seen = support > 0  # a class absent from these labels has no recall, and no say in the averages
    chosen = np.clip(matrix[np.arange(len(y)), y], PROBABILITY_FLOOR, 1.0)
    found = {
        "macro_f1": float(np.nanmean(np.where(seen, np.nan_to_num(f1, nan=0.0), np.nan))),
        "log_loss": float(-np.mean(np.log(chosen))),
        "balanced_accuracy": float(np.mean(recall[seen])),
        "accuracy": float(np.mean(predicted == y)),
        "n": float(len(y)),
    }
    for index, label in enumerate(labels):
        found[class_metric_name("precision", label)] = float(precision[index])
        found[class_metric_name("recall", label)] = float(recall[index])
        found[class_metric_name("share", label)] = float(np.mean(y == index))
    return found


def evaluate(
    task: str, y: np.ndarray, scores: np.ndarray, threshold: float | None, labels: Sequence[object] = ()
) -> dict[str, float]:
    """The task's metrics: `scores` are P(positive), the prediction, or (multiclass) one
    probability per class, whose names `labels` gives."""
    if task == "multiclass_classification":
        return multiclass_metrics(y, scores, labels)
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
