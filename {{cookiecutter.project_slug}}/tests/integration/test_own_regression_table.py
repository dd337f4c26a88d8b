"""A regression table of the kind people start from: scikit-learn's diabetes table (442 rows,
10 numeric features, a disease-progression score to predict; no id, no timestamp) in a CSV.

Draft the contract (the target reads as regression), sync the suite, train (a random split),
serve in-process, send the true values as feedback, and monitor: realized MAE and RMSE from
the labelled answers. The table is too small for a loss model (its validation slice holds 66
rows), so the label-free estimate is absent and says nothing rather than guessing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes
from starlette.testclient import TestClient

from {{ cookiecutter.package_name }}.core.contract import load_contract
from {{ cookiecutter.package_name }}.monitoring import steps as monitoring
from {{ cookiecutter.package_name }}.monitoring.assessment import assess
from {{ cookiecutter.package_name }}.monitoring.window import load_window, resolve_window
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.stores import registry
from {{ cookiecutter.package_name }}.stores.sql import utcnow
from tests.support.own_table import cli, feature_records, project_folder
from tests.support.project import train_file
from tests.support.service import load_service

pytestmark = pytest.mark.slow

TARGET = "progression"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Settings, Path, pd.DataFrame]]:
    """A project folder of its own, published through the environment as `make` would, and the
    diabetes table (scikit-learn's scaled features) as a CSV beside it."""
    table: pd.DataFrame = load_diabetes(as_frame=True).frame.rename(columns={"target": TARGET})
    data = tmp_path / "diabetes.csv"
    table.to_csv(data, index=False)
    with project_folder(tmp_path, monkeypatch) as settings:
        yield settings, data, table


def test_a_regression_table_goes_from_draft_to_realized_error(
    project: tuple[Settings, Path, pd.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The draft reads the target as regression and says why; training splits at random and
    clears the gate with its ONNX export matching LightGBM; the service answers every record
    with the prediction; feedback takes the true values; monitoring measures the realized
    MAE and RMSE on them, and, with no loss model for so small a table, gives no estimate."""
    settings, data, table = project

    # Given a contract drafted from the table and its suite synced
    drafted = cli("contract", "draft", data, "--target", TARGET, "--out", settings.contract_file)
    cli("contract", "sync")
    contract = load_contract(settings.contract_file)

    # Then the target was read as regression, the reason said
    assert contract.task == "regression"
    assert "target 'progression': 214 distinct numbers (25 to 346): regression" in drafted

    # When it is trained on the file
    run = train_file(settings, contract, data, "own regression table")
    print(f"\nholdout metrics: {run.evaluation.metrics}\nparity and split: {run.facts}")  # noqa: T201

    # Then the champion cleared the gate, split at random, and ONNX matches LightGBM
    assert (run.decision.passed, run.decision.alias) == (True, registry.CHAMPION), run.decision.reason
    assert run.facts["split"] == "random"
    assert run.evaluation.metrics["r2"] > 0.2
    assert run.facts["passed"]

    # When the service answers every row and the true values come back as feedback
    since = utcnow()
    module = load_service(monkeypatch, {})
    with TestClient(module.ModelService.to_asgi(), raise_server_exceptions=False) as client:
        answered = client.post("/predict", json={"records": feature_records(table, contract)})
        predictions = answered.json()["predictions"]
        labels = [{"request_id": p["request_id"], "label": y} for p, y in zip(predictions, table[TARGET], strict=True)]
        fed = client.post("/feedback", json={"labels": labels})

    # Then every record got a prediction, and every label was stored
    assert answered.status_code == 200, answered.text
    assert all(p["decision"] is None and p["score"] > 0 for p in predictions)
    assert fed.json() == {"accepted": len(table), "unknown": []}

    # When monitoring runs over those answers
    window = load_window(settings, resolve_window(settings, since, utcnow() + timedelta(seconds=1)))
    model = monitoring.reference_model(settings, window)
    assessment = assess(settings, model, monitoring.with_labels(settings, model, window))

    # Then the realized error is measured on all of them, as the predictions give it, and no estimate is made
    assert assessment.realized is not None
    realized = {m.name: m.current for m in assessment.realized.overall}
    errors = table[TARGET].to_numpy() - np.array([p["score"] for p in predictions])
    assert realized["mae"] == pytest.approx(np.mean(np.abs(errors)), rel=1e-6)
    assert realized["rmse"] == pytest.approx(np.sqrt(np.mean(errors**2)), rel=1e-6)
    assert assessment.estimate is None
