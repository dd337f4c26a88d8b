"""Reading a window of the prediction log page by page, so that memory does not grow with it.

`window_pages` returns the answers (the champion's and, during a canary, the canary's) of
[start, end) in pages of at most `rows` rows, oldest first, each page the same DataFrame
`PredictionLog.window` returns for the whole window. Pages follow the key (occurred_at,
request_id): each query starts after the last row of the one before (keyset pagination), so it
uses the (occurred_at, role) index and no page costs more than the first, unlike OFFSET.
`answered_versions` counts the window's answers per model version in the database, without
reading them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from .prediction_log_schema import ANSWERED, labels, predictions
from .sql import naive_utc

if TYPE_CHECKING:
    import pandas as pd

    from .prediction_log import PredictionLog

META_COLUMNS = [c.name for c in predictions.columns if c.name != "features"] + ["label", "labelled_at"]


def rows_frame(rows: Sequence[Mapping[Any, Any]]) -> pd.DataFrame:
    """Answer rows (`predictions` joined to `labels`) as `PredictionLog.window` returns them:
    each received feature a column (`received.<name>` when it clashes with a column of the
    log's own), then the log's columns."""
    import pandas as pd

    meta = pd.DataFrame.from_records([{c: row[c] for c in META_COLUMNS} for row in rows], columns=META_COLUMNS)
    meta["schema_events"] = [list(events) if events else [] for events in meta["schema_events"]]
    meta["decision"] = meta["decision"].astype("boolean")
    meta["label"] = meta["label"].astype("Float64")
    reserved = set(META_COLUMNS)
    received = pd.DataFrame.from_records(
        [{(f"received.{k}" if k in reserved else k): v for k, v in (row["features"] or {}).items()} for row in rows],
        index=meta.index,
    )
    return pd.concat([received, meta], axis=1)


def _answers(start: datetime, end: datetime) -> sa.Select[Any]:
    return (
        sa.select(predictions, labels.c.label, labels.c.labelled_at)
        .select_from(predictions.outerjoin(labels, predictions.c.request_id == labels.c.request_id))
        .where(
            predictions.c.occurred_at >= naive_utc(start),
            predictions.c.occurred_at < naive_utc(end),
            predictions.c.role.in_(ANSWERED),
        )
    )


def after(key: tuple[datetime, str] | None) -> sa.ColumnElement[bool]:
    """Rows after `key` in (occurred_at, request_id) order (every row when None)."""
    if key is None:
        return sa.true()
    moment, request_id = key
    return sa.or_(
        predictions.c.occurred_at > moment,
        sa.and_(predictions.c.occurred_at == moment, predictions.c.request_id > request_id),
    )


def window_pages(log: PredictionLog, start: datetime, end: datetime, rows: int) -> Iterator[pd.DataFrame]:
    """The champion's answers of [start, end) in pages of at most `rows` rows, oldest first
    (the order of `PredictionLog.window`); together they are that window, row for row."""
    if rows < 1:
        raise ValueError(f"monitoring.window_chunk_rows must be at least 1, got {rows}")
    statement = _answers(start, end).order_by(predictions.c.occurred_at, predictions.c.request_id)
    key: tuple[datetime, str] | None = None
    while True:
        with log.engine.connect() as connection:
            found = connection.execute(statement.where(after(key)).limit(rows)).mappings().all()
        if not found:
            return
        yield rows_frame(found)
        if len(found) < rows:
            return
        key = (found[-1]["occurred_at"], found[-1]["request_id"])


def answered_versions(log: PredictionLog, start: datetime, end: datetime) -> dict[str, int]:
    """How many of the window's answers each model version gave, in the order each first
    answered (as counting the window's rows would find them)."""
    column = predictions.c.model_version
    first = sa.func.min(predictions.c.occurred_at)
    statement = (
        sa.select(column, sa.func.count(), first)
        .where(
            predictions.c.occurred_at >= naive_utc(start),
            predictions.c.occurred_at < naive_utc(end),
            predictions.c.role.in_(ANSWERED),
        )
        .group_by(column)
        .order_by(first, column)
    )
    with log.engine.connect() as connection:
        return {str(version): int(count) for version, count, _ in connection.execute(statement)}
