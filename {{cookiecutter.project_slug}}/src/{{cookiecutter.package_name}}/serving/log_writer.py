"""One thread that writes the service's prediction log, committing concurrent requests together.

A request hands its rows over and waits for the commit before it answers, so the
durability guarantee stays as it was: an answer that left the server is in the
log. What changes is who does the database work and how often it commits:

- The database work leaves the event loop. SQLite's and the PostgreSQL driver's
  C code runs without the GIL, so the loop checks and scores the next requests
  on the other core meanwhile, instead of sitting in a commit.
- Every request that arrived during one commit shares the next one. Under load
  a commit serves many requests; alone, a request waits for one thread hand-over.
- The challenger's rows are background work: each commit takes all waiting
  answers first and at most `background_rows` of shadow rows, so a burst of
  shadow logging delays no answer by more than that many rows.

A commit refused for its data (an integrity or data error) is retried request by
request, so that one request's bad rows cannot fail the others that shared it; a
database that is down fails them all at once.

A commit whose outcome is unknown (the database failed during COMMIT itself: a PostgreSQL
server killed after writing the commit to its WAL keeps the rows, though the writer heard
an error) fails its requests too, and they are answered 503. Their rows must not stay: the
client retries, and the log would hold the request twice. The writer remembers those
requests' ids and deletes their answers in its next transaction, with the next rows, once
the database answers again (or after `forget_every_s` without traffic). No other writer
knows the ids (the service makes them and never sent them), so the delete touches nothing
else. A process killed during the outage forgets them: such rows stay, like those of the
requests in flight at a SIGKILL.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Collection, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Protocol

import sqlalchemy as sa

from ..stores.prediction_log import CommitInDoubt, PredictionLogError
from ..stores.prediction_log_schema import CHALLENGER
from ..stores.prediction_rows import PredictionBatch, PredictionRow

# Shadow rows per commit beside the answers: bounds what an answer waits for (~1 ms of SQLite).
BACKGROUND_ROWS = 200
# With no traffic, how often the writer tries to delete the rows of refused requests whose commit
# was in doubt: about the readiness probe's period, which brings the traffic back anyway.
FORGET_EVERY_S = 1.0


class RowStore(Protocol):
    """What the writer writes to: `stores.prediction_log.PredictionLog`."""

    def record_batches(self, batches: Sequence[Sequence[PredictionRow]], *, forget: Collection[str] = ()) -> None: ...


class RowWriter(Protocol):
    """What the service writes its rows through: `LogWriter`, or a test's stand-in."""

    def write(self, rows: Sequence[PredictionRow], *, urgent: bool = True) -> Future[None]: ...

    def close(self, timeout: float = ...) -> None: ...


@dataclass(frozen=True)
class _Job:
    rows: Sequence[PredictionRow]
    done: Future[None]


class LogWriter:
    """Writes rows to `prediction_log` on its own thread; `write` returns a future that
    completes once they are committed (or fails with the database's error)."""

    def __init__(
        self,
        prediction_log: RowStore,
        *,
        background_rows: int = BACKGROUND_ROWS,
        forget_every_s: float = FORGET_EVERY_S,
        name: str = "log-writer",
    ) -> None:
        self._log = prediction_log
        self._background_rows = background_rows
        self._forget_every_s = forget_every_s
        # Request ids whose answers may have been committed though the requests were refused.
        self.in_doubt: set[str] = set()
        self._urgent: collections.deque[_Job] = collections.deque()
        self._background: collections.deque[_Job] = collections.deque()
        self._ready = threading.Condition()
        self._closing = False
        self.commits = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def write(self, rows: Sequence[PredictionRow], *, urgent: bool = True) -> Future[None]:
        """Queue rows for the next commit: `urgent` for an answer waiting on them, not for
        shadow rows. Cancelling the future before the commit starts withdraws the rows."""
        done: Future[None] = Future()
        if not rows:
            done.set_result(None)
            return done
        with self._ready:
            if self._closing:
                done.set_exception(PredictionLogError("the prediction log writer is closed"))
                return done
            (self._urgent if urgent else self._background).append(_Job(rows, done))
            self._ready.notify()
        return done

    @property
    def waiting(self) -> int:
        """Jobs queued and not yet taken by a commit."""
        with self._ready:
            return len(self._urgent) + len(self._background)

    def close(self, timeout: float = 10.0) -> None:
        """Commit what is queued, then stop the thread."""
        with self._ready:
            self._closing = True
            self._ready.notify()
        self._thread.join(timeout=timeout)

    def _take(self) -> list[_Job] | None:
        """The jobs of the next commit (waiting for one); None once closed and drained."""
        with self._ready:
            while not (self._urgent or self._background or self._closing):
                if self.in_doubt:  # no traffic: the next "commit" only deletes those rows
                    if not self._ready.wait(self._forget_every_s):
                        return []
                else:
                    self._ready.wait()
            jobs = list(self._urgent)
            self._urgent.clear()
            budget = self._background_rows
            while self._background and (budget > 0 or not jobs):
                job = self._background.popleft()
                jobs.append(job)
                budget -= len(job.rows)
            if not jobs:
                return None  # closing, nothing left
        return [job for job in jobs if job.done.set_running_or_notify_cancel()]

    def _run(self) -> None:
        while (jobs := self._take()) is not None:
            if jobs or self.in_doubt:
                self._commit(jobs)

    def _commit(self, jobs: list[_Job]) -> None:
        forget = frozenset(self.in_doubt)
        try:
            self._log.record_batches([job.rows for job in jobs], forget=forget)
        except Exception as err:  # every waiting request hears it; none is answered unlogged
            if len(jobs) > 1 and isinstance(err, sa.exc.IntegrityError | sa.exc.DataError):
                for job in jobs:
                    self._commit([job])
                return
            if isinstance(err, CommitInDoubt):  # they will be answered 503: their rows must go
                self.in_doubt.update(request_id for job in jobs for request_id in _answered_ids(job.rows))
            for job in jobs:
                job.done.set_exception(err)
            return
        self.in_doubt -= forget
        self.commits += 1
        for job in jobs:
            job.done.set_result(None)


def _answered_ids(rows: Sequence[PredictionRow]) -> list[str]:
    """The request ids of the champion's rows (a challenger's rows belong to answered requests)."""
    if isinstance(rows, PredictionBatch):
        return list(rows.request_ids) if rows.role != CHALLENGER else []
    return [row["request_id"] for row in rows if row["role"] != CHALLENGER]
