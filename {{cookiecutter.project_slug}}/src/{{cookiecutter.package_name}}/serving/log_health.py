"""Whether the prediction log can be written now, as /metadata and /readyz report it.

The service answers nothing it cannot log (`predictor`), so while the log cannot be
written it cannot answer at all. Requests tell this module how their writes went; while
the last one failed, each readiness check asks the database again (`probe`), because a
service taken out of rotation gets no requests that could tell it the log is back.

Readiness, not liveness: a restart would not bring the database back, and a load
balancer that sees /readyz fail sends the traffic to replicas that can answer it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from .model_store import one_line


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
            since = self.state.since if not self.state.writable else self._clock()
            self.state = LogState(writable=False, last_error=reason, since=since)

    def succeeded(self) -> None:
        """A write went through: the log is writable (a no-op when it already was)."""
        if self.state.writable:  # the common case, without the lock: one attribute read
            return
        with self._lock:
            if not self.state.writable:
                self.state = LogState(writable=True, last_error=self.state.last_error, since=self._clock())

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
