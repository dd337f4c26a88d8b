"""The monitoring history on SQLite and on PostgreSQL: runs and what they measured, alerts,
shadow decisions, the latest run per window, and the schema version."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from {{ cookiecutter.package_name }}.core.metrics import primary_metric
from {{ cookiecutter.package_name }}.monitoring.assessment import assess
from {{ cookiecutter.package_name }}.monitoring.history_rows import history_rows
from {{ cookiecutter.package_name }}.monitoring.monitored_model import MonitoredModel as Model
from {{ cookiecutter.package_name }}.monitoring.window import Window, labelled_rows, load_window
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.stores.monitoring_history import History, HistoryError, ShadowDecision
from {{ cookiecutter.package_name }}.stores.monitoring_history_schema import SCHEMA_VERSION, versions
from {{ cookiecutter.package_name }}.stores.monitoring_history_schema import runs as run_table
from {{ cookiecutter.package_name }}.stores.prediction_log import PredictionLog, from_settings
from tests.support.drift_data import project_contract
from tests.support.monitoring import (
    LIVE_START,
    MODEL,
    assessment,
    demo_profile,
    drift_report,
    fraud_scores,
    log_answers,
    records,
    traffic,
)
from tests.support.postgres import scratch_schema
from tests.support.project import make_settings


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """Settings whose prediction log (and so history) is SQLite, or a PostgreSQL schema of
    this test's own, dropped afterwards."""
    if request.param == "sqlite":
        yield make_settings(tmp_path / "state")
        return
    with scratch_schema("history") as (url, schema):
        yield make_settings(tmp_path / "state", prediction_log={"url": url, "db_schema": schema})


@pytest.fixture
def history(backend: Settings) -> Iterator[History]:
    opened = History.from_settings(backend)
    yield opened
    opened.close()


def test_the_history_lives_beside_the_prediction_log_with_a_schema_version(backend: Settings) -> None:
    """Opening the history creates its tables in the prediction log's database (and schema),
    stamped with the schema version; the prediction log still opens there."""
    # Given the prediction log's database
    prediction_log = from_settings(backend)

    # When the history is opened there
    with History.from_settings(backend) as history:
        names = set(sa.inspect(history.engine).get_table_names(schema=backend.prediction_log.db_schema))
        version = history.schema_version()

    # Then both sets of tables are in the same place
    assert {"monitoring_runs", "monitoring_feature_drift", "monitoring_alerts", "predictions"} <= names
    assert version == SCHEMA_VERSION
    assert prediction_log.schema_version() >= 1
    prediction_log.close()


def test_a_history_from_a_newer_release_is_refused(tmp_path: Path) -> None:
    """A database whose history a newer release wrote (a higher schema version) is not touched."""
    # Given a history stamped by a future release
    url = f"sqlite:///{tmp_path / 'predictions.db'}"
    with History(url) as history, history.engine.begin() as connection:
        connection.execute(
            versions.insert().values(
                version=SCHEMA_VERSION + 1, applied_at=datetime.now(UTC), description="from the future"
            )
        )

    # When this release opens it, Then it refuses with the reason
    with pytest.raises(HistoryError, match="newer release"):
        History(url)


