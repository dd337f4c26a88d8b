"""Replay without a registry or a log: the champion's labelled answers, the challenger's offline
answers paired with them, and the verdict on shadow evaluation's evidence."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from {{ cookiecutter.package_name }}.core.contract import Contract, Feature
from {{ cookiecutter.package_name }}.promotion import replay
from {{ cookiecutter.package_name }}.promotion.shadow_evidence import (
    KEEP_WAITING,
    PROMOTE,
    REJECT,
    Rules,
    SegmentResult,
    ShadowEvidence,
)
from {{ cookiecutter.package_name }}.promotion.shadow_statistics import evaluate_pairs
from {{ cookiecutter.package_name }}.promotion.shadow_steps import Lineup, pair_requests
from {{ cookiecutter.package_name }}.stores.registry import CHALLENGER, CHAMPION
from tests.support.shadow_data import multiclass_paired_frame, paired_frame

LINEUP = Lineup("fraud", champion="1", challenger="2")


def evidence(paired: pd.DataFrame, task: str = "binary_classification") -> ShadowEvidence:
    return evaluate_pairs(
        paired,
        task=task,
        segments=["channel", "card_type"],
        rules=Rules(),
        model_name="fraud",
        champion_version="1",
        challenger_version="2",
        window=("2026-01-01T00:00:00", "2026-01-15T00:00:00"),
        evaluated_at="2026-01-15T00:00:00",
    )


def test_a_challenger_shadow_evaluation_would_promote_is_better() -> None:
    """Better with confidence and no segment worse: the verdict is better, with shadow's reason."""
    # Given replayed requests on which the challenger ranks better everywhere
    found = evidence(paired_frame(4000, seed=0, challenger_noise=0.6))

    # When judged
    verdict = replay.judge(found)

    # Then
    assert found.decision == PROMOTE
    assert verdict.verdict == replay.BETTER
    assert verdict.reason.startswith("better with 95% confidence")


def test_a_challenger_worse_on_one_segment_is_worse_though_better_overall() -> None:
    """A judged segment worse beyond the tolerance makes the verdict worse, naming the segment
    with both values and the interval, even when the challenger is better overall."""
    # Given a challenger better overall that misses the positives on prepaid cards
    found = evidence(
        paired_frame(4000, seed=2, challenger_noise=0.6, challenger_signal_on={("card_type", "prepaid"): 0.2})
    )

    # When judged
    verdict = replay.judge(found)

    # Then
    assert found.overall is not None
    assert found.overall.ci_low > 0
    assert verdict.verdict == replay.WORSE
    (prepaid,) = [r for r in verdict.reasons if r.startswith("worse on card_type=prepaid: average_precision")]
    assert prepaid.endswith("tolerance 5%)")
    assert all(r.startswith("worse on ") for r in verdict.reasons)
    # And only segments worse with confidence are named (an estimate alone is shadow's to judge)
    confident = [s for s in found.segments if s.worse and s.comparison is not None and s.comparison.ci_high < 0]
    assert len(verdict.reasons) == len(confident)
    assert ("card_type", "prepaid") in [(s.column, s.value) for s in confident]


def test_a_segment_worse_only_by_its_estimate_is_left_for_shadow_to_judge() -> None:
    """A segment shadow's rule calls worse (its estimate past the tolerance) but whose interval
    reaches zero does not keep the challenger from shadow: the verdict is not enough evidence,
    and the reason names the segment."""
    # Given evidence with one segment worse by its estimate, its interval spanning zero
    found = evidence(
        paired_frame(4000, seed=2, challenger_noise=0.6, challenger_signal_on={("card_type", "prepaid"): 0.2})
    )

    def unsure(segment: SegmentResult) -> SegmentResult:
        if not segment.worse or segment.comparison is None:
            return segment
        spanning = dataclasses.replace(segment.comparison, ci_high=abs(segment.comparison.improvement))
        return dataclasses.replace(segment, comparison=spanning)

    found = dataclasses.replace(found, segments=[unsure(s) for s in found.segments])
    named = ", ".join(f"{s.column}={s.value}" for s in found.segments if s.worse)
    assert "card_type=prepaid" in named

    # When judged
    verdict = replay.judge(found)

    # Then it goes on to shadow, with the reason why replay did not stop it
    assert verdict.verdict == replay.NOT_ENOUGH
    assert verdict.reason == f"worse on {named} by the estimate, not with confidence: shadow judges"


