"""Retraining data: the freshest labelled answers from the prediction log, on top of the base data."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.core.contract import Contract
from {{ cookiecutter.package_name }}.data import fresh_labels as retraining
from {{ cookiecutter.package_name }}.errors import ValidationFailed
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.stores import prediction_log as predictions
from {{ cookiecutter.package_name }}.stores.prediction_log import PredictionLog
from {{ cookiecutter.package_name }}.stores.prediction_log_schema import CHALLENGER, CHAMPION
from {{ cookiecutter.package_name }}.stores.prediction_rows import PredictionRow
from tests.support.project import (
    as_written,
    id_column,
    logged_labels,
    make_settings,
    other_label,
    own_project,
    time_column,
    without_row_keys,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def training_data(base: pd.DataFrame, settings: Settings, contract: Contract) -> pd.DataFrame:
    """What the training flow's read-fresh-labelled-rows and add-fresh-rows steps make of `base`."""
    return retraining.add_fresh_rows(base, retraining.read_fresh_rows(settings, contract, now=NOW), settings, contract)


def as_received(frame: pd.DataFrame, contract: Contract) -> list[dict[str, Any]]:
    """Rows of a prepared table as JSON request bodies (what the service logs as received)."""
    columns = [f.name for f in contract.features] + contract.row_keys
    records = []
    for row in frame[columns].to_dict("records"):
        record: dict[str, Any] = {}
        for column, value in row.items():
            key = str(column)
            if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
                record[key] = None
            elif isinstance(value, pd.Timestamp):
                record[key] = value.isoformat()
            elif hasattr(value, "item"):
                record[key] = value.item()
            else:
                record[key] = value
        records.append(record)
    return records


def log_answers(
    log: PredictionLog,
    records: Sequence[Mapping[str, Any]],
    contract: Contract,
    *,
    at: datetime,
    labels: Sequence[float] | None,
    role: str = CHAMPION,
    prefix: str = "req",
    events: list[dict[str, Any]] | None = None,
) -> list[str]:
    """Log one answer per record, a minute apart from `at`, then labels for the first ones (if given)."""
    ids = [f"{prefix}-{i}" for i in range(len(records))]
    log.record(
        [
            PredictionRow(
                request_id=request_id,
                role=role,
                logged_at=(at + timedelta(minutes=i)).replace(tzinfo=None),  # naive UTC, as the service logs
                occurred_at=(at + timedelta(minutes=i)).replace(tzinfo=None),
                model_name="fraud-detection",
                model_version="1",
                record_id=str(record.get(contract.id_column)) if contract.id_column is not None else None,
                features=dict(record),
                score=0.1,
                decision=False,
                latency_ms=1.0,
                schema_events=events,
            )
            for i, (request_id, record) in enumerate(zip(ids, records, strict=True))
        ]
    )
    if labels is not None:
        log.add_labels(zip(ids[: len(labels)], labels, strict=True), source="test")
    return ids


@pytest.fixture
def settings_log(settings: Settings) -> Any:
    """The log the settings point at, which retraining reads (not the conftest's empty log on each database)."""
    log = predictions.from_settings(settings)
    yield log
    log.close()


def test_log_rows_become_training_rows_in_the_contracts_columns(contract: Contract, demo: pd.DataFrame) -> None:
    """Features as received (numbers sent as text parsed, unknown fields left out), the label as
    the target, the caller's id and event time."""
    # Given two logged answers, one with an amount sent as text and an unannounced field
    records = as_received(demo.head(2), contract)
    records[0] = {**records[0], "amount": "12.5", "account_type": "business"}
    ids, times = id_column(contract), time_column(contract)
    logged = pd.DataFrame(records).assign(
        request_id=["r1", "r2"],
        record_id=pd.Series([records[0][ids], None], dtype=object),
        logged_at=[NOW.replace(tzinfo=None)] * 2,
        occurred_at=[NOW.replace(tzinfo=None)] * 2,
        label=pd.array([1.0, 0.0], dtype="Float64"),
    )

    # When they become training rows
    rows = retraining.as_training_rows(logged, contract)

    # Then they have exactly the contract's columns, with the label as target
    assert list(rows.columns) == contract.columns
    assert rows["amount"].tolist()[0] == pytest.approx(12.5)
    assert rows[contract.target].tolist() == [as_written(1.0, contract), as_written(0.0, contract)]
    assert rows[ids].tolist() == [records[0][ids], "r2"]
    assert rows[times].iloc[0] == pd.Timestamp(records[0][times])


