"""Bring your own data, as the README says, with a table of the kind most people start from:
scikit-learn's breast-cancer table (569 rows, 30 numeric features named with spaces, a 0/1
target, no id column, no timestamp column), written to CSV as it comes.

Draft the contract, sync the suite, train (the training flow's steps: load, fresh rows,
validate, split, fit, evaluate, export, parity, register, gate), serve it in-process, predict,
send labels, score a file, and monitor a window of shifted rows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from starlette.testclient import TestClient
from typer.testing import CliRunner

from {{ cookiecutter.package_name }}.cli.app import app
from {{ cookiecutter.package_name }}.core.contract import Contract, load_contract
from {{ cookiecutter.package_name }}.model.bundle import load_bundle
from {{ cookiecutter.package_name }}.monitoring import steps as monitoring
from {{ cookiecutter.package_name }}.monitoring.assessment import Assessment, assess
from {{ cookiecutter.package_name }}.monitoring.window import load_window, resolve_window
from {{ cookiecutter.package_name }}.serving.batch_scoring import score_file
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.stores import registry
from {{ cookiecutter.package_name }}.stores.sql import utcnow
from {{ cookiecutter.package_name }}.training import gate
from tests.support.own_table import cli, feature_records, project_folder
from tests.support.project import train_file
from tests.support.service import load_service

pytestmark = pytest.mark.slow

TARGET = "target"
SHIFTED = {"mean radius": 1.6, "worst texture": 1.5}  # feature -> factor applied to the monitored rows
T = TypeVar("T")


@dataclass
class Timer:
    """Step times, for the record (printed; never asserted)."""

    seconds: dict[str, float] = field(default_factory=dict)

    def __call__(self, name: str, step: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        started = time.perf_counter()
        try:
            return step(*args, **kwargs)
        finally:
            self.seconds[name] = round(time.perf_counter() - started, 2)


@dataclass(frozen=True)
class OwnProject:
    root: Path
    data: Path
    table: pd.DataFrame
    settings: Settings
    timer: Timer


@pytest.fixture
def own_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[OwnProject]:
    """A project folder of its own (its contract, suite and state), published through the
    environment as `make` would, and the breast-cancer table as a CSV file beside it."""
    table: pd.DataFrame = load_breast_cancer(as_frame=True).frame
    data = tmp_path / "breast_cancer.csv"
    table.to_csv(data, index=False)
    with project_folder(tmp_path, monkeypatch) as settings:
        yield OwnProject(settings.project_root, data, table, settings, Timer())


def train(project: OwnProject, contract: Contract) -> tuple[gate.GateDecision, gate.Evaluation, dict[str, Any]]:
    """The training flow's steps in order, timed: what `make train` runs for the user's file."""
    run = train_file(project.settings, contract, project.data, "own table", step=project.timer)
    return run.decision, run.evaluation, run.facts


def monitor(project: OwnProject, since: Any) -> Assessment:
    """The monitoring flow's steps over the answers logged since `since` (by the time the
    service logged them: the contract names no timestamp column)."""
    settings, timer = project.settings, project.timer
    window = resolve_window(settings, since, utcnow() + timedelta(seconds=1))
    data = timer("monitor:read_window", load_window, settings, window)
    model = timer("monitor:reference", monitoring.reference_model, settings, data)
    data = timer("monitor:labels", monitoring.with_labels, settings, model, data)
    assessment = timer("monitor:assess", assess, settings, model, data)
    timer("monitor:store", monitoring.store, settings, assessment)
    timer("monitor:report", monitoring.publish_report, settings, assessment)
    return assessment


def test_a_table_without_id_or_timestamp_goes_from_draft_to_monitoring(
    own_project: OwnProject, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The README's "Bring your own data" steps work for a table without an id or timestamp
    column: the draft leaves both out and says so; training splits at random (seeded,
    stratified), states it and records it on the version; the champion clears the gate and
    its ONNX export matches LightGBM; the service answers every record with a request id and
    takes labels by it; batch scoring keys rows by position; and monitoring, by the time the
    answers were logged, finds the shifted features drifted."""
    project, timer = own_project, own_project.timer
    settings = project.settings

    # Given a contract drafted from the table and its suite synced (README steps 1 and 2)
    drafted = timer(
        "contract draft",
        cli,
        "contract",
        "draft",
        project.data,
        "--target",
        TARGET,
        "--out",
        settings.contract_file,
    )
    timer("contract sync", cli, "contract", "sync")
    assert "derived files match" in cli("contract", "check")
    contract = load_contract(settings.contract_file)
    assert "no id column: answers are keyed by the service's request ids" in drafted
    assert "no timestamp column: the split will be random (seeded, stratified)" in drafted
    assert (contract.id_column, contract.timestamp_column, contract.task) == (None, None, "binary_classification")
    assert len(contract.features) == 30

    # When it is trained on the file (README step 3)
    with caplog.at_level(logging.INFO, logger="{{ cookiecutter.package_name }}.training.steps"):
        decision, evaluation, facts = train(project, contract)

    # Then the split was random and stratified, said so, and is recorded on the version
    assert facts["split"] == "random"
    assert (facts["holdout_rows"], facts["valid_rows"], facts["train_rows"]) == (114, 85, 370)
    assert any("split at random (seed 42, stratified by the target)" in r.getMessage() for r in caplog.records)
    client = registry.connect(settings)
    name = settings.mlflow.registered_model_name
    version = client.get_model_version(name, "1")
    assert version.tags["training.split"] == "random"
    assert version.run_id is not None
    assert client.get_run(version.run_id).data.params["split"] == "random"
    # And the champion clears the gate with a sane holdout score, its ONNX export matching LightGBM
    assert (decision.passed, decision.alias) == (True, registry.CHAMPION), decision.reason
    assert evaluation.metrics["roc_auc"] > 0.9
    assert evaluation.metrics["average_precision"] > 0.9
    assert facts["max_abs_diff"] <= settings.parity.max_abs_diff
    assert facts["decision_agreement"] == 1.0

    # When the service answers records of the table (in-process), and labels come back by request id
    module = load_service(monkeypatch, {})
    first = project.table.sample(40, random_state=1)
    with TestClient(module.ModelService.to_asgi(), raise_server_exceptions=False) as client_app:
        answered = timer("predict", client_app.post, "/predict", json={"records": feature_records(first, contract)})
        predictions = answered.json()["predictions"]
        truth = first[TARGET].astype(int).tolist()
        labels = [{"request_id": p["request_id"], "label": y} for p, y in zip(predictions, truth, strict=True)]
        fed = client_app.post("/feedback", json={"labels": labels})
        since = utcnow()
        shifted = project.table.assign(**{c: project.table[c] * k for c, k in SHIFTED.items()})
        sent = [
            client_app.post("/predict", json={"records": feature_records(shifted.iloc[i : i + 200], contract)})
            for i in range(0, len(shifted), 200)
        ]

    # Then every record has an answer with its own request id (no caller id), scored as the
    # champion's bundle scores it, and the labels join
    assert answered.status_code == 200, answered.text
    assert len(predictions) == len(first)
    assert len({p["request_id"] for p in predictions}) == len(first)
    assert all(p["record_id"] is None and p["model_version"] == "1" for p in predictions)
    with registry.fetched_bundle(client, version) as folder:
        bundle = load_bundle(folder)
        assert bundle.metadata["split"] == "random"
        expected = bundle.score_records(feature_records(first, contract))
    np.testing.assert_allclose([p["score"] for p in predictions], expected, rtol=1e-6)
    assert fed.json() == {"accepted": len(first), "unknown": []}
    assert all(answer.status_code == 200 for answer in sent)

    # And labels load in bulk by request id; by record id they cannot, and the error says why
    answered_ids = [p["request_id"] for p in sent[0].json()["predictions"]]
    label_file = project.root / "labels.csv"
    pd.DataFrame({"request_id": answered_ids, TARGET: shifted[TARGET].iloc[:200].tolist()}).to_csv(label_file)
    assert '"accepted": 200' in cli("labels", label_file)
    by_record = CliRunner().invoke(app, ["labels", str(label_file), "--by", "record_id"])
    assert by_record.exit_code != 0
    assert "the contract names none: label by request_id" in by_record.output

    # When the table is scored as a file
    result = timer("batch scoring", score_file, settings, contract, project.data)

    # Then each row is keyed by its place in the file, with the service's scores
    scored = pd.read_parquet(result.output_path)
    assert scored["row"].tolist() == list(range(len(project.table)))
    np.testing.assert_allclose(
        scored["score"].to_numpy()[first.index.to_numpy()], [p["score"] for p in predictions], rtol=1e-6
    )

    # When monitoring judges the window of shifted rows (by the time the service logged them)
    assessment = monitor(project, since)

    # Then it read every shifted answer and finds the shifted features drifted
    assert assessment.rows == len(shifted)
    drifted = set(assessment.drift.drifted_features)
    assert set(SHIFTED) <= drifted, assessment.drift.to_dict()
    assert len(drifted - set(SHIFTED)) <= 2, drifted
    print(  # noqa: T201 - the figures the report quotes
        f"\nown table: metrics {evaluation.metrics}\nparity/split {facts}\nsteps (s) {timer.seconds}"
        f"\ndrifted {sorted(drifted)}"
    )
