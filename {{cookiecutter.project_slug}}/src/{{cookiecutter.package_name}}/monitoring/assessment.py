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
from .drift import score_counted, score_window
from .drift_report import DriftReport
from .loss_estimate import estimate_from_losses, estimate_loss
from .performance import PerformanceEstimate, PerformanceReport, estimate_performance, realized_performance
from .realized_band import realized_bands
from .schema_drift import SchemaEvent, schema_diff

if TYPE_CHECKING:
    from ..settings import Settings
from .monitored_model import MonitoredModel
from .multiclass_estimate import MULTICLASS, estimate_classes, probability_matrix
from .window import Labelled, Window, WindowData, edge_event_counts, received_features, refused_records
from .window_pages import ReducedWindow
from .window_reduction import WindowReduction


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
    return _finish(
        settings,
        model,
        data.window,
        drift,
        data.refused,
        data.labelled,
        estimate_before_labels(settings, model, mine, probabilities),
        edge,
        (len(served), len(mine)),
        run_id,
        started_at,
    )


def _estimate_reduced(
    settings: Settings, model: MonitoredModel, reduction: WindowReduction, probabilities: np.ndarray | None
) -> PerformanceEstimate | None:
    """`estimate_before_labels` from a reduced window's arrays of the monitored version."""
    scores = reduction.answers("scores")
    if scores is None or not len(scores):
        return None
    if model.profile.get("task") == MULTICLASS:
        found = probabilities if probabilities is not None else np.empty((0, len(model.reference.class_labels)))
        return estimate_classes(model.profile, found, settings.drift, seed=settings.monitoring.estimate_seed)
    if model.loss_model is not None:
        inputs, predicted = reduction.answers("loss_inputs"), reduction.answers("loss_predicted")
        if inputs is None or predicted is None:
            return None
        return estimate_from_losses(model.profile, inputs, predicted, settings.drift)
    return estimate_performance(model.profile, scores, settings.drift, seed=settings.monitoring.estimate_seed)


def assess_reduced(
    settings: Settings,
    model: MonitoredModel,
    data: ReducedWindow,
    run_id: str | None = None,
    started_at: datetime | None = None,
) -> Assessment:
    """`assess` on a window read in pages (`window_pages.reduce_window`): the same assessment."""
    reference = model.reference
    reduction = data.reduction
    edge = dict(sorted(reduction.edge.items()))
    unknown = {key.split(":", 1)[1]: count for key, count in edge.items() if key.startswith("unknown_field:")}
    found = reduction.answers("scores")
    mine = found if found is not None else np.empty(0)
    labels = reference.class_labels
    probabilities = reduction.answers("probabilities") if labels and len(mine) else None
    drift = score_counted(
        reference,
        reduction,
        reduction.rows,
        scores=mine if reference.score is not None else None,
        unknown_fields=unknown,
        settings=settings.drift,
        answered=_answered(probabilities, labels, len(mine)),
        probabilities=probabilities,
    )
    return _finish(
        settings,
        model,
        data.window,
        drift,
        data.refused,
        data.labelled,
        _estimate_reduced(settings, model, reduction, probabilities),
        edge,
        (reduction.rows, len(mine)),
        run_id,
        started_at,
    )


def _finish(
    settings: Settings,
    model: MonitoredModel,
    window: Window,
    drift: DriftReport,
    refused: pd.DataFrame,
    labelled: Labelled | None,
    estimate: PerformanceEstimate | None,
    edge: Mapping[str, int],
    counts: tuple[int, int],
    run_id: str | None,
    started_at: datetime | None,
) -> Assessment:
    """The assessment from the window's drift and estimate: the refused requests' schema and
    the realized performance of the labelled answers."""
    records = refused_records(refused)
    refused_events = (
        schema_diff(model.reference, records, None, settings.drift.rename_max_distance).events if len(records) else ()
    )
    realized = (
        realized_performance(model.profile, labelled.scores, labelled.labels, labelled.features, settings.drift)
        if labelled is not None and len(labelled)
        else None
    )
    bands = (
        realized_bands(
            model.profile,
            labelled.labels,
            labelled.scores,
            labelled.features,
            settings.drift.band,
            settings.drift.min_labelled_rows,
            settings.monitoring.estimate_seed,
        )
        if labelled is not None and len(labelled)
        else {}
    )
    return Assessment(
        run_id=run_id or uuid.uuid4().hex,
        started_at=started_at or utcnow(),
        window=window,
        model=model,
        rows=counts[0],
        scored_rows=counts[1],
        refused_requests=len(refused),
        drift=drift,
        refused_events=tuple(refused_events),
        realized=realized,
        realized_bands=bands,
        estimate=estimate,
        labelled_rows=len(labelled) if labelled is not None else 0,
        performance_start=labelled.start if labelled is not None else None,
        edge_events=edge,
    )


# --- as history rows -------------------------------------------------------------------------
