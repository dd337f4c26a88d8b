"""`{{ cookiecutter.project_slug }} drift`: any two data sets checked from the command line, no server needed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from typer.testing import CliRunner, Result

from {{ cookiecutter.package_name }}.cli.app import app
from {{ cookiecutter.package_name }}.data.demo_world import TrafficShift
from {{ cookiecutter.package_name }}.data.tables import write_table
from {{ cookiecutter.package_name }}.model.bundle import PROFILE_FILE
from {{ cookiecutter.package_name }}.model.reference_profile import fit_profile, save_profile
from tests.support.drift_data import demo_reference, demo_window, project_contract

WIDTH = 80
SHIFTED = ("mean radius", "worst concave points")  # long names, with spaces, as the table spells them


@pytest.fixture(autouse=True)
def narrow_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich sizes tables to the terminal: the output must read in an 80-column one."""
    monkeypatch.setenv("COLUMNS", str(WIDTH))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A reference table (CSV), its profile, and a drifted day with a new column (Parquet)."""
    folder = tmp_path_factory.mktemp("drift_cli")
    contract = project_contract()
    reference = demo_reference()[contract.columns]
    drifted = demo_window(5_000, day=2, shift=TrafficShift(amount_scale=1.6, extra_columns=("account_type",)))
    bundle = folder / "bundle"
    save_profile(fit_profile(reference, contract), bundle / PROFILE_FILE)
    return {
        "reference": write_table(reference, folder / "reference.csv"),
        "current": write_table(drifted[[*contract.columns, "account_type"]], folder / "current.parquet"),
        "undrifted": write_table(demo_window(5_000, day=3)[contract.columns], folder / "undrifted.parquet"),
        "profile": bundle / PROFILE_FILE,
        "bundle": bundle,
    }


def drift(*args: str | Path) -> Result:
    return CliRunner().invoke(app, ["drift", *(str(a) for a in args)])


def test_table_output_names_the_drifted_features_and_schema_changes(files: dict[str, Path]) -> None:
    """The default output is a table of features with verdicts, a summary line and the schema events."""
    # Given a reference CSV and a drifted Parquet day / When checked
    result = drift("--reference", files["reference"], "--current", files["current"])

    # Then it succeeds and shows the drifted amount and the new column
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Contract: the project's (contract.yaml).")
    amount_row = next(line for line in result.stdout.splitlines() if line.startswith("amount "))
    assert "DRIFT" in amount_row
    assert "features drifted" in result.stdout
    assert "account_type" in result.stdout
    assert "added" in result.stdout


def test_json_output_is_the_report(files: dict[str, Path]) -> None:
    """--json prints the full report as JSON, for scripts."""
    # Given the same files / When checked with --json
    result = drift("--reference", files["reference"], "--current", files["current"], "--json")

    # Then the JSON holds the verdicts and the schema event
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert "amount" in report["drifted_features"]
    assert {"column": "account_type", "kind": "added"}.items() <= report["schema"][0].items()
    assert len(report["features"]) == len(project_contract().features)
    assert report["contract"] == "the project's (contract.yaml)"


@pytest.mark.parametrize("reference", ["profile", "bundle"])
def test_a_saved_profile_or_model_bundle_is_a_reference(files: dict[str, Path], reference: str) -> None:
    """--reference takes a reference_profile.json (or the bundle folder holding it) as well as data."""
    # Given the profile of the reference table / When checked against it and against the table itself
    from_profile = json.loads(drift("--reference", files[reference], "--current", files["current"], "--json").stdout)
    from_table = json.loads(drift("--reference", files["reference"], "--current", files["current"], "--json").stdout)

    # Then both give the same verdicts
    assert from_profile["drifted_features"] == from_table["drifted_features"]


def test_undrifted_data_reports_no_drift(files: dict[str, Path]) -> None:
    """A fresh undrifted day reports no drifted feature and no schema change."""
    # Given an undrifted day / When checked
    report = json.loads(drift("--reference", files["profile"], "--current", files["undrifted"], "--json").stdout)

    # Then nothing drifted
    assert report["drifted_features"] == []
    assert report["schema"] == []


@pytest.mark.parametrize(
    ("reference", "current", "message"),
    [
        ("reference", "missing.parquet", "no such file"),
        ("missing.json", "current", "no such file"),
        ("reference", "notes.txt", "unsupported file type"),
        ("broken.json", "current", "not valid JSON"),
        ("keys_only.csv", "current", "no columns to compare"),
    ],
)
def test_bad_input_is_one_line_and_a_non_zero_exit(
    files: dict[str, Path], tmp_path: Path, reference: str, current: str, message: str
) -> None:
    """Missing, unreadable or unsuitable files give one line on stderr and exit 1, no traceback."""
    # Given a bad file among the arguments
    (tmp_path / "notes.txt").write_text("hello", encoding="utf-8")
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    write_table(demo_reference()[["transaction_id", "event_time"]].head(100), tmp_path / "keys_only.csv")

    def path(name: str) -> Path:
        return files.get(name, tmp_path / name)

    # When checked
    result = drift("--reference", path(reference), "--current", path(current))

    # Then one error line names the problem
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1
    assert errors[0].startswith("error: ")
    assert message in errors[0]


# --- two tables that are not the project's data ------------------------------------------------------


@pytest.fixture(scope="module")
def other_tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """scikit-learn's breast cancer table (30 measurements and the target, none of them the
    project's columns) cut at random into two halves; the current half has two columns moved by
    one reference standard deviation."""
    folder = tmp_path_factory.mktemp("drift_other")
    table = load_breast_cancer(as_frame=True).frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    reference, current = table.iloc[: len(table) // 2], table.iloc[len(table) // 2 :].copy()
    for name in SHIFTED:
        current[name] += reference[name].std()
    return {
        "reference": write_table(reference, folder / "reference.csv"),
        "current": write_table(current, folder / "current.csv"),
    }


def test_two_tables_that_are_not_the_projects_are_compared_by_their_own_columns(
    other_tables: dict[str, Path],
) -> None:
    """Tables without the contract's columns get a contract inferred from the reference, which
    the output names; the two moved columns drift and the other 29 do not."""
    # Given two halves of a table that is not the project's, two columns moved in the current one
    # When they are checked
    result = drift("--reference", other_tables["reference"], "--current", other_tables["current"], "--json")

    # Then every column is judged by the inferred contract, and only the moved ones drifted
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["contract"] == "inferred from the reference: 30 numeric, 1 integer columns"
    assert len(report["features"]) == 31
    assert set(report["drifted_features"]) == set(SHIFTED)
    assert report["schema"] == []


def test_the_table_for_other_tables_reads_in_80_columns(other_tables: dict[str, Path]) -> None:
    """The default output at 80 columns names the inferred contract, fits every line, cuts no
    cell short and marks the moved columns' rows."""
    # Given the same tables / When checked in an 80-column terminal
    result = drift("--reference", other_tables["reference"], "--current", other_tables["current"])

    # Then the output fits, and the moved columns' rows say DRIFT
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "Contract: inferred from the reference: 30 numeric, 1 integer columns."
    assert max(len(line) for line in lines) <= WIDTH
    assert "…" not in result.stdout
    rows = {line.split("  ")[0]: line for line in lines if line.split("  ")[0] in load_breast_cancer().feature_names}
    assert len(rows) == 30  # each name whole on its row's line
    assert {name for name, row in rows.items() if "DRIFT" in row} == set(SHIFTED)
    assert "2 of 31 features drifted" in result.stdout


