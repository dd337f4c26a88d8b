"""Splitting by time, and the float32-exact thresholds that make ONNX parity exact."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.core.contract import Contract
from {{ cookiecutter.package_name }}.errors import DataError
from {{ cookiecutter.package_name }}.training.fit import float32_thresholds
from {{ cookiecutter.package_name }}.training.split import split_by_time


def test_split_keeps_time_order_and_holds_out_the_newest(demo: pd.DataFrame, contract: Contract) -> None:
    """Train, validation and holdout follow each other in time; the holdout is the most recent."""
    # Given shuffled demo data
    shuffled = demo.sample(frac=1.0, random_state=0)

    # When split
    split = split_by_time(shuffled, contract, holdout_fraction=0.2, validation_fraction=0.15)

    # Then the slices do not overlap in time and have the asked-for sizes
    ts = contract.timestamp_column
    assert split.train[ts].max() <= split.valid[ts].min()
    assert split.valid[ts].max() <= split.holdout[ts].min()
    assert len(split.holdout) == round(0.2 * len(demo))
    assert len(split.train) + len(split.valid) + len(split.holdout) == len(demo)


def test_split_refuses_too_little_data(demo: pd.DataFrame, contract: Contract) -> None:
    """A table too small to split says so instead of training on nothing."""
    # Given 50 rows / When split / Then a clear error
    with pytest.raises(DataError, match="too few to split"):
        split_by_time(demo.head(50), contract, 0.2, 0.15)


def test_float32_thresholds_change_no_prediction_and_are_float32_exact() -> None:
    """Rounding thresholds down to float32 leaves predictions on float32 inputs unchanged,
    and every numerical threshold becomes exactly representable in float32 (as in ONNX)."""
    # Given a model trained on values that sit close to float32 rounding boundaries
    rng = np.random.default_rng(0)
    x = rng.integers(0, 10_000, size=(5_000, 3)).astype(np.float32) / np.float32(10_000)
    y = (x[:, 0] + 0.3 * x[:, 1] > 0.6).astype(float)
    booster = lgb.train({"objective": "binary", "verbosity": -1, "seed": 1, "num_leaves": 31}, lgb.Dataset(x, y), 50)

    # When the thresholds are moved
    fixed = lgb.Booster(model_str=float32_thresholds(booster.model_to_string()))

    # Then predictions are identical and thresholds are float32 values
    np.testing.assert_array_equal(fixed.predict(x), booster.predict(x))
    trees = fixed.dump_model()["tree_info"]
    thresholds = [float(str(node["threshold"])) for tree in trees for node in _splits(tree["tree_structure"])]
    assert thresholds
    assert all(float(np.float32(t)) == t for t in thresholds)


def _splits(node: dict[str, object]) -> list[dict[str, object]]:
    if "split_index" not in node:
        return []
    return [node, *_splits(node["left_child"]), *_splits(node["right_child"])]  # type: ignore[arg-type]


def test_gate_does_not_call_float32_noise_worse(contract: Contract) -> None:
    """A retrained identical model scores the champion's metric up to float32 rounding:
    the gate must not reject it as worse; a real regression is still rejected."""
    from {{ cookiecutter.package_name }}.core.metrics import primary_metric
    from {{ cookiecutter.package_name }}.settings import Settings
    from {{ cookiecutter.package_name }}.training.gate import decide_gate

    # Given passing metrics and a champion that scored the same up to float32 noise
    settings = Settings()
    primary = primary_metric(contract.task)
    metrics = {
        "average_precision": 0.5,
        "roc_auc": 0.9,
        "macro_f1": 0.6,
        "balanced_accuracy": 0.7,
        "rmse": 4.9697,
        "r2": 0.8,
    }
    noisy = metrics[primary.name] * (1 + 5e-7 if primary.higher_is_better else 1 - 5e-7)
    worse = metrics[primary.name] * (1.01 if primary.higher_is_better else 0.99)

    # When judged against each champion
    passed_noise, _ = decide_gate(metrics, contract, settings, champion_metric=noisy)
    passed_worse, reason = decide_gate(metrics, contract, settings, champion_metric=worse)

    # Then noise passes and a real gap fails, naming the champion
    assert passed_noise
    assert not passed_worse
    assert "worse than the champion" in reason
