"""Shadow evaluation's statistics and decision rules, on synthetic traffic with a known truth."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score

from {{ cookiecutter.package_name }}.core.bootstrap import resample_counts, weighted_average_precision, weighted_rmse
from {{ cookiecutter.package_name }}.promotion.shadow_evidence import KEEP_WAITING, PROMOTE, REJECT, Rules, ShadowEvidence
from {{ cookiecutter.package_name }}.promotion.shadow_statistics import agreement, compare, evaluate_pairs
from tests.support.shadow_data import paired_frame

SEGMENTS = ("channel", "card_type")
RULES = Rules()


def evaluate(paired: pd.DataFrame, rules: Rules = RULES, task: str = "binary_classification") -> ShadowEvidence:
    return evaluate_pairs(
        paired,
        task=task,
        segments=SEGMENTS,
        rules=rules,
        model_name="fraud",
        champion_version="1",
        challenger_version="2",
        window=("2026-01-01T00:00:00+00:00", "2026-01-15T00:00:00+00:00"),
        evaluated_at="2026-01-15T00:00:00+00:00",
    )


# --- the statistics ------------------------------------------------------------------------------


def test_weighted_average_precision_is_scikit_learns_with_ties_and_repeats() -> None:
    """With unit weights it equals scikit-learn's average precision (ties included); with
    counts it equals scikit-learn's on the rows repeated that often, which is what a
    bootstrap resample is."""
    # Given labels and coarsely rounded scores (many ties), and resample counts
    rng = np.random.default_rng(3)
    y = (rng.random(3000) < 0.1).astype(float)
    scores = np.round(np.clip(0.3 * y + rng.normal(0.3, 0.2, 3000), 0, 1), 2)
    counts = resample_counts(rng, len(y), 3)

    # When the weighted version is computed
    unit = weighted_average_precision(y, scores, np.ones((1, len(y)), dtype=np.int32))[0]
    resampled = weighted_average_precision(y, scores, counts)

    # Then it matches scikit-learn exactly
    assert unit == pytest.approx(average_precision_score(y, scores), abs=1e-12)
    for row, found in zip(counts, resampled, strict=True):
        expected = average_precision_score(np.repeat(y, row), np.repeat(scores, row))
        assert found == pytest.approx(expected, abs=1e-12)


def test_average_precision_of_a_resample_without_positives_is_nan() -> None:
    """A resample that drew no positive has no average precision (NaN), not zero."""
    # Given one positive among many rows, and a resample that skips it
    y = np.array([1.0, 0.0, 0.0, 0.0])
    weights = np.array([[0, 2, 1, 1], [1, 1, 1, 1]], dtype=np.int32)

    # When the metric is computed / Then the first is NaN, the second defined
    found = weighted_average_precision(y, np.array([0.9, 0.1, 0.2, 0.3]), weights)
    assert math.isnan(found[0])
    assert found[1] == pytest.approx(1.0)


def test_weighted_rmse_matches_the_plain_formula() -> None:
    """Weighted RMSE with counts equals RMSE on the repeated rows."""
    # Given predictions and counts
    y = np.array([1.0, 2.0, 3.0, 4.0])
    predictions = np.array([1.5, 2.0, 2.0, 5.0])
    counts = np.array([[1, 2, 0, 1]], dtype=np.int32)

    # When / Then
    expected = np.sqrt(np.mean((np.repeat(y, counts[0]) - np.repeat(predictions, counts[0])) ** 2))
    assert weighted_rmse(y, predictions, counts)[0] == pytest.approx(expected)


def test_the_bootstrap_is_seeded_and_its_interval_holds_the_estimate() -> None:
    """The same rows and seed give the same interval; the interval surrounds the observed
    improvement; another seed moves it only a little."""
    # Given a challenger that ranks better than the champion
    paired = paired_frame(3000, seed=5, challenger_noise=0.7)
    y = paired["label"].to_numpy()
    args = (paired["champion_score"].to_numpy(), paired["challenger_score"].to_numpy())

    # When the comparison is run twice with one seed and once with another
    first = compare("binary_classification", y, *args, resamples=500, confidence=0.95, seed=1)
    again = compare("binary_classification", y, *args, resamples=500, confidence=0.95, seed=1)
    other = compare("binary_classification", y, *args, resamples=500, confidence=0.95, seed=2)

    # Then the results are identical, the interval holds the estimate, and is positive
    assert first == again
    assert first.ci_low < first.improvement < first.ci_high
    assert first.ci_low > 0
    assert first.improvement == other.improvement
    assert abs(first.ci_low - other.ci_low) < 0.02


def test_regression_improvement_is_a_lower_rmse() -> None:
    """For regression the primary metric is RMSE, lower is better: a more accurate
    challenger has a positive improvement."""
    # Given a target and two predictors, the challenger closer to the truth
    rng = np.random.default_rng(0)
    y = rng.normal(10, 3, 2000)
    champion = y + rng.normal(0, 2.0, 2000)
    challenger = y + rng.normal(0, 1.0, 2000)

    # When they are compared
    found = compare("regression", y, champion, challenger, resamples=300, confidence=0.95, seed=0)

    # Then RMSE is the metric and the improvement is positive with confidence
    assert (found.metric, found.higher_is_better) == ("rmse", False)
    assert found.challenger < found.champion
    assert found.improvement == pytest.approx(found.champion - found.challenger)
    assert found.ci_low > 0


def test_agreement_correlation_and_latency() -> None:
    """Decision agreement is the share of equal decisions, correlation is Pearson's on the
    scores, and each model's latency is summarised."""
    # Given four requests whose decisions agree on three
    paired = pd.DataFrame(
        {
            "champion_score": [0.1, 0.2, 0.8, 0.9],
            "challenger_score": [0.2, 0.3, 0.7, 0.4],
            "champion_decision": pd.array([False, False, True, True], dtype="boolean"),
            "challenger_decision": pd.array([False, False, True, False], dtype="boolean"),
            "champion_latency_ms": [1.0, 1.0, 1.0, 1.0],
            "challenger_latency_ms": [2.0, 2.0, 2.0, 10.0],
        }
    )

    # When agreement is measured
    found = agreement(paired)

    # Then
    assert found.n == 4
    assert found.decision_agreement == pytest.approx(0.75)
    expected = np.corrcoef(paired["champion_score"], paired["challenger_score"])[0, 1]
    assert found.score_correlation == pytest.approx(expected)
    assert found.champion_latency is not None
    assert found.challenger_latency is not None
    assert found.champion_latency.p50_ms == pytest.approx(1.0)
    assert found.challenger_latency.mean_ms == pytest.approx(4.0)