def test_fresh_rows_are_the_labelled_champion_answers_in_the_window(
    settings: Settings, contract: Contract, demo: pd.DataFrame, settings_log: PredictionLog
) -> None:
    """Only labelled champion answers logged inside the window count; answers the service
    flagged as off-contract are left out and counted."""
    # Given answers inside the window (some labelled), a challenger's, an old one, a flagged one
    records = as_received(demo.head(8), contract)
    labels = logged_labels(demo.head(8), contract)
    inside = NOW - timedelta(days=2)
    log_answers(settings_log, records[:5], contract, at=inside, labels=labels[:3])
    log_answers(settings_log, records[:5], contract, at=inside, labels=None, role=CHALLENGER)
    log_answers(settings_log, records[5:6], contract, at=NOW - timedelta(days=90), labels=labels[5:6], prefix="old")
    flagged = [{"kind": "out_of_range", "field": "amount", "value": 99999999}]
    log_answers(settings_log, records[6:7], contract, at=inside, labels=labels[6:7], prefix="odd", events=flagged)

    # When the fresh rows are read
    fresh = retraining.fresh_rows(settings, contract, now=NOW)

    # Then the three labelled in-window champion answers remain, the flagged one is counted
    assert len(fresh.frame) == 3
    assert fresh.labelled == 4
    assert fresh.off_contract == 1
    assert "3 labelled answers" in fresh.describe()


def test_the_newest_fresh_rows_are_kept_up_to_the_limit(tmp_path: Any, contract: Contract, demo: pd.DataFrame) -> None:
    """`max_fresh_rows` keeps the most recent answers."""
    # Given six labelled answers and a limit of two
    settings = make_settings(tmp_path / "state", retraining={"max_fresh_rows": 2})
    log = predictions.from_settings(settings)
    records = as_received(demo.head(6), contract)
    log_answers(log, records, contract, at=NOW - timedelta(hours=1), labels=[0.0] * 6)
    log.close()

    # When the fresh rows are read
    fresh = retraining.fresh_rows(settings, contract, now=NOW)

    # Then the last two logged remain
    newest = [str(records[5][id_column(contract)]), str(records[4][id_column(contract)])]
    assert fresh.frame[id_column(contract)].tolist() == newest


def test_training_data_is_the_base_plus_valid_fresh_rows_with_fresh_labels_winning(
    settings: Settings, contract: Contract, demo: pd.DataFrame, settings_log: PredictionLog
) -> None:
    """Fresh rows are appended to the base data; a record present in both keeps its fresh label."""
    # Given a base table and fresh answers, one of them for a record of the base with a new label
    base = demo.head(500).copy()
    fresh_records = as_received(demo.iloc[500:520], contract) + as_received(demo.head(1), contract)
    relabel = other_label(logged_labels(demo.head(1), contract)[0], contract)
    labels = [*logged_labels(demo.iloc[500:520], contract), relabel]
    log_answers(settings_log, fresh_records, contract, at=NOW - timedelta(days=1), labels=labels)

    # When the training data is assembled
    combined = training_data(base, settings, contract)

    # Then it has the base rows plus 20 new ones, and the relabelled record carries the fresh label
    assert len(combined) == 520
    first_id = str(demo[id_column(contract)].iloc[0])
    assert combined.loc[combined[id_column(contract)] == first_id, contract.target].tolist() == [
        as_written(relabel, contract)
    ]