def test_a_run_and_everything_it_measured_is_stored_and_read_back(backend: Settings, history: History) -> None:
    """A real assessment (a drifted demo day with a new column and labels) is stored in one
    transaction: the run's verdicts, every feature with its histogram, the score drift, the
    realized and estimated metrics overall and per segment, and the schema events."""
    # Given a drifted day of answers, with labels, in the prediction log
    from {{ cookiecutter.package_name }}.data.demo_world import TrafficShift

    contract = project_contract()
    shift = TrafficShift(amount_scale=1.6, device_risk_shift=0.15, extra_columns=("account_type",))
    frame = traffic(2000, 0, shift)
    prediction_log = from_settings(backend)
    ids = log_answers(
        prediction_log,
        records(frame, contract, ["account_type"]),
        fraud_scores(frame),
        LIVE_START,
        unknown=["account_type"],
    )
    prediction_log.add_labels(zip(ids, frame[contract.target].astype(float), strict=True), source="test")
    prediction_log.close()
    window = Window(LIVE_START, LIVE_START + timedelta(days=1))
    model = Model(MODEL, "1", demo_profile(), "champion")
    data = load_window(backend, window)
    data = type(data)(window, data.served, data.refused, labelled_rows(backend, MODEL, "1", window.start, window.end))
    found = assess(backend, model, data)

    # When it is stored
    history.record_run(**history_rows(found, backend, flow_run_id="flow-1"))

    # Then it reads back whole
    run = history.run(found.run_id)
    assert run is not None
    assert (run["rows"], run["scored_rows"], run["labelled_rows"]) == (2000, 2000, 2000)
    assert run["schema_changed"] is True
    assert set(run["drifted_features"]) >= {"amount", "device_risk_score"}
    assert run["realized_primary"] == pytest.approx(found.realized.primary.current)  # type: ignore[union-attr]
    if contract.is_classification:  # performance is estimated before labels for classifiers only
        assert run["estimated_lower"] <= run["estimated_primary"] <= run["estimated_upper"]
    else:
        assert run["estimated_primary"] is None
    features = history.features(found.run_id)
    assert len(features) == len(contract.features)
    amount = features.set_index("feature").loc["amount"]
    assert amount["drifted"]
    assert len(amount["histogram"]["current"]) == len(amount["histogram"]["reference"])
    prediction = history.prediction(found.run_id)
    assert prediction is not None
    assert prediction["mean_current"] > prediction["mean_reference"]
    metrics = history.performance([found.run_id])
    primary = primary_metric(contract.task).name
    realized = metrics[(metrics["kind"] == "realized") & (metrics["segment"] == "") & (metrics["metric"] == primary)]
    assert realized.iloc[0]["lower"] <= realized.iloc[0]["value"] <= realized.iloc[0]["upper"]
    assert set(metrics["kind"]) == ({"realized", "estimated"} if contract.is_classification else {"realized"})
    assert {"channel", "card_type"} <= set(metrics["segment"])
    events = history.schema_events(found.run_id)
    assert {("added", "account_type"), ("unknown_field", "account_type")} <= set(
        zip(events["kind"], events["column_name"], strict=True)
    )


def test_windows_returns_the_latest_run_of_each_window_oldest_first(backend: Settings, history: History) -> None:
    """A window monitored twice (a replay, a retry) counts once, by its latest run (the only one
    stored); the list stops at `until` and keeps the most recent windows."""
    # Given four days, the second monitored twice
    runs: dict[int, list[str]] = {}
    for day in (0, 1, 1, 2, 3):
        found = assessment(day, drift_report(["amount"] if day == 1 else ()))
        history.record_run(**history_rows(found, backend))
        runs.setdefault(day, []).append(found.run_id)

    # When the last three windows up to the end of day 2 are asked for
    windows = history.windows(MODEL, limit=3, until=LIVE_START + timedelta(days=3))

    # Then days 0-2 come back in order, day 1 by its second run
    assert list(windows["run_id"]) == [runs[0][0], runs[1][1], runs[2][0]]
    same = history.window_runs(MODEL, "1", LIVE_START + timedelta(days=1), LIVE_START + timedelta(days=2))
    assert [r["run_id"] for r in same] == runs[1][1:]


