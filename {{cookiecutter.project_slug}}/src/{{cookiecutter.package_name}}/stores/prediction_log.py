"""The prediction log: every answer the service gives, the labels that arrive later, and
the requests it refused.

SQLAlchemy Core on SQLite (WAL journal, the default, in var/) or PostgreSQL (by
URL). The service writes a request's rows in one transaction *before* it
answers, so a request whose answer left the server is in the log even when the
process is killed a moment later (tests/integration/test_service_server.py
measures it). Monitoring reads a time window with `PredictionLog.window`.

The champion's answers are in `predictions`; the challenger's shadow scores in
`shadow_scores`, narrow rows keyed by the request id their champion row carries
(its features, event time and events are there). `window` returns both as one
frame.

The tables carry a schema version (`prediction_log_version`): a later release
that changes them adds a step to `MIGRATIONS`, and a release that finds a log
newer than itself refuses to write to it instead of corrupting it.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa

from ..errors import ProjectError
from .sql import SqlStore, chunks, finite, naive_utc, upsert, utcnow
from .sqlite_upkeep import CHECKPOINT_EVERY_S, WAL_RESTART_BYTES, SqliteUpkeep

if TYPE_CHECKING:
    import pandas as pd

    from ..settings import Settings
from .prediction_log_pages import rows_frame
from .prediction_log_schema import (
    ANSWERED,
    CHALLENGER,
    CHAMPION,
    MIGRATIONS,
    SCHEMA_VERSION,
    labels,
    metadata,
    predictions,
    rejections,
    schema_versions,
    shadow_scores,
)
from .prediction_rows import PredictionRow, _shadow_row, sqlite_statements

log = logging.getLogger(__name__)


class PredictionLogError(ProjectError):
    """The prediction log cannot be opened or written (unreachable, or written by a newer release)."""


class CommitInDoubt(PredictionLogError):
    """The database failed while committing: the rows may be in the log or not. A PostgreSQL
    server killed after writing the commit to its WAL but before answering it keeps them
    (crash recovery replays them), though the writer heard an error; `record_batches`'s
    `forget` removes such rows once the database answers again."""


@dataclass(frozen=True)
class LabelResult:
    accepted: int
    unknown: list[str]


class PredictionLog(SqliteUpkeep, SqlStore):
    """One prediction log database. Thread-safe; open one per process."""

    what = "prediction log"
    metadata = metadata
    versions = schema_versions
    version = SCHEMA_VERSION
    migrations = MIGRATIONS
    error = PredictionLogError

    def __init__(
        self,
        url: str,
        *,
        db_schema: str | None = None,
        sqlite_synchronous: str = "NORMAL",
        checkpoint_every_s: float = CHECKPOINT_EVERY_S,
        wal_restart_bytes: int = WAL_RESTART_BYTES,
    ) -> None:
        self.checkpoint_every_s = checkpoint_every_s
        self.wal_restart_bytes = wal_restart_bytes
        self.wal_restarts = 0  # catch-up passes that let SQLite start the WAL over
        self._page_size: int | None = None
        self._stop = threading.Event()
        self._checkpointer: threading.Thread | None = None
        # synchronous=NORMAL makes a commit durable against a killed process (it is in the WAL
        # file when commit returns); FULL adds an fsync per commit to survive a power cut.
        # SQLite would fold the WAL into the database inside whichever commit crosses 1000
        # pages, with an fsync: a request would wait tens of milliseconds for it, so a
        # background thread of the writing process checkpoints instead (wal_autocheckpoint=0).
        pragmas = {"synchronous": sqlite_synchronous, "wal_autocheckpoint": "0"}
        super().__init__(url, db_schema=db_schema, sqlite_pragmas=pragmas)
        self._sqlite = self._raw_engine.dialect.name == "sqlite"
        # SQLite has one writer at a time, and a second thread of this process that finds the
        # database locked sleeps in SQLite's busy handler (milliseconds); a lock queues it instead.
        self._write_lock: contextlib.AbstractContextManager[Any] = (
            threading.Lock() if self._sqlite else contextlib.nullcontext()
        )

    def close(self) -> None:
        self._stop.set()
        if self._checkpointer is not None:
            self._checkpointer.join(timeout=10)
            self._checkpoint()
        super().close()

    def check_writable(self) -> None:
        """`SqlStore.check_writable`, and on SQLite room to grow (`check_room`): on a full disk
        the probe's write, which needs no new page, would pass where every request fails."""
        super().check_writable()
        self.check_room()

    # --- writing -----------------------------------------------------------------------------

    def record(self, rows: Sequence[PredictionRow]) -> None:
        """Write rows in one transaction; returns once they are committed."""
        self.record_batches([rows])

    def record_batches(self, batches: Sequence[Sequence[PredictionRow]], *, forget: Collection[str] = ()) -> None:
        """Write several requests' rows in one transaction; returns once they are committed.

        `forget`: request ids whose answers (champion rows) must not stay in the log, deleted
        in the same transaction (the rows of refused requests whose commit was in doubt).
        Raises `CommitInDoubt` when the database fails during the commit itself, any other
        error when nothing was written."""
        if not any(batches) and not forget:
            return
        self._writing()
        if self._sqlite and not self.db_schema:
            self._record_sqlite(batches, forget)
            return
        rows = [row for batch in batches for row in batch]
        # Every row with every column (a row from before multiclass has no probabilities):
        # an executemany takes its columns from the first row.
        answers = [{"probabilities": None, **row} for row in rows if row["role"] != CHALLENGER]
        shadow = [_shadow_row(row) for row in rows if row["role"] == CHALLENGER]
        committing = False
        try:
            with self._write_lock, self.engine.begin() as connection:
                for chunk in chunks(sorted(forget)):
                    connection.execute(predictions.delete().where(predictions.c.request_id.in_(chunk)))
                if answers:
                    connection.execute(predictions.insert(), answers)
                if shadow:
                    connection.execute(shadow_scores.insert(), shadow)
                # A failure before this point leaves nothing behind: the server never got COMMIT.
                committing = True
        except sa.exc.DBAPIError as err:
            if committing:
                raise CommitInDoubt(f"the prediction log's commit failed: {_first_line(err)}") from err
            raise

    def _record_sqlite(self, batches: Sequence[Sequence[PredictionRow]], forget: Collection[str] = ()) -> None:
        """The service's hot path on SQLite: the statements go straight to the driver with the
        values already in SQLite's form (the text SQLAlchemy's types would store), because
        SQLAlchemy's per-value processing costs as much as the insert itself."""
        statement = ""
        with self._write_lock:
            try:
                connection = self.engine.raw_connection()
            except sqlite3.Error as err:  # a file that cannot be opened fails like a write that cannot be done
                raise sa.exc.DBAPIError.instance("connect", None, err, sqlite3.Error) from err
            try:
                cursor = connection.cursor()
                try:
                    for statement, chunk in sqlite_statements(batches, forget):
                        cursor.execute(statement, chunk)
                    statement = "COMMIT"
                    connection.commit()
                except BaseException:
                    connection.rollback()
                    raise
                finally:
                    cursor.close()
            except sqlite3.Error as err:  # the same error type the SQLAlchemy path raises
                wrapped = sa.exc.DBAPIError.instance(statement, None, err, sqlite3.Error)
                if statement == "COMMIT":  # local and atomic, but an I/O error there may follow the commit frame
                    raise CommitInDoubt(f"the prediction log's commit failed: {_first_line(wrapped)}") from wrapped
                raise wrapped from err
            finally:
                connection.close()

    def record_rejection(
        self,
        endpoint: str,
        status: int,
        error: str,
        detail: Any = None,
        body: Any = None,
        occurred_at: datetime | None = None,
    ) -> None:
        self._writing()
        received_at = utcnow()
        with self._write_lock, self.engine.begin() as connection:
            connection.execute(
                rejections.insert().values(
                    received_at=received_at,
                    occurred_at=naive_utc(occurred_at) if occurred_at is not None else received_at,
                    endpoint=endpoint,
                    status=status,
                    error=error[:4000],
                    detail=finite(detail),
                    body=finite(body),
                )
            )

    def add_labels(
        self,
        pairs: Iterable[tuple[str, float]],
        source: str,
        key: Literal["request_id", "record_id"] = "request_id",
    ) -> LabelResult:
        """Store true labels for answered requests (the champion's rows), replacing earlier
        labels for the same request. Ids the log does not know are returned, not stored.
        With key="record_id" the ids are the caller's own ids (the contract's id column)."""
        wanted: dict[str, float] = {}
        for identifier, label in pairs:
            wanted[str(identifier)] = float(label)
        column = predictions.c[key]
        now = utcnow()
        accepted = 0
        unknown: list[str] = []
        ids = list(wanted)
        self._writing()
        with self._write_lock, self.engine.begin() as connection:
            for chunk in chunks(ids):
                found = connection.execute(
                    sa.select(column, predictions.c.request_id).where(
                        column.in_(chunk), predictions.c.role.in_(ANSWERED)
                    )
                ).all()
                request_ids: dict[str, list[str]] = {}
                for given, request_id in found:
                    request_ids.setdefault(str(given), []).append(str(request_id))
                rows = [
                    {"request_id": request_id, "label": wanted[given], "labelled_at": now, "source": source[:200]}
                    for given in chunk
                    for request_id in request_ids.get(given, [])
                ]
                unknown.extend(given for given in chunk if given not in request_ids)
                if rows:
                    upsert(connection, labels, rows, ["request_id"])
                    accepted += len(rows)
        return LabelResult(accepted=accepted, unknown=unknown)

    # --- reading -----------------------------------------------------------------------------

    def window(
        self,
        start: datetime,
        end: datetime,
        roles: Sequence[str] = (CHAMPION,),
        limit: int | None = None,
    ) -> pd.DataFrame:
        """The rows whose event time (`occurred_at`) is in [start, end) for these roles, oldest
        first, as one DataFrame: the features as received expanded to one column each
        (unknown fields included; none on challenger rows, whose champion row has them), then
        `request_id, logged_at, occurred_at, role, model_name, model_version, record_id,
        score, decision, latency_ms, schema_events` (a list, empty when clean), `probabilities`
        (multiclass: a list per row, else None), `label` and
        `labelled_at` (missing until feedback arrives). A received field whose name
        clashes with one of those columns is kept as `received.<name>`."""
        start, end = naive_utc(start), naive_utc(end)
        answered = predictions.c.occurred_at >= start, predictions.c.occurred_at < end, predictions.c.role == CHAMPION
        parts: list[sa.Select[Any]] = []
        answering = [role for role in ANSWERED if role in roles]  # the champion's and the canary's answers
        if answering:
            parts.append(
                sa.select(predictions, labels.c.label, labels.c.labelled_at)
                .select_from(predictions.outerjoin(labels, predictions.c.request_id == labels.c.request_id))
                .where(*answered[:2], predictions.c.role.in_(answering))
            )
        if CHALLENGER in roles:  # its champion row gives it the event time, the caller's id and the events
            shadow = shadow_scores.c
            parts.append(
                sa.select(
                    shadow.request_id,
                    sa.literal(CHALLENGER, predictions.c.role.type).label("role"),
                    shadow.logged_at,
                    predictions.c.occurred_at,
                    shadow.model_name,
                    shadow.model_version,
                    predictions.c.record_id,
                    sa.null().label("features"),
                    shadow.score,
                    shadow.decision,
                    shadow.latency_ms,
                    predictions.c.schema_events,
                    shadow.probabilities,
                    labels.c.label,
                    labels.c.labelled_at,
                )
                .select_from(
                    shadow_scores.join(predictions, predictions.c.request_id == shadow.request_id).outerjoin(
                        labels, labels.c.request_id == shadow.request_id
                    )
                )
                .where(*answered)
            )
        if not parts:
            parts.append(sa.select(predictions, labels.c.label, labels.c.labelled_at).where(sa.false()))
        found = (sa.union_all(*parts) if len(parts) > 1 else parts[0]).subquery()
        # A request's champion row before its challenger's ("champion" sorts after "challenger").
        statement = sa.select(found).order_by(found.c.occurred_at, found.c.request_id, found.c.role.desc())
        if limit is not None:
            statement = statement.limit(limit)
        with self.engine.connect() as connection:
            rows = connection.execute(statement).mappings().all()
        return rows_frame(rows)

    def rejection_window(self, start: datetime, end: datetime) -> pd.DataFrame:
        """Requests refused at the contract check in [start, end), with the body as received."""
        import pandas as pd

        statement = (
            sa.select(rejections)
            .where(rejections.c.occurred_at >= naive_utc(start), rejections.c.occurred_at < naive_utc(end))
            .order_by(rejections.c.occurred_at, rejections.c.id)
        )
        with self.engine.connect() as connection:
            rows = connection.execute(statement).mappings().all()
        return pd.DataFrame.from_records([dict(r) for r in rows], columns=[c.name for c in rejections.columns])


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


def from_settings(settings: Settings) -> PredictionLog:
    """The project's prediction log (creates its tables on first use)."""
    group = settings.prediction_log
    return PredictionLog(
        settings.prediction_log_url, db_schema=group.db_schema, sqlite_synchronous=group.sqlite_synchronous
    )


def read_window(settings: Settings, start: datetime, end: datetime, roles: Sequence[str] = (CHAMPION,)) -> pd.DataFrame:
    """What monitoring calls: `PredictionLog.window` on the configured log."""
    prediction_log = from_settings(settings)
    try:
        return prediction_log.window(start, end, roles)
    finally:
        prediction_log.close()
