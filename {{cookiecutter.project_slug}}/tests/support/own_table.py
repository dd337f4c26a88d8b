"""A user's own table in a project folder of its own: what the "Bring your own data" tests
(breast cancer, labels as words, wine, diabetes) share.

The folder is published through the environment, as `make` does for the CLI, the flows
and the service, so every part of the project reads the same contract, suite and state.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sklearn.datasets import load_wine
from typer.testing import CliRunner

from {{ cookiecutter.package_name }}.cli.app import app
from {{ cookiecutter.package_name }}.core.contract import Contract
from {{ cookiecutter.package_name }}.core.contract_draft import infer_features
from {{ cookiecutter.package_name }}.settings import ENV_PREFIX, Settings, get_settings

WINE_TARGET = "cultivar"
CULTIVARS = ("barolo", "grignolino", "barbera")  # scikit-learn's wine classes 0, 1 and 2 (59, 71 and 48 rows)


def cli(*args: str | Path) -> str:
    """Run the project's CLI as a user would; a failure shows its output."""
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


@contextmanager
def project_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **env: str) -> Iterator[Settings]:
    """A project root under `tmp_path` (contract, suite and state of its own), with any other
    settings given as `GROUP__NAME=value`; the settings cache is cleared on the way in and out."""
    root = tmp_path / "project"
    root.mkdir()
    for key, value in {"PROJECT_ROOT": str(root), "STATE_DIR": str(root / "var"), **env}.items():
        monkeypatch.setenv(f"{ENV_PREFIX}{key}", value)
    get_settings.cache_clear()
    try:
        yield get_settings()
    finally:
        get_settings.cache_clear()


def use_contract(settings: Settings, contract: Contract) -> None:
    """Write the contract where the project reads it and sync its suite (`make contract-sync`)."""
    settings.contract_file.write_text(contract.to_yaml(), encoding="utf-8")
    cli("contract", "sync")


def feature_records(rows: pd.DataFrame, contract: Contract) -> list[dict[str, Any]]:
    """Rows as a caller sends them: the (numeric) features by the table's own names."""
    return [
        {str(name): value for name, value in record.items()}
        for record in rows[contract.feature_names].astype(float).to_dict("records")
    ]


def wine_table() -> pd.DataFrame:
    """scikit-learn's wine table with the cultivar in words and feature names without the
    '/' of 'od280/od315...' (a contract's names are letters, digits, spaces and _)."""
    table: pd.DataFrame = load_wine(as_frame=True).frame
    table[WINE_TARGET] = table.pop("target").map(dict(enumerate(CULTIVARS)))
    table.columns = [str(c).replace("/", " per ") for c in table.columns]
    return table


def wine_contract(table: pd.DataFrame) -> Contract:
    """Three classes in words, every other column a feature; no id, no timestamp."""
    return Contract(
        task="multiclass_classification",
        target=WINE_TARGET,
        labels=CULTIVARS,
        features=tuple(infer_features(table, exclude=[WINE_TARGET])),
    )
