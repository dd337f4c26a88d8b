"""The SQLite prediction log's upkeep, by the process that writes it: folding the WAL into the
database file on a thread of its own, and, while writes fail for want of room, telling
whether there is room again (`PredictionLog` mixes it in)."""

from __future__ import annotations

import contextlib
import logging
import shutil
import sqlite3
import threading
from pathlib import Path
from typing import Any

import sqlalchemy as sa

# SQLite: how often the background thread folds the WAL into the database file.
CHECKPOINT_EVERY_S = 1.0
# SQLite: the WAL content past which the checkpointer makes SQLite start the file over (below).
WAL_RESTART_BYTES = 64 * 1024 * 1024
# Free room (on the disk, and below SQLite's max_page_count) the log must have to count as
# writable again after it was full: a request of 100 records needs about 100 kB, a WAL that
# starts over after a checkpoint some MB; less than this and it would fill again at once.
ROOM_BYTES = 16 * 1024 * 1024

log = logging.getLogger(__name__)


class SqliteUpkeep:
    """WAL checkpoints and the room check for `PredictionLog` on SQLite."""

    _raw_engine: sa.Engine
    _sqlite: bool
    _write_lock: contextlib.AbstractContextManager[Any]
    _stop: threading.Event
    _checkpointer: threading.Thread | None
    _page_size: int | None
    checkpoint_every_s: float
    wal_restart_bytes: int
    wal_restarts: int

    def _checkpoint(self) -> None:
        try:
            with self._raw_engine.connect() as connection:
                _busy, frames, _copied = connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
                if self._page_size is None:  # fixed once the database exists
                    self._page_size = int(connection.exec_driver_sql("PRAGMA page_size").scalar_one())
            if frames * self._page_size > self.wal_restart_bytes:
                self._restart_wal()
        except (sa.exc.SQLAlchemyError, sqlite3.Error) as err:  # the next one retries; the data is safe in the WAL
            log.warning("prediction log checkpoint failed: %s", str(err).splitlines()[0])

    def _restart_wal(self) -> None:
        """SQLite writes the WAL from its start again once a checkpoint has caught up with the
        last commit; under sustained writes a passive one never does (commits land while it
        copies), so the WAL grows without bound and every commit slows down with it
        (measured: 1.2 GB after 200k rows, commits 3x slower). A second passive pass with
        this process's writers held back catches up: it copies only what was committed
        during the first, and the next commit starts the file over.

        The file keeps its size and is written over, not shrunk: a TRUNCATE checkpoint held
        the writers as long or longer (100-row commits every 4 ms, 64 MiB limit, two runs
        each: 67-129 ms per restart this way, 76-197 ms truncating), and every commit after
        it grew the file again. The hold grows with the limit: 23-44 ms at 16 MiB.

        The writers of other processes (a service with several workers) are held back too:
        a second connection takes SQLite's own write lock (`BEGIN IMMEDIATE`) for the pass, and
        their commits wait for it in the busy handler (the engine's 30 s timeout). Holding only
        this process's lock, two workers writing 100-row batches grew the WAL by 43 MiB/s."""
        with self._write_lock, self._raw_engine.connect() as holder, self._raw_engine.connect() as connection:
            lock = holder.connection.driver_connection
            assert lock is not None  # a live pool connection
            lock.execute("BEGIN IMMEDIATE")
            try:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
            finally:
                lock.execute("ROLLBACK")
        self.wal_restarts += 1

    def wal_bytes(self) -> int:
        """The size of the SQLite WAL file (0 for other databases or when there is none)."""
        database = self._raw_engine.url.database
        if not self._sqlite or not database or database == ":memory:":
            return 0
        try:
            return Path(f"{database}-wal").stat().st_size
        except FileNotFoundError:
            return 0

    def _checkpoint_loop(self) -> None:
        while not self._stop.wait(self.checkpoint_every_s):
            self._checkpoint()

    def _writing(self) -> None:
        """Called before each write: a process that writes SQLite also checkpoints it."""
        if self._sqlite and self._checkpointer is None:
            self._checkpointer = threading.Thread(target=self._checkpoint_loop, name="wal-checkpoint", daemon=True)
            self._checkpointer.start()

    def check_room(self) -> None:
        """Raise SQLite's "database or disk is full" unless the log has ROOM_BYTES to grow into,
        on its disk and below its max_page_count. A write probe cannot tell: a delete of no row
        needs no new page, and a rolled-back insert writes nothing to the WAL."""
        database = self._raw_engine.url.database
        if not self._sqlite or not database or database == ":memory:":
            return
        with self._raw_engine.connect() as connection:
            pages, limit, size = (
                int(connection.exec_driver_sql(f"PRAGMA {name}").scalar_one())
                for name in ("page_count", "max_page_count", "page_size")
            )
        below_limit = (limit - pages) * size
        on_disk = shutil.disk_usage(Path(database).resolve().parent).free
        if min(below_limit, on_disk) < ROOM_BYTES:
            room = f"{below_limit} bytes below max_page_count, {on_disk} free on the disk"
            raise sa.exc.OperationalError(
                "room check", None, sqlite3.OperationalError(f"database or disk is full ({room})")
            )
