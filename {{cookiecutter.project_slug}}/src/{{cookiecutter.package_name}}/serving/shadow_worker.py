"""Shadow scoring: work handed to one background thread through a bounded queue.

The live path only calls `submit`, which never blocks: it puts the job in the
queue or, when the queue is full, drops it and counts the drop. The thread takes
every job waiting (up to `max_batch`) and runs them as one batch, so that under
load the challenger scores and logs many requests per call; every exception is
caught and counted against the batch's jobs. A job that waited longer than
`max_age_s` is skipped as stale, so a slow challenger falls behind and sheds
work instead of growing memory or delaying anything. Nothing here can change,
delay or fail the answer the champion gave.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

Job = TypeVar("Job")
# A broken challenger fails on every request: log the first failure, then a summary at most this often.
LOG_EVERY_S = 60.0


@dataclass
class ShadowStats:
    submitted: int = 0
    completed: int = 0
    failed: int = 0
    dropped: int = 0  # the queue was full
    stale: int = 0  # waited longer than max_age_s
    last_error: str | None = None
    last_error_at: float | None = None


class Shadow(Generic[Job]):
    """Runs `work(jobs)` on a background thread for the submitted jobs, in order, in batches."""

    def __init__(
        self,
        work: Callable[[list[Job]], Any],
        queue_size: int,
        max_age_s: float,
        name: str = "shadow",
        clock: Callable[[], float] = time.monotonic,
        max_batch: int = 64,
        gather_s: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._work = work
        self._sleep = sleep
        self._max_batch = max_batch
        self._gather_s = gather_s
        self._max_age_s = max_age_s
        self._clock = clock
        self._queue: queue.Queue[tuple[float, bool, Job] | None] = queue.Queue(maxsize=queue_size)
        self._lock = threading.Lock()
        self.stats = ShadowStats()
        self._last_logged: float | None = None
        self._unlogged_failures = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, job: Job, *, gather: bool = True) -> bool:
        """Hand a job over without waiting; False when it was dropped. `gather=False`: a job
        big enough to be worth its own batch, which does not wait for others unless the
        queue is busy anyway."""
        try:
            self._queue.put_nowait((self._clock(), gather, job))
        except queue.Full:
            with self._lock:
                self.stats.dropped += 1
            return False
        with self._lock:
            self.stats.submitted += 1
        return True

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            stats = self.stats
            return {
                "queued": self.queued,
                "submitted": stats.submitted,
                "completed": stats.completed,
                "failed": stats.failed,
                "dropped": stats.dropped,
                "stale": stats.stale,
                "last_error": stats.last_error,
            }

    def close(self, timeout: float = 5.0) -> None:
        """Stop after the jobs already queued (or after `timeout`: the thread is a daemon)."""
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout=timeout)

    def join(self, timeout: float = 10.0) -> bool:
        """Wait until the queue is empty (for tests and shutdown); True when it is."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._queue.unfinished_tasks == 0:
                return True
            time.sleep(0.01)
        return False

    def _take(self) -> tuple[list[tuple[float, bool, Job]], bool]:
        """The next jobs waiting (at least one, blocking for it), and whether to stop after them."""
        items: list[tuple[float, bool, Job]] = []
        item = self._queue.get()
        if self._gather_s and item is not None and (item[1] or not self._queue.empty()):
            # Let more jobs gather: one wake-up and one batch (and commit) per interval instead
            # of one per request, which is what shadow work costs a busy server (GIL hand-overs)
            # and what a small job would mostly spend on. A big job that comes alone runs at
            # once instead, in the gap before the next request; gathered, it ran into that
            # request (100 records at concurrency 1, in-process: p99 8.3 to 9.1 ms gathered,
            # 5.8 to 7.0 at once).
            self._sleep(self._gather_s)
        while True:
            if item is None:
                return items, True
            items.append(item)
            if len(items) >= self._max_batch:
                return items, False
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return items, False

    def _run(self) -> None:
        stop = False
        while not stop:
            items, stop = self._take()
            try:
                now = self._clock()
                fresh = [job for enqueued, _, job in items if now - enqueued <= self._max_age_s]
                if len(fresh) < len(items):
                    with self._lock:
                        self.stats.stale += len(items) - len(fresh)
                if fresh:
                    self._attempt(fresh)
            finally:
                for _ in range(len(items) + (1 if stop else 0)):
                    self._queue.task_done()

    def _attempt(self, jobs: list[Job]) -> None:
        try:
            self._work(jobs)
        except Exception as err:  # isolation is the point: any failure is counted, never raised
            self._failed(err, len(jobs))
        else:
            with self._lock:
                self.stats.completed += len(jobs)

    def _failed(self, err: Exception, jobs: int) -> None:
        message = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"[:500]
        now = time.monotonic()
        with self._lock:
            self.stats.failed += jobs
            self.stats.last_error = message
            self.stats.last_error_at = time.time()
            self._unlogged_failures += jobs
            due = self._last_logged is None or now - self._last_logged >= LOG_EVERY_S
            count = self._unlogged_failures
            if due:
                self._last_logged = now
                self._unlogged_failures = 0
        if due:
            log.warning(
                "shadow scoring failed %d time(s) since the last report (%d in all): %s",
                count,
                self.stats.failed,
                message,
            )