def test_a_window_stored_twice_keeps_one_run_its_alerts_and_what_it_asked_for(
    backend: Settings, history: History
) -> None:
    """Storing the same window of the same version again (a Prefect retry, a run restarted after
    its worker died) leaves one run with the second run's measurements; the first run's alerts
    move to it, and the retraining rules it already asked for stay asked."""
    # Given a window stored once, with an alert and a retraining request
    first = assessment(1, drift_report(["amount"]))
    history.record_run(**history_rows(first, backend))
    history.record_alerts([_alert(first.run_id, "delivered")])
    history.add_emitted(first.run_id, ["feature_drift"], "incident-1")

    # When the same window is measured and stored again, twice (the retry of the retry)
    second = assessment(1, drift_report(["amount", "hour"]))
    history.record_run(**history_rows(second, backend))
    third = assessment(1, drift_report(["hour"]))
    history.record_run(**history_rows(third, backend))

    # Then one run holds the window: the last one's measurements, the earlier alert and request
    start, end = LIVE_START + timedelta(days=1), LIVE_START + timedelta(days=2)
    stored = history.window_runs(MODEL, "1", start, end)
    assert [r["run_id"] for r in stored] == [third.run_id]
    assert stored[0]["drifted_features"] == ["hour"]
    assert stored[0]["retrain_emitted"] == ["feature_drift"]
    assert stored[0]["retrain_incident_id"] == "incident-1"
    assert set(history.features(third.run_id)["feature"]) == {
        row["feature"] for row in history_rows(third, backend)["features"]
    }
    assert history.features(first.run_id).empty
    assert history.prediction(second.run_id) is None
    assert list(history.alerts_of([third.run_id])["status"]) == ["delivered"]
    with history.engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(run_table)).scalar() == 1


def _alert(run_id: str, status: str) -> dict[str, object]:
    return {
        "run_id": run_id,
        "raised_at": datetime.now(UTC).replace(tzinfo=None),
        "key": "feature-drift",
        "severity": "warning",
        "title": "t",
        "message": "m",
        "subjects": ["amount"],
        "evidence": {},
        "status": status,
        "channel": "webhook",
        "delivery_detail": None,
    }


def test_alert_and_shadow_decision_rows(backend: Settings, history: History) -> None:
    """Alerts are listed newest first and `delivered` finds only delivered ones in the period;
    a shadow decision is stored once, however often it is copied."""
    # Given a run with a delivered, a suppressed and an old delivered alert, and a decision
    found = assessment()
    history.record_run(**history_rows(found, backend))
    now = datetime.now(UTC).replace(tzinfo=None)

    def alert(status: str, at: datetime) -> dict[str, object]:
        return {
            "run_id": found.run_id,
            "raised_at": at,
            "key": "feature-drift",
            "severity": "warning",
            "title": "t",
            "message": "m",
            "subjects": ["amount"],
            "evidence": {},
            "status": status,
            "channel": "webhook",
            "delivery_detail": None,
        }

    history.record_alerts(
        [alert("delivered", now), alert("suppressed", now), alert("delivered", now - timedelta(days=3))]
    )
    decision = ShadowDecision(
        decided_at=datetime.now(UTC),
        model_name=MODEL,
        challenger_version="2",
        decision="promote",
        reason="better",
        champion_version="1",
        difference=0.02,
        ci_lower=0.01,
        ci_upper=0.03,
        segments=[{"segment": "channel", "level": "pos"}],
    )

    # When they are read back, and the decision recorded twice
    first, second = history.record_shadow_decision(decision), history.record_shadow_decision(decision)

    # Then the queries answer as documented
    assert len(history.delivered("feature-drift", now - timedelta(days=1))) == 1
    assert list(history.alerts()["status"])[:2] in (["delivered", "suppressed"], ["suppressed", "delivered"])
    assert (first, second) == (True, False)
    shadow = history.shadow_decisions(MODEL)
    assert list(shadow["decision"]) == ["promote"]
    assert shadow["segments"].iloc[0] == [{"segment": "channel", "level": "pos"}]


def test_the_prediction_log_and_history_share_one_sqlite_file(tmp_path: Path) -> None:
    """By default both live in var/predictions.db (WAL mode stays on for the service)."""
    # Given default settings
    settings = make_settings(tmp_path / "state")

    # When both are opened
    prediction_log: PredictionLog = from_settings(settings)
    with History.from_settings(settings) as history, history.engine.connect() as connection:
        mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()

    # Then they share the file, still in WAL mode
    assert history.url == prediction_log.url == f"sqlite:///{settings.var_dir / 'predictions.db'}"
    assert mode == "wal"
    prediction_log.close()
