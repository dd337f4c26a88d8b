"""`{{ cookiecutter.project_slug }} drift`: any two data sets checked from the command line, no server needed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from {{ cookiecutter.package_name }}.cli.app import app
from {{ cookiecutter.package_name }}.data.demo_world import TrafficShift
from {{ cookiecutter.package_name }}.data.tables import write_table
from {{ cookiecutter.package_name }}.model.bundle import PROFILE_FILE
from {{ cookiecutter.package_name }}.model.reference_profile import fit_profile, save_profile
from tests.support.drift_data import demo_reference, demo_window, project_contract


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich sizes tables to the terminal; a wide one keeps each row on one line."""
    monkeypatch.setenv("COLUMNS", "220")


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
    amount_row = next(line for line in result.stdout.splitlines() if line.lstrip("│ ").startswith("amount "))
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
        ("no_amount.csv", "current", "lacks feature column(s) amount"),
    ],
)
def test_bad_input_is_one_line_and_a_non_zero_exit(
    files: dict[str, Path], tmp_path: Path, reference: str, current: str, message: str
) -> None:
    """Missing, unreadable or unsuitable files give one line on stderr and exit 1, no traceback."""
    # Given a bad file among the arguments
    (tmp_path / "notes.txt").write_text("hello", encoding="utf-8")
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    write_table(
        demo_reference()[project_contract().columns].drop(columns=["amount"]).head(100), tmp_path / "no_amount.csv"
    )

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
