"""A multiclass challenger in shadow, end to end: two versions trained on scikit-learn's wine
table (one of them on labels spoilt for a class), served in-process with the challenger
shadowing, the answers labelled, then the shadow flow's steps: pair, evaluate on macro F1,
record (model version tags, monitoring history, the report's shadow section) and act; and a
rollback after a promotion.

The spoilt labels call 70% of the grignolino wines barolo: a model trained on them answers
barolo for most grignolino, and its macro F1 against the true classes falls from about 0.95
to about 0.6 — a clearly worse model whichever role it holds.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from starlette.testclient import TestClient

from {{ cookiecutter.package_name }}.core.contract import Contract
from {{ cookiecutter.package_name }}.monitoring import steps as monitoring
from {{ cookiecutter.package_name }}.monitoring.assessment import assess
from {{ cookiecutter.package_name }}.monitoring.window import load_window, resolve_window
from {{ cookiecutter.package_name }}.promotion import aliases as promotion
from {{ cookiecutter.package_name }}.promotion import shadow_steps as shadow
from {{ cookiecutter.package_name }}.promotion.shadow_evidence import ShadowEvidence
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.stores import registry
from {{ cookiecutter.package_name }}.stores.monitoring_history import History
from {{ cookiecutter.package_name }}.stores.registry import CHALLENGER, CHAMPION, PREVIOUS
from {{ cookiecutter.package_name }}.stores.sql import utcnow
from tests.support.own_table import (
    WINE_TARGET,
    feature_records,
    project_folder,
    use_contract,
    wine_contract,
    wine_table,
)
from tests.support.project import train_version
from tests.support.service import load_service, wait_until

pytestmark = pytest.mark.slow

REQUESTS = 4  # the table is sent in this many requests


@dataclass(frozen=True)
class Project:
    table: pd.DataFrame
    spoilt: pd.DataFrame
    contract: Contract
    settings: Settings


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    """A project folder of its own with a three-class contract and its suite synced, shadow
    evaluation's minimums scaled to the wine table (100 labelled requests, 10 per class), the
    table and a copy with spoilt labels."""
    table = wine_table()
    spoilt = table.copy()
    grignolino = spoilt.index[spoilt[WINE_TARGET] == "grignolino"]
    spoilt.loc[np.random.default_rng(7).choice(grignolino, int(0.7 * len(grignolino)), replace=False), WINE_TARGET] = (
        "barolo"
    )
    minimums = {"SHADOW_EVALUATION__MIN_SAMPLES": "100", "SHADOW_EVALUATION__MIN_POSITIVES": "10"}
    with project_folder(tmp_path, monkeypatch, **minimums) as settings:
        contract = wine_contract(table)
        use_contract(settings, contract)
        yield Project(table, spoilt, contract, settings)


def lenient(settings: Settings) -> Settings:
    """Settings whose gate lets a worse model through as challenger (shadow evaluation judges it)."""
    return settings.model_copy(update={"gate": settings.gate.model_copy(update={"champion_tolerance": 1.0})})


def serve_and_label(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """Serve the whole table with the challenger shadowing, wait for its scores, then send every
    answer's true class as feedback, in words."""
    records = feature_records(project.table, project.contract)
    truth = project.table[WINE_TARGET].tolist()
    module = load_service(monkeypatch, {})
    with TestClient(module.ModelService.to_asgi(), raise_server_exceptions=False) as client:
        assert client.get("/metadata").json()["shadowing"] is True
        ids: list[str] = []
        for part in np.array_split(np.arange(len(records)), REQUESTS):
            answered = client.post("/predict", json={"records": [records[i] for i in part]})
            assert answered.status_code == 200, answered.text
            ids.extend(p["request_id"] for p in answered.json()["predictions"])
        assert wait_until(lambda: client.get("/metadata").json()["shadow"]["completed"] == REQUESTS)
        labels = [{"request_id": i, "label": word} for i, word in zip(ids, truth, strict=True)]
        assert client.post("/feedback", json={"labels": labels}).json() == {"accepted": len(ids), "unknown": []}


def shadow_flow(settings: Settings, contract: Contract) -> tuple[shadow.Lineup, ShadowEvidence]:
    """The shadow-evaluation flow's steps up to the record (the flow itself runs on Prefect in
    test_shadow_flow.py): the lineup, pairs, evidence, and the record on versions and history."""
    client = registry.connect(settings)
    models = shadow.lineup(client, settings.mlflow.registered_model_name)
    assert models.ready, models
    start, end = shadow.window(settings, now=datetime.now(UTC) + timedelta(seconds=1))
    paired = shadow.read_pairs(settings, models, contract, start, end)
    evidence = shadow.evaluate(paired, models, contract, settings, start, end)
    shadow.record(client, evidence, settings)
    print(f"\n{shadow.markdown(evidence)}")  # noqa: T201 - figures for review
    return models, evidence


