"""Shadow evaluation of a multiclass model: the paired bootstrap on macro F1 from both models'
probability matrices, overall and per segment, on synthetic traffic with a known truth."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from {{ cookiecutter.package_name }}.promotion.shadow_evidence import KEEP_WAITING, PROMOTE, REJECT, Rules, ShadowEvidence
from {{ cookiecutter.package_name }}.promotion.shadow_statistics import agreement, compare, evaluate_pairs, role_scores
from {{ cookiecutter.package_name }}.promotion.shadow_steps import decision_row, markdown, table_rows
from tests.support.shadow_data import CLASSES, multiclass_paired_frame

TASK = "multiclass_classification"
SEGMENTS = ("channel", "card_type")
RULES = Rules()


def evaluate(paired: pd.DataFrame, rules: Rules = RULES) -> ShadowEvidence:
    return evaluate_pairs(
        paired,
        task=TASK,
        segments=SEGMENTS,
        rules=rules,
        model_name="wine",
        champion_version="1",
        challenger_version="2",
        window=("2026-01-01T00:00:00+00:00", "2026-01-15T00:00:00+00:00"),
        evaluated_at="2026-01-15T00:00:00+00:00",
        class_labels=CLASSES,
    )


def test_compare_is_macro_f1_of_the_most_probable_class() -> None:
    """Each model's value is scikit-learn's macro F1 of its most probable class, and the
    interval of a clearly better challenger lies above zero."""
    # Given a challenger less noisy than the champion
    paired = multiclass_paired_frame(2000, seed=1, challenger_noise=1.0)
    y = paired["label"].to_numpy()
    old, new = role_scores(TASK, paired, "champion"), role_scores(TASK, paired, "challenger")

    # When they are compared
    found = compare(TASK, y, old, new, resamples=300, confidence=0.95, seed=0)

    # Then the metric is macro F1, as scikit-learn computes it, and the challenger is better
    assert old.shape == (2000, len(CLASSES))
    assert (found.metric, found.higher_is_better, found.positives) == ("macro_f1", True, None)
    assert found.champion == pytest.approx(f1_score(y, old.argmax(axis=1), average="macro"))
    assert found.challenger == pytest.approx(f1_score(y, new.argmax(axis=1), average="macro"))
    assert found.ci_low < found.improvement < found.ci_high
    assert found.ci_low > 0


def test_agreement_is_the_share_answering_the_same_class() -> None:
    """Agreement is the share of requests both answer with the same class (there are no yes/no
    decisions), and the correlation runs over every class's probability."""
    # Given three requests, the models answering the same class on two
    old = [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.3, 0.5]]
    new = [[0.6, 0.3, 0.1], [0.2, 0.3, 0.5], [0.1, 0.2, 0.7]]
    paired = pd.DataFrame(
        {
            "champion_score": [0.7, 0.8, 0.5],
            "challenger_score": [0.6, 0.5, 0.7],
            "champion_decision": pd.array([None] * 3, dtype="boolean"),
            "challenger_decision": pd.array([None] * 3, dtype="boolean"),
            "champion_latency_ms": [1.0, 1.0, 1.0],
            "challenger_latency_ms": [2.0, 2.0, 2.0],
            "champion_probabilities": old,
            "challenger_probabilities": new,
        }
    )

    # When agreement is measured
    found = agreement(paired, TASK)

    # Then
    assert found.decision_agreement == pytest.approx(2 / 3)
    assert found.score_correlation == pytest.approx(np.corrcoef(np.ravel(old), np.ravel(new))[0, 1])


def test_a_better_multiclass_challenger_is_promoted() -> None:
    """A challenger whose most probable class is right more often, everywhere, is better on
    macro F1 with confidence and no segment is worse: promote; the evidence counts the
    labelled requests per class."""
    # Given traffic where the challenger is less noisy
    paired = multiclass_paired_frame(3000, seed=0, challenger_noise=1.0)

    # When it is evaluated
    evidence = evaluate(paired)

    # Then it is promoted on macro F1, every segment judged and none worse
    assert evidence.decision == PROMOTE, evidence.reason
    assert evidence.overall is not None
    assert evidence.overall.metric == "macro_f1"
    assert evidence.overall.ci_low > 0.05
    assert evidence.positives is None
    assert evidence.classes is not None
    assert list(evidence.classes) == list(CLASSES)
    assert sum(evidence.classes.values()) == evidence.labelled == 3000
    assert all(s.judged and not s.worse for s in evidence.segments)
    assert {s.column for s in evidence.segments} == set(SEGMENTS)
    assert evidence.agreement.decision_agreement is not None
    assert 0.5 < evidence.agreement.decision_agreement < 1.0


