"""Helpers the tests share (imported as `tests.support`; fixtures live in conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from {{ cookiecutter.package_name }}.core.contract import Contract, parse_contract
from {{ cookiecutter.package_name }}.core.contract_derived import suite_json, suite_path
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.training import gate, steps

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# A window holding every event time tests use (prediction-log windows are by event time,
# and test records carry the demo data's timestamps).
ALL_TIME = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
# Small enough to train in seconds, large enough for ~100 frauds in the holdout
# (with fewer, holdout average precision is too noisy to clear the gate reliably).
TEST_ROWS = 40_000


def id_column(contract: Contract) -> str:
    """The contract's id column, for tests of the project's contract (which names one)."""
    assert contract.id_column is not None, "the contract names no id column"
    return contract.id_column


def time_column(contract: Contract) -> str:
    """The contract's timestamp column, for tests of the project's contract (which names one)."""
    assert contract.timestamp_column is not None, "the contract names no timestamp column"
    return contract.timestamp_column


def without_row_keys(contract: Contract) -> Contract:
    """The contract with neither an id nor a timestamp column, as most tables people start from."""
    return parse_contract({**contract.model_dump(mode="json"), "id_column": None, "timestamp_column": None})


def own_project(root: Path, contract: Contract, **overrides: object) -> Settings:
    """Settings for a project folder of the test's own: `contract` as its contract.yaml, the
    suite derived from it (as `contract sync` writes it), all state under root/var."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "contract.yaml").write_text(contract.to_yaml(), encoding="utf-8")
    suite = suite_path(root / "great_expectations")
    suite.parent.mkdir(parents=True, exist_ok=True)
    suite.write_text(suite_json(contract), encoding="utf-8")
    return Settings(project_root=root, state_dir=root / "var", **overrides)  # type: ignore[arg-type]


def make_settings(state_dir: Path, **overrides: object) -> Settings:
    """Settings for the real project (its contract and suite) with all state in `state_dir`."""
    return Settings(project_root=PROJECT_ROOT, state_dir=state_dir, demo_rows=TEST_ROWS, **overrides)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Trained:
    settings: Settings
    version: str
    run_id: str
    evaluation: gate.Evaluation
    holdout: pd.DataFrame
    alias: str | None


def train_version(settings: Settings, frame: pd.DataFrame, contract: Contract, reason: str = "test") -> Trained:
    """Every training step in order, without Prefect (the flow itself has its own test)."""
    steps.validate(frame, settings)
    data = steps.split(frame, contract, settings)
    booster, encoding = steps.fit(data, contract, settings)
    evaluation = steps.evaluate_holdout(booster, encoding, data, contract, settings)
    onnx_bytes = steps.export(booster, encoding, settings)
    parity = steps.check_parity(onnx_bytes, encoding, data, evaluation, contract, settings)
    registered = steps.log_and_register(
        settings=settings,
        contract=contract,
        frame=frame,
        data=data,
        encoding=encoding,
        evaluation=evaluation,
        onnx_bytes=onnx_bytes,
        parity=parity,
        booster_params={"test": True},
        run_tags={"trigger": reason},
    )
    decision = gate.gate(registered, evaluation, data, contract, settings, reason)
    return Trained(settings, registered.version, registered.run_id, evaluation, data.holdout, decision.alias)