def test_fresh_rows_that_break_the_contract_stop_with_the_reason(
    settings: Settings, contract: Contract, demo: pd.DataFrame, settings_log: PredictionLog
) -> None:
    """Fresh data failing the suite raises ValidationFailed naming the prediction log and the failure."""
    # Given fresh answers with negative amounts that no schema event flagged
    records = [{**r, "amount": -5.0} for r in as_received(demo.head(20), contract)]
    log_answers(settings_log, records, contract, at=NOW - timedelta(days=1), labels=[0.0] * 20)

    # When the training data is assembled / Then it stops with the reason
    with pytest.raises(ValidationFailed) as caught:
        training_data(demo.head(100), settings, contract)
    message = str(caught.value)
    assert message.startswith("fresh rows from the prediction log (20 labelled answers")
    assert "column 'amount'" in message


def test_without_labelled_answers_or_when_switched_off_the_base_data_is_used(
    tmp_path: Any, contract: Contract, demo: pd.DataFrame
) -> None:
    """An empty log, or `retraining.use_prediction_log=false`, leaves the base data as it is."""
    # Given a log with unlabelled answers only, and one with labelled answers but the switch off
    quiet = make_settings(tmp_path / "quiet")
    log = predictions.from_settings(quiet)
    log_answers(log, as_received(demo.head(3), contract), contract, at=NOW - timedelta(hours=1), labels=None)
    log.close()
    off = make_settings(tmp_path / "off", retraining={"use_prediction_log": False})
    log = predictions.from_settings(off)
    log_answers(log, as_received(demo.head(3), contract), contract, at=NOW - timedelta(hours=1), labels=[0.0] * 3)
    log.close()
    base = demo.head(50)

    # When the training data is assembled / Then it is the base data
    assert training_data(base, quiet, contract) is base
    assert training_data(base, off, contract) is base


def test_without_id_or_timestamp_columns_log_rows_become_features_and_target(
    contract: Contract, demo: pd.DataFrame
) -> None:
    """A contract naming neither an id nor a timestamp column: the training rows hold the
    features and the target only (no request id or log time is made up as a column)."""
    # Given a contract without row keys and two logged answers of it
    keyless = without_row_keys(contract)
    records = as_received(demo.head(2), keyless)
    logged = pd.DataFrame(records).assign(
        request_id=["r1", "r2"],
        record_id=pd.Series([None, None], dtype=object),
        logged_at=[NOW.replace(tzinfo=None)] * 2,
        occurred_at=[NOW.replace(tzinfo=None)] * 2,
        label=pd.array([1.0, 0.0], dtype="Float64"),
    )

    # When they become training rows
    rows = retraining.as_training_rows(logged, keyless)

    # Then they have exactly the contract's columns: the features, then the target
    assert list(rows.columns) == [*keyless.feature_names, keyless.target]
    assert rows[keyless.target].tolist() == [as_written(1.0, keyless), as_written(0.0, keyless)]


def test_without_an_id_column_fresh_rows_simply_add(tmp_path: Any, contract: Contract, demo: pd.DataFrame) -> None:
    """Without an id column rows cannot be matched: every valid fresh labelled answer is
    added to the base data, also one that repeats a base row with another label."""
    # Given a project whose contract has no id or timestamp column, its base data, and 21
    # labelled answers in its log, the newest one a base row relabelled
    keyless = without_row_keys(contract)
    settings = own_project(tmp_path / "own", keyless)
    base = demo.head(500)[keyless.columns].copy()
    relabel = other_label(logged_labels(demo.head(1), contract)[0], contract)
    labels = [*logged_labels(demo.iloc[500:520], contract), relabel]
    log = predictions.from_settings(settings)
    records = as_received(demo.iloc[500:520], keyless) + as_received(demo.head(1), keyless)
    log_answers(log, records, keyless, at=NOW - timedelta(days=1), labels=labels)
    log.close()

    # When the training data is assembled
    combined = training_data(base, settings, keyless)

    # Then every fresh row is added (newest first), in the contract's columns, and the base
    # row keeps its own label beside the fresh one
    assert len(combined) == 521
    assert list(combined.columns) == keyless.columns
    assert combined[keyless.target].iloc[0] == base[keyless.target].iloc[0]
    assert combined[keyless.target].iloc[500] == as_written(relabel, keyless)
    assert combined.iloc[500]["amount"] == pytest.approx(combined.iloc[0]["amount"])
