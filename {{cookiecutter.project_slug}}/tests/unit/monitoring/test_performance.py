"""Realized performance against the training baseline, and CBPE estimates before labels arrive."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.core.metrics import classification_metrics, evaluate
from {{ cookiecutter.package_name }}.errors import DataError
from {{ cookiecutter.package_name }}.model.reference_profile import compile_profile, fit_profile
from {{ cookiecutter.package_name }}.monitoring.performance import _Ranking, estimate_performance, realized_performance
from {{ cookiecutter.package_name }}.settings import DriftSettings
from tests.support.drift_data import labelled_scores, synthetic_contract, synthetic_frame

THRESHOLD = 0.15
FAST = DriftSettings(estimate_draws=100, estimate_max_rows=20_000)


def classifier_profile(rows: int = 20_000, seed: int = 1) -> dict[str, Any]:
    """A holdout of calibrated scores with a segment column (cat_0), profiled as training does."""
    frame = synthetic_frame(rows, seed=seed, numeric=1, categorical=1)
    scores, labels = labelled_scores(rows, seed=seed)
    frame["label"] = labels
    contract = synthetic_contract(1, 1)
    return fit_profile(frame, contract, scores, evaluate(contract.task, labels, scores, THRESHOLD), THRESHOLD)


def test_realized_metrics_are_the_training_definitions_on_labelled_rows() -> None:
    """Overall metrics equal metrics.py on the labelled rows; unlabelled rows are skipped."""
    # Given a window of 10k scores of which 2k have no label yet
    profile = classifier_profile()
    scores, labels = labelled_scores(10_000, seed=2)
    pending = labels.astype(float)
    pending[:2_000] = np.nan

    # When realized performance is measured
    report = realized_performance(profile, scores, pending)

    # Then it is metrics.py on the 8k labelled rows, next to the holdout baseline
    expected = classification_metrics(labels[2_000:], scores[2_000:], THRESHOLD)
    assert report.n_labelled == 8_000
    assert report.primary_metric == "average_precision"
    assert report.primary.current == pytest.approx(expected["average_precision"])
    assert report.metric("precision").current == pytest.approx(expected["precision"])
    assert report.metric("recall").current == pytest.approx(expected["recall"])
    assert report.primary.baseline == pytest.approx(profile["performance"]["average_precision"])
    assert report.primary.change == pytest.approx(report.primary.current - report.primary.baseline)


def test_realized_metrics_per_segment_with_their_baselines() -> None:
    """Each level of each contract segment gets its own metrics and its own holdout baseline."""
    # Given a labelled window with the segment column
    profile = classifier_profile()
    frame = synthetic_frame(10_000, seed=3, numeric=1, categorical=1)
    scores, labels = labelled_scores(10_000, seed=3)

    # When measured with the frame
    report = realized_performance(profile, scores, labels, frame, settings=DriftSettings(min_labelled_rows=1_000))

    # Then every level appears, counts add up, and small segments are marked unreliable
    levels = {s.level: s for s in report.segments if s.segment == "cat_0"}
    assert set(levels) == set(frame["cat_0"])
    assert sum(s.n for s in levels.values()) == 10_000
    common = levels["level_00"]
    rows = frame["cat_0"].to_numpy() == "level_00"
    assert common.reliable == (rows.sum() >= 1_000)
    recall = next(m for m in common.metrics if m.name == "recall")
    assert recall.current == pytest.approx(classification_metrics(labels[rows], scores[rows], THRESHOLD)["recall"])
    assert recall.baseline == pytest.approx(profile["segment_performance"]["cat_0"]["level_00"]["recall"])


def test_labels_that_are_not_zero_or_one_are_refused() -> None:
    """A classifier's labels must be 0/1; anything else is a one-line DataError."""
    # Given labels with a 2 / When measured / Then refused with the value
    with pytest.raises(DataError, match="0 or 1"):
        realized_performance(classifier_profile(), np.array([0.1, 0.9]), np.array([0, 2]))


