"""Feature and prediction drift: calibrated on undrifted data, powerful on real shifts.

The calibration and power cases are the issue's acceptance criteria, run with
fixed seeds; the benchmark (benchmarks/drift in the template) repeats them over
many trials and reports the rates.
"""

from __future__ import annotations

import json
from functools import cache

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from {{ cookiecutter.package_name }}.core.histogram import count_numeric
from {{ cookiecutter.package_name }}.core.two_sample import adjust_p_values, chi2_two_sample, ks_from_counts
from {{ cookiecutter.package_name }}.data.demo_world import TrafficShift
from {{ cookiecutter.package_name }}.model.feature_profile import numeric_profile
from {{ cookiecutter.package_name }}.model.reference_profile import Reference, compile_profile, fit_profile
from {{ cookiecutter.package_name }}.monitoring.drift import score_window
from {{ cookiecutter.package_name }}.monitoring.drift_report import DriftReport
from {{ cookiecutter.package_name }}.settings import DriftSettings
from tests.support.drift_data import (
    demo_reference,
    demo_window,
    labelled_scores,
    project_contract,
    synthetic_contract,
    synthetic_frame,
)

NUMERIC, CATEGORICAL = 20, 20


@cache
def demo_profile() -> Reference:
    frame = demo_reference()
    return compile_profile(fit_profile(frame, project_contract(), frame["fraud_probability"].to_numpy()))


@cache
def synthetic_profile() -> Reference:
    frame = synthetic_frame(20_000, seed=0, numeric=NUMERIC, categorical=CATEGORICAL)
    return compile_profile(fit_profile(frame, synthetic_contract(NUMERIC, CATEGORICAL)))


@pytest.mark.parametrize("rows", [1_000, 100_000])
def test_undrifted_demo_traffic_flags_at_most_five_percent_of_features(rows: int) -> None:
    """Fresh days of the same demo world, at 1k and 100k rows, raise (almost) no alarms."""
    # Given the demo profile and three undrifted days of traffic
    for day in range(3):
        window = demo_window(rows, day=day)

        # When each day is scored
        report = score_window(demo_profile(), window)

        # Then at most 5% of the features drift (with 14 features: none), and the schema is unchanged
        assert report.share_drifted <= 0.05, report.drifted_features
        assert report.scored == len(project_contract().features)
        assert not report.schema_changed


@pytest.mark.parametrize("rows", [1_000, 100_000])
def test_undrifted_synthetic_data_flags_at_most_five_percent_of_features(rows: int) -> None:
    """Forty independent features of four numeric families and Zipf-like categoricals stay calm."""
    # Given fresh samples from the reference's own distributions
    for seed in (11, 12, 13):
        window = synthetic_frame(rows, seed=seed, numeric=NUMERIC, categorical=CATEGORICAL)

        # When scored / Then at most 2 of 40 features are flagged
        report = score_window(synthetic_profile(), window)
        assert report.share_drifted <= 0.05, report.drifted_features


@pytest.mark.parametrize("feature", ["num_0", "num_1", "num_2", "num_3"])
def test_a_fifth_of_a_standard_deviation_shift_is_detected_at_10k_rows(feature: str) -> None:
    """A 0.2 SD mean shift in one numeric feature (normal, skewed, tied or bounded) is found, alone."""
    # Given ten windows of 10k rows where one feature moved by 0.2 SD
    for seed in range(20, 30):
        window = synthetic_frame(
            10_000, seed=seed, numeric=NUMERIC, categorical=CATEGORICAL, mean_shift_sd={feature: 0.2}
        )

        # When scored
        report = score_window(synthetic_profile(), window)

        # Then that feature drifts, for its distribution, and nothing else is flagged with it
        assert report.feature(feature).reasons == ("distribution",), seed
        assert set(report.drifted_features) <= {feature}


