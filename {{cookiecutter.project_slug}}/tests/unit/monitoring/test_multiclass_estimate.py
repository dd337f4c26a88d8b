"""Multiclass CBPE: estimated macro F1 and the rest from every class's probability, before labels."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.core.metrics import multiclass_metrics
from {{ cookiecutter.package_name }}.model.calibration import fit_class_calibration
from {{ cookiecutter.package_name }}.monitoring import retrain_rules
from {{ cookiecutter.package_name }}.monitoring.assessment import estimate_before_labels
from {{ cookiecutter.package_name }}.monitoring.history_rows import history_rows
from {{ cookiecutter.package_name }}.monitoring.monitored_model import MonitoredModel
from {{ cookiecutter.package_name }}.monitoring.multiclass_estimate import (
    confusion_metrics,
    estimate_classes,
    probability_matrix,
)
from {{ cookiecutter.package_name }}.monitoring.retrain_rules import PERFORMANCE
from {{ cookiecutter.package_name }}.settings import DriftSettings, Settings
from tests.support.monitoring import MODEL, assessment

CLASSES = ("low", "mid", "high")
WEIGHTS = np.array([[2.0, -1.0, -1.0], [-0.5, 1.5, -1.0]])  # two features -> three classes' logits
OFFSETS = np.array([0.0, 0.0, -0.5])
FAST = DriftSettings(estimate_draws=100)
SHIFTS = ((1.0, 0.0), (-1.0, 1.0), (0.0, -1.5))  # the features' mean moves; P(class | x) stays


def softmax(logits: np.ndarray) -> np.ndarray:
    found = np.exp(logits - logits.max(axis=1, keepdims=True))
    normalised: np.ndarray = found / found.sum(axis=1, keepdims=True)
    return normalised


def world(rows: int, seed: int, shift: tuple[float, float] = (0.0, 0.0)) -> tuple[np.ndarray, np.ndarray]:
    """A model's probabilities and the true classes, drawn from known probabilities. The model
    is overconfident and leans to the first class (not calibrated), but a function of the true
    probabilities, so P(class | the model's probabilities) holds wherever the rows come from."""
    rng = np.random.default_rng(seed)
    logits = (rng.normal(size=(rows, 2)) + np.asarray(shift)) @ WEIGHTS + OFFSETS
    truth = softmax(logits)
    model = softmax(1.5 * logits + np.array([0.3, 0.0, -0.4]))
    classes = np.minimum((rng.random((rows, 1)) > truth.cumsum(axis=1)).sum(axis=1), 2)
    return model, classes.astype(float)


def class_profile(rows: int = 10_000, seed: int = 0) -> dict[str, Any]:
    """A holdout profiled as training does it, for what the estimate reads."""
    probabilities, labels = world(rows, seed)
    return {
        "task": "multiclass_classification",
        "classes": {"labels": list(CLASSES)},
        "primary_metric": "macro_f1",
        "calibration": fit_class_calibration(probabilities, labels, len(CLASSES)),
        "performance": multiclass_metrics(labels, probabilities, CLASSES),
    }


def realized_macro_f1(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return multiclass_metrics(labels, probabilities, CLASSES)["macro_f1"]


def test_expected_confusion_metrics_are_the_metric_definitions() -> None:
    """On a confusion matrix of counts, the metrics are those of metrics.py on the same answers."""
    # Given answers and true classes, and their confusion matrix (answered x true)
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 3, 500)
    answered = np.where(rng.random(500) < 0.7, truth, rng.integers(0, 3, 500))
    confusion = np.zeros((1, 3, 3))
    np.add.at(confusion[0], (answered, truth), 1)

    # When its metrics are taken
    found = confusion_metrics(confusion)

    # Then they equal the realized ones of one-hot probabilities answering the same classes
    expected = multiclass_metrics(truth.astype(float), np.eye(3)[answered], CLASSES)
    for name in ("macro_f1", "balanced_accuracy", "accuracy"):
        assert found[name][0] == pytest.approx(expected[name])
    assert found["recall.1"][0] == pytest.approx(expected["recall.mid"])
    assert found["precision.2"][0] == pytest.approx(expected["precision.high"])


def test_estimate_is_close_to_the_realized_macro_f1_on_unshifted_data() -> None:
    """On windows like the holdout, the estimated macro F1 is within 0.02 of what the labels
    show, and it is a CBPE estimate of macro F1 with every class's precision and recall."""
    profile = class_profile()
    for seed in (11, 12, 13):
        # Given a window drawn as the holdout was
        probabilities, labels = world(4000, seed)

        # When it is estimated without its labels
        found = estimate_classes(profile, probabilities, FAST, seed=seed)

        # Then the estimate is near the realized value, inside its band
        assert found is not None
        realized = multiclass_metrics(labels, probabilities, CLASSES)
        assert found.primary.value == pytest.approx(realized["macro_f1"], abs=0.02)
        assert found.metric("accuracy").value == pytest.approx(realized["accuracy"], abs=0.02)
        assert found.primary.lower < found.primary.value < found.primary.upper

    # And it says what it is: CBPE of macro F1, no threshold, with each class's precision and recall
    estimate = estimate_classes(profile, probabilities, FAST)
    assert estimate is not None
    assert (estimate.method, estimate.primary_metric, estimate.threshold, estimate.n) == (
        "cbpe",
        "macro_f1",
        None,
        4000,
    )
    assert "concept drift" in estimate.note
    assert {"recall.low", "precision.high", "log_loss", "balanced_accuracy"} <= {m.name for m in estimate.metrics}
    assert estimate.primary.baseline == pytest.approx(profile["performance"]["macro_f1"])


def test_the_band_brackets_the_realized_macro_f1_under_covariate_shift() -> None:
    """A window drawn from another mix of rows (P(class | x) unchanged) moves macro F1 away from
    the holdout's; the estimate follows it, and its 90% band holds the realized value in at
    least 8 of 9 windows (three holdouts, three shifts, fixed seeds)."""
    held, moved = 0, []
    for seed in (0, 1, 2):
        profile = class_profile(seed=seed)
        for shift in SHIFTS:
            # Given a shifted window
            probabilities, labels = world(4000, 100 + seed, shift)

            # When it is estimated
            estimate = estimate_classes(profile, probabilities, FAST, seed=seed)

            # Then the band holds the realized macro F1 (counted), and the estimate moved as it did
            assert estimate is not None
            realized = realized_macro_f1(probabilities, labels)
            held += estimate.primary.lower <= realized <= estimate.primary.upper
            moved.append((estimate.primary.value - estimate.primary.baseline, realized - estimate.primary.baseline))
    assert held >= 8
    assert all(np.sign(guess) == np.sign(truth) for guess, truth in moved if abs(truth) > 0.02)


def test_the_estimate_is_seeded_and_bounded_in_rows() -> None:
    """The same window and seed give the same estimate; a window past `estimate_max_rows` is
    simulated on a sample, so its point moves little and its band is wider, never narrower."""
    profile = class_profile()
    probabilities, _ = world(3000, 5)
    full = estimate_classes(profile, probabilities, FAST, seed=1)
    sampled = estimate_classes(profile, probabilities, FAST.model_copy(update={"estimate_max_rows": 1000}), seed=1)
    assert full is not None
    assert sampled is not None
    assert estimate_classes(profile, probabilities, FAST, seed=1) == full
    assert sampled.primary.value == pytest.approx(full.primary.value, abs=0.03)
    assert sampled.n == full.n == 3000
    assert sampled.primary.upper - sampled.primary.lower > full.primary.upper - full.primary.lower


def test_no_estimate_without_the_per_class_calibration_or_probabilities() -> None:
    """A profile fitted without labels (no calibration), a binary profile, or a window whose
    answers kept no probabilities give no estimate."""
    profile = class_profile(2000)
    probabilities, _ = world(500, 1)
    assert estimate_classes({**profile, "calibration": None}, probabilities, FAST) is None
    assert estimate_classes({**profile, "task": "binary_classification"}, probabilities, FAST) is None
    assert estimate_classes(profile, np.empty((0, 3)), FAST) is None


def test_the_logged_probabilities_become_the_matrix() -> None:
    """Rows of the log's `probabilities` column that are missing, of the wrong length or not
    finite are left out; the rest are the matrix, row for row."""
    served = pd.DataFrame({"probabilities": [[0.2, 0.5, 0.3], None, [0.1, 0.9], [0.6, float("nan"), 0.4], (1, 0, 0)]})
    assert probability_matrix(served, 3).tolist() == [[0.2, 0.5, 0.3], [1.0, 0.0, 0.0]]
    assert probability_matrix(pd.DataFrame({"score": [0.5]}), 3).shape == (0, 3)


def test_a_multiclass_window_is_estimated_reported_and_judged_against_the_floor(settings: Settings) -> None:
    """The monitoring run estimates a multiclass window from its logged probabilities; the
    history keeps the estimated macro F1 as the primary one with its band (and each class's
    recall), and a band wholly below the floor asks for retraining before any label."""
    # Given a multiclass model and a window that moved to where it errs more
    profile = class_profile()
    model = MonitoredModel(MODEL, "1", profile, "champion")
    probabilities, _ = world(3000, 7, (2.0, 2.0))
    mine = pd.DataFrame({"score": probabilities.max(axis=1), "probabilities": probabilities.tolist()})

    # When the run estimates it, stores it and judges it (floor: 0.9 of the holdout's macro F1)
    estimate = estimate_before_labels(settings, model, mine)
    assert estimate is not None
    found = dataclasses.replace(assessment(predicted=estimate), model=model)
    rows = history_rows(found, settings)
    decision = retrain_rules.check_rules(found, pd.DataFrame(columns=["window_start", "dataset_drift"]), settings)

    # Then the estimate is the run's primary one, and its band below the floor is a breach
    primary = estimate.primary
    assert rows["run"]["estimated_primary"] == pytest.approx(primary.value)
    assert (rows["run"]["estimated_lower"], rows["run"]["estimated_upper"]) == (primary.lower, primary.upper)
    estimated = {r["metric"] for r in rows["metrics"] if r["kind"] == "estimated"}
    assert {"macro_f1", "recall.low", "recall.mid", "recall.high"} <= estimated
    floor = retrain_rules.performance_floor(profile, settings.retrain_rules)
    assert primary.upper < floor.value  # type: ignore[operator]
    assert [r.rule for r in decision] == [PERFORMANCE]
    assert decision[0].evidence["kind"] == "estimated"
    assert decision[0].evidence["metric"] == "macro_f1"
