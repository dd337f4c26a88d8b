"""Three classes written as words, end to end: scikit-learn's wine table (178 rows, 13 numeric
features, the cultivar as "barolo", "grignolino" or "barbera"; no id, no timestamp) in a CSV.

Train through the registry (the training flow's steps), serve in-process, predict (each answer
names the most probable class and gives every class's probability), send feedback in words and
as class indexes, see the answers and labels in the prediction log, get the fresh rows back in
words for retraining, and score the file in a batch.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from starlette.testclient import TestClient

from {{ cookiecutter.package_name }}.core.contract import Contract
from {{ cookiecutter.package_name }}.model.bundle import load_bundle
from {{ cookiecutter.package_name }}.monitoring import steps as monitoring
from {{ cookiecutter.package_name }}.monitoring.assessment import Assessment, assess
from {{ cookiecutter.package_name }}.monitoring.window import load_window, resolve_window
from {{ cookiecutter.package_name }}.serving.batch_scoring import score_file
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.stores import registry
from {{ cookiecutter.package_name }}.stores.prediction_log import PredictionLog
from {{ cookiecutter.package_name }}.stores.sql import utcnow
from {{ cookiecutter.package_name }}.training import steps
from tests.support.own_table import (
    CULTIVARS,
    WINE_TARGET,
    feature_records,
    project_folder,
    use_contract,
    wine_contract,
    wine_table,
)
from tests.support.project import ALL_TIME, train_file
from tests.support.service import load_service

pytestmark = pytest.mark.slow

ANSWERED = 30


@dataclass(frozen=True)
class Project:
    root: Path
    data: Path
    table: pd.DataFrame
    contract: Contract
    settings: Settings


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    """A project folder of its own with a three-class contract and its suite synced, and the
    wine table as a CSV beside it."""
    table = wine_table()
    data = tmp_path / "wine.csv"
    table.to_csv(data, index=False)
    with project_folder(tmp_path, monkeypatch) as settings:
        contract = wine_contract(table)
        use_contract(settings, contract)
        yield Project(settings.project_root, data, table, contract, settings)


def logged(settings: Settings) -> pd.DataFrame:
    prediction_log = PredictionLog(settings.prediction_log_url)
    try:
        return prediction_log.window(*ALL_TIME).set_index("request_id")
    finally:
        prediction_log.close()


def monitor(settings: Settings, since: datetime) -> Assessment:
    """The monitoring flow's steps over the answers logged since `since`."""
    data = load_window(settings, resolve_window(settings, since, utcnow() + timedelta(seconds=1)))
    model = monitoring.reference_model(settings, data)
    assessment = assess(settings, model, monitoring.with_labels(settings, model, data))
    monitoring.store(settings, assessment)
    monitoring.publish_report(settings, assessment)
    return assessment


