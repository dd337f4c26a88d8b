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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..model.reference_profile import Reference
from ..stores.sql import utcnow
from .drift import score_window
from .drift_report import DriftReport
from .loss_estimate import estimate_loss
from .performance import PerformanceEstimate, PerformanceReport, estimate_performance, realized_performance
from .realized_band import realized_bands
from .schema_drift import SchemaEvent, schema_diff

if TYPE_CHECKING:
    from ..settings import Settings
from .monitored_model import MonitoredModel
from .multiclass_estimate import MULTICLASS, estimate_classes, probability_matrix
from .window import Window, WindowData, edge_event_counts, received_features, refused_records

# --- the window ----------------------------------------------------------------------------------


# --- the model -----------------------------------------------------------------------------------


# --- the data ----------------------------------------------------------------------------------


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


def _answered(probabilities: np.ndarray | None, labels: Sequence[Any], rows: int) -> list[str] | None:
    """A multiclass model's answered (most probable) class per row, as text; None when the
    model has no classes or a row kept no usable probabilities (the class mix is then not
    tested)."""
    if probabilities is None:
        return [] if labels and not rows else None
    if len(probabilities) != rows:
        return None
    names = [str(label) for label in labels]
    return [names[i] for i in probabilities.argmax(axis=1)]


def estimate_before_labels(
    settings: Settings, model: MonitoredModel, mine: pd.DataFrame, probabilities: np.ndarray | None = None
) -> PerformanceEstimate | None:
    """Performance before labels, from the monitored version's answers: CBPE from the scores
    (binary) or from every class's probability (multiclass; `probabilities` when already read
    from `mine`), or direct loss estimation from the records and scores (regression)."""
    if not len(mine):
        return None
    if model.profile.get("task") == MULTICLASS:
        if probabilities is None:
            labels = (model.profile.get("classes") or {}).get("labels") or ()
            probabilities = probability_matrix(mine, len(labels))
        return estimate_classes(model.profile, probabilities, settings.drift, seed=settings.monitoring.estimate_seed)
    scores = mine["score"].to_numpy(dtype=float)
    if model.loss_model is not None:
        return estimate_loss(model.profile, model.loss_model, received_features(mine), scores, settings.drift)
    return estimate_performance(model.profile, scores, settings.drift, seed=settings.monitoring.estimate_seed)


def assess(
    settings: Settings,
    model: MonitoredModel,
    data: WindowData,
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
    labels = reference.class_labels
    # Multiclass: every class's probability, read once for the drift of each class, of the
    # answered-class mix and for the estimate.
    probabilities = probability_matrix(mine, len(labels)) if labels and len(mine) else None
    answered = _answered(probabilities, labels, len(mine))
    drift = score_window(
        reference,
        frame,
        scores=scores,
        unknown_fields=unknown,
        settings=settings.drift,
        answered=answered,
        probabilities=probabilities,
    )
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
        estimate=estimate_before_labels(settings, model, mine, probabilities),
        labelled_rows=len(labelled) if labelled is not None else 0,
        performance_start=labelled.start if labelled is not None else None,
        edge_events=edge,
    )


# --- as history rows -------------------------------------------------------------------------