def test_a_challenger_worse_overall_with_confidence_is_worse() -> None:
    """Without segments to blame, an interval wholly below zero makes the verdict worse."""
    # Given a much noisier challenger, judged on no segment
    paired = paired_frame(4000, seed=1, challenger_noise=2.0).drop(columns=["channel", "card_type"])

    # When judged
    verdict = replay.judge(evidence(paired))

    # Then
    assert verdict.verdict == replay.WORSE
    assert verdict.reason.startswith("worse with 95% confidence: average_precision")


def test_too_few_labelled_requests_or_no_confident_difference_is_not_enough_evidence() -> None:
    """Below the minimum sample, or with twin models, the verdict is not enough evidence (what
    shadow evaluation would keep waiting on or reject for lack of a confident improvement)."""
    # Given a few requests, and many requests with the same model's scores twice
    few = evidence(paired_frame(300, seed=3, challenger_noise=0.6))
    twins = paired_frame(4000, seed=4)
    twins["challenger_score"] = twins["champion_score"]

    # When judged
    verdicts = replay.judge(few), replay.judge(evidence(twins))

    # Then
    assert (few.decision, verdicts[1].evidence.decision) == (KEEP_WAITING, REJECT)
    assert [v.verdict for v in verdicts] == [replay.NOT_ENOUGH, replay.NOT_ENOUGH]
    assert "labelled requests scored by both models" in verdicts[0].reason
    assert verdicts[1].reason.startswith("not better with 95% confidence")


def answered(labels: list[float | None], versions: list[str] | None = None) -> pd.DataFrame:
    """The champion's rows as `PredictionLog.window` returns them (features expanded)."""
    n = len(labels)
    return pd.DataFrame(
        {
            "channel": ["online"] * n,
            "card_type": [" Prepaid "] * n,
            "request_id": [f"r{i}" for i in range(n)],
            "logged_at": [datetime(2026, 1, 1, tzinfo=UTC)] * n,
            "role": [CHAMPION] * n,
            "model_version": versions or ["1"] * n,
            "score": np.linspace(0.1, 0.9, n),
            "decision": pd.array([False] * n, dtype="boolean"),
            "latency_ms": [1.0] * n,
            "probabilities": [None] * n,
            "label": pd.array(labels, dtype="Float64"),
        }
    )


def test_labelled_answers_are_the_current_champions_labelled_rows() -> None:
    """Only the named champion version's rows with a label are replayed."""
    # Given rows of two champion versions, some unlabelled
    frame = answered([1.0, None, 0.0, 1.0], versions=["1", "1", "0", "1"])

    # When the replayed rows are chosen
    found = replay.labelled_answers(frame, "1")

    # Then
    assert found["request_id"].tolist() == ["r0", "r3"]


def contract(task: str, labels: tuple[str, ...] | None = None) -> Contract:
    return Contract(
        task=task,
        target="y",
        labels=labels,
        features=(Feature(name="channel", type="categorical"), Feature(name="card_type", type="categorical")),
        segments=("channel", "card_type"),
    )


def test_offline_answers_pair_with_the_champions_rows() -> None:
    """The challenger's offline scores and decisions become shadow rows that pair one to one with
    the champion's answers: the same table shadow evaluation reads, segments cleaned."""
    # Given three labelled champion answers and the challenger's scores for them
    rows = answered([1.0, 0.0, 1.0])
    scores = np.array([0.8, 0.1, 0.4])

    # When paired
    offline = replay.offline_answers(rows, scores, "2", scores >= 0.5)
    paired = pair_requests(pd.concat([rows, offline], ignore_index=True), LINEUP, contract("binary_classification"))

    # Then
    assert paired["request_id"].tolist() == ["r0", "r1", "r2"]
    assert paired["challenger_score"].tolist() == [0.8, 0.1, 0.4]
    assert paired["challenger_decision"].tolist() == [True, False, False]
    assert paired["champion_score"].tolist() == rows["score"].tolist()
    assert paired["label"].tolist() == [1.0, 0.0, 1.0]
    assert set(paired["card_type"]) == {"prepaid"}
    assert offline["role"].unique().tolist() == [CHALLENGER]


