"""Synthetic shadow traffic with a known truth: how good each model is, overall and per segment.

Scores are a logistic function of the label plus Gaussian noise: the more noise,
the worse a model ranks (`multiclass_paired_frame`: a softmax of noisy logits, three
classes). `paired_frame` is what `shadow_steps.pair_requests`
returns; `log_rows` writes the same requests into a prediction log, as the
service would (champion and challenger rows, then labels).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from {{ cookiecutter.package_name }}.core.contract import Contract
from {{ cookiecutter.package_name }}.stores.prediction_log import PredictionLog
from {{ cookiecutter.package_name }}.stores.prediction_log_schema import CHALLENGER, CHAMPION
from {{ cookiecutter.package_name }}.stores.prediction_rows import PredictionRow

CHANNELS = (("atm", 0.1), ("online", 0.4), ("phone", 0.1), ("pos", 0.4))
CARD_TYPES = (("credit", 0.5), ("debit", 0.35), ("prepaid", 0.15))


def _sigmoid(values: np.ndarray) -> np.ndarray:
    # np.asarray pins the type: numpy's stubs give Any here on some Python versions only
    return np.asarray(1 / (1 + np.exp(-values)), dtype=float)


def paired_frame(
    n: int = 4000,
    *,
    seed: int = 0,
    positive_rate: float = 0.1,
    champion_noise: float = 1.0,
    challenger_noise: float = 1.0,
    challenger_signal_on: Mapping[tuple[str, str], float] | None = None,
    labelled_share: float = 1.0,
) -> pd.DataFrame:
    """`n` requests both models scored. `challenger_signal_on={("card_type", "prepaid"): 0.2}`
    keeps only a fifth of the challenger's signal on one segment: it misses most of the
    positives there, while ranking the rest as well as before."""
    rng = np.random.default_rng(seed)
    label = (rng.random(n) < positive_rate).astype(float)
    channel = rng.choice([c for c, _ in CHANNELS], size=n, p=[p for _, p in CHANNELS])
    card_type = rng.choice([c for c, _ in CARD_TYPES], size=n, p=[p for _, p in CARD_TYPES])
    strength = np.ones(n)
    for (column, value), kept in (challenger_signal_on or {}).items():
        strength[(channel if column == "channel" else card_type) == value] = kept
    champion = _sigmoid(2.5 * label - 2.0 + rng.normal(0.0, champion_noise, n))
    challenger = _sigmoid(2.5 * label * strength - 2.0 + rng.normal(0.0, challenger_noise, n))
    labelled = rng.random(n) < labelled_share
    return pd.DataFrame(
        {
            "request_id": [f"req-{seed}-{i:06d}" for i in range(n)],
            "logged_at": pd.Timestamp("2026-01-01") + pd.to_timedelta(np.arange(n), unit="s"),
            "label": np.where(labelled, label, np.nan),
            "champion_score": champion,
            "challenger_score": challenger,
            "champion_decision": pd.array(champion >= 0.5, dtype="boolean"),
            "challenger_decision": pd.array(challenger >= 0.5, dtype="boolean"),
            "champion_latency_ms": rng.gamma(2.0, 0.5, n),
            "challenger_latency_ms": rng.gamma(2.0, 0.7, n),
            "channel": channel,
            "card_type": card_type,
        }
    )


CLASSES = ("barolo", "grignolino", "barbera")
CLASS_MIX = (0.4, 0.35, 0.25)


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return np.asarray(shifted / shifted.sum(axis=1, keepdims=True), dtype=float)


def multiclass_paired_frame(
    n: int = 3000,
    *,
    seed: int = 0,
    mix: tuple[float, ...] = CLASS_MIX,
    champion_noise: float = 1.5,
    challenger_noise: float = 1.5,
    challenger_signal_on: Mapping[tuple[str, str], float] | None = None,
    labelled_share: float = 1.0,
) -> pd.DataFrame:
    """`paired_frame` for a model of `len(mix)` classes: each model's logits are 2 for the
    true class plus Gaussian noise, its probabilities their softmax (the more noise, the more
    often the most probable class is wrong); the score is the most probable class's
    probability, the decision missing, the label the class's index, as the log keeps them.
    `challenger_signal_on={("card_type", "prepaid"): 0.0}` takes the challenger's signal away
    on one segment: it answers at random there."""
    rng = np.random.default_rng(seed)
    k = len(mix)
    label = rng.choice(k, size=n, p=list(mix))
    channel = rng.choice([c for c, _ in CHANNELS], size=n, p=[p for _, p in CHANNELS])
    card_type = rng.choice([c for c, _ in CARD_TYPES], size=n, p=[p for _, p in CARD_TYPES])
    strength = np.ones(n)
    for (column, value), kept in (challenger_signal_on or {}).items():
        strength[(channel if column == "channel" else card_type) == value] = kept
    truth = np.eye(k)[label]
    champion = _softmax(2.0 * truth + rng.normal(0.0, champion_noise, (n, k)))
    challenger = _softmax(2.0 * truth * strength[:, None] + rng.normal(0.0, challenger_noise, (n, k)))
    labelled = rng.random(n) < labelled_share
    return pd.DataFrame(
        {
            "request_id": [f"req-{seed}-{i:06d}" for i in range(n)],
            "logged_at": pd.Timestamp("2026-01-01") + pd.to_timedelta(np.arange(n), unit="s"),
            "label": np.where(labelled, label.astype(float), np.nan),
            "champion_score": champion.max(axis=1),
            "challenger_score": challenger.max(axis=1),
            "champion_decision": pd.array([None] * n, dtype="boolean"),
            "challenger_decision": pd.array([None] * n, dtype="boolean"),
            "champion_latency_ms": rng.gamma(2.0, 0.5, n),
            "challenger_latency_ms": rng.gamma(2.0, 0.7, n),
            "champion_probabilities": champion.tolist(),
            "challenger_probabilities": challenger.tolist(),
            "channel": channel,
            "card_type": card_type,
        }
    )


def traffic_for(
    contract: Contract,
    n: int,
    *,
    seed: int,
    challenger_noise: float,
    challenger_signal_on: Mapping[tuple[str, str], float] | None = None,
    labelled_share: float = 1.0,
) -> pd.DataFrame:
    """Paired traffic shaped like the contract's model: `paired_frame` for a binary or
    regression project's flows, `multiclass_paired_frame` (one class in two the first, the
    rest alike; noise scaled to its champion's 1.5) for a multiclass one."""
    if not contract.is_multiclass:
        return paired_frame(
            n,
            seed=seed,
            challenger_noise=challenger_noise,
            challenger_signal_on=challenger_signal_on,
            labelled_share=labelled_share,
        )
    k = contract.n_classes
    return multiclass_paired_frame(
        n,
        seed=seed,
        mix=(0.5, *([0.5 / (k - 1)] * (k - 1))),
        challenger_noise=1.5 * challenger_noise,
        challenger_signal_on=challenger_signal_on,
        labelled_share=labelled_share,
    )