# --- the decision rules --------------------------------------------------------------------------


def test_a_better_challenger_is_promoted() -> None:
    """A challenger that ranks better everywhere is better with confidence and no segment is
    worse: promote."""
    # Given traffic where the challenger is less noisy
    paired = paired_frame(4000, seed=0, challenger_noise=0.7)

    # When it is evaluated
    evidence = evaluate(paired)

    # Then it is promoted, the interval is above zero, and every segment was judged
    assert evidence.decision == PROMOTE, evidence.reason
    assert evidence.overall is not None
    assert evidence.overall.ci_low > 0
    assert all(s.judged and not s.worse for s in evidence.segments)
    assert {s.column for s in evidence.segments} == set(SEGMENTS)


def test_a_worse_challenger_is_rejected() -> None:
    """A noisier challenger is not better with confidence: reject, saying so."""
    # Given traffic where the challenger is noisier
    paired = paired_frame(4000, seed=1, challenger_noise=1.4)

    # When it is evaluated
    evidence = evaluate(paired)

    # Then it is rejected, and the reason gives the metric and its interval
    assert evidence.decision == REJECT
    assert evidence.overall is not None
    assert evidence.overall.ci_high < 0
    assert "not better with 95% confidence: average_precision" in evidence.reason


def test_better_overall_but_worse_on_a_segment_is_rejected() -> None:
    """A challenger better on average but much worse for one group (it misses the frauds on
    prepaid cards) is rejected, naming the segment."""
    # Given traffic where the challenger is better except on prepaid cards
    paired = paired_frame(4000, seed=2, challenger_noise=0.6, challenger_signal_on={("card_type", "prepaid"): 0.2})

    # When it is evaluated
    evidence = evaluate(paired)

    # Then overall it is better with confidence, yet it is rejected for prepaid cards
    assert evidence.overall is not None
    assert evidence.overall.ci_low > 0
    assert evidence.decision == REJECT
    worse = {(s.column, s.value) for s in evidence.segments if s.worse}
    assert ("card_type", "prepaid") in worse
    assert "worse on card_type=prepaid" in evidence.reason
    assert "not better" not in evidence.reason


