"""One monitoring run's measurements: which window, against which model, and what it shows.

The window is read from the prediction log (the answers, the requests refused at
the contract check, and the labelled rows of the last days); the reference is
the profile stored with the model version that answered. `assess` turns them
into an `Assessment` (feature, schema and prediction drift, realized and
estimated performance) without touching Prefect, MLflow or the history, so it
is tested on its own; `flows/monitoring.py` strings the steps together.

Which model: the champion. When the window holds no answer of the champion
(a replay of days served by an earlier version), the version that answered
most of it. Feature drift uses every answered row, since features do not depend
on the model; score drift and performance use that version's rows only.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from .drift import DriftReport, score_window
from .errors import ProjectError
from .history import OVERALL, naive_utc, number
from .performance import PerformanceEstimate, PerformanceReport, estimate_performance, realized_performance
from .predictions import CHAMPION, from_settings, labels, predictions
from .profile import Reference, compile_profile
from .realized_band import realized_bands
from .schema import SchemaEvent, schema_diff
from .sqlstore import utcnow

if TYPE_CHECKING:
    from .settings import Settings

RECEIVED = "received."  # the prediction log's prefix for a received field named like one of its columns
META_COLUMNS = frozenset([c.name for c in predictions.columns if c.name != "features"] + ["label", "labelled_at"])
EPOCH = datetime(1970, 1, 1, tzinfo=UTC).replace(tzinfo=None)  # naive UTC, like the log


class NoModel(ProjectError):
    """There is no model to monitor against (nothing has been trained and promoted yet)."""


# --- the window ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """[start, end) in naive UTC, the prediction log's form."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ProjectError(f"the window must end after it starts ({self.start} to {self.end})")

    @classmethod
    def of(cls, start: datetime, end: datetime) -> Window:
        return cls(naive_utc(start), naive_utc(end))

    @property
    def label(self) -> str:
        return f"{self.start:%Y-%m-%d %H:%M} to {self.end:%Y-%m-%d %H:%M} UTC"

    @property
    def slug(self) -> str:
        return f"{self.start:%Y%m%dT%H%M}-{self.end:%Y%m%dT%H%M}"

    def to_dict(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}