def test_a_ten_point_shift_in_one_level_share_is_detected_at_10k_rows() -> None:
    """Moving 10 percentage points of traffic onto one level is found, alone."""
    # Given ten windows where level_00 of cat_3 gained 10 points of share
    for seed in range(30, 40):
        window = synthetic_frame(
            10_000, seed=seed, numeric=NUMERIC, categorical=CATEGORICAL, share_shift={"cat_3": 0.10}
        )

        # When scored / Then cat_3 drifts and nothing else does
        report = score_window(synthetic_profile(), window)
        assert report.drifted_features == ("cat_3",), seed
        assert report.feature("cat_3").max_share_change == pytest.approx(0.10, abs=0.02)


def test_a_ten_point_shift_in_the_demo_card_mix_is_detected() -> None:
    """Ten points of card traffic moving from debit to prepaid is found in a demo day of 10k rows."""
    # Given a demo day where 10% of all rows switch from a debit to a prepaid card
    window = demo_window(10_000, day=5)
    debit = np.flatnonzero(window["card_type"].to_numpy() == "debit")
    window.loc[debit[:1_000], "card_type"] = "prepaid"

    # When scored / Then card_type drifts and nothing else does
    report = score_window(demo_profile(), window)
    assert report.drifted_features == ("card_type",)


def test_traffic_shifts_flag_the_features_they_move() -> None:
    """The production simulator's covariate shifts show up on the features they touch."""
    # Given a day with inflated amounts and transactions far from home
    window = demo_window(10_000, day=6, shift=TrafficShift(amount_scale=1.6, distance_shift_km=40))

    # When scored
    report = score_window(demo_profile(), window)

    # Then those features drift and untouched ones do not
    assert {"amount", "amount_to_avg_ratio", "distance_from_home_km"} <= set(report.drifted_features)
    assert not {"customer_age", "card_type", "hour_of_day"} & set(report.drifted_features)


def test_significance_without_effect_and_effect_without_significance_are_not_drift() -> None:
    """Huge windows make tiny shifts significant and tiny windows make noise look large: neither alarms."""
    # Given a 0.06 SD shift in 200k rows, and a 1 SD shift in 8 rows
    tiny_shift = synthetic_frame(200_000, seed=41, numeric=NUMERIC, categorical=0, mean_shift_sd={"num_0": 0.06})
    few_rows = synthetic_frame(8, seed=42, numeric=NUMERIC, categorical=CATEGORICAL, mean_shift_sd={"num_0": 1.0})

    # When scored
    large = score_window(synthetic_profile(), tiny_shift).feature("num_0")
    small = score_window(synthetic_profile(), few_rows).feature("num_0")

    # Then the first is significant but too small, the second large but not significant
    assert large.p_adjusted < 0.05
    assert not large.effects
    assert not large.drifted
    assert small.effects
    assert small.p_adjusted >= 0.05
    assert not small.drifted


def test_missing_values_and_unseen_levels_are_reasons_of_their_own() -> None:
    """A null rate up by 10 points, and a brand-new level with 8% of rows, each drift for that reason."""
    # Given a window where num_0 lost 10% of its values and cat_0 gained a new level
    window = synthetic_frame(10_000, seed=43, numeric=NUMERIC, categorical=CATEGORICAL)
    window.loc[:999, "num_0"] = np.nan
    window.loc[1_000:1_799, "cat_0"] = "level_new"

    # When scored
    report = score_window(synthetic_profile(), window)

    # Then the reasons say what happened
    assert report.feature("num_0").reasons == ("missing_values",)
    assert report.feature("num_0").null_rate_change == pytest.approx(0.1)
    cat = report.feature("cat_0")
    assert "unseen_categories" in cat.reasons
    assert cat.unseen_share == pytest.approx(0.08)
    assert cat.unseen_levels == ("level_new",)


