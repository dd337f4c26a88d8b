"""The Great Expectations suite derived from the contract rejects what the contract forbids."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.core.contract import Contract
from {{ cookiecutter.package_name }}.core.contract_derived import suite_path
from {{ cookiecutter.package_name }}.data.validation import Report, ensure_valid, load_suite, validate_frame
from {{ cookiecutter.package_name }}.errors import ValidationFailed
from tests.support.project import PROJECT_ROOT


@pytest.fixture(scope="module")
def sample(demo: pd.DataFrame) -> pd.DataFrame:
    return demo.head(3_000).copy()


def run(frame: pd.DataFrame) -> Report:
    return validate_frame(frame, load_suite(suite_path(PROJECT_ROOT / "great_expectations")))


def test_clean_demo_data_passes(sample: pd.DataFrame) -> None:
    """Demo data, as the generator writes it, meets every expectation."""
    # Given clean data / When validated / Then nothing fails
    report = run(sample)
    assert report.success, report.summary()


def _set(column: str, value: object, rows: slice = slice(0, 3)) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        if isinstance(value, str) and pd.api.types.is_numeric_dtype(frame[column]):
            frame[column] = frame[column].astype(object)
        frame.loc[frame.index[rows], column] = value  # type: ignore[call-overload]  # any value, on purpose
        return frame

    return change


CASES: dict[str, tuple[Callable[[pd.DataFrame], pd.DataFrame], str, str | None]] = {
    "missing-column": (lambda f: f.drop(columns=["amount"]), "expect_table_columns_to_match_set", None),
    "extra-column": (lambda f: f.assign(account_type="business"), "expect_table_columns_to_match_set", None),
    "out-of-range": (_set("amount", -5.0), "expect_column_values_to_be_between", "amount"),
    "null-not-allowed": (_set("channel", None), "expect_column_values_to_not_be_null", "channel"),
    "wrong-type": (_set("hour_of_day", "noon"), "expect_column_values_to_be_in_type_list", "hour_of_day"),
    "unknown-category": (_set("card_type", "gold"), "expect_column_values_to_be_in_set", "card_type"),
    "bad-pattern": (_set("merchant_id", "shop-1"), "expect_column_values_to_match_regex", "merchant_id"),
    "duplicate-id": (_set("transaction_id", "tx-dup"), "expect_column_values_to_be_unique", "transaction_id"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_suite_rejects_contract_violations(sample: pd.DataFrame, case: str) -> None:
    """Each kind of contract violation fails the expectation that guards it, naming the column."""
    # Given clean data broken in one way
    change, expectation, column = CASES[case]
    broken = change(sample)

    # When it is validated
    report = run(broken)

    # Then the guarding expectation fails, for that column
    assert (expectation, column) in {(f.expectation, f.column) for f in report.failures}, report.summary()
    with pytest.raises(ValidationFailed, match=expectation):
        ensure_valid(report)


def test_suite_rejects_impossible_labels(sample: pd.DataFrame, contract: Contract) -> None:
    """A class label other than 0/1 (classification) or a non-number (regression) fails."""
    # Given a target broken the way its task cannot accept
    bad_value: object = 7 if contract.is_classification else "slow"
    broken = _set(contract.target, bad_value)(sample)

    # When validated
    failed = {(f.expectation, f.column) for f in run(broken).failures}

    # Then the target's guard fails
    guard = (
        "expect_column_values_to_be_in_set" if contract.is_classification else "expect_column_values_to_be_in_type_list"
    )
    assert (guard, contract.target) in failed


def test_failure_message_names_expectation_column_and_samples(sample: pd.DataFrame) -> None:
    """The message a person reads says which expectation, which column and shows bad values."""
    # Given out-of-range amounts
    broken = _set("amount", 99_999_999.0)(sample)

    # When validated
    message = run(broken).summary()

    # Then all three are in the message
    assert "expect_column_values_to_be_between" in message
    assert "'amount'" in message
    assert "99999999.0" in message


def test_nulls_in_nullable_features_are_fine(sample: pd.DataFrame, contract: Contract) -> None:
    """Nullable features may be missing; the contract allows it."""
    # Given nulls in every nullable feature
    frame = sample.copy()
    for feature in contract.features:
        if feature.nullable:
            frame.loc[frame.index[:50], feature.name] = np.nan

    # When validated / Then it passes
    assert run(frame).success
