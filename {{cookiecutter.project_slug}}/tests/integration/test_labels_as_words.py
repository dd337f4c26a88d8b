"""A binary target written as words, end to end: scikit-learn's breast-cancer table with its
diagnosis as "benign" and "malignant" in a CSV file, plus an id and an event time.

Draft the contract (it names the labels, malignant the positive class as the rarer), sync the
suite, train through the registry (the training flow's steps), serve in-process, predict (each
answer also says its decision in words), send feedback in words, and see the labels join the
prediction log as 0/1 and come back in words as fresh rows for retraining.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from starlette.testclient import TestClient

from {{ cookiecutter.package_name }}.core.contract import Contract, load_contract
from {{ cookiecutter.package_name }}.model.bundle import load_bundle
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.stores import registry
from {{ cookiecutter.package_name }}.stores.prediction_log import PredictionLog
from {{ cookiecutter.package_name }}.training import gate, steps
from tests.support.own_table import cli, project_folder
from tests.support.project import ALL_TIME, train_file
from tests.support.service import load_service

pytestmark = pytest.mark.slow

TARGET = "diagnosis"
WORDS = {0: "malignant", 1: "benign"}  # scikit-learn's codes: 0 is malignant (212 rows), 1 benign (357)
ANSWERED = 40  # rows sent to the service


@dataclass(frozen=True)
class Project:
    root: Path
    data: Path
    table: pd.DataFrame
    settings: Settings


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    """A project folder of its own (contract, suite, state), published through the environment
    as `make` would, and the table as a CSV beside it: features renamed to letters, digits and
    underscores (any contract takes those), the diagnosis in words, an id and an hourly time."""
    frame = load_breast_cancer(as_frame=True).frame
    table = frame.drop(columns="target").rename(columns=lambda name: str(name).replace(" ", "_"))
    table.insert(0, "id", [f"patient-{i:04d}" for i in range(len(frame))])
    table.insert(
        1, "timestamp", pd.date_range("2026-01-01", periods=len(frame), freq="h").strftime("%Y-%m-%dT%H:%M:%S")
    )
    table[TARGET] = frame["target"].map(WORDS)
    data = tmp_path / "breast_cancer.csv"
    table.to_csv(data, index=False)
    with project_folder(tmp_path, monkeypatch) as settings:
        yield Project(settings.project_root, data, table, settings)


def train(project: Project, contract: Contract) -> tuple[gate.GateDecision, gate.Evaluation, dict[str, Any]]:
    """The training flow's steps in order, as `make train` runs them for the user's file."""
    run = train_file(project.settings, contract, project.data, "labels as words")
    return run.decision, run.evaluation, {**run.facts, "holdout_positives": int(run.data.holdout[TARGET].sum())}


def records(rows: pd.DataFrame, contract: Contract) -> list[dict[str, Any]]:
    """Rows as a caller sends them: the features, the caller's id, the event time as now."""
    features = rows[contract.feature_names].astype(float).to_dict("records")
    now = datetime.now(UTC).isoformat()
    return [
        {**{str(name): value for name, value in record.items()}, "id": key, "timestamp": now}
        for record, key in zip(features, rows["id"], strict=True)
    ]


def joined_labels(settings: Settings) -> pd.Series:
    prediction_log = PredictionLog(settings.prediction_log_url)
    try:
        return prediction_log.window(*ALL_TIME).set_index("request_id")["label"]
    finally:
        prediction_log.close()


