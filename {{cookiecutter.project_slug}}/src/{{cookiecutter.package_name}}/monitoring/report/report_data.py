"""What the monitoring report shows, gathered from the history tables."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from ...core.metrics import PRIMARY
from ...stores.sql import utcnow
from ..retrain_rules import Floor, floor_for

if TYPE_CHECKING:
    from ...settings import Settings
    from ...stores.monitoring_history import History


@dataclass(frozen=True)
class ReportData:
    """What the report shows, read from the history."""

    run: Mapping[str, Any]
    features: pd.DataFrame  # this run's, with histograms
    prediction: Mapping[str, Any] | None
    performance: pd.DataFrame  # this run's metrics
    events: pd.DataFrame
    windows: pd.DataFrame  # the latest run per recent window of this model, oldest first
    feature_series: pd.DataFrame
    prediction_series: pd.DataFrame
    performance_series: pd.DataFrame
    alerts: pd.DataFrame  # this run's
    window_alerts: pd.DataFrame  # the runs' in `windows`
    recent_alerts: pd.DataFrame
    shadow: pd.DataFrame
    floor: Floor
    dataset_drift_share: float
    generated_at: datetime


def gather(history: History, run_id: str, settings: Settings) -> ReportData:
    run = history.run(run_id)
    if run is None:
        raise KeyError(run_id)
    windows = history.windows(str(run["model_name"]), settings.monitoring.history_windows, until=run["window_end"])
    if run_id not in set(windows["run_id"]):  # a rerun of an older window: show it as the last point
        windows = pd.concat([windows, pd.DataFrame([run])], ignore_index=True).tail(settings.monitoring.history_windows)
    ids = list(windows["run_id"])
    alerts = history.alerts(limit=100)
    primary = str(run["primary_metric"])
    higher = next((p.higher_is_better for p in PRIMARY.values() if p.name == primary), True)
    return ReportData(
        run=run,
        features=history.features(run_id),
        prediction=history.prediction(run_id),
        performance=history.performance([run_id]),
        events=history.schema_events(run_id),
        windows=windows,
        feature_series=history.feature_series(ids),
        prediction_series=history.prediction_series(ids),
        performance_series=history.performance(ids),
        alerts=alerts[alerts["run_id"] == run_id] if len(alerts) else alerts,
        window_alerts=history.alerts_of(ids),
        recent_alerts=alerts.head(20),
        shadow=history.shadow_decisions(str(run["model_name"])),
        floor=floor_for(run["baseline_primary"], primary, higher, settings.retrain_rules),
        dataset_drift_share=settings.drift.dataset_drift_share,
        generated_at=utcnow(),
    )
