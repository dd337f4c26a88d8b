"""Helpers the tests share (imported as `tests.support`; fixtures live in conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from {{ cookiecutter.package_name }}.core.contract import Contract, parse_contract
from {{ cookiecutter.package_name }}.core.contract_derived import suite_json, suite_path
from {{ cookiecutter.package_name }}.data.tables import target_codes
from {{ cookiecutter.package_name }}.settings import ComputeSettings, Settings
from {{ cookiecutter.package_name }}.training import gate, steps
from {{ cookiecutter.package_name }}.training.split import Split

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# A window holding every event time tests use (prediction-log windows are by event time,
# and test records carry the demo data's timestamps).
ALL_TIME = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
# Small enough to train in seconds, large enough for ~100 frauds in the holdout
# (with fewer, holdout average precision is too noisy to clear the gate reliably).
TEST_ROWS = 40_000
# The Dask engine in tests: a LocalCluster of two worker processes, one thread each.
DASK = ComputeSettings(engine="dask", workers=2, threads_per_worker=1, memory_limit="1GiB")
T = TypeVar("T")
Step = Callable[..., Any]  # step(name, function, *args, **kwargs) -> what function returns


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


def logged_labels(frame: pd.DataFrame, contract: Contract) -> list[float]:
    """A table's target as the prediction log keeps labels: each class's index where the
    contract names its classes (multiclass, binary in words), else the values themselves."""
    return target_codes(frame, contract)[contract.target].astype(float).tolist()


def other_label(value: float, contract: Contract) -> float:
    """A logged label changed: another class (the next one) for classification, 1 - y for regression."""
    return float((int(value) + 1) % contract.n_classes) if contract.is_classification else 1.0 - value


def as_written(label: float, contract: Contract) -> object:
    """A logged label as a training table writes the target: the class as the contract names
    it, 0/1 for an unnamed binary target, the number for regression."""
    if contract.labels is not None:
        return contract.class_labels[int(label)]
    return int(label) if contract.is_classification else label


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


def call(_name: str, step: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a training step as it is (`train_steps`' default: a test may time or watch them)."""
    return step(*args, **kwargs)


@dataclass(frozen=True)
class TrainingRun:
    registered: gate.Registered
    decision: gate.GateDecision
    evaluation: gate.Evaluation
    data: Split
    parity: dict[str, Any]

    @property
    def facts(self) -> dict[str, Any]:
        """Parity figures, the split's sizes and method: what a test records about the run."""
        return {**self.parity, **self.data.sizes(), "split": self.data.method}


def train_steps(
    settings: Settings, frame: pd.DataFrame, contract: Contract, reason: str = "test", step: Step = call
) -> TrainingRun:
    """Every training step from validation to the gate, in order, without Prefect (the flow
    itself has its own test); `step(name, function, *args)` runs each."""
    step("validate", steps.validate, frame, settings)
    data = step("split", steps.split, frame, contract, settings)
    booster, encoding = step("fit", steps.fit, data, contract, settings)
    evaluation = step("evaluate_holdout", steps.evaluate_holdout, booster, encoding, data, contract, settings)
    onnx_bytes = step("export", steps.export, booster, encoding, settings)
    parity = step("check_parity", steps.check_parity, onnx_bytes, encoding, data, evaluation, contract, settings)
    loss = step("fit_loss_model", steps.fit_loss_model, onnx_bytes, encoding, data, parity, contract, settings)
    registered = step(
        "log_and_register",
        steps.log_and_register,
        settings=settings,
        contract=contract,
        frame=frame,
        data=data,
        encoding=encoding,
        evaluation=evaluation,
        onnx_bytes=onnx_bytes,
        parity=parity,
        booster_params={"num_trees": booster.num_trees()},
        run_tags={"trigger": reason},
        loss=loss,
    )
    decision = step("gate", gate.gate, registered, evaluation, data, contract, settings, reason)
    step(
        "write_model_card",
        steps.write_model_card,
        settings=settings,
        contract=contract,
        frame=frame,
        data=data,
        booster=booster,
        encoding=encoding,
        evaluation=evaluation,
        parity=parity,
        registered=registered,
        decision=decision,
    )
    return TrainingRun(registered, decision, evaluation, data, parity.as_dict())


def train_file(settings: Settings, contract: Contract, path: Path, reason: str, step: Step = call) -> TrainingRun:
    """What `make train` runs for the user's file: load it, add the fresh labelled rows of the
    prediction log, then every step to the gate."""
    base = step("load", steps.load_training_data, settings, contract, path)
    fresh = step("read_fresh_rows", steps.read_fresh_rows, settings, contract)
    frame = step("add_fresh_rows", steps.add_fresh_rows, base, fresh, settings, contract)
    return train_steps(settings, frame, contract, reason, step)


def train_version(settings: Settings, frame: pd.DataFrame, contract: Contract, reason: str = "test") -> Trained:
    """A version trained and gated from `frame` (see `train_steps`)."""
    run = train_steps(settings, frame, contract, reason)
    version, run_id = run.registered.version, run.registered.run_id
    return Trained(settings, version, run_id, run.evaluation, run.data.holdout, run.decision.alias)
