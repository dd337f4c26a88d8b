"""contract.yaml: parsing, the derived suite and request model, and drafting from data."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from pydantic import ValidationError

from {{ cookiecutter.package_name }}.core.contract import Contract, load_contract, parse_contract
from {{ cookiecutter.package_name }}.core.contract_derived import expectation_suite, request_model, suite_json, suite_path
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


def test_a_contract_without_id_or_timestamp_columns(contract: Contract) -> None:
    """Both row keys are optional: without them a training table is the features and the
    target, the suite checks no id or time, the request model has no such fields (a field
    sent under such a name is an unknown one), and contract.yaml does not mention them."""
    # Given the project's contract without its id and timestamp columns
    raw = contract.model_dump(mode="json", exclude={"id_column", "timestamp_column"})

    # When it is parsed and its derived files made
    keyless = parse_contract(raw)
    suite = expectation_suite(keyless)
    record = request_model(keyless)

    # Then the row keys are absent everywhere
    assert (keyless.id_column, keyless.timestamp_column) == (None, None)
    assert keyless.columns == [*keyless.feature_names, keyless.target]
    assert suite["expectations"][0]["kwargs"]["column_set"] == keyless.columns
    checked = {e["kwargs"].get("column") for e in suite["expectations"]}
    assert not checked & {contract.id_column, contract.timestamp_column}
    assert "id_column" not in keyless.to_yaml()
    assert "timestamp_column" not in keyless.to_yaml()
    assert not set(record.model_fields) & {contract.id_column, contract.timestamp_column}
    assert parse_contract(yaml.safe_load(keyless.to_yaml())) == keyless


def test_the_projects_contract_keeps_its_row_keys_first(contract: Contract) -> None:
    """The project's contract names both: they lead its columns and the suite checks them."""
    # Given the project's contract / When its columns and suite are read
    suite = expectation_suite(contract)
    checked = [(e["type"], e["kwargs"].get("column")) for e in suite["expectations"]]

    # Then the id and time lead the columns, the id is checked unique, the time typed
    assert contract.columns[:2] == [contract.id_column, contract.timestamp_column]
    assert ("expect_column_values_to_be_unique", contract.id_column) in checked
    assert ("expect_column_values_to_be_in_type_list", contract.timestamp_column) in checked


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"id_column": "target_col", "timestamp_column": None}, "target and id_column must be two different columns"),
        ({"id_column": None, "timestamp_column": "target_col"}, "target and timestamp_column must be two different"),
        ({"id_column": "same", "timestamp_column": "same"}, "must be three different columns"),
    ],
    ids=["id-is-target", "time-is-target", "id-is-time"],
)
def test_the_row_keys_present_must_differ_from_the_target_and_each_other(
    contract: Contract, keys: dict[str, str | None], message: str
) -> None:
    """Whichever row keys a contract names, they and the target are different columns."""
    # Given a contract whose target is called target_col, with clashing row keys
    raw = {**contract.model_dump(mode="json"), "target": "target_col", **keys}

    # When it is parsed / Then the clash is named
    with pytest.raises(ContractError, match=message):
        parse_contract(raw)


@pytest.mark.parametrize("name", ["mean radius", "worst concave points", "Größe (cm)", "a.b/c"])
def test_feature_names_may_be_spelled_as_the_table_spells_them(contract: Contract, name: str) -> None:
    """A feature keeps its column's name, spaces and all (scikit-learn's tables have them)."""
    # Given a feature renamed as a user's table names it
    raw = contract.model_dump(mode="json")
    raw["features"][0]["name"] = name

    # When parsed / Then it is accepted, the request model takes the field by that name
    parsed = parse_contract(raw)
    assert parsed.features[0].name == name
    assert name in request_model(parsed).model_fields


@pytest.mark.parametrize("name", ["a,b", "a:b", 'a"b', "a[0]", "{a}", " padded", "tab\tin", ""])
def test_feature_names_that_lightgbm_refuses_are_named(contract: Contract, name: str) -> None:
    """JSON's structural characters (LightGBM refuses them), control characters, spaces at
    either end and empty names are refused with the name in the message."""
    # Given a feature with such a name
    raw = contract.model_dump(mode="json")
    raw["features"][0]["name"] = name

    # When parsed / Then the error names it
    with pytest.raises(ContractError, match="feature name"):
        parse_contract(raw)
