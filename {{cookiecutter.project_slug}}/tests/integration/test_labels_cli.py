"""`{{ cookiecutter.project_slug }} labels`: true labels loaded in bulk into the prediction log, as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.core.contract import load_contract
from {{ cookiecutter.package_name }}.settings import ENV_PREFIX
from {{ cookiecutter.package_name }}.stores.prediction_log import PredictionLog
from {{ cookiecutter.package_name }}.stores.prediction_log_schema import CHAMPION
from {{ cookiecutter.package_name }}.stores.prediction_rows import PredictionRow
from {{ cookiecutter.package_name }}.stores.sql import utcnow
from tests.support.project import ALL_TIME, PROJECT_ROOT

CONTRACT = load_contract(PROJECT_ROOT / "contract.yaml")
TARGET = CONTRACT.target
CLASSIFICATION = CONTRACT.is_classification
IMPOSSIBLE = CONTRACT.n_classes + 1 if CLASSIFICATION else "slow"  # no class's index, and no number

CLI = str(Path(sys.executable).with_name("{{ cookiecutter.project_slug }}"))


@pytest.fixture
def state(tmp_path: Path) -> Path:
    """A prediction log holding two answered requests, r1 (caller id tx-1) and r2 (tx-2)."""
    state = tmp_path / "state"
    prediction_log = PredictionLog(f"sqlite:///{state / 'predictions.db'}")
    prediction_log.record(
        [
            PredictionRow(
                request_id=request_id,
                role=CHAMPION,
                logged_at=utcnow(),
                occurred_at=utcnow(),
                model_name="m",
                model_version="1",
                record_id=record_id,
                features={"amount": 1.0},
                score=0.1,
                decision=False,
                latency_ms=0.3,
                schema_events=None,
            )
            for request_id, record_id in (("r1", "tx-1"), ("r2", "tx-2"))
        ]
    )
    prediction_log.close()
    return state


def run(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, f"{ENV_PREFIX}STATE_DIR": str(state)}
    return subprocess.run(
        [CLI, "labels", *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def labels_in(state: Path) -> dict[str, float]:
    prediction_log = PredictionLog(f"sqlite:///{state / 'predictions.db'}")
    frame = prediction_log.window(*ALL_TIME)
    prediction_log.close()
    return {str(k): float(v) for k, v in frame.set_index("request_id")["label"].dropna().items()}


def test_labels_by_request_id_join_and_unknown_ids_are_counted(state: Path, tmp_path: Path) -> None:
    """A CSV of request ids and the contract's target column joins the log; unknown ids are reported."""
    # Given a label file with one known and one unknown id
    file = tmp_path / "labels.csv"
    pd.DataFrame({"request_id": ["r1", "zz"], TARGET: [1, 0]}).to_csv(file, index=False)

    # When it is loaded
    done = run(state, str(file))

    # Then the known label is stored and the unknown id reported
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"accepted": 1, "unknown": 1, "unknown_ids": ["zz"]}
    assert labels_in(state) == {"r1": 1.0}


def test_labels_by_the_callers_own_ids(state: Path, tmp_path: Path) -> None:
    """With --by record_id, labels keyed by the caller's ids (the contract's id column) join too."""
    # Given a Parquet file keyed by transaction id
    file = tmp_path / "labels.parquet"
    pd.DataFrame({"transaction_id": ["tx-2"], "fraud": [0]}).to_parquet(file)

    # When it is loaded by record id, naming the columns
    done = run(state, str(file), "--by", "record_id", "--id-column", "transaction_id", "--label-column", "fraud")

    # Then request r2 carries the label
    assert done.returncode == 0, done.stderr
    assert labels_in(state) == {"r2": 0.0}


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        (pd.DataFrame({"request_id": ["r1"]}), f"no column(s) {TARGET}"),
        (pd.DataFrame({"request_id": ["r1", None], TARGET: [1, 0]}), "1 row(s) lack an id"),
        (pd.DataFrame({"request_id": ["r1"], TARGET: [IMPOSSIBLE]}), "labels"),
    ],
    ids=["no-target-column", "missing-id", "impossible-label"],
)
def test_bad_label_files_fail_with_one_line(state: Path, tmp_path: Path, frame: pd.DataFrame, expected: str) -> None:
    """A file without the columns, or with missing ids or labels that are not 0/1, is refused in one line."""
    # Given a bad label file
    file = tmp_path / "labels.csv"
    frame.to_csv(file, index=False)

    # When it is loaded
    done = run(state, str(file))

    # Then the command fails with one line and stores nothing
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert expected in done.stderr
    assert labels_in(state) == {}