def test_a_worse_multiclass_challenger_is_rejected() -> None:
    """A noisier challenger is not better with confidence: reject, naming macro F1."""
    # Given traffic where the challenger is noisier
    paired = multiclass_paired_frame(3000, seed=1, challenger_noise=2.0)

    # When it is evaluated
    evidence = evaluate(paired)

    # Then it is rejected, the interval below zero
    assert evidence.decision == REJECT
    assert evidence.overall is not None
    assert evidence.overall.ci_high < 0
    assert "not better with 95% confidence: macro_f1" in evidence.reason


def test_better_overall_but_worse_on_a_segment_is_rejected() -> None:
    """A challenger better on average but guessing on prepaid cards is rejected for that segment."""
    # Given traffic where the challenger is better except on prepaid cards, where it has no signal
    paired = multiclass_paired_frame(
        4000, seed=2, challenger_noise=1.0, challenger_signal_on={("card_type", "prepaid"): 0.0}
    )

    # When it is evaluated
    evidence = evaluate(paired)

    # Then it is better overall with confidence, yet rejected for prepaid cards alone
    assert evidence.overall is not None
    assert evidence.overall.ci_low > 0
    assert evidence.decision == REJECT
    assert {(s.column, s.value) for s in evidence.segments if s.worse} == {("card_type", "prepaid")}
    assert "worse on card_type=prepaid: macro_f1" in evidence.reason
    assert "not better" not in evidence.reason
    prepaid = next(s for s in evidence.segments if s.value == "prepaid")
    assert prepaid.classes is not None
    assert sum(prepaid.classes.values()) == prepaid.n


def test_too_few_labelled_requests_keep_waiting() -> None:
    """Below the minimum sample no decision is made, however good the challenger looks."""
    # Given a much better challenger, but only about 600 requests labelled
    paired = multiclass_paired_frame(2000, seed=3, challenger_noise=0.8, labelled_share=0.3)

    # When it is evaluated
    evidence = evaluate(paired)

    # Then
    assert evidence.decision == KEEP_WAITING
    assert f"{RULES.min_samples} needed" in evidence.reason


def test_labels_of_a_single_class_keep_waiting() -> None:
    """Labels that hold one class only (macro F1 would judge that class's F1 alone) keep
    waiting: two classes need `min_positives` labelled requests each; a segment holding one
    class is listed, not judged."""
    # Given a better challenger on 2000 labelled requests, nearly all of one class
    paired = multiclass_paired_frame(2000, seed=4, mix=(0.99, 0.005, 0.005), challenger_noise=0.8)

    # When it is evaluated
    evidence = evaluate(paired)

    # Then it keeps waiting, saying why, and no segment is judged
    assert evidence.decision == KEEP_WAITING
    assert f"1 classes with {RULES.min_positives} labelled requests or more among them, 2 needed" in evidence.reason
    assert evidence.classes is not None
    assert evidence.classes["barolo"] > 1900
    assert not any(s.judged for s in evidence.segments)


def test_two_classes_are_enough_to_decide() -> None:
    """Labels holding two of the three classes are enough: macro F1 averages over those two."""
    # Given a better challenger and no barbera among the labels
    paired = multiclass_paired_frame(2000, seed=5, mix=(0.6, 0.4, 0.0), challenger_noise=0.8)

    # When it is evaluated
    evidence = evaluate(paired)

    # Then a decision is made
    assert evidence.classes is not None
    assert evidence.classes["barbera"] == 0
    assert evidence.decision == PROMOTE, evidence.reason


def test_the_evidence_history_row_and_artifacts_carry_the_classes() -> None:
    """The evidence goes through JSON with its class counts; the history row keeps macro F1
    and its interval; the table and the markdown show the classes and the class agreement."""
    # Given the evidence of a multiclass evaluation
    evidence = evaluate(multiclass_paired_frame(3000, seed=0, challenger_noise=1.0))

    # When it is stored and shown
    again = ShadowEvidence.from_dict(json.loads(evidence.to_json()))
    row = decision_row(evidence)
    table = table_rows(evidence)
    text = markdown(evidence)

    # Then
    assert again.to_json() == evidence.to_json()
    assert again.classes == evidence.classes
    assert (row.primary_metric, row.decision, row.n) == ("macro_f1", PROMOTE, 3000)
    assert row.ci_lower is not None
    assert row.ci_lower > 0
    assert row.evidence is not None
    assert row.evidence["classes"] == evidence.classes
    assert table[0]["classes"].startswith("barolo ")
    assert table[0]["positives"] is None
    assert "Class agreement" in text
    assert "champion macro_f1" in text