def test_multiclass_offline_answers_carry_every_class() -> None:
    """A multiclass challenger's rows hold every class's probability and the answered class's
    as the score; they pair with champion rows that hold theirs."""
    # Given champion answers with probabilities, and the challenger's matrix
    rows = answered([0.0, 2.0])
    rows["probabilities"] = [[0.6, 0.3, 0.1], [0.2, 0.2, 0.6]]
    matrix = np.array([[0.2, 0.7, 0.1], [0.1, 0.1, 0.8]])

    # When paired
    offline = replay.offline_answers(rows, matrix, "2")
    wine = contract("multiclass_classification", labels=("a", "b", "c"))
    paired = pair_requests(pd.concat([rows, offline], ignore_index=True), LINEUP, wine)

    # Then
    assert paired["challenger_probabilities"].tolist() == matrix.tolist()
    assert paired["challenger_score"].tolist() == [0.7, 0.8]
    assert paired["champion_probabilities"].tolist() == [[0.6, 0.3, 0.1], [0.2, 0.2, 0.6]]


def test_a_multiclass_replay_is_judged_on_macro_f1() -> None:
    """The verdict works on a multiclass evidence as on any other: worse on a segment named."""
    # Given a multiclass challenger that answers at random on prepaid cards
    paired = multiclass_paired_frame(
        3000, seed=5, challenger_noise=1.0, challenger_signal_on={("card_type", "prepaid"): 0.0}
    )

    # When judged
    verdict = replay.judge(evidence(paired, task="multiclass_classification"))

    # Then
    assert verdict.verdict == replay.WORSE
    assert "worse on card_type=prepaid: macro_f1" in verdict.reason


def test_the_summary_carries_the_figures() -> None:
    """The summary holds the verdict, the overall figures with their interval and each segment's."""
    # Given a judged replay
    verdict = replay.judge(evidence(paired_frame(4000, seed=0, challenger_noise=0.6)))

    # When summarised
    summary: dict[str, Any] = verdict.summary()

    # Then
    assert summary["verdict"] == replay.BETTER
    assert summary["overall"]["metric"] == "average_precision"
    assert summary["overall"]["ci_low"] <= summary["overall"]["improvement"] <= summary["overall"]["ci_high"]
    assert {(s["segment"], s["value"]) for s in summary["segments"]} >= {("card_type", "prepaid")}


def test_replay_starts_after_what_the_version_learned_from_the_log() -> None:
    """Replay never judges a version on the requests it was trained on: its window starts just
    after the version's `training.learned_until`, or where it was asked when that is later or
    absent (naive times are UTC, as the log keeps them)."""
    # Given a window asked to start on 1 March, in UTC and naive
    start = datetime(2026, 3, 1, tzinfo=UTC)
    naive = start.replace(tzinfo=None)

    # When the version learned from the log until 3 March / until 1 February / not at all
    later = replay.unseen_from(start, "2026-03-03T12:00:00+00:00")
    earlier = replay.unseen_from(start, "2026-02-01T00:00:00+00:00")

    # Then the window starts just after 3 March's cut, at 1 March, or at 1 March
    assert later == datetime(2026, 3, 3, 12, 0, 0, 1, tzinfo=UTC)
    assert earlier == start
    assert replay.unseen_from(start, None) == start
    assert replay.unseen_from(naive, "2026-03-03T12:00:00+00:00") == datetime(
        2026, 3, 3, 12, 0, 0, 1, tzinfo=UTC
    ).replace(tzinfo=None)
