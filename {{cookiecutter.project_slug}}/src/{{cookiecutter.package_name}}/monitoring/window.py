"""Which window a monitoring run reads, and reading it from the prediction log.

A window is a span of event time (the record's timestamp, else the time the service logged
it). `load_window` returns the answers, refused requests and labels in it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from ..errors import ProjectError
from ..stores.prediction_log import from_settings
from ..stores.prediction_log_schema import ANSWERED, labels, predictions
from ..stores.sql import naive_utc, utcnow

if TYPE_CHECKING:
    from ..settings import Settings

import logging

log = logging.getLogger(__name__)


RECEIVED = "received."  # the prediction log's prefix for a received field named like one of its columns


META_COLUMNS = frozenset([c.name for c in predictions.columns if c.name != "features"] + ["label", "labelled_at"])


EPOCH = datetime(1970, 1, 1, tzinfo=UTC).replace(tzinfo=None)  # naive UTC, like the log


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
                sa.select(sa.func.max(predictions.c.occurred_at)).where(predictions.c.role.in_(ANSWERED))
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
    served: pd.DataFrame  # the answers of the prediction log (champion and canary, every version)
    refused: pd.DataFrame  # requests refused at the contract check
    labelled: Labelled | None = None


def load_window(settings: Settings, window: Window) -> WindowData:
    prediction_log = from_settings(settings)
    try:
        served = prediction_log.window(window.start, window.end, roles=ANSWERED)
        refused = prediction_log.rejection_window(window.start, window.end)
    finally:
        prediction_log.close()
    return WindowData(window, served, refused)


def labelled_rows(settings: Settings, model_name: str, version: str, start: datetime, end: datetime) -> Labelled:
    """The version's labelled answers logged in [start, end): only those rows travel, so a
    long performance period costs what its labels cost, not what its traffic costs."""
    statement = (
        sa.select(predictions.c.features, predictions.c.score, predictions.c.probabilities, labels.c.label)
        .select_from(predictions.join(labels, predictions.c.request_id == labels.c.request_id))
        .where(
            predictions.c.occurred_at >= start,
            predictions.c.occurred_at < end,
            predictions.c.role.in_(ANSWERED),
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
        scores=_scores(rows),
        labels=np.array([row.label for row in rows], dtype=float),
        start=start,
        end=end,
    )


def _scores(rows: Sequence[Any]) -> np.ndarray:
    """The rows' scores: a multiclass model's every class's probability (rows x classes), where
    each row kept them, else the one score per row."""
    if rows and all(row.probabilities is not None for row in rows):
        return np.array([row.probabilities for row in rows], dtype=float)
    return np.array([row.score for row in rows], dtype=float)


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
