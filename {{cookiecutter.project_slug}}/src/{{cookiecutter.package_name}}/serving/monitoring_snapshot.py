"""The latest monitoring results, for the service's /metrics: read from the monitoring history on a
background thread every `service.metrics_refresh_s` seconds, never on a request's path.

`latest_results` reads the newest run of the registered model (its row, the score drift and the
schema events by kind); `results_families` turns it into gauges (pure: tested without a
database). A failed read keeps the last results, is logged once per run of failures, and shows
on /metrics as `<package>_monitoring_refresh_ok 0`; it never raises into the service.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from prometheus_client.core import GaugeMetricFamily, Metric

from ..stores.monitoring_history import History
from ..stores.monitoring_history_schema import prediction_drift, runs, schema_events
from .model_store import one_line
from .operator_metrics import PREFIX

log = logging.getLogger(__name__)

COMPLETE = "complete"  # a run that had rows to judge; a `no_data` run's drift figures are zeros


@dataclass(frozen=True)
class MonitoringResults:
    """What the newest monitoring run of the model found."""

    run: Mapping[str, Any]  # its monitoring_runs row
    prediction_psi: float | None = None
    schema_events: Mapping[str, int] = field(default_factory=dict)  # kind -> events in the run


def latest_results(history: History, model_name: str) -> MonitoringResults | None:
    """The newest run (by window end, then start) of `model_name`; None before the first."""
    with history.engine.connect() as connection:
        run = (
            connection.execute(
                sa.select(runs)
                .where(runs.c.model_name == model_name)
                .order_by(runs.c.window_end.desc(), runs.c.started_at.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
        if run is None:
            return None
        psi = connection.execute(
            sa.select(prediction_drift.c.psi).where(prediction_drift.c.run_id == run["run_id"])
        ).scalar()
        kinds = connection.execute(
            sa.select(schema_events.c.kind, sa.func.count())
            .where(schema_events.c.run_id == run["run_id"])
            .group_by(schema_events.c.kind)
        ).all()
    return MonitoringResults(dict(run), psi, {str(kind): int(count) for kind, count in kinds})


def _epoch(moment: datetime) -> float:
    """A stored (naive UTC) moment as Unix seconds."""
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).timestamp()


def _add(families: list[Metric], name: str, documentation: str, value: Any, labels: dict[str, str]) -> None:
    """A gauge of one sample, when there is a value (a missing figure is no sample, never 0)."""
    if value is None:
        return
    family = GaugeMetricFamily(f"{PREFIX}_monitoring_{name}", documentation, labels=list(labels))
    family.add_metric(list(labels.values()), float(value))
    families.append(family)


def results_families(results: MonitoringResults | None) -> list[Metric]:
    """The run's figures as gauges labelled with the version it judged (and the metric's name
    for performance). Drift figures only for a run that had rows (`complete`)."""
    if results is None:
        return []
    run = results.run
    version = {"version": str(run["model_version"])}
    metric = {**version, "metric": str(run["primary_metric"])}
    found: list[Metric] = []
    _add(
        found, "window_end_timestamp_seconds", "End of the newest monitored window.", _epoch(run["window_end"]), version
    )
    _add(found, "window_rows", "Answers in the newest monitored window.", run["rows"], version)
    _add(found, "labelled_rows", "Labelled answers in its realized-performance period.", run["labelled_rows"], version)
    if run["status"] == COMPLETE:
        _add(
            found,
            "drifted_features_ratio",
            "Share of judged features that drifted (0-1).",
            run["share_drifted"],
            version,
        )
        _add(found, "drifted_features", "Features that drifted.", run["n_drifted"], version)
        _add(found, "dataset_drift", "1 when the dataset as a whole drifted.", run["dataset_drift"], version)
        drifted = run["prediction_drift"]
        _add(found, "prediction_drift", "1 when the score distribution drifted.", drifted, version)
        _add(
            found,
            "prediction_drift_psi",
            "PSI of the score distribution against training.",
            results.prediction_psi,
            version,
        )
    _add(found, "baseline_metric", "The primary metric on the training holdout.", run["baseline_primary"], metric)
    _add(found, "realized_metric", "The primary metric on labelled answers.", run["realized_primary"], metric)
    reliable = run["realized_reliable"]
    _add(found, "realized_metric_reliable", "1 when enough labels back the realized metric.", reliable, metric)
    _add(found, "estimated_metric", "The primary metric estimated without labels.", run["estimated_primary"], metric)
    _add(found, "estimated_metric_lower", "Lower end of the estimate's band.", run["estimated_lower"], metric)
    _add(found, "estimated_metric_upper", "Upper end of the estimate's band.", run["estimated_upper"], metric)
    if results.schema_events:
        events = GaugeMetricFamily(
            f"{PREFIX}_monitoring_schema_events",
            "Schema events (added, dropped, renamed, type_changed, unknown_field...) in the newest run.",
            labels=["version", "kind"],
        )
        for kind, count in sorted(results.schema_events.items()):
            events.add_metric([version["version"], kind], float(count))
        found.append(events)
    return found


class MonitoringSnapshot:
    """The newest results, refreshed by a thread of its own. `read` returns them (None before
    the first run); a failure keeps the last ones. `clock` (Unix seconds) dates the refreshes."""

    def __init__(
        self,
        read: Callable[[], MonitoringResults | None],
        interval_s: float,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._read = read
        self.interval_s = interval_s
        self._clock = clock
        self.results: MonitoringResults | None = None
        self.ok: bool | None = None  # None: not read yet
        self.last_success: float | None = None
        self.failures = 0
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self) -> bool:
        """Read once; True when the read succeeded. Never raises."""
        try:
            results = self._read()
        except Exception as err:  # a database down, a table missing: keep what we had
            self.failures += 1
            self.last_error = one_line(err)
            if self.ok is not False:
                log.warning(
                    "monitoring results for /metrics could not be read (%s): keeping the last ones; "
                    "retrying every %.0f s",
                    self.last_error,
                    self.interval_s,
                )
            self.ok = False
            return False
        if self.ok is False:
            log.info("monitoring results for /metrics are readable again")
        self.results, self.ok, self.last_success = results, True, self._clock()
        return True

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="monitoring-metrics", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while True:
            self.refresh()
            if self._stop.wait(self.interval_s):
                return

    def families(self) -> list[Metric]:
        """The results' gauges, and whether the last refresh succeeded and when one last did."""
        found = results_families(self.results)
        _add(found, "refresh_ok", "1 when the last read of the monitoring history succeeded.", self.ok, {})
        _add(found, "refresh_success_timestamp_seconds", "When it was last read.", self.last_success, {})
        return found


def history_reader(open_history: Callable[[], History], model_name: str) -> Callable[[], MonitoringResults | None]:
    """A `read` for MonitoringSnapshot: opens the history on first use (again after a failure
    to open, so a database that comes up later is found) and reads the model's newest run."""
    opened: list[History] = []

    def read() -> MonitoringResults | None:
        if not opened:
            opened.append(open_history())
        return latest_results(opened[0], model_name)

    return read
