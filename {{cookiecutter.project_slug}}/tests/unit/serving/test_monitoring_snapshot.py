"""The latest monitoring results for /metrics: read from a real history (SQLite), turned into
gauges, and refreshed so that a failed read keeps the last results and says so."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.serving.monitoring_snapshot import (
    MonitoringResults,
    MonitoringSnapshot,
    history_reader,
    latest_results,
    results_families,
)
from {{ cookiecutter.package_name }}.serving.operator_metrics import PREFIX, render
from {{ cookiecutter.package_name }}.stores.monitoring_history import History
from tests.support.metrics import WINDOW_END, history_run, record_history_run, samples, value

MODEL = "fraud-model"


def gauges(results: MonitoringResults | None) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return samples(render(results_families(results)))


@pytest.fixture
def history(tmp_path: Path) -> History:
    return History(f"sqlite:///{tmp_path / 'log.db'}")


def test_the_newest_run_of_the_model_is_read_with_its_score_drift_and_events(history: History) -> None:
    """Of several runs, the one with the latest window (another model's aside) is read, with
    the score distribution's PSI and its schema events counted by kind."""
    # Given an older run, the newest one, and a newer run of another model
    old = history_run(MODEL, "1", window_end=WINDOW_END.replace(day=1), share_drifted=0.9)
    record_history_run(history, old)
    record_history_run(history, history_run(MODEL, "2"), psi=0.12)
    record_history_run(history, history_run("other", "9", window_end=WINDOW_END.replace(day=20)))
    # When the latest results are read
    results = latest_results(history, MODEL)
    # Then they are the newest run's
    assert results is not None
    assert (results.run["model_version"], results.run["share_drifted"]) == ("2", 0.25)
    assert results.prediction_psi == 0.12
    assert dict(results.schema_events) == {"added": 1, "dropped": 1}
    assert latest_results(history, "never-monitored") is None


def test_a_runs_figures_become_gauges_labelled_with_the_version_it_judged(history: History) -> None:
    """Drift share, score drift, the realized and estimated metric with its band, the window's
    end and rows: one gauge each, labelled with the version (and metric) they are about."""
    # Given a complete run in the history
    record_history_run(history, history_run(MODEL, "4"))
    # When its results are rendered and parsed
    found = gauges(latest_results(history, MODEL))

    # Then every figure is there with its labels
    def monitoring(name: str, **labels: str) -> float | None:
        return value(found, f"{PREFIX}_monitoring_{name}", version="4", **labels)

    assert monitoring("drifted_features_ratio") == 0.25
    assert monitoring("drifted_features") == 2
    assert monitoring("prediction_drift") == 1
    assert monitoring("prediction_drift_psi") == 0.3
    assert monitoring("dataset_drift") == 0
    assert monitoring("window_end_timestamp_seconds") == 1775606400  # 2026-04-08T00:00Z
    assert [monitoring(m, metric="roc_auc") for m in ("realized_metric", "baseline_metric")] == [0.81, 0.9]
    band = [monitoring(f"estimated_metric{end}", metric="roc_auc") for end in ("", "_lower", "_upper")]
    assert band == [0.8, 0.75, 0.85]
    assert monitoring("schema_events", kind="added") == 1


def test_a_run_without_rows_or_labels_exports_no_figure_it_does_not_have() -> None:
    """A `no_data` run shows its window and rows, but no drift share (its zeros judge nothing),
    and a missing metric has no sample rather than a 0."""
    # Given a run that had no rows to judge and no labels
    run = history_run(MODEL, "5", status="no_data", rows=0, realized_primary=None, estimated_primary=None)
    # When rendered
    found = gauges(MonitoringResults(run))
    names = {name for name, _ in found}
    # Then only what it measured is there
    assert value(found, f"{PREFIX}_monitoring_window_rows", version="5") == 0
    assert f"{PREFIX}_monitoring_drifted_features_ratio" not in names
    assert f"{PREFIX}_monitoring_realized_metric" not in names
    assert f"{PREFIX}_monitoring_estimated_metric" not in names
    assert gauges(None) == {}


class Reads:
    """A history read that fails while `down`, else returns the given results."""

    def __init__(self, results: MonitoringResults) -> None:
        self.results = results
        self.down = False

    def __call__(self) -> MonitoringResults:
        if self.down:
            raise OSError("could not connect to server: Connection refused")
        return self.results


def test_a_failed_refresh_keeps_the_last_results_and_reports_it_once(caplog: pytest.LogCaptureFixture) -> None:
    """A read that fails never raises: the last results stay exported, refresh_ok turns 0 with
    one warning for the whole outage, and the next good read brings it back to 1."""
    # Given a snapshot that read a run once, on a clock at t=1000
    reads = Reads(MonitoringResults(history_run(MODEL, "3")))
    snapshot = MonitoringSnapshot(reads, 60.0, clock=lambda: 1000.0)
    assert snapshot.refresh() is True
    # When the history goes down for two refreshes
    reads.down = True
    with caplog.at_level(logging.WARNING):
        outcomes = [snapshot.refresh(), snapshot.refresh()]
    found = samples(render(snapshot.families()))
    # Then the last results are still exported and the failure is reported, once
    assert outcomes == [False, False]
    assert value(found, f"{PREFIX}_monitoring_drifted_features_ratio", version="3") == 0.25
    assert value(found, f"{PREFIX}_monitoring_refresh_ok") == 0
    assert value(found, f"{PREFIX}_monitoring_refresh_success_timestamp_seconds") == 1000
    assert len([r for r in caplog.records if "could not be read" in r.getMessage()]) == 1
    assert snapshot.failures == 2
    assert "Connection refused" in (snapshot.last_error or "")
    # and when it is back, so is refresh_ok
    reads.down = False
    assert snapshot.refresh() is True
    assert value(samples(render(snapshot.families())), f"{PREFIX}_monitoring_refresh_ok") == 1


def test_the_reader_opens_the_history_on_first_use_and_again_after_a_failed_open(tmp_path: Path) -> None:
    """A database that is not there when the service starts is found on a later refresh."""
    # Given a reader whose first open fails
    opens: list[str] = []
    path = tmp_path / "log.db"

    def open_history() -> History:
        opens.append("open")
        if len(opens) == 1:
            raise OSError("database not up yet")
        return History(f"sqlite:///{path}")

    snapshot = MonitoringSnapshot(history_reader(open_history, MODEL), 60.0)
    # When it refreshes three times
    outcomes = [snapshot.refresh() for _ in range(3)]
    # Then the second open succeeded and was kept
    assert outcomes == [False, True, True]
    assert opens == ["open", "open"]
    assert snapshot.results is None  # no run yet: nothing to export, and no error