def log_rows(
    log: PredictionLog,
    paired: pd.DataFrame,
    *,
    model_name: str,
    champion_version: str,
    challenger_version: str,
    start: datetime,
    record: Mapping[str, object],
) -> None:
    """Write `paired` into the prediction log as live traffic from `start` on (one request a
    second): the champion's answer, the challenger's shadow score, then the labels. `record`
    is a valid request body; each request overrides its segment fields."""
    rows: list[PredictionRow] = []
    multiclass = "champion_probabilities" in paired.columns
    for i, row in enumerate(paired.itertuples(index=False)):
        features = {**record, "channel": row.channel, "card_type": row.card_type}
        for role, version, prefix in (
            (CHAMPION, champion_version, "champion"),
            (CHALLENGER, challenger_version, "challenger"),
        ):
            rows.append(
                PredictionRow(
                    request_id=str(row.request_id),
                    role=role,
                    logged_at=start + timedelta(seconds=i),
                    occurred_at=start + timedelta(seconds=i),
                    model_name=model_name,
                    model_version=version,
                    record_id=None,
                    features=features,
                    score=float(getattr(row, f"{prefix}_score")),
                    decision=None if multiclass else bool(getattr(row, f"{prefix}_decision")),
                    latency_ms=float(getattr(row, f"{prefix}_latency_ms")),
                    schema_events=None,
                    probabilities=list(getattr(row, f"{prefix}_probabilities")) if multiclass else None,
                )
            )
    log.record(rows)  # one transaction: fine for a test, unlike the service's one per request
    labelled = paired[paired["label"].notna()]
    log.add_labels(zip(labelled["request_id"], labelled["label"], strict=True), source="test")
