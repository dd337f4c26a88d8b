"""The canary's verdict on constructed windows: each guard's breach, a clean completion, and
waiting while there is not enough to judge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.core.contract import Contract, Feature
from {{ cookiecutter.package_name }}.promotion.canary_guards import COMPLETE, ROLLBACK, WAIT, CanaryEvidence, judge
from {{ cookiecutter.package_name }}.settings import CanarySettings
from {{ cookiecutter.package_name }}.stores.prediction_log_schema import CANARY, CANARY_FAILED, CHAMPION

CONTRACT = Contract(task="binary_classification", target="fraud", features=(Feature(name="amount", type="numeric"),))
RULES = CanarySettings(enabled=True, min_answers=400, min_labelled=300, max_score_psi=0.2)
STARTED = datetime(2026, 3, 1, tzinfo=UTC)


def answers(
    role: str,
    n: int,
    seed: int,
    *,
    latency_ms: float = 2.0,
    informative: bool = True,
    shift: float = 0.0,
    labelled: bool = False,
) -> pd.DataFrame:
    """`n` answers of one role as the prediction log returns them: scores like a fraud model's
    (mostly low), labels drawn from the true risk, which an informative model's score follows."""
    rng = np.random.default_rng(seed)
    risk = rng.beta(1.5, 8.0, n)
    label = (rng.random(n) < risk).astype(float)
    score = np.clip(risk + shift, 0, 1) if informative else rng.beta(1.5, 8.0, n)
    return pd.DataFrame(
        {
            "role": role,
            "score": score,
            "latency_ms": rng.gamma(4.0, latency_ms / 4.0, n),
            "label": label if labelled else np.nan,
            "probabilities": None,
        }
    )


def verdict(*parts: pd.DataFrame, hours: float = 30.0, rules: CanarySettings = RULES) -> CanaryEvidence:
    frame = pd.concat(parts, ignore_index=True)
    now = STARTED + timedelta(hours=hours)
    return judge(
        frame,
        CONTRACT,
        rules,
        model_name="fraud",
        champion="1",
        canary="2",
        share=0.1,
        started_at=STARTED,
        now=now,
        duration_over=hours >= rules.duration_hours,
    )


def test_a_clean_canary_completes_once_its_time_is_up() -> None:
    """Both models alike on every guard (labels included): after `duration_hours` the
    promotion completes, every guard having judged."""
    evidence = verdict(answers(CHAMPION, 4000, 1, labelled=True), answers(CANARY, 1000, 2, labelled=True))
    assert evidence.decision == COMPLETE, evidence.reason
    assert all(g.judged and not g.breached for g in evidence.guards)


def test_a_clean_canary_waits_for_its_duration() -> None:
    """Nothing breached but the canary's time is not up: keep waiting."""
    evidence = verdict(answers(CHAMPION, 4000, 1), answers(CANARY, 1000, 2), hours=3)
    assert evidence.decision == WAIT
    assert "runs 24 h" in evidence.reason


def test_too_few_answers_wait_whatever_the_figures() -> None:
    """Under `min_answers` canary answers no guard judges, even a canary that looks far
    slower on its few answers, and the verdict is to wait."""
    evidence = verdict(answers(CHAMPION, 4000, 1), answers(CANARY, 50, 2, latency_ms=50.0))
    assert evidence.decision == WAIT
    assert not any(g.judged for g in evidence.guards)
    assert "50 records" in evidence.reason


@pytest.mark.parametrize(
    ("guard", "canary"),
    [
        ("latency_p99", answers(CANARY, 1000, 2, latency_ms=8.0)),
        ("score_psi", answers(CANARY, 1000, 2, shift=0.25)),
        ("metric", answers(CANARY, 1000, 2, informative=False, labelled=True)),
    ],
)
def test_each_guard_breaches_alone_and_rolls_back(guard: str, canary: pd.DataFrame) -> None:
    """A canary four times slower, shifted in its scores, or no better than chance on its
    labelled answers breaches that guard alone, and the verdict is a rollback, before its
    time is up, naming the guard and its figures."""
    evidence = verdict(answers(CHAMPION, 4000, 1, labelled=True), canary, hours=2)
    assert evidence.decision == ROLLBACK
    assert [g.name for g in evidence.breaches] == [guard]
    assert guard in evidence.reason


def test_records_the_canary_failed_on_are_its_errors() -> None:
    """Records the canary failed to score (answered by the champion, logged `canary_failed`)
    count as the canary's errors: 5% of them against none of the champion's is a breach."""
    failed = answers(CANARY_FAILED, 50, 3)
    evidence = verdict(answers(CHAMPION, 4000, 1), answers(CANARY, 950, 2), failed, hours=2)
    assert evidence.decision == ROLLBACK
    error = evidence.guard("error_rate")
    assert error is not None
    assert error.breached
    assert error.canary == pytest.approx(0.05)


def test_the_evidence_survives_json() -> None:
    """The evidence goes on the version as JSON (NaN as null) and reads back whole."""
    import json

    evidence = verdict(answers(CHAMPION, 4000, 1), answers(CANARY, 50, 2))
    back = CanaryEvidence.from_dict(json.loads(evidence.to_json()))
    assert back.decision == evidence.decision
    assert [g.name for g in back.guards] == [g.name for g in evidence.guards]


def multiclass_answers(role: str, n: int, seed: int, *, informative: bool) -> pd.DataFrame:
    """`n` labelled answers of a three-class model: every class's probability, as the log keeps them."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 3, n)
    probabilities = rng.dirichlet(np.ones(3), n)
    if informative:  # most of the weight on the true class
        probabilities = 0.3 * probabilities + 0.7 * np.eye(3)[label]
    return pd.DataFrame(
        {
            "role": role,
            "score": probabilities.max(axis=1),
            "latency_ms": 2.0,
            "label": label.astype(float),
            "probabilities": list(probabilities.tolist()),
        }
    )


def test_a_multiclass_canary_is_judged_on_macro_f1_from_every_class_probability() -> None:
    """A three-class canary that guesses is breached on macro F1 (from each answer's
    probabilities); one as good as the champion is not."""
    contract = Contract(
        task="multiclass_classification",
        target="kind",
        labels=("a", "b", "c"),
        features=(Feature(name="amount", type="numeric"),),
    )
    champion = multiclass_answers(CHAMPION, 2000, 1, informative=True)
    for informative, breached in ((False, True), (True, False)):
        frame = pd.concat([champion, multiclass_answers(CANARY, 800, 2, informative=informative)], ignore_index=True)
        evidence = judge(
            frame,
            contract,
            RULES,
            model_name="kinds",
            champion="1",
            canary="2",
            share=0.1,
            started_at=STARTED,
            now=STARTED + timedelta(hours=30),
            duration_over=True,
        )
        metric = evidence.guard("metric")
        assert metric is not None
        assert metric.metric == "macro_f1"
        assert metric.breached is breached, metric.detail


def test_the_score_distribution_guard_is_off_unless_a_limit_is_set() -> None:
    """Unset (the default), the score guard never judges: a retrained model's scores differ
    from the champion's by design, so even a shifted canary completes on the other guards."""
    rules = CanarySettings(enabled=True, min_answers=400, min_labelled=300)
    evidence = verdict(answers(CHAMPION, 4000, 1), answers(CANARY, 1000, 2, shift=0.25), rules=rules)
    score = evidence.guard("score_psi")
    assert score is not None
    assert (score.judged, score.breached, score.detail) == (False, False, "off (canary.max_score_psi unset)")
    assert evidence.decision == COMPLETE, evidence.reason