def _floor(moment: datetime, hours: float) -> datetime:
    """The latest window boundary at or before `moment`: boundaries are whole multiples of
    the window length counted from midnight (UTC), so daily windows are calendar days."""
    length = timedelta(hours=hours)
    return EPOCH + length * ((moment - EPOCH) // length)


def newest_event_time(settings: Settings) -> datetime | None:
    """The event time of the newest answer in the prediction log (None when it holds none)."""
    prediction_log = from_settings(settings)
    try:
        with prediction_log.engine.connect() as connection:
            found = connection.execute(
                sa.select(sa.func.max(predictions.c.occurred_at)).where(predictions.c.role == CHAMPION)
            ).scalar()
    finally:
        prediction_log.close()
    return found if isinstance(found, datetime) else None


def resolve_window(
    settings: Settings,
    start: datetime | None = None,
    end: datetime | None = None,
    now: datetime | None = None,
) -> Window:
    """The window to judge. Given both ends, those; given one, a window's length from it.
    Given neither, the last complete window of the prediction log: yesterday on a live
    system, the last logged day when the log ends in the past (a replay)."""
    hours = settings.monitoring.window_hours
    length = timedelta(hours=hours)
    if start is not None or end is not None:
        begin = naive_utc(start) if start is not None else naive_utc(end) - length  # type: ignore[arg-type]
        return Window(begin, naive_utc(end) if end is not None else begin + length)
    today = _floor(naive_utc(now) if now is not None else utcnow(), hours)
    newest = newest_event_time(settings)
    last = min(_floor(newest, hours) + length, today) if newest is not None else today
    return Window(last - length, last)


# --- the model -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MonitoredModel:
    name: str
    version: str
    profile: Mapping[str, Any] = field(repr=False)
    alias: str | None = None  # "champion" when it is the one serving now

    @property
    def reference(self) -> Reference:
        return compile_profile(self.profile)


def champion_version(settings: Settings) -> str | None:
    from .registry import CHAMPION as CHAMPION_ALIAS
    from .registry import connect, version_by_alias

    client = connect(settings)
    found = version_by_alias(client, settings.mlflow.registered_model_name, CHAMPION_ALIAS)
    return str(found.version) if found is not None else None


def load_model(settings: Settings, version: str, champion: str | None = None) -> MonitoredModel:
    """A registered version's reference profile, from its bundle in MLflow."""
    from mlflow.exceptions import MlflowException

    from .bundle import PROFILE_FILE
    from .profile import load_profile
    from .registry import CHAMPION as CHAMPION_ALIAS
    from .registry import connect, fetched_bundle

    name = settings.mlflow.registered_model_name
    client = connect(settings)
    try:
        found = client.get_model_version(name, version)
    except MlflowException:
        raise NoModel(f"{name} version {version} is not in the registry") from None
    with fetched_bundle(client, found) as bundle:
        if not (bundle / PROFILE_FILE).is_file():
            raise NoModel(f"{name} version {version} has no reference profile: retrain it with this release")
        profile = load_profile(bundle / PROFILE_FILE)
    return MonitoredModel(name, version, profile, CHAMPION_ALIAS if version == champion else None)


def pick_version(served: pd.DataFrame, champion: str | None) -> str:
    """The champion, unless the window holds none of its answers: then the version that
    answered most of it (ties: the newest, by number)."""
    counts = Counter(str(v) for v in served["model_version"]) if len(served) else Counter()
    if champion is not None and (counts.get(champion) or not counts):
        return champion
    if not counts:
        raise NoModel("no model to monitor: the registry has no champion (train one first: `make train`)")
    return max(counts, key=lambda v: (counts[v], int(v) if v.isdigit() else -1))


# --- the data ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Labelled:
    """Answers that have their true label by now, with the features as received."""

    features: pd.DataFrame
    scores: np.ndarray
    labels: np.ndarray
    start: datetime
    end: datetime

    def __len__(self) -> int:
        return len(self.scores)


@dataclass(frozen=True)
class WindowData:
    window: Window
    served: pd.DataFrame  # the champion-role rows of the prediction log (every version)
    refused: pd.DataFrame  # requests refused at the contract check
    labelled: Labelled | None = None


def load_window(settings: Settings, window: Window) -> WindowData:
    prediction_log = from_settings(settings)
    try:
        served = prediction_log.window(window.start, window.end, roles=(CHAMPION,))
        refused = prediction_log.rejection_window(window.start, window.end)
    finally:
        prediction_log.close()
    return WindowData(window, served, refused)


def labelled_rows(settings: Settings, model_name: str, version: str, start: datetime, end: datetime) -> Labelled:
    """The version's labelled answers logged in [start, end): only those rows travel, so a
    long performance period costs what its labels cost, not what its traffic costs."""
    statement = (
        sa.select(predictions.c.features, predictions.c.score, labels.c.label)
        .select_from(predictions.join(labels, predictions.c.request_id == labels.c.request_id))
        .where(
            predictions.c.occurred_at >= start,
            predictions.c.occurred_at < end,
            predictions.c.role == CHAMPION,
            predictions.c.model_name == model_name,
            predictions.c.model_version == version,
        )
        .order_by(predictions.c.occurred_at, predictions.c.request_id)
    )
    prediction_log = from_settings(settings)
    try:
        with prediction_log.engine.connect() as connection:
            rows = connection.execute(statement).all()
    finally:
        prediction_log.close()
    return Labelled(
        features=pd.DataFrame.from_records([dict(row.features) for row in rows], index=range(len(rows))),
        scores=np.array([row.score for row in rows], dtype=float),
        labels=np.array([row.label for row in rows], dtype=float),
        start=start,
        end=end,
    )


def received_features(served: pd.DataFrame) -> pd.DataFrame:
    """The window's records as the service received them (the log's own columns removed)."""
    frame = served.drop(columns=[c for c in served.columns if c in META_COLUMNS])
    return frame.rename(columns={c: c[len(RECEIVED) :] for c in frame.columns if str(c).startswith(RECEIVED)})


def refused_records(refused: pd.DataFrame) -> pd.DataFrame:
    """The records inside refused requests (one body holds one record or a list of them)."""
    records: list[dict[str, Any]] = []
    for body in refused.get("body", pd.Series(dtype=object)):
        items = body if isinstance(body, list) else [body]
        records.extend(item for item in items if isinstance(item, dict))
    return pd.DataFrame.from_records(records)


def edge_event_counts(served: pd.DataFrame) -> dict[str, int]:
    """What the service noticed per record (unknown fields, unseen categories, out of range,
    normalised text), counted as `kind:field`."""
    counts: Counter[str] = Counter()
    for events in served.get("schema_events", pd.Series(dtype=object)):
        for event in events or ():
            if isinstance(event, Mapping):
                counts[f"{event.get('kind')}:{event.get('field')}"] += 1
    return dict(sorted(counts.items()))


# --- the assessment --------------------------------------------------------------------------


@dataclass(frozen=True)
class Assessment:
    """Everything one run measured."""

    run_id: str
    started_at: datetime
    window: Window
    model: MonitoredModel
    rows: int  # answers in the window, every version
    scored_rows: int  # ... by the monitored version
    refused_requests: int
    drift: DriftReport
    refused_events: tuple[SchemaEvent, ...]
    realized: PerformanceReport | None
    realized_bands: Mapping[str, tuple[float, float]]  # "" (all) or "segment=level" -> primary metric band
    estimate: PerformanceEstimate | None
    labelled_rows: int
    performance_start: datetime | None
    edge_events: Mapping[str, int]

    @property
    def status(self) -> str:
        return "complete" if self.rows else "no_data"

    @property
    def refused_share(self) -> float:
        total = self.rows + self.refused_requests
        return self.refused_requests / total if total else 0.0

    @property
    def schema_changed(self) -> bool:
        return bool(self.drift.schema or self.refused_events)


def _empty_like(reference: Reference) -> pd.DataFrame:
    """No rows, but every feature's column: an empty window is "no data", not "dropped"."""
    return pd.DataFrame({name: pd.Series(dtype=object) for name in reference.features})


def assess(
    model: MonitoredModel,
    data: WindowData,
    settings: Settings,
    run_id: str | None = None,
    started_at: datetime | None = None,
) -> Assessment:
    reference = model.reference
    served = data.served
    mine = served[served["model_version"].astype(str) == model.version] if len(served) else served
    edge = edge_event_counts(served)
    unknown = {key.split(":", 1)[1]: count for key, count in edge.items() if key.startswith("unknown_field:")}
    frame = received_features(served) if len(served) else _empty_like(reference)
    scores = mine["score"].to_numpy(dtype=float) if reference.score is not None else None
    drift = score_window(reference, frame, scores=scores, unknown_fields=unknown, settings=settings.drift)
    records = refused_records(data.refused)
    refused_events = (
        schema_diff(reference, records, None, settings.drift.rename_max_distance).events if len(records) else ()
    )
    labelled = data.labelled
    realized = (
        realized_performance(model.profile, labelled.scores, labelled.labels, labelled.features, settings.drift)
        if labelled is not None and len(labelled)
        else None
    )
    estimate = (
        estimate_performance(
            model.profile, mine["score"].to_numpy(dtype=float), settings.drift, seed=settings.monitoring.estimate_seed
        )
        if len(mine)
        else None
    )
    return Assessment(
        run_id=run_id or uuid.uuid4().hex,
        started_at=started_at or utcnow(),
        window=data.window,
        model=model,
        rows=len(served),
        scored_rows=len(mine),
        refused_requests=len(data.refused),
        drift=drift,
        refused_events=tuple(refused_events),
        realized=realized,
        realized_bands=realized_bands(
            model.profile,
            labelled.labels,
            labelled.scores,
            labelled.features,
            settings.drift.band,
            settings.drift.min_labelled_rows,
            settings.monitoring.estimate_seed,
        )
        if labelled is not None and len(labelled)
        else {},
        estimate=estimate,
        labelled_rows=len(labelled) if labelled is not None else 0,
        performance_start=labelled.start if labelled is not None else None,
        edge_events=edge,
    )


# --- as history rows -------------------------------------------------------------------------


def _feature_row(found: Mapping[str, Any]) -> dict[str, Any]:
    stored = {
        "feature",
        "kind",
        "status",
        "drifted",
        "column",
        "reasons",
        "test",
        "histogram",
        "statistic",
        "p_value",
        "p_adjusted",
        "psi",
        "js_distance",
        "wasserstein",
        "max_share_change",
        "null_rate_reference",
        "null_rate_current",
        "unseen_share",
    }
    floats = (
        "statistic",
        "p_value",
        "p_adjusted",
        "psi",
        "js_distance",
        "wasserstein",
        "max_share_change",
        "null_rate_reference",
        "null_rate_current",
        "unseen_share",
    )
    return {
        "feature": found["feature"],
        "kind": found["kind"],
        "status": found["status"],
        "drifted": bool(found["drifted"]),
        "source_column": found.get("column"),
        "reasons": list(found.get("reasons") or []),
        "test": found.get("test"),
        **{name: number(found.get(name)) for name in floats},
        "histogram": found.get("histogram"),
        "detail": {k: v for k, v in found.items() if k not in stored},
    }


def _metric(
    kind: str,
    segment: str,
    level: str,
    name: str,
    value: float,
    baseline: float,
    n: int,
    reliable: bool,
    lower: float | None = None,
    upper: float | None = None,
) -> dict[str, Any]:
    return {
        "kind": kind,
        "segment": segment,
        "level": level,
        "metric": name,
        "value": number(value),
        "baseline": number(baseline),
        "lower": number(lower),
        "upper": number(upper),
        "n": n,
        "reliable": reliable,
    }


def _metric_rows(assessment: Assessment) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    realized = assessment.realized
    if realized is not None:
        primary = realized.primary_metric

        def band(key: str, metric: str) -> tuple[float | None, float | None]:
            return assessment.realized_bands.get(key, (None, None)) if metric == primary else (None, None)

        found += [
            _metric(
                "realized",
                OVERALL,
                OVERALL,
                m.name,
                m.current,
                m.baseline,
                realized.n_labelled,
                realized.reliable,
                *band(OVERALL, m.name),
            )
            for m in realized.overall
        ]
        found += [
            _metric(
                "realized",
                s.segment,
                s.level,
                m.name,
                m.current,
                m.baseline,
                s.n,
                s.reliable,
                *band(f"{s.segment}={s.level}", m.name),
            )
            for s in realized.segments
            for m in s.metrics
        ]
    estimate = assessment.estimate
    if estimate is not None:
        found += [
            _metric("estimated", OVERALL, OVERALL, e.name, e.value, e.baseline, estimate.n, True, e.lower, e.upper)
            for e in estimate.metrics
        ]
    return found


def _event_rows(assessment: Assessment) -> list[dict[str, Any]]:
    tagged = [("served", e) for e in assessment.drift.schema] + [("refused", e) for e in assessment.refused_events]
    return [
        {
            "source": source,
            "column_name": event.column,
            "kind": event.kind,
            "detail": event.detail,
            "data": event.to_dict()["data"],
        }
        for source, event in tagged
    ]


def history_rows(assessment: Assessment, settings: Settings, flow_run_id: str | None = None) -> dict[str, Any]:
    """The run's rows for `History.record_run`."""
    drift = assessment.drift
    prediction = drift.prediction
    realized, estimate = assessment.realized, assessment.estimate
    primary_name = str(assessment.model.profile.get("primary_metric", ""))
    baseline = assessment.model.profile.get("performance", {}).get(primary_name)
    estimated = estimate.primary if estimate is not None and estimate.primary_metric == primary_name else None
    run = {
        "run_id": assessment.run_id,
        "started_at": assessment.started_at,
        "window_start": assessment.window.start,
        "window_end": assessment.window.end,
        "model_name": assessment.model.name,
        "model_version": assessment.model.version,
        "status": assessment.status,
        "rows": assessment.rows,
        "scored_rows": assessment.scored_rows,
        "refused_requests": assessment.refused_requests,
        "labelled_rows": assessment.labelled_rows,
        "performance_start": assessment.performance_start,
        "n_scored": drift.scored,
        "n_drifted": len(drift.drifted_features),
        "share_drifted": drift.share_drifted,
        "dataset_drift": drift.dataset_drifted,
        "drifted_features": list(drift.drifted_features),
        "prediction_drift": prediction.drifted if prediction is not None and assessment.scored_rows else None,
        "schema_changed": assessment.schema_changed,
        "primary_metric": primary_name,
        "baseline_primary": number(baseline),
        "realized_primary": number(realized.primary.current) if realized is not None else None,
        "realized_reliable": realized.reliable if realized is not None else None,
        "estimated_primary": number(estimated.value) if estimated is not None else None,
        "estimated_lower": number(estimated.lower) if estimated is not None else None,
        "estimated_upper": number(estimated.upper) if estimated is not None else None,
        "flow_run_id": flow_run_id,
        "summary": {
            "edge_events": dict(assessment.edge_events),
            "refused_share": assessment.refused_share,
            "settings": {
                "drift": settings.drift.model_dump(mode="json"),
                "monitoring": settings.monitoring.model_dump(mode="json"),
                "retrain_rules": settings.retrain_rules.model_dump(mode="json"),
            },
        },
    }
    prediction_row = None
    if prediction is not None:
        scores = prediction.scores.to_dict()
        prediction_row = {
            "status": scores["status"],
            "drifted": prediction.drifted,
            **{
                k: number(scores.get(k))
                for k in ("statistic", "p_value", "psi", "js_distance", "wasserstein", "mean_reference", "mean_current")
            },
            "flag_rate_reference": number(prediction.flag_rate_reference),
            "flag_rate_current": number(prediction.flag_rate_current),
            "flag_rate_p_value": number(prediction.flag_rate_p_value),
            "histogram": scores.get("histogram"),
        }
    return {
        "run": run,
        "features": [_feature_row(f.to_dict()) for f in drift.features],
        "prediction": prediction_row,
        "metrics": _metric_rows(assessment),
        "events": _event_rows(assessment),
    }