def test_an_open_categorical_brings_new_levels_without_alarm() -> None:
    """merchant_id (thousands of merchants) meets unseen merchants every day; the expected share
    (Good-Turing, from the reference's own rare levels) keeps that from looking like drift."""
    # Given an undrifted demo day / When scored
    merchant = score_window(demo_profile(), demo_window(50_000, day=7)).feature("merchant_id")

    # Then unseen merchants are present, as expected, and not a reason to alarm
    assert merchant.unseen_share > 0.01
    assert merchant.unseen_share == pytest.approx(merchant.unseen_expected, abs=0.01)
    assert not merchant.drifted


def test_binned_statistics_agree_with_scipy_on_raw_data() -> None:
    """KS from the bins is at most the exact statistic and close to it; the categorical test is
    scipy's chi-square on the contingency table (a two-sample test, not goodness of fit)."""
    # Given two raw samples, one shifted by 0.1 SD
    rng = np.random.default_rng(5)
    reference, current = rng.normal(0, 1, 20_000), rng.normal(0.1, 1, 10_000)
    profile = numeric_profile(reference)
    edges, ref_counts = np.asarray(profile["edges"]), np.asarray(profile["counts"], dtype=float)

    # When both are computed from counts
    statistic, p_value = ks_from_counts(ref_counts, count_numeric(current, edges).counts.astype(float))
    exact = stats.ks_2samp(reference, current)
    table = np.array([[400.0, 300.0, 300.0], [380.0, 360.0, 260.0]])
    chi2, chi2_p = chi2_two_sample(table[0], table[1])
    expected = stats.chi2_contingency(table, correction=False)

    # Then they match the raw-data versions
    assert exact.statistic - 0.02 <= statistic <= exact.statistic + 1e-12
    assert p_value < 1e-3
    assert exact.pvalue < 1e-3
    assert chi2 == pytest.approx(expected.statistic)
    assert chi2_p == pytest.approx(expected.pvalue)


def test_wasserstein_from_bins_tracks_the_exact_distance() -> None:
    """The normalised Wasserstein distance from bin means is within a few percent of scipy's on raw rows."""
    # Given a skewed reference and a copy scaled by 1.3
    rng = np.random.default_rng(6)
    reference = rng.lognormal(3, 0.8, 20_000)
    current = rng.lognormal(3, 0.8, 10_000) * 1.3
    frame = synthetic_frame(20_000, seed=0, numeric=1, categorical=0)
    frame["num_0"] = reference
    profile = compile_profile(fit_profile(frame, synthetic_contract(1, 0)))

    # When scored
    found = score_window(profile, pd.DataFrame({"num_0": current})).feature("num_0")

    # Then the distance matches the exact one in reference SDs
    exact = stats.wasserstein_distance(reference, current) / reference.std()
    assert found.wasserstein == pytest.approx(exact, rel=0.05)


def test_benjamini_hochberg_and_holm_adjust_as_published() -> None:
    """Adjusted p-values match the textbook step-up (BH) and step-down (Holm) procedures."""
    # Given five p-values, one untestable
    p = np.array([0.01, 0.04, np.nan, 0.03, 0.005])

    # When adjusted / Then BH multiplies by k/rank with a running minimum, Holm by the hypotheses left
    assert adjust_p_values(p, "bh") == pytest.approx([0.02, 0.04, np.nan, 0.04, 0.02], nan_ok=True)
    assert adjust_p_values(p, "holm") == pytest.approx([0.03, 0.06, np.nan, 0.06, 0.02], nan_ok=True)
    assert adjust_p_values(p, "none") == pytest.approx(p, nan_ok=True)


