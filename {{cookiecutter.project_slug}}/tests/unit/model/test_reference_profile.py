"""The reference profile: fitted once at training, stored as plain JSON, read back exactly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.core.histogram import count_numeric
from {{ cookiecutter.package_name }}.core.metrics import evaluate
from {{ cookiecutter.package_name }}.errors import DataError
from {{ cookiecutter.package_name }}.model.calibration import block_rates, calibrate, fit_calibration
from {{ cookiecutter.package_name }}.model.feature_profile import QUANTILE_BINS, categorical_profile, numeric_profile
from {{ cookiecutter.package_name }}.model.reference_profile import (
    FORMAT_VERSION,
    compile_profile,
    fit_profile,
    load_profile,
    save_profile,
)
from tests.support.drift_data import (
    demo_reference,
    labelled_scores,
    project_contract,
    synthetic_contract,
    synthetic_frame,
)


def test_profile_is_strict_json_and_reads_back_unchanged(tmp_path: Path) -> None:
    """The profile of the demo data survives JSON (no NaN, no pickle) and loads as it was saved."""
    # Given the demo reference and the project's contract
    frame, contract = demo_reference(), project_contract()

    # When it is profiled (without scores, as the CLI does) and saved
    profile = fit_profile(frame, contract)
    path = save_profile(profile, tmp_path / "reference_profile.json")

    # Then the file is strict JSON, holds every feature, and reads back equal
    text = path.read_text(encoding="utf-8")
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert load_profile(path) == profile
    assert set(profile["features"]) == set(contract.feature_names)
    assert profile["format_version"] == FORMAT_VERSION
    assert profile["score"] is None
    assert profile["calibration"] is None


def test_numeric_bins_hold_every_present_value_once() -> None:
    """Quantile bins count each finite value exactly once; NaN and infinities count as missing."""
    # Given 10,000 values, 300 of them missing or infinite
    rng = np.random.default_rng(1)
    values = rng.lognormal(3, 1, 10_000)
    values[:200] = np.nan
    values[200:300] = np.inf

    # When profiled
    found = numeric_profile(values)

    # Then the bins sum to the present values, edges increase, and the summaries are of finite values
    assert sum(found["counts"]) == 9_700
    assert found["missing"] == 300
    assert found["null_rate"] == pytest.approx(0.03)
    assert np.all(np.diff(found["edges"]) > 0)
    assert len(found["counts"]) == len(found["edges"]) + 1 <= QUANTILE_BINS + 1
    assert found["mean"] == pytest.approx(float(np.mean(values[300:])))
    assert max(found["counts"]) < 2 * 9_700 / QUANTILE_BINS  # equal-mass bins


def test_values_are_counted_into_bins_with_empty_bins_anywhere() -> None:
    """Counting by sorted position gives each bin its count and sum, also when bins are empty."""
    # Given 1..10, edges below, inside and beyond the data, and a NaN
    values = np.array([*range(1, 11), np.nan], dtype=float)
    edges = np.array([0.5, 5.0, 20.0, 30.0])

    # When counted
    counted = count_numeric(values, edges)

    # Then bins are (-inf, 0.5], (0.5, 5], (5, 20], (20, 30], (30, inf)
    assert counted.counts.tolist() == [0, 5, 5, 0, 0]
    assert counted.sums.tolist() == [0.0, 15.0, 40.0, 0.0, 0.0]
    assert (counted.missing, counted.mean, counted.minimum, counted.maximum) == (1, 5.5, 1.0, 10.0)


def test_a_point_mass_stays_in_one_bin() -> None:
    """Heavily tied values (counts, zeros) collapse duplicate edges instead of splitting a value."""
    # Given a feature that is 0 for 70% of rows
    values = np.concatenate((np.zeros(7_000), np.arange(1, 3_001, dtype=float)))

    # When profiled / Then all zeros share one bin
    found = numeric_profile(values)
    assert 7_000 in found["counts"]


def test_categorical_levels_are_counted_and_booleans_named_one_way() -> None:
    """Levels are normalised as the contract says; booleans count as 'true'/'false' whatever their spelling."""
    # Given text with stray case and spaces, and booleans written four ways
    text = pd.Series(["Online", " online", "POS", None, "pos", "atm"])
    flags = pd.Series([True, "yes", 1, "False", 0.0, None], dtype=object)

    # When profiled
    levels = categorical_profile(text, normalize=True)
    booleans = categorical_profile(flags, boolean=True)

    # Then equal levels merge, and each boolean lands on its level
    assert dict(zip(levels["levels"], levels["counts"], strict=True)) == {"online": 2, "pos": 2, "atm": 1}
    assert levels["missing"] == 1
    assert levels["singletons"] == 1
    assert dict(zip(booleans["levels"], booleans["counts"], strict=True)) == {"true": 3, "false": 2}


def test_training_call_stores_scores_performance_segments_and_calibration() -> None:
    """As training calls it (holdout, contract, scores, metrics, threshold) the profile keeps
    everything monitoring needs, and write_bundle's strict JSON accepts it."""
    # Given a labelled synthetic holdout with calibrated scores
    contract = synthetic_contract(numeric=2, categorical=2)
    frame = synthetic_frame(5_000, seed=3, numeric=2, categorical=2)
    scores, labels = labelled_scores(5_000, seed=3)
    frame["label"] = labels
    metrics = evaluate(contract.task, labels, scores, 0.3)

    # When profiled the way pipeline.log_and_register does
    profile = fit_profile(frame, contract, scores, metrics, 0.3)

    # Then the score distribution, holdout metrics, per-segment metrics and the calibration map are there
    json.dumps(profile, allow_nan=False)
    assert sum(profile["score"]["counts"]) == 5_000
    assert profile["performance"]["average_precision"] == pytest.approx(metrics["average_precision"])
    assert set(profile["segment_performance"]["cat_0"]) == set(frame["cat_0"])
    assert sum(profile["calibration"]["n"]) == 5_000
    assert sum(profile["calibration"]["positives"]) == labels.sum()
    assert compile_profile(profile).threshold == 0.3