def test_estimate_brackets_the_realized_performance() -> None:
    """On calibrated data the CBPE band contains what the labels later show, and it says it is an estimate."""
    # Given a profile and a fresh window of scores whose labels are held back
    profile = classifier_profile()
    scores, labels = labelled_scores(20_000, seed=5)

    # When performance is estimated from the scores alone
    estimate = estimate_performance(profile, scores, FAST)

    # Then each metric's band holds the realized value, and the result is marked an estimate
    assert estimate is not None
    realized = classification_metrics(labels, scores, THRESHOLD)
    for name in ("average_precision", "precision", "recall", "roc_auc", "positive_rate"):
        found = estimate.metric(name)
        assert found.lower <= realized[name] <= found.upper, (name, found, realized[name])
        assert found.lower <= found.value <= found.upper
    assert estimate_performance(compile_profile(profile), scores, FAST) == estimate  # a compiled profile works too
    payload = estimate.to_dict()
    assert payload["is_estimate"] is True
    assert payload["kind"] == "estimated"
    json.dumps(payload, allow_nan=False)


def test_estimate_follows_a_change_in_the_population() -> None:
    """More high-score traffic raises the estimated fraud rate (covariate shift is what CBPE sees)."""
    # Given a window whose scores (and true rates) are higher than the holdout's
    profile = classifier_profile()
    scores, labels = labelled_scores(20_000, seed=6, prevalence_shift=0.7)

    # When estimated / Then the estimate moved with the truth and away from the baseline
    estimate = estimate_performance(profile, scores, FAST)
    assert estimate is not None
    positive_rate = estimate.metric("positive_rate")
    assert positive_rate.lower <= labels.mean() <= positive_rate.upper
    assert positive_rate.lower > profile["performance"]["positive_rate"]


def test_estimate_is_unchanged_by_a_monotone_rescoring() -> None:
    """Calibration absorbs any monotone change of the score scale: sqrt(score) estimates the same."""
    # Given the same holdout profiled with scores and with their square roots
    frame = synthetic_frame(20_000, seed=7, numeric=1, categorical=1)
    scores, labels = labelled_scores(20_000, seed=7)
    frame["label"] = labels
    contract = synthetic_contract(1, 1)
    plain = fit_profile(frame, contract, scores, {}, THRESHOLD)
    rooted = fit_profile(frame, contract, np.sqrt(scores), {}, math.sqrt(THRESHOLD))
    window, _ = labelled_scores(10_000, seed=8)

    # When both estimate the same window (on their own scale) with the same seed
    a = estimate_performance(plain, window, FAST, seed=3)
    b = estimate_performance(rooted, np.sqrt(window), FAST, seed=3)

    # Then the estimates agree (up to interpolation between calibration blocks)
    assert a is not None
    assert b is not None
    for name in ("average_precision", "precision", "recall"):
        assert a.metric(name).value == pytest.approx(b.metric(name).value, abs=2e-3)


def test_simulated_metrics_match_the_metric_definitions() -> None:
    """The vectorised metrics used for label draws equal metrics.py, ties included."""
    # Given scores with many ties and a few label vectors
    rng = np.random.default_rng(9)
    scores = np.round(rng.random(2_000), 2)
    labels = (rng.random((3, 2_000)) < scores).astype(float)

    # When scored both ways
    found = _Ranking.of(scores, 0.7).metrics(labels)

    # Then every draw agrees with classification_metrics
    for row in range(3):
        expected = classification_metrics(labels[row].astype(int), scores, 0.7)
        for name in ("average_precision", "roc_auc", "precision", "recall", "f1", "positive_rate"):
            assert found[name][row] == pytest.approx(expected[name]), name


def test_regression_has_realized_metrics_but_no_estimate() -> None:
    """Regression reports RMSE against its baseline; CBPE does not apply and returns None."""
    # Given a regression holdout profile and a window with targets
    rng = np.random.default_rng(10)
    frame = synthetic_frame(5_000, seed=10, numeric=1, categorical=1)
    truth = rng.normal(20, 5, 5_000)
    predictions = truth + rng.normal(0, 2, 5_000)
    frame["label"] = truth
    contract = synthetic_contract(1, 1, task="regression")
    profile = fit_profile(frame, contract, predictions, evaluate("regression", truth, predictions, None), None)

    # When measured on a window twice as noisy
    report = realized_performance(profile, truth + rng.normal(0, 4, 5_000), pd.Series(truth))

    # Then RMSE doubled against its baseline, and there is no estimate
    assert report.primary_metric == "rmse"
    assert report.primary.current == pytest.approx(2 * report.primary.baseline, rel=0.1)
    assert estimate_performance(profile, predictions) is None
