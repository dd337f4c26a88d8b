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
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Protocol

import sqlalchemy as sa

from ..stores.prediction_log import PredictionLogError
from ..stores.prediction_rows import PredictionRow

# Shadow rows per commit beside the answers: bounds what an answer waits for (~1 ms of SQLite).
BACKGROUND_ROWS = 200


class RowStore(Protocol):
    """What the writer writes to: `stores.prediction_log.PredictionLog`."""

    def record_batches(self, batches: Sequence[Sequence[PredictionRow]]) -> None: ...


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
        self, prediction_log: RowStore, *, background_rows: int = BACKGROUND_ROWS, name: str = "log-writer"
    ) -> None:
        self._log = prediction_log
        self._background_rows = background_rows
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
            if jobs:
                self._commit(jobs)

    def _commit(self, jobs: list[_Job]) -> None:
        try:
            self._log.record_batches([job.rows for job in jobs])
        except Exception as err:  # every waiting request hears it; none is answered unlogged
            if len(jobs) > 1 and isinstance(err, sa.exc.IntegrityError | sa.exc.DataError):
                for job in jobs:
                    self._commit([job])
                return
            for job in jobs:
                job.done.set_exception(err)
            return
        self.commits += 1
        for job in jobs:
            job.done.set_result(None)