def test_a_target_written_as_words_goes_from_draft_to_labelled_answers(
    project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The draft names the words as the contract's labels (malignant positive, as the rarer)
    and says why; the suite allows exactly them; training learns malignant as 1 and clears
    the gate with its ONNX export matching LightGBM; the service answers with the decision in
    words as well, takes feedback in words (and 0/1), refuses any other word naming the
    labels, joins the labels to its log as 0/1, and the fresh rows for retraining carry the
    words again and pass the suite; the `labels` command takes a file in words too."""
    settings = project.settings

    # Given a contract drafted from the file and its suite synced (the README's steps 1 and 2)
    drafted = cli(
        "contract", "draft", project.data, "--target", TARGET, "--id-column", "id",
        "--timestamp-column", "timestamp", "--out", settings.contract_file,
    )  # fmt: skip
    cli("contract", "sync")
    assert "derived files match" in cli("contract", "check")
    contract = load_contract(settings.contract_file)

    # Then the draft said what it decided and why, and the contract names the words
    assert (
        "target 'diagnosis': 2 values (benign 357, malignant 212): binary classification, "
        "positive class 'malignant' (the rarer; --positive to choose)"
    ) in drafted
    assert (contract.task, contract.labels) == ("binary_classification", ("benign", "malignant"))
    assert len(contract.features) == 30

    # When it is trained on the file (the README's step 3)
    decision, evaluation, facts = train(project, contract)
    print(  # noqa: T201 - the figures a review quotes (pytest -s)
        f"\nholdout metrics: {evaluation.metrics}\nthreshold: {evaluation.threshold}\nparity and split: {facts}"
    )

    # Then malignant was learnt as the positive class, the champion cleared the gate, and ONNX matches
    assert (decision.passed, decision.alias) == (True, registry.CHAMPION), decision.reason
    assert (facts["train_rows"], facts["valid_rows"], facts["holdout_rows"]) == (370, 85, 114)
    assert evaluation.metrics["roc_auc"] > 0.95
    assert evaluation.metrics["average_precision"] > 0.9
    assert facts["max_abs_diff"] <= settings.parity.max_abs_diff
    assert facts["decision_agreement"] == 1.0

    # When the service answers rows of the table, and feedback comes in words (and as 1/0)
    module = load_service(monkeypatch, {})
    sent = project.table.sample(ANSWERED, random_state=3)
    with TestClient(module.ModelService.to_asgi(), raise_server_exceptions=False) as client:
        answered = client.post("/predict", json={"records": records(sent, contract)})
        predictions = answered.json()["predictions"]
        in_words = [
            {"request_id": p["request_id"], "label": word}
            for p, word in zip(predictions[:-2], sent[TARGET].iloc[:-2], strict=True)
        ]
        as_codes = [
            {"request_id": p["request_id"], "label": int(word == "malignant")}
            for p, word in zip(predictions[-2:], sent[TARGET].iloc[-2:], strict=True)
        ]
        fed = client.post("/feedback", json={"labels": in_words})
        coded = client.post("/feedback", json={"labels": as_codes})
        wrong = client.post("/feedback", json={"labels": {"request_id": predictions[0]["request_id"], "label": "M"}})

    # Then each answer keeps its score and decision and says the decision in words
    assert answered.status_code == 200, answered.text
    assert [p["record_id"] for p in predictions] == sent["id"].tolist()
    assert all(p["label"] == ("malignant" if p["decision"] else "benign") for p in predictions)
    mlflow_client = registry.connect(settings)
    champion = registry.version_by_alias(mlflow_client, settings.mlflow.registered_model_name, registry.CHAMPION)
    assert champion is not None
    with registry.fetched_bundle(mlflow_client, champion) as folder:
        expected = load_bundle(folder).score_records(records(sent, contract))
    np.testing.assert_allclose([p["score"] for p in predictions], expected, rtol=1e-6)
    # And the labels in words and as 1/0 are stored, any other word refused naming the labels
    assert fed.json() == {"accepted": ANSWERED - 2, "unknown": []}
    assert coded.json() == {"accepted": 2, "unknown": []}
    assert wrong.status_code == 400
    assert wrong.json()["error"] == '1 label(s) are neither "benign" nor "malignant" (nor 0 or 1)'
    # And they joined the log as 0/1, malignant 1
    joined = joined_labels(settings)
    truth = dict(zip([p["request_id"] for p in predictions], sent[TARGET], strict=True))
    assert {rid: joined[rid] for rid in truth} == {rid: float(w == "malignant") for rid, w in truth.items()}

    # When the fresh labelled rows for a retraining are read
    fresh = steps.read_fresh_rows(settings, contract)
    assert fresh is not None
    combined = steps.add_fresh_rows(
        steps.load_training_data(settings, contract, project.data), fresh, settings, contract
    )

    # Then they carry the words again, validate, and replace the base rows of the same ids
    assert len(fresh.frame) == ANSWERED
    assert dict(zip(fresh.frame["id"], fresh.frame[TARGET], strict=True)) == dict(
        zip(sent["id"], sent[TARGET], strict=True)
    )
    assert len(combined) == len(project.table)
    assert set(combined[TARGET]) == {"benign", "malignant"}

    # When a label file in words is loaded with the `labels` command, by the caller's ids
    flipped = sent.head(5).assign(**{TARGET: sent[TARGET].head(5).map({"benign": "malignant", "malignant": "benign"})})
    file = tmp_path / "labels.csv"
    flipped[["id", TARGET]].to_csv(file, index=False)
    loaded = cli("labels", file, "--by", "record_id", "--id-column", "id")

    # Then those labels replace the earlier ones, as 0/1
    assert json.loads(loaded)["accepted"] == 5
    joined = joined_labels(settings)
    by_record = dict(zip(sent["id"], [p["request_id"] for p in predictions], strict=True))
    assert [joined[by_record[key]] for key in flipped["id"]] == [float(w == "malignant") for w in flipped[TARGET]]
