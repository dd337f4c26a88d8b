"""The SQLite prediction log's WAL upkeep when several processes write it (a service with
several workers): each worker's checkpointer must hold back every writer, not only its own."""

from __future__ import annotations

import multiprocessing
import time
from datetime import timedelta
from multiprocessing.queues import Queue
from pathlib import Path

from {{ cookiecutter.package_name }}.stores.prediction_log import PredictionLog
from {{ cookiecutter.package_name }}.stores.prediction_log_schema import CHAMPION
from {{ cookiecutter.package_name }}.stores.prediction_rows import PredictionRow
from {{ cookiecutter.package_name }}.stores.sql import utcnow

LIMIT = 1024 * 1024  # the WAL content past which a checkpointer starts the file over


def rows(prefix: str, count: int) -> list[PredictionRow]:
    now = utcnow()
    return [
        PredictionRow(
            request_id=f"{prefix}-{i}",
            role=CHAMPION,
            logged_at=now,
            occurred_at=now,
            model_name="fraud",
            model_version="3",
            record_id=f"tx-{prefix}-{i}",
            features={f"feature_{j}": j * 1.5 for j in range(16)},
            score=0.25,
            decision=False,
            latency_ms=0.4,
            schema_events=None,
        )
        for i in range(count)
    ]


def write_without_pause(url: str, name: str, target: int, results: Queue[tuple[int, int]]) -> None:
    """A worker's writer: 100-row commits with no pause until `target` rows; its rows and the
    largest WAL it saw."""
    prediction_log = PredictionLog(url, checkpoint_every_s=0.01, wal_restart_bytes=LIMIT)
    give_up = time.monotonic() + 120  # a bound on a broken checkpointer, not a timing check
    written, largest = 0, 0
    try:
        while written < target and time.monotonic() < give_up:
            prediction_log.record(rows(f"{name}-{written}", 100))
            written += 100
            largest = max(largest, prediction_log.wal_bytes())
    finally:
        prediction_log.close()
    results.put((written, largest))


def test_two_writing_processes_keep_the_wal_bounded(tmp_path: Path) -> None:
    """Two processes committing without pause to one SQLite log (two service workers): the
    checkpointer's catch-up pass holds SQLite's own write lock, so the other process's commits
    wait for it, the pass catches up and SQLite starts the WAL over; every row stays readable."""
    # Given one log file and two processes that each write it with checkpointers of their own
    database = tmp_path / "log.db"
    url = f"sqlite:///{database}"
    PredictionLog(url).close()  # the tables, before the writers race to create them
    context = multiprocessing.get_context("fork")
    results: Queue[tuple[int, int]] = context.Queue()
    writers = [context.Process(target=write_without_pause, args=(url, f"w{i}", 100_000, results)) for i in range(2)]

    # When each commits 100,000 rows, 100 at a time
    for writer in writers:
        writer.start()
    found = [results.get(timeout=300) for _ in writers]
    for writer in writers:
        writer.join(timeout=60)
    reader = PredictionLog(url)
    try:
        stored = len(reader.window(utcnow() - timedelta(hours=1), utcnow() + timedelta(hours=1)))
    finally:
        reader.close()

    # Then the WAL stayed within a few times its restart limit (3.6 times on this machine; when a
    # checkpointer held back only its own process's writers, it grew with the rows: 12.5 times
    # after 30,000 per process, 20 times after 100,000), and nothing was lost
    assert [written for written, _ in found] == [100_000, 100_000]
    assert max(largest for _, largest in found) < 8 * LIMIT
    assert stored == 200_000
