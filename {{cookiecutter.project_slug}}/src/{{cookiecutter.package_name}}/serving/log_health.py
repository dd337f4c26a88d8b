"""Whether the prediction log can be written now, as /metadata and /readyz report it.

The service answers nothing it cannot log (`predictor`), so while the log cannot be
written it cannot answer at all. Requests tell this module how their writes went; while
the last one failed, each readiness check asks the database again (`probe`), because a
service taken out of rotation gets no requests that could tell it the log is back.

Readiness, not liveness: a restart would not bring the database back, and a load
balancer that sees /readyz fail sends the traffic to replicas that can answer it.

Each change of state is one line in the service's log (the failed requests log their
own): what broke and what to do when it breaks, and how long it lasted when it ends.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from ..settings import ENV_PREFIX
from .model_store import one_line

log = logging.getLogger(__name__)


def is_disk_full(error: BaseException | str) -> bool:
    """SQLite's SQLITE_FULL: the disk is full, or the database reached its `max_page_count`."""
    cause = getattr(error, "orig", None)
    if isinstance(cause, sqlite3.Error) and getattr(cause, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
        return True
    return "database or disk is full" in str(error)


def outage_line(error: BaseException | str, reason: str) -> str:
    """The one line that says the log cannot be written, why, and what to do."""
    if is_disk_full(error):
        return (
            f"prediction log full: its disk (or SQLite's max_page_count) has no room left ({reason}); "
            "every /predict answers 503 and nothing is answered unlogged; free space on the log's disk "
            f"or move it ({ENV_PREFIX}PREDICTION_LOG__URL): the service recovers by itself, no restart"
        )
    return (
        f"prediction log cannot be written ({reason}); every /predict answers 503 until it can; "
        "bring its database back: the service recovers by itself, no restart"
    )


@dataclass(frozen=True)
class LogState:
    writable: bool
    last_error: str | None  # the last failed write's reason, kept after a recovery
    since: datetime | None  # when the current state began (aware, UTC); None: since the service started

    def as_dict(self) -> dict[str, Any]:
        since = self.since.isoformat(timespec="seconds") if self.since is not None else None
        return {"writable": self.writable, "last_error": self.last_error, "since": since}


class LogHealth:
    """The prediction log's state, from the writes' outcomes and, while they fail, `probe`
    (which raises the database's error unless a write could start). `secret` (the
    database password) never appears in a reason; `clock` dates the changes."""

    def __init__(
        self,
        probe: Callable[[], None],
        *,
        secret: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._probe = probe
        self._secret = secret
        self._clock = clock
        self._lock = threading.Lock()
        self.state = LogState(writable=True, last_error=None, since=None)

    def failed(self, error: BaseException | str) -> None:
        """A write failed: the log is not writable (since the first failure of a run of them)."""
        reason = one_line(error) if isinstance(error, BaseException) else error
        if self._secret:
            reason = reason.replace(self._secret, "***")
        with self._lock:
            began = self.state.writable
            since = self._clock() if began else self.state.since
            self.state = LogState(writable=False, last_error=reason, since=since)
        if began:
            log.error("%s", outage_line(error, reason))

    def succeeded(self) -> None:
        """A write went through: the log is writable (a no-op when it already was)."""
        if self.state.writable:  # the common case, without the lock: one attribute read
            return
        with self._lock:
            down = self.state  # read again under the lock: another thread may have got here first
            if down.writable:
                return
            down_since, now = down.since, self._clock()
            self.state = LogState(writable=True, last_error=down.last_error, since=now)
        lasted = f" after {(now - down_since).total_seconds():.1f} s" if down_since is not None else ""
        log.warning("prediction log writable again%s: answering /predict again", lasted)

    def writable(self) -> bool:
        """Whether a write would go through: the last write's outcome while it went through,
        else the probe's answer now."""
        if self.state.writable:
            return True
        try:
            self._probe()
        except (sa.exc.SQLAlchemyError, OSError) as err:
            self.failed(err)
            return False
        self.succeeded()
        return True