def report_html(settings: Settings) -> str:
    """The monitoring flow's steps over everything logged: the report, with its shadow section."""
    data = load_window(
        settings, resolve_window(settings, utcnow() - timedelta(days=1), utcnow() + timedelta(seconds=1))
    )
    model = monitoring.reference_model(settings, data)
    assessment = assess(settings, model, monitoring.with_labels(settings, model, data))
    monitoring.store(settings, assessment)
    return monitoring.publish_report(settings, assessment).read_text(encoding="utf-8")


def test_a_better_multiclass_challenger_is_promoted_recorded_and_can_be_rolled_back(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Champion v1 learnt spoilt labels, challenger v2 the true ones; on the served, labelled
    table v2 is better on macro F1 with confidence: the decision is promote, recorded on both
    versions, in the monitoring history and the report's shadow section; acting on it makes v2
    the champion, and a rollback returns to v1."""
    settings, contract = project.settings, project.contract
    name = settings.mlflow.registered_model_name

    # Given a champion trained on spoilt labels and a challenger trained on the true ones
    first = train_version(settings, project.spoilt, contract, reason="spoilt")
    second = train_version(settings, project.table, contract, reason="true labels")
    assert (first.alias, second.alias) == (CHAMPION, CHALLENGER)

    # When the table is served and labelled, and the shadow evaluation runs
    serve_and_label(project, monkeypatch)
    models, evidence = shadow_flow(settings, contract)

    # Then every request was paired and labelled, and v2 is better on macro F1 with confidence
    assert (models.champion, models.challenger) == (first.version, second.version)
    assert (evidence.paired, evidence.labelled) == (len(project.table), len(project.table))
    assert evidence.classes == {"barolo": 59, "grignolino": 71, "barbera": 48}
    assert evidence.overall is not None
    assert evidence.overall.metric == "macro_f1"
    assert evidence.overall.ci_low > 0.1
    assert evidence.decision == "promote", evidence.reason
    assert evidence.agreement.decision_agreement is not None
    assert evidence.agreement.decision_agreement < 0.9
    # And the decision is recorded on the versions and in the history
    client = registry.connect(settings)
    assert client.get_model_version(name, second.version).tags["shadow.decision"] == "promote"
    assert client.get_model_version(name, first.version).tags["shadow.last_decision"] == "promote"
    with History.from_settings(settings) as history:
        (row,) = history.shadow_decisions(name).to_dict("records")
    assert (row["decision"], row["primary_metric"], row["n"]) == ("promote", "macro_f1", len(project.table))
    assert float(row["ci_lower"]) > 0
    # And the report's shadow section shows it
    html = report_html(settings)
    shadow_section = html[html.index("<h2>Replay and shadow evaluation</h2>") :]
    assert f"v{first.version} vs v{second.version}" in shadow_section
    assert "macro_f1" in shadow_section

    # When the decision is acted on
    moved = shadow.act(client, evidence, who="test")

    # Then v2 is the champion and v1 previous
    assert moved is not None
    assert registry.aliases(client, name) == {CHAMPION: second.version, PREVIOUS: first.version}

    # When someone rolls back
    promotion.rollback(client, name, who="oncall", why="cellar reports mislabelled barbera")

    # Then v1 answers again
    assert registry.aliases(client, name) == {CHAMPION: first.version}


def test_a_worse_multiclass_challenger_is_rejected(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """Champion v1 learnt the true labels; challenger v2, let through a lenient gate, learnt
    spoilt ones: it is not better on macro F1, so it is rejected and loses its alias."""
    settings, contract = project.settings, project.contract
    name = settings.mlflow.registered_model_name

    # Given a champion trained on the true labels and a challenger trained on spoilt ones
    first = train_version(settings, project.table, contract, reason="true labels")
    second = train_version(lenient(settings), project.spoilt, contract, reason="spoilt")
    assert (first.alias, second.alias) == (CHAMPION, CHALLENGER)

    # When the table is served and labelled, and the shadow evaluation runs and acts
    serve_and_label(project, monkeypatch)
    _, evidence = shadow_flow(settings, contract)
    client = registry.connect(settings)
    moved = shadow.act(client, evidence, who="test")

    # Then it is rejected on macro F1, recorded, and only the champion keeps an alias
    assert evidence.overall is not None
    assert evidence.overall.ci_high < 0
    assert evidence.decision == "reject"
    assert "not better with 95% confidence: macro_f1" in evidence.reason
    assert moved is not None
    assert registry.aliases(client, name) == {CHAMPION: first.version}
    assert client.get_model_version(name, second.version).tags["shadow.decision"] == "reject"
    with History.from_settings(settings) as history:
        assert history.shadow_decisions(name)["decision"].tolist() == ["reject"]
