"""The monitoring flow under a real (temporary) Prefect server, over a prediction log of
realistic traffic scored by the trained champion: quiet days, then an upstream change.

Checks what a run leaves behind: history rows, the Prefect artifacts, the HTML
report, the alerts delivered to a local webhook (once per incident), and the
degradation event on the server (once per incident).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from {{ cookiecutter.package_name }}.cli.app import app
from {{ cookiecutter.package_name }}.data.demo_world import TrafficShift
from {{ cookiecutter.package_name }}.monitoring import alerts
from {{ cookiecutter.package_name }}.monitoring.degradation_event import DEGRADED, model_resource_id
from {{ cookiecutter.package_name }}.monitoring.history_rows import history_rows
from {{ cookiecutter.package_name }}.monitoring.report.artifacts import FEATURES_KEY, SUMMARY_KEY
from {{ cookiecutter.package_name }}.promotion import shadow_steps as shadow_evaluation
from {{ cookiecutter.package_name }}.promotion.shadow_evidence import Agreement, MetricComparison, SegmentResult, ShadowEvidence
from {{ cookiecutter.package_name }}.settings import ENV_PREFIX, AlertSettings, Settings, get_settings
from {{ cookiecutter.package_name }}.stores import registry
from {{ cookiecutter.package_name }}.stores.monitoring_history import History
from tests.support.monitoring import (
    LIVE_START,
    UPSTREAM_CHANGE,
    HttpReceiver,
    assessment,
    http_receiver,
    log_champion_traffic,
)
from tests.support.project import PROJECT_ROOT, TEST_ROWS, Trained, make_settings
from tests.support.service import add_version, private_registry

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_server")]

DAY = timedelta(days=1)
ROWS_PER_DAY = 1500


@pytest.fixture
def monitored(
    trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Settings, HttpReceiver]]:
    """Settings in the environment (for the flow) with a private copy of the trained registry,
    alerts to a local webhook, and four days in the prediction log: two quiet, then two with
    an upstream change (a new column, larger amounts, riskier devices, more online traffic).
    The first two days have their labels."""
    state = tmp_path / "state"
    state.mkdir()
    shutil.copy(trained.settings.var_dir / "mlflow.db", state / "mlflow.db")
    with http_receiver() as receiver:
        environment = {
            "PROJECT_ROOT": str(PROJECT_ROOT),
            "STATE_DIR": str(state),
            "DEMO_ROWS": str(TEST_ROWS),
            "ALERTS__CHANNEL": "webhook",
            "ALERTS__WEBHOOK_URL": receiver.url + "/alerts",
            # This team retrains on any schema change, new columns included (the default
            # asks only when a feature the model reads is dropped, renamed or retyped).
            "RETRAIN_RULES__SCHEMA_KINDS": '["added", "unknown_field", "dropped", "renamed", "type_changed"]',
        }
        for key, value in environment.items():
            monkeypatch.setenv(ENV_PREFIX + key, value)
        get_settings.cache_clear()
        settings = get_settings()
        fill_prediction_log(settings)
        yield settings, receiver
    get_settings.cache_clear()


def fill_prediction_log(settings: Settings) -> None:
    """Score each day's requests with the champion's own bundle and log the answers."""
    quiet = TrafficShift()
    log_champion_traffic(settings, ROWS_PER_DAY, (quiet, quiet, UPSTREAM_CHANGE, UPSTREAM_CHANGE), labelled_days=2)


def run_flow(**parameters: Any) -> dict[str, Any]:
    from prefect.flows import load_flow_from_entrypoint

    monitoring: Any = load_flow_from_entrypoint(f"{PROJECT_ROOT / 'flows' / 'monitoring.py'}:monitoring")
    result: dict[str, Any] = monitoring(**parameters)
    return result


def degradation_events(model_name: str, expected: int) -> list[dict[str, Any]]:
    """The server's degradation events for the model (events arrive asynchronously: waits up
    to 60 s for `expected` of them, then answers with what is there)."""
    from prefect.settings import PREFECT_API_URL

    body = {
        "filter": {"event": {"name": [DEGRADED]}, "any_resource": {"id": [model_resource_id(model_name)]}},
        "limit": 50,
    }
    deadline = time.monotonic() + 60
    while True:
        answer = httpx.post(f"{PREFECT_API_URL.value()}/events/filter", json=body, timeout=10)
        answer.raise_for_status()
        found: list[dict[str, Any]] = answer.json()["events"]
        if len(found) >= expected or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def artifacts(flow_run_id: str) -> dict[str, Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    return {str(a.key): a for a in found}


def test_monitoring_quiet_days_then_an_upstream_change(
    monitored: tuple[Settings, HttpReceiver], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A quiet day raises nothing worth sending. The first changed day stores its drift and
    schema events, sends one webhook message, emits one degradation event and writes its
    report; the second changed day (run from the command line) finds the same incident: its
    alerts are suppressed by the cooldown and no second event is emitted."""
    settings, receiver = monitored
    name = settings.mlflow.registered_model_name

    # Given four logged days (two quiet, two changed)
    # When the flow judges the first quiet day and the first changed day, and the CLI the second
    quiet = run_flow(start=LIVE_START, end=LIVE_START + DAY)
    changed = run_flow(start=LIVE_START + 2 * DAY, end=LIVE_START + 3 * DAY)
    monkeypatch.setenv("PREFECT_HOME", str(settings.var_dir / "prefect"))  # what the CLI would set
    cli = CliRunner().invoke(app, ["monitor", "--day", "2026-04-04"])
    assert cli.exit_code == 0, cli.output

    # Then the quiet day is clean, with realized performance from its labels
    assert quiet["status"] == "complete"
    assert quiet["rows"] == ROWS_PER_DAY
    assert not quiet["dataset_drift"]
    assert quiet["schema_events"] == []
    assert quiet["retraining_requested"] is None
    assert quiet["realized"] is not None
    assert quiet["estimated"] is not None
    assert all(a["status"] != "delivered" for a in quiet["alerts"])

    # And the changed day names the new column and the moved features, and asks for retraining
    assert {("added", "account_type"), ("unknown_field", "account_type")} <= {
        (e["kind"], e["column"]) for e in changed["schema_events"]
    }
    assert {"amount", "device_risk_score", "channel"} <= set(changed["drifted_features"])
    assert changed["prediction_drift"] is True
    assert changed["retraining_requested"] is not None
    assert {a["key"]: a["status"] for a in changed["alerts"]}["schema-change"] == "delivered"

    # And its history rows are all there
    with History.from_settings(settings) as history:
        run = history.run(changed["run_id"])
        assert run is not None
        assert run["retrain_emitted"] == ["schema_change"]
        assert run["retrain_incident_id"] == changed["retraining_requested"]
        assert run["report_path"] == changed["report"]
        assert len(history.features(changed["run_id"])) == 14
        assert history.prediction(changed["run_id"]) is not None
        assert len(history.performance([changed["run_id"]])) > 0
        assert len(history.schema_events(changed["run_id"])) >= 2
        windows = history.windows(name, limit=10)
        statuses = history.alerts()["status"].tolist()
    assert len(windows) == 3
    assert "suppressed" in statuses

    # And the report was written, small and whole
    report = Path(changed["report"])
    assert report.parent == settings.var_dir / "reports"
    html = report.read_text(encoding="utf-8")
    assert report.stat().st_size < 1_000_000
    assert 'data-plot="feature:amount"' in html
    assert "account_type" in html

    # And the Prefect artifacts were published under their keys
    published = artifacts(str(run["flow_run_id"]))
    assert {SUMMARY_KEY, FEATURES_KEY} <= set(published)
    assert "account_type" in str(published[SUMMARY_KEY].data)

    # And one webhook message and one degradation event came of the incident
    messages = [r.json() for r in receiver.requests]
    assert len(messages) == 1
    assert messages[0]["window"]["start"] == (LIVE_START + 2 * DAY).isoformat()
    events = degradation_events(name, expected=1)
    assert len(events) == 1
    assert events[0]["payload"]["reason"].startswith("monitoring: the data changed shape")
    assert events[0]["payload"]["evidence"]["incident_id"] == changed["retraining_requested"]