def test_too_few_labelled_requests_keep_waiting() -> None:
    """Below the minimum sample no decision is made, however good the challenger looks."""
    # Given a much better challenger, but only 600 of the requests labelled so far
    paired = paired_frame(2000, seed=3, challenger_noise=0.5, labelled_share=0.3)

    # When it is evaluated with the default minimum of 1000
    evidence = evaluate(paired)

    # Then the decision is to keep waiting, saying how many are needed
    assert evidence.decision == KEEP_WAITING
    assert evidence.paired == 2000
    assert evidence.labelled < RULES.min_samples
    assert f"{RULES.min_samples} needed" in evidence.reason


def test_too_few_positives_keep_waiting() -> None:
    """Enough requests but too few positives (average precision would be noise): keep waiting."""
    # Given 2000 labelled requests with a 0.5% positive rate (~10 positives)
    paired = paired_frame(2000, seed=4, positive_rate=0.005, challenger_noise=0.5)

    # When it is evaluated
    evidence = evaluate(paired)

    # Then
    assert evidence.decision == KEEP_WAITING
    assert f"{RULES.min_positives} needed" in evidence.reason


def test_a_segment_with_too_few_samples_is_reported_but_not_judged() -> None:
    """A segment below the minimum segment sample is listed but cannot block a promotion."""
    # Given a better challenger that is bad on prepaid cards, with segments needing 1000 rows
    paired = paired_frame(4000, seed=2, challenger_noise=0.6, challenger_signal_on={("card_type", "prepaid"): 0.2})
    rules = Rules(min_segment_samples=1000)

    # When it is evaluated
    evidence = evaluate(paired, rules)

    # Then prepaid (~600 requests) is not judged and the challenger is promoted
    prepaid = next(s for s in evidence.segments if s.value == "prepaid")
    assert not prepaid.judged
    assert prepaid.comparison is None
    assert evidence.decision == PROMOTE, evidence.reason


def test_the_minimum_improvement_raises_the_bar() -> None:
    """With a minimum improvement above what the interval supports, a better challenger is rejected."""
    # Given a better challenger whose improvement is about +0.13
    paired = paired_frame(4000, seed=0, challenger_noise=0.7)

    # When the rules demand at least +0.3
    evidence = evaluate(paired, Rules(min_improvement=0.3))

    # Then it is rejected
    assert evidence.decision == REJECT


def test_evidence_round_trips_through_json() -> None:
    """The evidence is JSON (NaN becomes null) and reads back into the same structure."""
    # Given the evidence of an evaluation, some of whose numbers are undefined
    evidence = evaluate(paired_frame(1500, seed=6, positive_rate=0.01))

    # When it goes through JSON and back
    text = evidence.to_json()
    again = ShadowEvidence.from_dict(json.loads(text))

    # Then it is the same evidence (NaN compares unequal, so compare the JSON)
    assert "NaN" not in text
    assert again.to_json() == text
    assert again.decision == evidence.decision
    assert [s.value for s in again.segments] == [s.value for s in evidence.segments]
