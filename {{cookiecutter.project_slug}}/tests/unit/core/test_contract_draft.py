"""`contract draft` on tables without an id or a timestamp column, and the row keys' options."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from sklearn.datasets import load_breast_cancer
from typer.testing import CliRunner

from {{ cookiecutter.package_name }}.cli.app import app
from {{ cookiecutter.package_name }}.core.contract import Contract
from {{ cookiecutter.package_name }}.core.contract_draft import draft_contract, row_key_notes
from {{ cookiecutter.package_name }}.data.tables import write_table
from {{ cookiecutter.package_name }}.errors import DataError

NO_ID = "no id column: answers are keyed by the service's request ids"
NO_TIME = "no timestamp column: the split will be random (seeded, stratified)"


@pytest.fixture(scope="module")
def breast_cancer() -> pd.DataFrame:
    """scikit-learn's breast-cancer table as it comes: 569 rows, 30 numeric features named
    with spaces, a 0/1 target, no id, no timestamp."""
    frame: pd.DataFrame = load_breast_cancer(as_frame=True).frame
    return frame


def test_a_table_without_id_or_timestamp_drafts_a_contract_without_them(breast_cancer: pd.DataFrame) -> None:
    """Where no unique id column and no timestamp column are found, the draft leaves them out
    instead of stopping, and says what that means."""
    # Given a table with neither / When a contract is drafted with only the target named
    drafted = draft_contract(breast_cancer, target="target")

    # Then it has no row keys, every other column is a feature under its own name, and the
    # notes say how answers are keyed and how the data will be split
    assert (drafted.id_column, drafted.timestamp_column) == (None, None)
    assert drafted.task == "binary_classification"
    assert drafted.feature_names == [c for c in breast_cancer.columns if c != "target"]
    assert drafted.feature("mean radius").type == "numeric"
    assert [note.split(";")[0] for note in row_key_notes(drafted)] == [NO_ID, NO_TIME]


def test_named_row_keys_override_the_guesses_and_none_can_be_asked_for(demo: pd.DataFrame, contract: Contract) -> None:
    """`id_column` and `timestamp_column` name the row keys; `no_id_column` and
    `no_timestamp_column` leave a found one out (it becomes a feature); asking for both a
    column and none is an error."""
    # Given the demo table, whose transaction_id and event_time are guessed as row keys
    guessed = draft_contract(demo, target=contract.target)
    assert (guessed.id_column, guessed.timestamp_column) == ("transaction_id", "event_time")

    # When the row keys are named, or none is asked for
    renamed = demo.rename(columns={"transaction_id": "txn", "event_time": "booked"})  # names no guess finds
    named = draft_contract(renamed, target=contract.target, id_column="txn", timestamp_column="booked")
    no_id = draft_contract(demo, target=contract.target, no_id_column=True)
    no_time = draft_contract(demo.drop(columns="event_time"), target=contract.target, no_timestamp_column=True)

    # Then the named ones are used, and asking for none leaves the key out
    assert (named.id_column, named.timestamp_column) == ("txn", "booked")
    assert draft_contract(renamed, target=contract.target).id_column is None
    assert (no_id.id_column, no_id.timestamp_column) == (None, "event_time")
    assert (no_time.id_column, no_time.timestamp_column) == ("transaction_id", None)
    with pytest.raises(DataError, match="or ask for none, not both"):
        draft_contract(demo, target=contract.target, id_column="transaction_id", no_id_column=True)
    with pytest.raises(DataError, match="timestamp column 'when' is not in the data"):
        draft_contract(demo, target=contract.target, timestamp_column="when")


def test_the_draft_command_says_what_a_missing_row_key_means(breast_cancer: pd.DataFrame, tmp_path: Path) -> None:
    """`contract draft` on a table without row keys writes the contract without them and
    prints what that means; with a row key found it names it; --no-id-column leaves it out."""
    # Given the breast-cancer table as a CSV file
    data = write_table(breast_cancer, tmp_path / "breast_cancer.csv")
    out = tmp_path / "contract.yaml"

    # When a contract is drafted from it
    result = CliRunner().invoke(app, ["contract", "draft", str(data), "--target", "target", "--out", str(out)])

    # Then it is written without row keys, and the output says what that means
    assert result.exit_code == 0, result.output
    written = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert "id_column" not in written
    assert "timestamp_column" not in written
    assert NO_ID in result.output
    assert NO_TIME in result.output

    # And with an id column in the table, --no-id-column still leaves it out
    with_id = write_table(breast_cancer.assign(patient_id=range(len(breast_cancer))), tmp_path / "with_id.csv")
    args = ["contract", "draft", str(with_id), "--target", "target", "--out", str(out), "--force"]
    assert "id column: patient_id" in CliRunner().invoke(app, args).output
    result = CliRunner().invoke(app, [*args, "--no-id-column"])
    assert result.exit_code == 0, result.output
    assert NO_ID in result.output
    assert yaml.safe_load(out.read_text(encoding="utf-8")).get("id_column") is None
