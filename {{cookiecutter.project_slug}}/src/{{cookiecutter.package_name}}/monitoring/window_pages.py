"""Reading a monitoring window in pages: `reduce_window` and `labelled_pages`, the paged
forms of `window.load_window` and `window.labelled_rows`.

Each page holds at most `monitoring.window_chunk_rows` rows; what is kept between pages is
the `WindowReduction` (counts, and float64 arrays of the monitored version's scores), and of
the labelled answers one score (or every class's probability), one label and each segment's
level per answer. The assessment made from them equals the one made from the whole window
(`assessment.assess_reduced`; tests/integration/test_window_pages.py compares them on SQLite
and PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from ..core.histogram import category_labels
from ..stores.prediction_log import from_settings
from ..stores.prediction_log_pages import after, answered_versions, window_pages
from ..stores.prediction_log_schema import ANSWERED, labels, predictions
from .loss_estimate import loss_rows
from .monitored_model import MonitoredModel
from .multiclass_estimate import probability_matrix
from .window import Labelled, Window, received_features
from .window_reduction import WindowReduction

if TYPE_CHECKING:
    from ..settings import Settings


@dataclass(frozen=True)
class ReducedWindow:
    window: Window
    reduction: WindowReduction
    refused: pd.DataFrame  # requests refused at the contract check (read whole: one row per request)
    labelled: Labelled | None = None


def window_versions(settings: Settings, window: Window) -> dict[str, int]:
    """The window's answers per model version, counted by the database."""
    prediction_log = from_settings(settings)
    try:
        return answered_versions(prediction_log, window.start, window.end)
    finally:
        prediction_log.close()


def _answers(model: MonitoredModel, mine: pd.DataFrame) -> dict[str, np.ndarray]:
    """What the estimates and prediction drift read of the monitored version's rows of a page."""
    scores = mine["score"].to_numpy(dtype=float)
    found = {"scores": scores}
    classes = model.reference.class_labels
    if classes and len(mine):
        found["probabilities"] = probability_matrix(mine, len(classes))
    if model.loss_model is not None and model.profile.get("task") == "regression":
        found["loss_inputs"], found["loss_predicted"] = loss_rows(model.loss_model, received_features(mine), scores)
    return found


def reduce_window(settings: Settings, window: Window, model: MonitoredModel) -> ReducedWindow:
    """The window's answers against `model`, read page by page, and its refused requests."""
    reduction = WindowReduction(model.reference, model.version)
    prediction_log = from_settings(settings)
    try:
        pages = window_pages(prediction_log, window.start, window.end, settings.monitoring.window_chunk_rows)
        for page in pages:
            mine = page[page["model_version"].astype(str) == model.version]
            reduction.add(page, received_features(page), _answers(model, mine))
        refused = prediction_log.rejection_window(window.start, window.end)
    finally:
        prediction_log.close()
    return ReducedWindow(window, reduction, refused)


def _labelled_statement(model: MonitoredModel, start: datetime, end: datetime) -> sa.Select[Any]:
    return (
        sa.select(
            predictions.c.occurred_at,
            predictions.c.request_id,
            predictions.c.features,
            predictions.c.score,
            predictions.c.probabilities,
            labels.c.label,
        )
        .select_from(predictions.join(labels, predictions.c.request_id == labels.c.request_id))
        .where(
            predictions.c.occurred_at >= start,
            predictions.c.occurred_at < end,
            predictions.c.role.in_(ANSWERED),
            predictions.c.model_name == model.name,
            predictions.c.model_version == model.version,
        )
        .order_by(predictions.c.occurred_at, predictions.c.request_id)
    )


def _pages(settings: Settings, statement: sa.Select[Any]) -> Iterator[Sequence[Any]]:
    rows = settings.monitoring.window_chunk_rows
    key: tuple[datetime, str] | None = None
    prediction_log = from_settings(settings)
    try:
        while True:
            with prediction_log.engine.connect() as connection:
                found = connection.execute(statement.where(after(key)).limit(rows)).all()
            if found:
                yield found
            if len(found) < rows:
                return
            key = (found[-1].occurred_at, found[-1].request_id)
    finally:
        prediction_log.close()


def labelled_pages(settings: Settings, model: MonitoredModel, start: datetime, end: datetime) -> Labelled:
    """`window.labelled_rows` read page by page, keeping of each labelled answer its score
    (or every class's probability), its label and its level of each of the contract's
    segments (the only features realized performance reads), as categoricals."""
    segments: Mapping[str, Any] = {s: model.profile["features"][s] for s in model.profile.get("segments", [])}
    scores: list[np.ndarray] = []
    probabilities: list[list[Any]] | None = []
    found_labels: list[np.ndarray] = []
    levels: dict[str, list[np.ndarray]] = {name: [] for name in segments}
    seen: set[str] = set()
    for page in _pages(settings, _labelled_statement(model, start, end)):
        scores.append(np.array([row.score for row in page], dtype=float))
        if probabilities is not None and all(row.probabilities is not None for row in page):
            probabilities.extend(row.probabilities for row in page)
        else:
            probabilities = None
        found_labels.append(np.array([row.label for row in page], dtype=float))
        records = [dict(row.features) for row in page]
        for name, spec in segments.items():
            column = pd.Series([record.get(name) for record in records], dtype=object)
            if any(name in record for record in records):
                seen.add(name)
                column = pd.DataFrame.from_records([{name: r[name]} if name in r else {} for r in records])[name]
            levels[name].append(category_labels(column, boolean=spec["type"] == "boolean", normalize=spec["normalize"]))
    rows = sum(len(part) for part in scores)
    features = pd.DataFrame(
        {name: pd.Categorical(np.concatenate(levels[name])) for name in segments if name in seen},
        index=range(rows),
    )
    return Labelled(
        features=features,
        scores=np.array(probabilities, dtype=float) if probabilities and rows else _join(scores),
        labels=_join(found_labels),
        start=start,
        end=end,
    )


def _join(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.empty(0, dtype=float)