def test_alerts_can_go_through_a_block_saved_on_the_server(tmp_path: Path) -> None:
    """`alerts.block_name` names a notification block saved on the Prefect server: its
    configuration (and any secret in it) lives there, not in this project's environment."""
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    # Given a custom webhook block saved on the server, pointing at a local receiver
    settings = make_settings(tmp_path / "state")
    with http_receiver() as receiver, History.from_settings(settings) as history:
        CustomWebhookNotificationBlock(
            name="monitoring", url=receiver.url + "/saved", json_data={"text": "{" * 2 + "body" + "}" * 2}
        ).save("monitoring-test", overwrite=True)
        chosen = AlertSettings(channel="webhook", block_name="custom-webhook/monitoring-test")
        found = assessment()
        history.record_run(**history_rows(found, settings))

        # When an alert is processed
        outcomes = alerts.process(history, found, [alerts.Alert("performance", "critical", "fell", "x")], chosen)
        channels = history.alerts()["channel"].tolist()

    # Then it was delivered through the saved block
    assert outcomes[0].status == alerts.DELIVERED
    (request,) = receiver.requests
    assert request.path == "/saved"
    assert "fell" in request.json()["text"]
    assert channels == ["webhook:block:custom-webhook/monitoring-test"]


def test_a_recorded_shadow_decision_reaches_the_history_once(trained: Trained, tmp_path: Path) -> None:
    """The shadow-evaluation flow records its decision on the challenger's model version and
    in the monitoring history (for the report), once however often it is recorded."""

    # Given a registry whose challenger (a second version) was rejected for one segment
    settings = private_registry(trained, tmp_path / "state")
    challenger = add_version(settings)
    overall = MetricComparison("average_precision", True, 4000, 60, 0.41, 0.43, 0.02, -0.01, 0.05, 0.95)
    worse = MetricComparison("average_precision", True, 600, 12, 0.5, 0.3, -0.2, -0.35, -0.05, 0.95)
    evidence = ShadowEvidence(
        model_name=settings.mlflow.registered_model_name,
        champion_version=trained.version,
        challenger_version=challenger,
        task="binary_classification",
        window_start="2026-04-01T00:00:00+00:00",
        window_end="2026-04-08T00:00:00+00:00",
        evaluated_at="2026-04-08T07:00:00+00:00",
        paired=5000,
        labelled=4000,
        positives=60,
        overall=overall,
        segments=[SegmentResult("card_type", "prepaid", 600, 12, True, True, worse)],
        agreement=Agreement(5000, 0.98, 0.95, None, None),
        decision="reject",
        reasons=["worse on card_type=prepaid"],
    )
    # When the decision is recorded twice
    client = registry.connect(settings)
    shadow_evaluation.record(client, evidence, settings)
    shadow_evaluation.record(client, evidence, settings)

    # Then it is on the version, and in the history once, with its numbers and the segment that decided it
    tags = client.get_model_version(settings.mlflow.registered_model_name, challenger).tags
    assert tags["shadow.decision"] == "reject"
    with History.from_settings(settings) as history:
        decisions = history.shadow_decisions(settings.mlflow.registered_model_name)
    assert len(decisions) == 1
    row = decisions.iloc[0]
    assert (row["decision"], row["challenger_version"], row["champion_version"]) == (
        "reject",
        challenger,
        trained.version,
    )
    assert row["difference"] == pytest.approx(0.02)
    assert row["segments"][0]["verdict"] == "worse"
    assert row["reason"] == "worse on card_type=prepaid"
