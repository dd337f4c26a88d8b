"""What the model card says about a version's canary phase, read from the version's tags."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from {{ cookiecutter.package_name }}.core.contract import Contract, Feature
from {{ cookiecutter.package_name }}.promotion.canary_guards import judge
from {{ cookiecutter.package_name }}.promotion.card_view import canary_lines
from {{ cookiecutter.package_name }}.settings import CanarySettings


def test_the_card_shows_the_canary_start_verdict_guards_and_rollback() -> None:
    """A version that was a canary and was rolled back shows when it started and at which share,
    the last verdict with each guard's figures, and who rolled it back and why."""
    # Given the tags a rolled-back canary leaves (its evidence from a real judgement)
    frame = pd.DataFrame({"role": ["champion", "canary"], "score": [0.1, 0.2], "latency_ms": [1.0, 1.0]})
    evidence = judge(
        frame,
        Contract(task="binary_classification", target="y", features=(Feature(name="x", type="numeric"),)),
        CanarySettings(),
        model_name="m",
        champion="1",
        canary="2",
        share=0.1,
        started_at=datetime(2026, 1, 1, tzinfo=UTC),
        now=datetime(2026, 1, 2, tzinfo=UTC),
        duration_over=True,
    )
    tags = {
        "canary.started_at": "2026-01-01T00:00:00+00:00",
        "canary.share": "0.1",
        "canary.decision": "rollback",
        "canary.reason": "score_psi breached",
        "canary.evaluated_at": "2026-01-02T00:00:00+00:00",
        "canary.champion_version": "1",
        "canary.evidence": evidence.to_json(),
        "canary.rolled_back.at": "2026-01-02T00:00:00+00:00",
        "canary.rolled_back.by": "canary-evaluation flow run",
        "canary.rolled_back": "score_psi breached",
    }

    # When the card's canary lines are written
    text = "\n".join(canary_lines(tags))

    # Then they name the start and share, the verdict, every guard and the rollback
    assert "Canary from 2026-01-01T00:00:00+00:00, answering a share of 0.1" in text
    assert "against champion version 1 (2026-01-02T00:00:00+00:00): rollback: score_psi breached." in text
    for guard in ("error_rate", "latency_p99", "score_psi", "metric"):
        assert f"  - {guard}:" in text
    assert "Canary rolled back 2026-01-02T00:00:00+00:00 by canary-evaluation flow run" in text


def test_a_version_without_a_canary_has_no_canary_lines() -> None:
    """Off by default: a version never run as a canary says nothing about one."""
    assert canary_lines({"shadow.decision": "promote"}) == []