def test_prediction_drift_on_the_score_distribution() -> None:
    """Scores from a riskier population drift; scores from the same population do not."""
    # Given a profile with the reference's scores and its flag rate at a 0.2 threshold
    frame = demo_reference()
    scores = frame["fraud_probability"].to_numpy()
    profile = fit_profile(frame, project_contract(), scores, {"flag_rate": float(np.mean(scores >= 0.2))}, 0.2)
    same = demo_window(10_000, day=8)
    riskier = demo_window(10_000, day=8, shift=TrafficShift(online_share=0.5, device_risk_shift=0.15))

    # When both days are scored with their scores
    calm = score_window(profile, same, scores=same["fraud_probability"].to_numpy()).prediction
    moved = score_window(profile, riskier, scores=riskier["fraud_probability"].to_numpy()).prediction

    # Then only the riskier day's scores drift, and its flag rate rose
    assert calm is not None
    assert moved is not None
    assert not calm.drifted
    assert moved.drifted
    assert moved.flag_rate_current > moved.flag_rate_reference
    assert moved.flag_rate_p_value < 0.05


def _strict_json(report: DriftReport) -> dict[str, object]:
    loaded: dict[str, object] = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    return loaded


def test_the_report_is_json_for_history_tables() -> None:
    """to_dict() is strict JSON (no NaN) with the dataset verdict, per-feature results and histograms."""
    # Given a drifted synthetic window
    window = synthetic_frame(5_000, seed=44, numeric=NUMERIC, categorical=CATEGORICAL, mean_shift_sd={"num_0": 1.0})
    window["surprise"] = 1

    # When scored and serialised
    payload = _strict_json(score_window(synthetic_profile(), window))

    # Then the verdict and the details are there
    assert payload["drifted_features"] == ["num_0"]
    assert payload["dataset_drifted"] is False
    assert payload["schema"] == [
        {
            "column": "surprise",
            "kind": "added",
            "detail": "column surprise is new (kind numeric)",
            "data": {"kind": "numeric"},
        }
    ]
    features = payload["features"]
    assert isinstance(features, list)
    assert len(features) == NUMERIC + CATEGORICAL
    assert features[0]["histogram"]["edges"]


def test_many_drifted_features_make_dataset_drift() -> None:
    """The dataset drifts when at least the configured share of features drift."""
    # Given a window with 12 of 40 features shifted by 0.5 SD or 15 points
    shifts = {f"num_{i}": 0.5 for i in range(6)}
    window = synthetic_frame(
        10_000,
        seed=45,
        numeric=NUMERIC,
        categorical=CATEGORICAL,
        mean_shift_sd=shifts,
        share_shift={f"cat_{i}": 0.15 for i in range(6)},
    )

    # When scored with the default (25%) and a stricter (50%) dataset threshold
    default = score_window(synthetic_profile(), window)
    strict = score_window(synthetic_profile(), window, settings=DriftSettings(dataset_drift_share=0.5))

    # Then 30% drifted: dataset drift by default, not under the 50% rule
    assert default.share_drifted == pytest.approx(0.3)
    assert default.dataset_drifted
    assert not strict.dataset_drifted


def test_an_empty_window_is_no_data_not_an_error() -> None:
    """A window with no rows reports every feature as without data."""
    # Given an empty window with the right columns / When scored
    report = score_window(
        synthetic_profile(), synthetic_frame(0, seed=46, numeric=NUMERIC, categorical=CATEGORICAL), scores=np.array([])
    )

    # Then nothing is judged and nothing drifted
    assert report.scored == 0
    assert {f.status for f in report.features} == {"no_data"}
    assert report.drifted_features == ()


def test_scores_reuse_the_same_machinery() -> None:
    """Synthetic calibrated scores shifted upward are flagged as prediction drift."""
    # Given a profile with scores, and a window of higher scores
    frame = synthetic_frame(20_000, seed=47, numeric=1, categorical=1)
    scores, labels = labelled_scores(20_000, seed=47)
    frame["label"] = labels
    profile = fit_profile(frame, synthetic_contract(1, 1), scores, {"flag_rate": 0.1}, 0.5)
    higher, _ = labelled_scores(5_000, seed=48, prevalence_shift=0.5)

    # When scored / Then the scores drift by distribution
    prediction = score_window(profile, frame.iloc[:5_000], scores=higher).prediction
    assert prediction is not None
    assert prediction.scores.reasons == ("distribution",)
