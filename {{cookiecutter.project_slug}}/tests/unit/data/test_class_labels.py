"""A binary target written as the user writes it (words, other numbers, swapped booleans): kept
in those labels through preparation and validation, 0/1 for the model, and the prediction
log's 0/1 labels written back in them for retraining."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.core.contract import Contract, parse_contract
from {{ cookiecutter.package_name }}.core.contract_derived import expectation_suite
from {{ cookiecutter.package_name }}.data.fresh_labels import as_training_rows
from {{ cookiecutter.package_name }}.data.tables import prepare_frame, target_codes
from {{ cookiecutter.package_name }}.data.validation import validate_frame
from {{ cookiecutter.package_name }}.errors import DataError

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC).replace(tzinfo=None)  # naive UTC, as the log keeps it


def contract_with(labels: list[object] | None) -> Contract:
    """A small binary contract: an id, an event time, a number and a category; `labels` as given."""
    return parse_contract(
        {
            "task": "binary_classification",
            "target": "diagnosis",
            **({"labels": labels} if labels is not None else {}),
            "id_column": "row_id",
            "timestamp_column": "event_time",
            "features": [
                {"name": "size", "type": "numeric", "min": 0, "max": 100},
                {"name": "colour", "type": "categorical", "categories": ["red", "blue"]},
            ],
        }
    )


def raw(target: list[object]) -> pd.DataFrame:
    n = len(target)
    return pd.DataFrame(
        {
            "row_id": [f"r{i}" for i in range(n)],
            "event_time": [f"2026-01-01T{i % 24:02d}:00:00" for i in range(n)],
            "size": np.linspace(1, 99, n),
            "colour": ["red", "blue"] * (n // 2) + ["red"] * (n % 2),
            "diagnosis": target,
        }
    )


def target_failures(frame: pd.DataFrame, contract: Contract) -> list[str]:
    report = validate_frame(frame, expectation_suite(contract))
    return [f.expectation for f in report.failures if f.column == contract.target]


def test_words_are_prepared_as_written_and_validate() -> None:
    """Preparation writes each label one way (spaces around it dropped); the suite allows
    exactly the labels, so the prepared table passes."""
    # Given words, one with spaces around it
    contract = contract_with(["B", "M"])
    frame = raw(["B", " M", "B", "M "])

    # When prepared and validated
    prepared = prepare_frame(frame, contract)

    # Then the target holds the labels as the contract writes them, and passes
    assert prepared["diagnosis"].tolist() == ["B", "M", "B", "M"]
    assert target_failures(prepared, contract) == []


@pytest.mark.parametrize(
    ("labels", "target", "written"),
    [
        ([True, False], ["true", "FALSE", True, False], [True, False, True, False]),
        ([1, 2], [1.0, 2.0, 2, 1], [1, 2, 2, 1]),
    ],
    ids=["swapped booleans", "numbers"],
)
def test_booleans_and_numbers_are_prepared_as_the_labels(
    labels: list[object], target: list[object], written: list[object]
) -> None:
    """Booleans written as text, and 1.0 for 1, become the labels themselves."""
    # Given labels that are booleans or numbers, written variously
    contract = contract_with(labels)

    # When prepared
    prepared = prepare_frame(raw(target), contract)

    # Then each value is its label, of the label's type, and validates
    assert prepared["diagnosis"].tolist() == written
    assert [type(v) for v in prepared["diagnosis"].tolist()] == [type(v) for v in written]
    assert target_failures(prepared, contract) == []


def test_a_value_that_is_no_label_fails_validation_with_the_value() -> None:
    """A value outside the labels is left as it is, and the suite names it."""
    # Given words with one stray value (0/1 are no labels in data)
    contract = contract_with(["B", "M"])
    prepared = prepare_frame(raw(["B", "M", "X", 1]), contract)

    # When validated
    report = validate_frame(prepared, expectation_suite(contract))

    # Then the target's set expectation fails, showing the strays
    assert target_failures(prepared, contract) == ["expect_column_values_to_be_in_set"]
    assert "'X'" in report.summary()


def test_the_model_learns_zero_for_the_negative_and_one_for_the_positive() -> None:
    """`target_codes`: the negative label is 0, the positive 1; a 0/1 contract's table passes
    through untouched, and a stray value stops with its count."""
    # Given prepared words, and the same rows under a 0/1 contract
    contract = contract_with(["B", "M"])
    prepared = prepare_frame(raw(["M", "B", "B", "M"]), contract)
    zero_one = contract_with(None)
    plain = prepare_frame(raw([1, 0, 0, 1]), zero_one)

    # When the target becomes what the model learns
    coded = target_codes(prepared, contract)

    # Then M (positive) is 1 and B is 0; the 0/1 table is the same object; strays stop
    assert coded["diagnosis"].tolist() == [1, 0, 0, 1]
    assert prepared["diagnosis"].tolist() == ["M", "B", "B", "M"]  # the validated table is unchanged
    assert target_codes(plain, zero_one) is plain
    with pytest.raises(DataError, match="1 row\\(s\\) of target 'diagnosis' are neither 'B' nor 'M'"):
        target_codes(prepared.assign(diagnosis=["M", "B", "X", "M"]), contract)


def test_logged_labels_become_training_rows_in_words() -> None:
    """The prediction log keeps 0/1; fresh rows for retraining carry the contract's labels
    again, so they validate with (and add to) the base data."""
    # Given two labelled answers in the log, positive and negative
    contract = contract_with(["B", "M"])
    logged = pd.DataFrame(
        {
            "size": [12.0, 40.0],
            "colour": ["red", "blue"],
            "request_id": ["q1", "q2"],
            "record_id": ["a", "b"],
            "logged_at": [AT, AT],
            "occurred_at": [AT, AT],
            "event_time": ["2026-03-01T10:00:00", None],
            "label": pd.array([1.0, 0.0], dtype="Float64"),
        },
        index=[7, 9],  # as a filtered window has it: not 0..n
    )

    # When they become training rows
    rows = as_training_rows(logged, contract)

    # Then the target is in words, and the rows pass the contract's suite
    assert rows["diagnosis"].tolist() == ["M", "B"]
    assert target_failures(rows, contract) == []