def test_calibration_map_is_monotone_and_recovers_true_probabilities() -> None:
    """The isotonic map never decreases, and on calibrated scores it stays close to them."""
    # Given scores that are true probabilities, and labels drawn from them
    scores, labels = labelled_scores(50_000, seed=4)

    # When a calibration map is fitted
    calibration = fit_calibration(scores, labels)

    # Then its rates rise with the score and the mapped probabilities track the scores on average
    assert np.all(np.diff(block_rates(calibration)) >= 0)
    mapped = calibrate(calibration, scores)
    assert mapped.mean() == pytest.approx(labels.mean(), rel=1e-6)
    assert np.mean(np.abs(mapped - scores)) < 0.01


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "not a reference profile"),
        ('{"format_version": 1, "task": "x", "features": {}, "columns": {}}', "refit it"),
        ('{"format_version": 2, "task": "x", "features": {"a": {"kind": "numeric"}}, "columns": {}}', "lacks"),
    ],
)
def test_a_bad_profile_is_a_one_line_error(tmp_path: Path, content: str, message: str) -> None:
    """Unreadable or foreign JSON is refused with the reason, never a KeyError later."""
    # Given a broken profile file
    path = tmp_path / "profile.json"
    path.write_text(content, encoding="utf-8")

    # When it is loaded / Then a DataError names the problem
    with pytest.raises(DataError, match=message):
        load_profile(path)


def test_a_reference_without_a_feature_column_is_refused() -> None:
    """A reference table must hold every feature of the contract."""
    # Given the demo data without one feature / When profiled / Then the missing column is named
    frame = demo_reference().drop(columns=["amount"])
    with pytest.raises(DataError, match="amount"):
        fit_profile(frame, project_contract())
