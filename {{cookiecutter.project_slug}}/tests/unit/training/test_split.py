"""Splitting into train, validation and holdout: by time, or seeded and stratified at random."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.core.contract import Contract, parse_contract
from {{ cookiecutter.package_name }}.data.tables import target_codes
from {{ cookiecutter.package_name }}.errors import DataError
from {{ cookiecutter.package_name }}.settings import TrainingSettings
from {{ cookiecutter.package_name }}.training import steps
from {{ cookiecutter.package_name }}.training.split import split_at_random, split_by_time, split_frame
from tests.support.project import id_column, make_settings, time_column, without_row_keys

ROWS = 2_000
POSITIVE_SHARE = 0.1


def table_contract(task: str = "binary_classification", **keys: str) -> Contract:
    """A small contract of the kind people start from: two numeric features and a target."""
    return parse_contract(
        {
            "task": task,
            "target": "y",
            **keys,
            "features": [{"name": "x one", "type": "numeric"}, {"name": "x_two", "type": "numeric"}],
        }
    )


def table(rows: int = ROWS, seed: int = 3) -> pd.DataFrame:
    """Rows with a rare positive class (10%), in no particular order."""
    rng = np.random.default_rng(seed)
    y = (rng.random(rows) < POSITIVE_SHARE).astype(int)
    return pd.DataFrame({"x one": rng.normal(size=rows) + y, "x_two": rng.normal(size=rows), "y": y})


def test_random_split_is_seeded_and_deterministic() -> None:
    """The same table and seed give the same split, row for row; another seed another one."""
    # Given a table without id or timestamp columns
    contract, frame = table_contract(), table()

    # When it is split twice with one seed and once with another
    first = split_at_random(frame, contract, 0.2, 0.15, seed=42)
    again = split_at_random(frame, contract, 0.2, 0.15, seed=42)
    other = split_at_random(frame, contract, 0.2, 0.15, seed=7)

    # Then the two splits with one seed are identical, the other seed holds out other rows
    for part in ("train", "valid", "holdout"):
        pd.testing.assert_frame_equal(getattr(first, part), getattr(again, part))
    assert set(first.holdout.index) != set(other.holdout.index)
    assert first.method == "random"
    assert "seed 42, stratified by the target" in first.description


def test_random_split_has_the_asked_for_sizes_disjoint_and_in_table_order() -> None:
    """Holdout and validation take their shares; the three parts cover every row once and
    keep the table's row order."""
    # Given a table / When split at random
    frame = table()
    split = split_at_random(frame, table_contract(), 0.2, 0.15, seed=42)

    # Then the sizes are as asked, the parts disjoint and complete, each in the table's order
    assert (len(split.holdout), len(split.valid)) == (round(0.2 * ROWS), round(0.15 * ROWS))
    parts = [split.train.index, split.valid.index, split.holdout.index]
    assert sorted(np.concatenate(parts).tolist()) == list(range(ROWS))
    assert all(part.is_monotonic_increasing for part in parts)


def test_random_split_is_stratified_by_the_target_for_classification() -> None:
    """Each part holds the positive class in the table's proportion (within one row), however
    rare it is; a regression target is shuffled without strata."""
    # Given a table with 10% positives
    frame = table()
    positives = int(frame["y"].sum())

    # When split at random for classification
    split = split_at_random(frame, table_contract(), 0.2, 0.15, seed=42)

    # Then every part's positive count is its share of the table's, within one row
    for part in (split.train, split.valid, split.holdout):
        assert abs(int(part["y"].sum()) - positives * len(part) / ROWS) <= 1

    # And a regression target is split at random too, not stratified
    regression = split_at_random(frame, table_contract("regression"), 0.2, 0.15, seed=42)
    assert len(regression.holdout) == round(0.2 * ROWS)
    assert "stratified" not in regression.description


def test_random_split_refuses_too_little_data_and_a_missing_class() -> None:
    """Too few rows, or a part without one of the classes, stop with the reason."""
    # Given 50 rows, and a table whose positive class is a single row
    few = table(50)
    lonely = table().assign(y=0)
    lonely.loc[0, "y"] = 1

    # When split / Then each says what is wrong
    with pytest.raises(DataError, match="too few to split"):
        split_at_random(few, table_contract(), 0.2, 0.15, seed=42)
    with pytest.raises(DataError, match="holds only one class of 'y'"):
        split_at_random(lonely, table_contract(), 0.2, 0.15, seed=42)


