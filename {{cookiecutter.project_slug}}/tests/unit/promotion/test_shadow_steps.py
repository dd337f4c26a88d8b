"""Shadow evaluation's steps without a registry: pairing the log's answers of both roles."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.core.contract import Contract, Feature
from {{ cookiecutter.package_name }}.promotion.shadow_steps import PAIRED_COLUMNS, Lineup, pair_requests
from {{ cookiecutter.package_name }}.stores.registry import CHALLENGER, CHAMPION

CLASSES = ("barolo", "grignolino", "barbera")
LINEUP = Lineup("wine", champion="1", challenger="2")


def multiclass_contract() -> Contract:
    return Contract(
        task="multiclass_classification",
        target="cultivar",
        labels=CLASSES,
        features=(Feature(name="alcohol", type="numeric"), Feature(name="region", type="categorical")),
        segments=("region",),
    )


def log_row(request: str, role: str, version: str, probabilities: list[float] | None, **extra: Any) -> dict[str, Any]:
    """One row as `PredictionLog.window` returns it (features only on the champion's row)."""
    found = probabilities or [0.0]
    return {
        "alcohol": 13.0 if role == CHAMPION else None,
        "region": " Piedmont " if role == CHAMPION else None,
        "request_id": request,
        "logged_at": datetime(2026, 1, 1, tzinfo=UTC),
        "role": role,
        "model_version": version,
        "score": max(found),
        "decision": None,
        "latency_ms": 1.0,
        "probabilities": probabilities,
        "label": None,
        **extra,
    }


def test_multiclass_pairs_carry_both_probability_matrices() -> None:
    """Each request the current champion answered and the current challenger scored becomes one
    row holding both models' probabilities; another version's rows, and rows missing a
    class's probability, are left out; segments are cleaned the contract's way."""
    # Given the log's rows of both roles, with a stale version and an incomplete row
    rows = [
        log_row("a", CHAMPION, "1", [0.7, 0.2, 0.1], label=0.0),
        log_row("a", CHALLENGER, "2", [0.6, 0.3, 0.1], label=0.0),
        log_row("b", CHAMPION, "1", [0.1, 0.8, 0.1]),
        log_row("b", CHALLENGER, "2", [0.1, 0.2, 0.7]),
        log_row("c", CHAMPION, "1", [0.3, 0.3, 0.4]),
        log_row("c", CHALLENGER, "0", [0.3, 0.3, 0.4]),
        log_row("d", CHAMPION, "1", [0.5, 0.5]),
        log_row("d", CHALLENGER, "2", [0.3, 0.3, 0.4]),
        log_row("e", CHAMPION, "1", [0.2, 0.2, 0.6]),
        log_row("e", CHALLENGER, "2", None),
    ]
    frame = pd.DataFrame(rows)
    frame["label"] = frame["label"].astype("Float64")

    # When the requests are paired
    paired = pair_requests(frame, LINEUP, multiclass_contract())

    # Then a and b are paired with both models' probabilities and the label, where given
    assert list(paired.columns) == [*PAIRED_COLUMNS, "region"]
    assert paired["request_id"].tolist() == ["a", "b"]
    assert paired["champion_probabilities"].tolist() == [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]]
    assert paired["challenger_probabilities"].tolist() == [[0.6, 0.3, 0.1], [0.1, 0.2, 0.7]]
    assert paired["challenger_score"].tolist() == pytest.approx([0.6, 0.7])
    assert paired["label"].iloc[0] == 0.0
    assert pd.isna(paired["label"].iloc[1])
    assert paired["region"].tolist() == [Feature(name="region", type="categorical").clean(" Piedmont ")] * 2
