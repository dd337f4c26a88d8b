"""Data with known truth for the drift and performance tests: the demo world, and synthetic tables.

Imported as `tests.support.drift_data`. Everything is seeded; the same call gives the same rows.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from {{ cookiecutter.package_name }}.core.contract import Contract, load_contract, parse_contract
from {{ cookiecutter.package_name }}.data.demo_world import TrafficShift, TransactionGenerator

PROJECT_ROOT = Path(__file__).resolve().parents[2]
REFERENCE_ROWS = 20_000
LIVE_START = datetime(2026, 4, 1, tzinfo=UTC)


@cache
def project_contract() -> Contract:
    """The project's contract, as the drift and performance tests score the demo world: with
    its hidden fraud probability, a binary classifier's score. A multiclass project's contract
    (the kind of fraud) is read as the binary one of the same world (`is_fraud`); its own
    classes are tested where the model answers them (tests/integration/test_multiclass.py)."""
    contract = load_contract(PROJECT_ROOT / "contract.yaml")
    if contract.is_multiclass:
        return contract.model_copy(update={"task": "binary_classification", "target": "is_fraud", "labels": None})
    return contract


@cache
def demo_reference() -> pd.DataFrame:
    """Thirty days of demo transactions: the "training holdout" the profile is fitted on."""
    return TransactionGenerator(seed=7).sample(REFERENCE_ROWS, datetime(2026, 1, 1, tzinfo=UTC), days=30)


def demo_window(rows: int, day: int = 0, shift: TrafficShift | None = None) -> pd.DataFrame:
    """A day of live traffic from the same world (no drift unless `shift` says so)."""
    start = LIVE_START + timedelta(days=day)
    return TransactionGenerator(seed=7).sample(rows, start, shift=shift or TrafficShift(), id_prefix="live")


# --- synthetic tables: many independent features with exactly known distributions ---------------------

LEVELS = 20


def synthetic_contract(numeric: int, categorical: int, task: str = "binary_classification") -> Contract:
    features = [{"name": f"num_{i}", "type": "numeric", "nullable": True} for i in range(numeric)]
    features += [
        {"name": f"cat_{i}", "type": "categorical", "categories": [f"level_{k:02d}" for k in range(LEVELS)]}
        for i in range(categorical)
    ]
    return parse_contract(
        {
            "task": task,
            "target": "label",
            "id_column": "row_id",
            "timestamp_column": "event_time",
            "features": features,
            "segments": ["cat_0"] if categorical else [],
        }
    )


def level_shares(column: int) -> np.ndarray:
    """Zipf-like shares, different per column: common levels and rare ones."""
    weights = 1.0 / np.arange(1, LEVELS + 1) ** (0.3 + 0.05 * (column % 5))
    return np.asarray(weights / weights.sum())


def _numeric_column(i: int, n: int, rng: np.random.Generator, shift_sd: float) -> np.ndarray:
    """Four families in turn (normal, skewed, heavy-tailed with ties, bounded), each with a
    known standard deviation so that a shift can be stated in SDs; 5% nulls in every other."""
    family = i % 4
    if family == 0:
        values, sd = rng.normal(10.0, 2.0, n), 2.0
    elif family == 1:
        values, sd = rng.lognormal(3.0, 0.8, n), float(np.sqrt((np.exp(0.64) - 1) * np.exp(6.64)))
    elif family == 2:
        values, sd = rng.poisson(4.0, n).astype(float), 2.0
    else:
        values, sd = rng.beta(2.0, 5.0, n), float(np.sqrt(10 / (49 * 8)))
    values = values + shift_sd * sd
    if i % 2:
        values[rng.random(n) < 0.05] = np.nan
    return values


def synthetic_frame(
    n: int,
    seed: int,
    numeric: int = 20,
    categorical: int = 20,
    mean_shift_sd: dict[str, float] | None = None,
    share_shift: dict[str, float] | None = None,
) -> pd.DataFrame:
    """Independent features. `mean_shift_sd` moves a numeric feature by that many of its SDs;
    `share_shift` gives level_00 of a categorical that many more percentage points of share
    (taken from the other levels in proportion)."""
    rng = np.random.default_rng(seed)
    mean_shift_sd, share_shift = mean_shift_sd or {}, share_shift or {}
    columns: dict[str, object] = {}
    for i in range(numeric):
        columns[f"num_{i}"] = _numeric_column(i, n, rng, mean_shift_sd.get(f"num_{i}", 0.0))
    names = np.array([f"level_{k:02d}" for k in range(LEVELS)], dtype=object)
    for i in range(categorical):
        shares = level_shares(i)
        moved = share_shift.get(f"cat_{i}", 0.0)
        if moved:
            shares = np.concatenate(([shares[0] + moved], shares[1:] * (1 - shares[0] - moved) / (1 - shares[0])))
        columns[f"cat_{i}"] = names[rng.choice(LEVELS, size=n, p=shares)]
    return pd.DataFrame(columns)


def labelled_scores(n: int, seed: int, prevalence_shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated scores (the true probability of the label) and labels drawn from them."""
    rng = np.random.default_rng(seed)
    probability = 1 / (1 + np.exp(-(rng.normal(-4.5 + prevalence_shift, 1.6, n))))
    return probability, (rng.random(n) < probability).astype(int)