def test_auto_splits_by_time_with_a_timestamp_column_and_at_random_without() -> None:
    """`auto` (the default) is by time when the contract names a timestamp column, else at
    random; `time` without one is refused with the reason."""
    # Given the same rows under a contract with a timestamp column and one without
    frame = table().assign(when=pd.date_range("2026-01-01", periods=ROWS, freq="min")[::-1])
    timed, untimed = table_contract(timestamp_column="when"), table_contract()
    fractions: dict[str, Any] = {"holdout_fraction": 0.2, "validation_fraction": 0.15, "seed": 42}

    # When each is split as auto says
    by_time = split_frame(frame, timed, method="auto", **fractions)
    at_random = split_frame(frame.drop(columns="when"), untimed, method="auto", **fractions)

    # Then the first holds out the newest rows, the second a random stratified share
    assert by_time.method == "time"
    assert by_time.holdout["when"].min() >= by_time.valid["when"].max() >= by_time.train["when"].max()
    assert at_random.method == "random"
    with pytest.raises(DataError, match="no timestamp column"):
        split_frame(frame.drop(columns="when"), untimed, method="time", **fractions)
    assert split_frame(frame, timed, method="random", **fractions).method == "random"


def test_the_time_split_is_unchanged_for_the_projects_contract(
    tmp_path: Path, demo: pd.DataFrame, contract: Contract
) -> None:
    """The training step splits the project's data exactly as `split_by_time` always has
    (the newest slice held out, id breaking ties), and records that it did."""
    # Given the demo data and the project's contract (with a timestamp column), shuffled
    shuffled = demo.sample(frac=1.0, random_state=0)
    settings = make_settings(tmp_path / "state")

    # When the training step splits it with the default settings
    split = steps.split(shuffled, contract, settings)

    # Then it is the split by time as it always was: sorted by time then id, cut, frame for frame
    # (the target as the model learns it: the class indexes of a contract that names its classes)
    ordered = target_codes(shuffled, contract).sort_values([time_column(contract), id_column(contract)], kind="stable")
    ordered = ordered.reset_index(drop=True)
    n_train = len(ordered) - round(0.2 * len(ordered)) - round(0.15 * len(ordered))
    n_valid = round(0.15 * len(ordered))
    expected = [ordered.iloc[:n_train], ordered.iloc[n_train : n_train + n_valid], ordered.iloc[n_train + n_valid :]]
    assert settings.training.split == "auto"
    assert split.method == "time"
    for part, rows in zip((split.train, split.valid, split.holdout), expected, strict=True):
        pd.testing.assert_frame_equal(part, rows)
    direct = split_by_time(target_codes(shuffled, contract), contract, 0.2, 0.15)
    pd.testing.assert_frame_equal(direct.holdout, expected[2])


def test_without_row_keys_the_training_step_splits_at_random(
    tmp_path: Path, demo: pd.DataFrame, contract: Contract
) -> None:
    """The project's data without its id and timestamp columns: the training step splits it
    at random with the training seed."""
    # Given the demo data without its row keys
    keyless = without_row_keys(contract)
    frame = demo[keyless.columns]
    settings = make_settings(tmp_path / "state")

    # When the training step splits it
    split = steps.split(frame, keyless, settings)

    # Then it is the seeded random split (of the target as the model learns it)
    expected = split_at_random(target_codes(frame, keyless), keyless, 0.2, 0.15, seed=TrainingSettings().seed)
    assert split.method == "random"
    pd.testing.assert_frame_equal(split.holdout, expected.holdout)


def test_learned_until_is_the_holdouts_start_by_time_and_the_fresh_reads_end_at_random() -> None:
    """What a run learned from the prediction log ends where its holdout begins when split by
    time (the newest slice was never learned from); split at random, any fresh row may have
    been, so it ends where the fresh rows were read; with no fresh rows, it learned none."""
    from datetime import UTC, datetime

    from {{ cookiecutter.package_name }}.data.fresh_labels import FreshRows

    # Given a table with times, its two splits, and the fresh rows read from the log
    frame = table().assign(when=pd.date_range("2026-01-01", periods=ROWS, freq="min"))
    timed = table_contract(timestamp_column="when")
    fractions: dict[str, Any] = {"holdout_fraction": 0.2, "validation_fraction": 0.15, "seed": 42}
    by_time = split_frame(frame, timed, method="time", **fractions)
    at_random = split_frame(frame, timed, method="random", **fractions)
    read_at = datetime(2026, 1, 3, tzinfo=UTC)
    fresh = FreshRows(frame.tail(100), datetime(2026, 1, 1, tzinfo=UTC), read_at, labelled=100, off_contract=0)
    none = FreshRows(frame.head(0), datetime(2026, 1, 1, tzinfo=UTC), read_at, labelled=0, off_contract=0)

    # When / Then: by time, the holdout's first moment (in UTC); at random, the read's end
    cut = steps.learned_until(by_time, fresh, timed)
    assert cut == by_time.holdout["when"].min().tz_localize(UTC).to_pydatetime()
    assert cut is not None
    assert cut.tzinfo is not None
    assert steps.learned_until(at_random, fresh, timed) == read_at
    # And without fresh rows (or none in the window) nothing was learned from the log
    assert steps.learned_until(by_time, None, timed) is None
    assert steps.learned_until(by_time, none, timed) is None
