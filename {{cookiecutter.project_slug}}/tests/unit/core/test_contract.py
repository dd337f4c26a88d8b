"""contract.yaml: parsing, the derived suite and request model, and drafting from data."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError

from {{ cookiecutter.package_name }}.core.contract import Contract, load_contract, parse_contract
from {{ cookiecutter.package_name }}.core.contract_derived import request_model, suite_json, suite_path
from {{ cookiecutter.package_name }}.core.contract_draft import draft_contract
from {{ cookiecutter.package_name }}.errors import ContractError, DataError
from tests.support.project import PROJECT_ROOT


def test_checked_in_suite_matches_the_contract(contract: Contract) -> None:
    """The Great Expectations suite is derived from contract.yaml: a stale copy fails here."""
    # Given the project's contract and its checked-in suite
    checked_in = suite_path(PROJECT_ROOT / "great_expectations").read_text(encoding="utf-8")

    # When the suite is derived again
    derived = suite_json(contract)

    # Then they are identical (run `make contract-sync` after editing the contract)
    assert checked_in == derived


def test_contract_hash_changes_with_any_feature_detail(contract: Contract) -> None:
    """The hash is the model's dependency on the contract: any change to a feature changes it."""
    # Given the contract and a copy with one feature's range changed
    raw = contract.model_dump(mode="json")
    raw["features"][0]["max"] = raw["features"][0]["max"] + 1
    changed = parse_contract(raw)

    # When both are hashed
    # Then the hashes differ, and hashing is stable
    assert changed.hash != contract.hash
    assert parse_contract(contract.model_dump(mode="json")).hash == contract.hash


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda raw: raw.update(task="ranking"), "task"),
        (lambda raw: raw["features"].append(dict(raw["features"][0])), "features repeat"),
        (lambda raw: raw.update(segments=["amount"]), "must be categorical or boolean"),
        (lambda raw: raw.update(segments=["nope"]), "segment 'nope' is not a feature"),
        (lambda raw: raw.update(target=raw["id_column"]), "three different columns"),
        (lambda raw: raw["features"][0].update(min=10.0, max=1.0), "above max"),
        (lambda raw: raw["features"][0].update(categories=["a"]), "only apply to categorical"),
        (lambda raw: raw["features"][0].update(colour="red"), "Extra inputs are not permitted"),
    ],
    ids=[
        "unknown-task",
        "duplicate-feature",
        "numeric-segment",
        "missing-segment",
        "target-is-id",
        "min-above-max",
        "categories-on-numeric",
        "unknown-key",
    ],
)
def test_invalid_contracts_are_rejected_with_the_reason(contract: Contract, mutate, message: str) -> None:
    """Every inconsistency in a contract is a one-line ContractError naming the problem."""
    # Given a valid contract with one thing broken
    raw = contract.model_dump(mode="json")
    mutate(raw)

    # When it is parsed
    with pytest.raises(ContractError) as caught:
        parse_contract(raw)

    # Then the message names the problem, on one line
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_unreadable_contract_files_give_one_line_errors(tmp_path: Path) -> None:
    """A missing file, broken YAML or a list instead of a mapping: a clear error each."""
    # Given three broken contract files
    missing = tmp_path / "missing.yaml"
    broken = tmp_path / "broken.yaml"
    broken.write_text("task: [unclosed\n")
    listed = tmp_path / "listed.yaml"
    listed.write_text("- a\n- b\n")

    # When each is loaded / Then each fails with its own reason
    with pytest.raises(ContractError, match="no contract at"):
        load_contract(missing)
    with pytest.raises(ContractError, match="not valid YAML"):
        load_contract(broken)
    with pytest.raises(ContractError, match="must hold a mapping"):
        load_contract(listed)


def test_request_model_enforces_types_and_keeps_unknown_fields(contract: Contract, demo: pd.DataFrame) -> None:
    """The service's request model: required fields, no NaN/inf, lax numbers-as-strings,
    and unknown fields kept aside (so they can be reported) rather than dropped."""
    # Given the request model and one demo record
    model = request_model(contract)
    record = demo.iloc[0][contract.feature_names].to_dict()
    record = {k: (None if pd.isna(v) else v) for k, v in record.items()}

    # When it is validated with an extra field and a number sent as a string
    parsed = model.model_validate({**record, "amount": "12.5", "account_type": "business"})

    # Then it is accepted, coerced and the extra field is kept
    assert parsed.amount == 12.5  # type: ignore[attr-defined]
    assert parsed.model_extra == {"account_type": "business"}

    # And a missing field or a non-finite number is rejected, naming the field
    with pytest.raises(ValidationError) as caught:
        model.model_validate({**record, "amount": float("inf"), "channel": None})
    fields = {error["loc"][0] for error in caught.value.errors()}
    assert fields == {"amount", "channel"}


def test_draft_contract_describes_the_users_table(contract: Contract, demo: pd.DataFrame) -> None:
    """`contract draft` infers the task, types, ranges, nullability, categories and segments."""
    # Given the demo table as a user would have it (raw, with a boolean target)
    frame = demo.copy()

    # When a contract is drafted with only the target named
    drafted = draft_contract(frame, target=contract.target)

    # Then the id and timestamp are found and every feature is typed as in ours
    assert drafted.task == contract.task
    assert (drafted.id_column, drafted.timestamp_column) == ("transaction_id", "event_time")
    types = {f.name: f.type for f in drafted.features}
    assert types["amount"] == "numeric"
    assert types["hour_of_day"] == "integer"
    assert types["channel"] == "categorical"
    assert types["card_present"] == "boolean"
    assert drafted.feature("merchant_id").categories is None  # high cardinality: left open
    assert drafted.feature("customer_age").nullable
    assert not drafted.feature("amount").nullable
    assert set(drafted.segments) <= {"channel", "card_type", "merchant_category"}


def test_draft_contract_rejects_a_missing_target(demo: pd.DataFrame) -> None:
    """A target that is not a column is named in the error, with the columns that exist."""
    # Given a table without the named target
    # When a contract is drafted / Then the error names the column
    with pytest.raises(DataError, match="target column 'label' is not in the data"):
        draft_contract(demo, target="label")