def test_three_classes_in_words_go_from_training_to_labelled_answers(
    project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Training learns the three cultivars (split at random, stratified) and clears the gate
    with macro F1 and ONNX parity on every class; the service answers each record with the
    most probable class in words, its probability as the score and every class's probability;
    the log keeps them; feedback in words or as indexes joins as indexes, a wrong word is
    refused naming the classes; fresh rows come back in words; batch scoring writes the class
    and a column per class's probability, the same as the service's answers."""
    settings, contract = project.settings, project.contract

    # When it is trained on the file
    run = train_file(settings, contract, project.data, "three classes")
    metrics = run.evaluation.metrics
    print(f"\nholdout metrics: {metrics}\nparity and split: {run.facts}")  # noqa: T201 - figures for review

    # Then the champion cleared the gate on macro F1, split at random, and ONNX matches class by class
    assert (run.decision.passed, run.decision.alias) == (True, registry.CHAMPION), run.decision.reason
    assert run.facts["split"] == "random"
    assert metrics["macro_f1"] > 0.85
    assert metrics["balanced_accuracy"] > 0.85
    assert {f"recall.{c}" for c in CULTIVARS} <= set(metrics)
    assert run.facts["decision_agreement"] == 1.0
    assert run.facts["max_abs_diff"] <= settings.parity.max_abs_diff

    # When the service answers rows of the table, and feedback comes in words and as indexes
    module = load_service(monkeypatch, {})
    sent = project.table.sample(ANSWERED, random_state=5)
    with TestClient(module.ModelService.to_asgi(), raise_server_exceptions=False) as client:
        answered = client.post("/predict", json={"records": feature_records(sent, project.contract)})
        predictions = answered.json()["predictions"]
        ids = [p["request_id"] for p in predictions]
        truth = sent[WINE_TARGET].tolist()
        in_words = [{"request_id": i, "label": word} for i, word in zip(ids[:-3], truth[:-3], strict=True)]
        as_indexes = [
            {"request_id": i, "label": CULTIVARS.index(word)} for i, word in zip(ids[-3:], truth[-3:], strict=True)
        ]
        fed = client.post("/feedback", json={"labels": in_words})
        indexed = client.post("/feedback", json={"labels": as_indexes})
        wrong = client.post("/feedback", json={"labels": [{"request_id": ids[0], "label": "merlot"}]})
        out_of_range = client.post("/feedback", json={"labels": [{"request_id": ids[0], "label": 3}]})
        schema = client.get("/docs.json").json()

    # Then each answer names the most probable class, scores it, and gives every class's probability
    assert answered.status_code == 200, answered.text
    champion = registry.version_by_alias(registry.connect(settings), settings.mlflow.registered_model_name, "champion")
    assert champion is not None
    with registry.fetched_bundle(registry.connect(settings), champion) as folder:
        expected = load_bundle(folder).score_records(feature_records(sent, contract))
    assert [p["label"] for p in predictions] == [CULTIVARS[i] for i in expected.argmax(axis=1)]
    np.testing.assert_allclose([p["score"] for p in predictions], expected.max(axis=1), rtol=1e-6)
    np.testing.assert_allclose([[p["probabilities"][c] for c in CULTIVARS] for p in predictions], expected, rtol=1e-6)
    assert all(p["decision"] is None for p in predictions)
    assert np.mean([p["label"] == t for p, t in zip(predictions, truth, strict=True)]) > 0.8
    assert "probabilities" in schema["components"]["schemas"]["Prediction"]["properties"]
    # And feedback in words and as indexes is stored; another word, or an index beyond the classes, is refused
    assert fed.json() == {"accepted": ANSWERED - 3, "unknown": []}
    assert indexed.json() == {"accepted": 3, "unknown": []}
    assert wrong.status_code == out_of_range.status_code == 400
    assert wrong.json()["error"] == '1 label(s) are none of "barolo", "grignolino", "barbera" (or 0 to 2)'
    # And the log holds every class's probability and the labels as indexes
    rows = logged(settings).loc[ids]
    np.testing.assert_allclose(np.array(rows["probabilities"].tolist()), expected, rtol=1e-6)
    assert rows["decision"].isna().all()
    assert rows["label"].tolist() == [float(CULTIVARS.index(t)) for t in truth]

    # When the fresh labelled rows for a retraining are read
    fresh = steps.read_fresh_rows(settings, contract)

    # Then they carry the words again and pass the suite with the file's rows
    assert fresh is not None
    assert sorted(fresh.frame[WINE_TARGET]) == sorted(truth)
    combined = steps.add_fresh_rows(
        steps.load_training_data(settings, contract, project.data), fresh, settings, contract
    )
    assert set(combined[WINE_TARGET]) == set(CULTIVARS)

    # When the file is scored in a batch
    result = score_file(settings, contract, project.data, tmp_path / "scores.csv")
    scored = pd.read_csv(result.output_path)

    # Then each row has the class, its probability and every class's, as the service answers them
    assert list(scored.columns) == ["row", "score", "label", *(f"probability.{c}" for c in CULTIVARS), "model_version"]
    first = scored.set_index("row").loc[sent.index]
    assert first["label"].tolist() == [p["label"] for p in predictions]
    np.testing.assert_allclose(first["score"], [p["score"] for p in predictions], rtol=1e-6)

    # When a day brings only barolo, labelled, and monitoring runs over it
    since = utcnow()
    barolo = project.table[project.table[WINE_TARGET] == "barolo"]
    with TestClient(module.ModelService.to_asgi(), raise_server_exceptions=False) as client:
        day = client.post("/predict", json={"records": feature_records(barolo, contract)}).json()["predictions"]
        labels = [{"request_id": p["request_id"], "label": "barolo"} for p in day]
        assert client.post("/feedback", json={"labels": labels}).json()["accepted"] == len(barolo)
    assessment = monitor(settings, since)

    # Then the mix of answered classes drifted, and realized performance is measured per class
    assert assessment.drift.prediction is not None
    mix = assessment.drift.prediction.classes
    assert mix is not None
    assert mix.drifted, mix
    # And so did the probability of barolo, which the day is all of (each class's is tested)
    by_class = {found.feature: found for found in assessment.drift.prediction.class_probabilities}
    assert set(by_class) == {f"P({c})" for c in CULTIVARS}
    assert by_class["P(barolo)"].drifted, by_class["P(barolo)"]
    assert assessment.realized is not None
    # (over the performance period: the earlier labelled answers too)
    realized = {m.name: m.current for m in assessment.realized.overall}
    assert assessment.realized.primary_metric == "macro_f1"
    assert {f"recall.{c}" for c in CULTIVARS} | {"macro_f1", "log_loss", "balanced_accuracy"} <= set(realized)
    assert realized["recall.barolo"] > 0.8
    assert 0.5 < realized["macro_f1"] <= 1.0
    assert assessment.realized.n_labelled == ANSWERED + len(barolo)
    # And macro F1 is estimated from the answers' probabilities alone (CBPE over the classes)
    estimate = assessment.estimate
    assert estimate is not None
    assert (estimate.method, estimate.primary_metric, estimate.n) == ("cbpe", "macro_f1", len(barolo))
    assert estimate.primary.lower <= estimate.primary.value <= estimate.primary.upper