def test_written_to_a_log_file_the_table_is_plain_and_80_columns(other_tables: dict[str, Path], tmp_path: Path) -> None:
    """Without a terminal (a log file, CI output) the command writes plain text, no colour
    codes, 80 columns wide, no cell cut short."""
    # Given the command run as CI runs it: no terminal anywhere, no COLUMNS
    environment = {name: value for name, value in os.environ.items() if name not in ("COLUMNS", "LINES")}
    command = "from {{ cookiecutter.package_name }}.cli import main; main()"
    paths = ["--reference", str(other_tables["reference"]), "--current", str(other_tables["current"])]
    log = tmp_path / "drift.log"
    with log.open("w", encoding="utf-8") as out:
        done = subprocess.run(
            [sys.executable, "-c", command, "drift", *paths],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.PIPE,
            env=environment,
            text=True,
            timeout=120,
            check=False,
        )

    # Then the log holds the plain table
    assert done.returncode == 0, done.stderr
    text = log.read_text(encoding="utf-8")
    assert "\x1b[" not in text
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= WIDTH
    assert next(line for line in text.splitlines() if line.startswith("mean radius ")).split()[-2:] == ["DRIFT", "dist"]


def test_a_row_id_and_an_event_time_are_not_compared(tmp_path: Path) -> None:
    """In an inferred contract the columns that look like a row id or an event time are
    bookkeeping, different in any two tables: they are named as not compared, and not judged."""
    # Given two customer tables a year apart, with ids and sign-up times, the same plans and ages
    rng = np.random.default_rng(3)

    def customers(first_id: int, year: int) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "customer_id": np.arange(first_id, first_id + 1000),
                "signed_up_at": pd.date_range(f"{year}-01-01", periods=1000, freq="h").astype(str),
                "plan": rng.choice(["basic", "pro", "team"], 1000),
                "age": rng.integers(18, 80, 1000),
            }
        )

    reference = write_table(customers(0, 2025), tmp_path / "last_year.csv")
    current = write_table(customers(5000, 2026), tmp_path / "this_year.parquet")

    # When they are checked
    report = json.loads(drift("--reference", reference, "--current", current, "--json").stdout)

    # Then only the plan and the age are judged, and neither drifted
    assert report["contract"] == (
        "inferred from the reference: 1 integer, 1 categorical columns; "
        "not compared: customer_id (a row id) and signed_up_at (an event time)"
    )
    assert [f["feature"] for f in report["features"]] == ["plan", "age"]
    assert report["drifted_features"] == []
    assert report["schema"] == []


def test_a_table_lacking_some_of_the_contracts_columns_is_read_by_its_own(
    files: dict[str, Path], tmp_path: Path
) -> None:
    """Data that has only some of the contract's features is compared with a contract inferred
    from it, and the output names the project's columns it lacks."""
    # Given the project's reference without its amount column
    reference = write_table(
        demo_reference()[project_contract().columns].drop(columns=["amount"]), tmp_path / "no_amount.csv"
    )

    # When checked against the drifted day
    report = json.loads(drift("--reference", reference, "--current", files["current"], "--json").stdout)

    # Then the note says why the project's contract was not used, and the new columns are schema events
    assert report["contract"].startswith("inferred from the reference (it lacks the project's amount): ")
    assert "amount" not in [f["feature"] for f in report["features"]]
    assert {(e["column"], e["kind"]) for e in report["schema"]} >= {("amount", "added"), ("account_type", "added")}
