"""The rows the service hands the prediction log, and SQLite's multi-row statements for them.

A request's answers stay in columns (`PredictionBatch`) from the edge to the insert: a dict per
record and feature, built and read again, cost a quarter of the worker's time at 100 records.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import logging
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict, overload

from .sql import (
    chunks,
    dumps,
)

if TYPE_CHECKING:
    pass
from .prediction_log_schema import CHALLENGER, shadow_scores

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _SqliteInsert:
    """PredictionLog._record_sqlite's multi-row statement for one table; the values it takes
    are flat, row after row, in `columns` order."""

    table: str
    columns: tuple[str, ...]

    @property
    def rows_per_statement(self) -> int:
        return 999 // len(self.columns)  # SQLite before 3.32 takes at most 999 variables

    def statements(self, values: Sequence[Any]) -> Iterator[tuple[str, Sequence[Any]]]:
        width = len(self.columns)
        for chunk in chunks(values, self.rows_per_statement * width):
            yield _insert_sql(self.table, self.columns, len(chunk) // width), chunk


@functools.cache
def _insert_sql(table: str, columns: tuple[str, ...], rows: int) -> str:
    row = "(" + ", ".join(["?"] * len(columns)) + ")"
    # The names are this module's constants; every value is a bound parameter.
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES " + ", ".join([row] * rows)  # noqa: S608


def sqlite_statements(
    batches: Sequence[Sequence[PredictionRow]], forget: Collection[str] = ()
) -> Iterator[tuple[str, Sequence[Any]]]:
    """`PredictionLog.record_batches`'s statements on SQLite, with the values already in
    SQLite's form (the text SQLAlchemy's types would store): the deletes of `forget`, then
    multi-row INSERTs. Not executemany: the sqlite3 module gives up and retakes the GIL around
    every statement it steps, and the event loop would wait for the GIL once per row."""
    values: dict[_SqliteInsert, list[Any]] = {_ANSWERS: [], _SHADOW: []}
    for batch in batches:
        if isinstance(batch, PredictionBatch):
            values[_SHADOW if batch.role == CHALLENGER else _ANSWERS] += _sqlite_values(batch)
        else:
            for row in batch:
                values[_SHADOW if row["role"] == CHALLENGER else _ANSWERS] += _sqlite_row_values(row)
    yield from _forget_statements(forget)
    for insert, flat in values.items():
        yield from insert.statements(flat)


def _forget_statements(request_ids: Collection[str]) -> Iterator[tuple[str, Sequence[str]]]:
    """SQLite's deletes of the champion rows of these requests (`record_batches`'s `forget`)."""
    for chunk in chunks(sorted(request_ids)):
        marks = ", ".join(["?"] * len(chunk))
        yield f"DELETE FROM predictions WHERE request_id IN ({marks})", chunk  # noqa: S608 - bound values


_ANSWERS = _SqliteInsert(
    "predictions",
    (
        "request_id",
        "role",
        "logged_at",
        "occurred_at",
        "model_name",
        "model_version",
        "record_id",
        "features",
        "score",
        "decision",
        "latency_ms",
        "schema_events",
        "probabilities",
    ),
)


_SHADOW = _SqliteInsert(
    "shadow_scores",
    ("request_id", "logged_at", "model_name", "model_version", "score", "decision", "latency_ms", "probabilities"),
)


class PredictionRow(TypedDict):
    request_id: str
    role: str
    logged_at: datetime
    occurred_at: datetime
    model_name: str
    model_version: str
    record_id: str | None
    features: Mapping[str, Any] | None  # None on a challenger row: its champion row has them
    score: float
    decision: bool | None
    latency_ms: float
    schema_events: list[dict[str, Any]] | None
    probabilities: NotRequired[list[float] | None]  # multiclass: every class's, in the contract's order


@dataclass(frozen=True)
class PredictionBatch(Sequence[PredictionRow]):
    """One request's rows for one model, column by column: what a request hands to the
    log's writer. SQLite's insert reads the columns as they are; the row dicts are built
    only where something reads rows (the PostgreSQL path), by the writer, never on the
    event loop. The columns cross to the log process as one small JSON document instead
    of a hundred."""

    role: str
    model_name: str
    model_version: str
    logged_at: datetime
    latency_ms: float
    request_ids: list[str]
    event_times: list[datetime | None]  # None: the record sent none, and logged_at stands in
    record_ids: list[str | None]
    features: list[dict[str, Any]] | None  # None on challenger rows: the champion's rows have them
    scores: list[float]
    decisions: list[bool] | None
    schema_events: list[list[dict[str, Any]]]
    probabilities: list[list[float]] | None = None  # multiclass only

    def __len__(self) -> int:
        return len(self.request_ids)

    @overload
    def __getitem__(self, index: int) -> PredictionRow: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[PredictionRow]: ...

    def __getitem__(self, index: int | slice) -> PredictionRow | Sequence[PredictionRow]:
        return self.rows[index]

    def __iter__(self) -> Iterator[PredictionRow]:
        return iter(self.rows)

    @functools.cached_property
    def rows(self) -> list[PredictionRow]:
        now, features, decisions, probabilities = self.logged_at, self.features, self.decisions, self.probabilities
        return [
            PredictionRow(
                request_id=request_id,
                role=self.role,
                logged_at=now,
                occurred_at=self.event_times[i] or now,
                model_name=self.model_name,
                model_version=self.model_version,
                record_id=self.record_ids[i],
                features=features[i] if features is not None else None,
                score=self.scores[i],
                decision=decisions[i] if decisions is not None else None,
                latency_ms=self.latency_ms,
                schema_events=self.schema_events[i] or None,
                probabilities=probabilities[i] if probabilities is not None else None,
            )
            for i, request_id in enumerate(self.request_ids)
        ]

    def columns(self) -> dict[str, Any]:
        """The fields as a dict (shallow: `dataclasses.asdict` would copy every record)."""
        return {name: getattr(self, name) for name in BATCH_FIELDS}


BATCH_FIELDS = tuple(f.name for f in dataclasses.fields(PredictionBatch))


def _sqlite_time(moment: datetime) -> str:
    return moment.isoformat(" ", "microseconds")  # what SQLAlchemy's DateTime stores on SQLite


def _sqlite_values(batch: PredictionBatch) -> list[Any]:
    """A request's rows as one flat list of values for `_ANSWERS` (champion) or `_SHADOW`
    (challenger), built column by column: what its rows share is converted once, and zip
    does the interleaving in C."""
    count = len(batch)
    logged_at = _sqlite_time(batch.logged_at)
    decisions = [int(d) for d in batch.decisions] if batch.decisions is not None else [None] * count
    probabilities = [dumps(row) for row in batch.probabilities] if batch.probabilities is not None else [None] * count
    if batch.role == CHALLENGER:
        shadow = zip(
            batch.request_ids,
            itertools.repeat(logged_at, count),
            itertools.repeat(batch.model_name, count),
            itertools.repeat(batch.model_version, count),
            batch.scores,
            decisions,
            itertools.repeat(batch.latency_ms, count),
            probabilities,
            strict=True,
        )
        return list(itertools.chain.from_iterable(shadow))
    # _sqlite_time inlined: a Python call per record costs more than the formatting itself.
    occurred = [logged_at if m is None else m.isoformat(" ", "microseconds") for m in batch.event_times]
    features = [dumps(record) for record in batch.features] if batch.features is not None else ["null"] * count
    events = [dumps(found) if found else None for found in batch.schema_events]
    rows = zip(
        batch.request_ids,
        itertools.repeat(batch.role, count),
        itertools.repeat(logged_at, count),
        occurred,
        itertools.repeat(batch.model_name, count),
        itertools.repeat(batch.model_version, count),
        batch.record_ids,
        features,
        batch.scores,
        decisions,
        itertools.repeat(batch.latency_ms, count),
        events,
        probabilities,
        strict=True,
    )
    return list(itertools.chain.from_iterable(rows))


def _sqlite_row_values(row: PredictionRow) -> tuple[Any, ...]:
    """`_sqlite_values` for one row given as a dict."""
    decision = None if row["decision"] is None else int(row["decision"])
    logged_at = _sqlite_time(row["logged_at"])
    found = row.get("probabilities")
    probabilities = None if found is None else dumps(found)
    if row["role"] == CHALLENGER:
        return (
            row["request_id"],
            logged_at,
            row["model_name"],
            row["model_version"],
            row["score"],
            decision,
            row["latency_ms"],
            probabilities,
        )
    events = row["schema_events"]
    return (
        row["request_id"],
        row["role"],
        logged_at,
        _sqlite_time(row["occurred_at"]),
        row["model_name"],
        row["model_version"],
        row["record_id"],
        dumps(row["features"]),
        row["score"],
        decision,
        row["latency_ms"],
        None if events is None else dumps(events),
        probabilities,
    )


def _shadow_row(row: PredictionRow) -> dict[str, Any]:
    """A challenger row as `shadow_scores` holds it."""
    return {c.name: row.get(c.name) for c in shadow_scores.columns}
