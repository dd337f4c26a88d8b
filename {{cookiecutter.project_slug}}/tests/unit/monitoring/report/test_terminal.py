"""The drift table in a terminal: 80 columns wide, long names wrapped, no value cut short."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from functools import cache

import pytest
from rich.console import Console

from {{ cookiecutter.package_name }}.core.contract import Contract
from {{ cookiecutter.package_name }}.core.contract_draft import infer_features
from {{ cookiecutter.package_name }}.model.reference_profile import fit_profile
from {{ cookiecutter.package_name }}.monitoring.drift import score_window
from {{ cookiecutter.package_name }}.monitoring.drift_report import DriftReport
from {{ cookiecutter.package_name }}.monitoring.report.terminal import render
from tests.support.drift_data import synthetic_frame

WIDTH = 80
# Names as users' tables have them: long identifiers, spaces, brackets (rich markup).
NAMES = {
    "num_0": "distance_from_home_in_kilometres_rounded_to_metres",
    "num_1": "mean concave points error",
    "num_2": "amount",
    "num_3": "worst fractal dimension",
    "cat_0": "device operating system family",
    "cat_1": "plan [tier]",
}


@cache
def report() -> DriftReport:
    """Long names, a shifted number, a shifted and a new level, a dropped and an added column."""
    reference = synthetic_frame(4000, seed=1, numeric=4, categorical=2).rename(columns=NAMES)
    current = synthetic_frame(
        4000, seed=2, numeric=4, categorical=2, mean_shift_sd={"num_0": 0.5}, share_shift={"cat_0": 0.2}
    ).rename(columns=NAMES)
    current.loc[current.index[:800], "plan [tier]"] = "a level the reference never had"
    current = current.drop(columns=["amount"]).assign(an_upstream_column_nobody_announced_with_a_long_name=1.0)
    contract = Contract(
        task="regression",
        target="label",
        id_column="row_id",
        timestamp_column="event_time",
        features=tuple(infer_features(reference)),
    )
    return score_window(fit_profile(reference, contract), current)


@dataclass
class Row:
    """One feature's row as printed: its name's pieces (one per line) and its first line's cells."""

    name: list[str]
    cells: list[str]
    verdict: list[str] = field(default_factory=list)


def feature_rows(text: str) -> dict[str, Row]:
    """The feature table read back from the text, by name (pieces joined, spaces dropped)."""
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("feature "))
    type_at, verdict_at = lines[header].index("type"), lines[header].index("verdict")
    rows: list[Row] = []
    for line in lines[header + 2 :]:
        if not line.strip():
            break
        if line[type_at : type_at + 4].strip():
            rows.append(Row([line[:type_at].strip()], re.split(r"\s{2,}", line[type_at:].strip())))
        else:
            rows[-1].name.append(line[:type_at].strip())
        rows[-1].verdict.append(line[verdict_at:].strip())
    return {"".join(row.name).replace(" ", ""): row for row in rows}


@pytest.mark.parametrize("terminal", [True, False], ids=["terminal", "log-file"])
def test_the_table_fits_80_columns_and_cuts_no_value(terminal: bool) -> None:
    """At 80 columns, in a terminal or a log file, every line fits, nothing is cut with "…",
    every feature's whole name can be read (a long one wraps onto more lines) and every row
    keeps all its values and its verdict."""
    # Given a report with long names, drifted features and schema changes
    drift = report()

    # When it is printed 80 columns wide
    console = Console(width=WIDTH, record=True, file=io.StringIO(), force_terminal=terminal, color_system="standard")
    render(drift, console, contract="inferred from the reference: 4 numeric, 2 categorical columns")
    text = console.export_text()

    # Then no line is longer, no cell is cut short, and each feature is a row with all its values
    assert max(len(line) for line in text.splitlines()) <= WIDTH
    assert "…" not in text
    rows = feature_rows(text)
    assert set(rows) == {name.replace(" ", "") for name in NAMES.values()}
    for found in drift.features:
        row = rows[found.feature.replace(" ", "")]
        assert len(row.cells) == 7, row  # type, p adj., PSI, shift, nulls, unseen, verdict
        verdict = " ".join(row.verdict)
        assert verdict.startswith({"drifted": "DRIFT", "stable": "ok", "missing": "missing"}[found.status])
    assert drift.drifted_features  # the shifted number and the categories drifted
    assert rows["plan[tier]"].verdict[0].startswith("DRIFT")

    # And the contract it used, the schema changes and the verdict are said in words
    assert text.startswith("Contract: inferred from the reference: 4 numeric, 2 categorical columns.")
    assert "feature amount is missing from the data" in text
    assert "an_upstream_column_nobody_announced_with_a_long_name is new" in " ".join(text.split())
    assert f"{len(drift.drifted_features)} of {drift.scored} features drifted" in text


def test_a_table_of_numbers_only_leaves_out_the_categorical_column() -> None:
    """Without a categorical feature the unseen-levels column and its legend are left out."""
    # Given a report on numeric features only
    reference = synthetic_frame(2000, seed=1, numeric=3, categorical=0)
    current = synthetic_frame(2000, seed=2, numeric=3, categorical=0)
    contract = Contract(
        task="regression",
        target="label",
        id_column="row_id",
        timestamp_column="event_time",
        features=tuple(infer_features(reference)),
    )

    # When it is printed
    console = Console(width=WIDTH, record=True, file=io.StringIO())
    render(score_window(fit_profile(reference, contract), current), console)
    text = console.export_text()

    # Then there is no unseen column, and nothing drifted
    header = next(line for line in text.splitlines() if line.startswith("feature "))
    assert header.split() == ["feature", "type", "p", "adj.", "PSI", "shift", "nulls", "verdict"]
    assert "unseen" not in text
    assert "0 of 3 features drifted" in text
