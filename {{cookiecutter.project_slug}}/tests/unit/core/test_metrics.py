"""Metric definitions used by the gate, monitoring and shadow evaluation."""

from __future__ import annotations

import math

import numpy as np

from {{ cookiecutter.package_name }}.core.bootstrap import weighted_macro_f1
from {{ cookiecutter.package_name }}.core.metrics import (
    best_f1_threshold,
    classification_metrics,
    evaluate,
    primary_metric,
    regression_metrics,
)


def test_classification_metrics_on_a_known_case() -> None:
    """Precision and recall at the threshold are counted exactly."""
    # Given four labelled scores
    y = np.array([1, 0, 1, 0])
    scores = np.array([0.9, 0.8, 0.3, 0.1])

    # When measured at 0.5
    found = classification_metrics(y, scores, threshold=0.5)

    # Then one of two flags is right, and one of two frauds is caught
    assert found["precision"] == 0.5
    assert found["recall"] == 0.5
    assert found["roc_auc"] == 0.75


def test_single_class_labels_give_nan_not_errors() -> None:
    """A window without any positive has no ranking metrics, but does not crash."""
    # Given labels of one class / When measured / Then ranking metrics are NaN
    found = classification_metrics(np.zeros(10), np.linspace(0, 1, 10), threshold=0.5)
    assert math.isnan(found["average_precision"])
    assert math.isnan(found["recall"])


def test_regression_metrics_and_direction() -> None:
    """RMSE is primary for regression, and lower is better."""
    # Given predictions one unit off everywhere
    found = regression_metrics(np.array([1.0, 2.0, 3.0]), np.array([2.0, 3.0, 4.0]))

    # Then RMSE and MAE are 1 and the primary metric prefers smaller values
    assert found["rmse"] == 1.0
    assert found["mae"] == 1.0
    primary = primary_metric("regression")
    assert primary.better(0.9, 1.0)
    assert not primary.better(1.1, 1.0)


def test_f1_threshold_separates_perfectly_separable_scores() -> None:
    """With separable scores the chosen threshold flags exactly the positives."""
    # Given perfectly separable scores
    y = np.array([0, 0, 0, 1, 1])
    scores = np.array([0.1, 0.2, 0.3, 0.7, 0.8])

    # When a threshold is chosen / Then it keeps all positives and no negatives
    threshold = best_f1_threshold(y, scores)
    assert ((scores >= threshold) == (y == 1)).all()


def test_multiclass_metrics_on_a_known_case() -> None:
    """Macro F1, balanced accuracy and log loss of the most probable class, per class too;
    a class the labels lack has no recall and no say in the averages."""
    # Given six rows of three classes, one 'b' answered as 'a'
    y = np.array([0, 0, 1, 1, 2, 2])
    probabilities = np.array(
        [[0.8, 0.1, 0.1], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.5, 0.4, 0.1], [0.1, 0.1, 0.8], [0.2, 0.2, 0.6]]
    )

    # When measured
    found = classification_metrics_of(y, probabilities)

    # Then: a precision 2/3 recall 1, b precision 1 recall 1/2, c perfect
    assert (found["precision.a"], found["recall.a"]) == (2 / 3, 1.0)
    assert (found["recall.b 2"], found["share.b 2"]) == (0.5, 1 / 3)
    assert math.isclose(found["macro_f1"], (0.8 + 2 / 3 + 1.0) / 3)
    assert math.isclose(found["balanced_accuracy"], (1 + 0.5 + 1) / 3)
    assert math.isclose(found["accuracy"], 5 / 6)
    assert math.isclose(found["log_loss"], -np.mean(np.log([0.8, 0.6, 0.7, 0.4, 0.8, 0.6])))
    assert primary_metric("multiclass_classification").name == "macro_f1"
    assert primary_metric("multiclass_classification").higher_is_better

    # And a window without any 'c' averages over the classes it holds
    partial = classification_metrics_of(y[:4], probabilities[:4])
    assert math.isnan(partial["recall.c/d"])
    assert math.isclose(partial["macro_f1"], (0.8 + 2 / 3) / 2)


def classification_metrics_of(y: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    return evaluate("multiclass_classification", y, probabilities, None, ["a", "b 2", "c/d"])


def test_bootstrap_macro_f1_is_the_metric_on_each_resample() -> None:
    """The bootstrap's weighted macro F1 equals the metric on the rows each resample repeats."""
    # Given 300 rows of four classes (one never answered) and three resamples as row counts
    rng = np.random.default_rng(7)
    y = rng.integers(0, 4, 300)
    probabilities = rng.dirichlet([1.0, 1.0, 1.0, 0.01], 300)
    counts = rng.integers(0, 3, (3, 300))

    # When measured by the bootstrap and on the repeated rows
    found = weighted_macro_f1(y, probabilities, counts)
    expected = [
        evaluate("multiclass_classification", np.repeat(y, c), np.repeat(probabilities, c, axis=0), None, "abcd")[
            "macro_f1"
        ]
        for c in counts
    ]

    # Then they agree
    np.testing.assert_allclose(found, expected, rtol=1e-12)
