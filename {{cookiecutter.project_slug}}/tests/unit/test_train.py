"""Splitting by time, and the float32-exact thresholds that make ONNX parity exact."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.contract import Contract
from {{ cookiecutter.package_name }}.errors import DataError
from {{ cookiecutter.package_name }}.train import float32_thresholds, split_by_time


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
    # Given 100 rows / When split / Then a clear error
    with pytest.raises(DataError, match="too few to split"):
        split_by_time(demo.head(100), contract, 0.2, 0.15)


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
