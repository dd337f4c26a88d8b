"""Reading tables, preparing them to the contract, and the demo world."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.core.contract import Contract
from {{ cookiecutter.package_name }}.data.demo_world import DEMO_START, TrafficShift, TransactionGenerator, demo_frame
from {{ cookiecutter.package_name }}.data.tables import fingerprint, prepare_frame, read_table, write_table
from {{ cookiecutter.package_name }}.errors import DataError


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", b"", "the file is empty"),
        ("header.csv", b"a,b\n", "header but no rows"),
        ("binary.parquet", b"this is not parquet", "not a readable parquet file"),
        ("data.xlsx", b"x", "unsupported file type"),
    ],
    ids=["empty", "header-only", "not-parquet", "unsupported-suffix"],
)
def test_unusable_files_give_one_line_errors(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    """Empty, header-only, corrupt or unsupported files each fail with their own reason."""
    # Given a file that cannot serve as data
    path = tmp_path / name
    path.write_bytes(content)

    # When it is read
    with pytest.raises(DataError) as caught:
        read_table(path)

    # Then the error says why, on one line, naming the file
    assert message in str(caught.value)
    assert str(path) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_missing_file_is_named(tmp_path: Path) -> None:
    """A path that does not exist is reported as such."""
    # Given a path with nothing behind it / When it is read / Then the error says so
    with pytest.raises(DataError, match="no such file"):
        read_table(tmp_path / "nope.csv")


def test_csv_and_parquet_round_trip_to_the_same_prepared_frame(tmp_path: Path, contract: Contract) -> None:
    """A table written as CSV or Parquet prepares to identical features."""
    # Given demo data written both ways
    frame = demo_frame(contract, 2_000, 7)
    csv, parquet = write_table(frame, tmp_path / "d.csv"), write_table(frame, tmp_path / "d.parquet")

    # When both are read and prepared
    from_csv = prepare_frame(read_table(csv), contract)
    from_parquet = prepare_frame(read_table(parquet), contract)

    # Then they hold the same values
    pd.testing.assert_frame_equal(from_csv, from_parquet, check_dtype=False)


def test_prepare_rejects_a_missing_target(contract: Contract) -> None:
    """Without the target column there is nothing to train on: say so before validation."""
    # Given demo data without its target
    frame = demo_frame(contract, 500, 7).drop(columns=[contract.target])

    # When it is prepared / Then the error names the target
    with pytest.raises(DataError, match=f"target column '{contract.target}' is missing"):
        prepare_frame(frame, contract)


def test_prepare_normalises_categoricals_and_parses_booleans(contract: Contract) -> None:
    """Messy text categoricals are normalised, and booleans written as text are parsed."""
    # Given a table with oddly written categories and text booleans
    frame = demo_frame(contract, 500, 7)
    frame["channel"] = frame["channel"].str.upper() + "  "
    frame["card_present"] = frame["card_present"].map({True: "yes", False: "no"})

    # When it is prepared
    prepared = prepare_frame(frame, contract)

    # Then categories are in their contract form and booleans are booleans
    assert set(prepared["channel"]) <= set(contract.feature("channel").allowed_categories or ())
    assert str(prepared["card_present"].dtype) == "boolean"


def test_generator_is_deterministic_and_realistic() -> None:
    """Same seed, same rows; a 0.5-3% fraud rate; missing values where real data has them."""
    # Given two generators with the same seed
    first = TransactionGenerator(seed=3).sample(20_000, DEMO_START, days=30)
    second = TransactionGenerator(seed=3).sample(20_000, DEMO_START, days=30)

    # Then they produce identical data
    pd.testing.assert_frame_equal(first, second)
    assert fingerprint(first) == fingerprint(second)

    # And it looks like card traffic
    assert 0.005 <= first["is_fraud"].mean() <= 0.03
    assert first["transaction_id"].is_unique
    assert first["merchant_id"].nunique() > 500  # high cardinality
    assert first["device_risk_score"][first["card_present"]].isna().all()  # no device at a terminal
    assert 0 < first["customer_age"].isna().mean() < 0.1
    assert first["event_time"].is_monotonic_increasing


def test_traffic_shift_injects_incidents() -> None:
    """The simulator's knobs produce the incidents they name."""
    # Given one day of normal traffic and the same day with incidents
    generator = TransactionGenerator(seed=3)
    normal = generator.sample(10_000, DEMO_START, days=1)
    shifted = generator.sample(
        10_000,
        DEMO_START,
        days=1,
        shift=TrafficShift(amount_scale=1.8, extra_columns=("account_type",), fraud_pattern="card_testing"),
    )

    # Then amounts grew, a column appeared, and fraud moved to small amounts
    assert shifted["amount"].median() > 1.5 * normal["amount"].median()
    assert "account_type" in shifted.columns
    assert "account_type" not in normal.columns
    small = shifted["amount"] < 5
    assert shifted.loc[small, "is_fraud"].mean() > 5 * normal.loc[normal["amount"] < 5, "is_fraud"].mean()
