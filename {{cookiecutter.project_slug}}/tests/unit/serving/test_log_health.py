"""Whether the prediction log can be written: from the writes' outcomes, and while they fail
from a probe of the database, so that a replica out of rotation finds out it can write again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from {{ cookiecutter.package_name }}.serving.log_health import LogHealth


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 4, 1, 12, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Database:
    """A probe target that is up or down, counting the probes."""

    def __init__(self) -> None:
        self.up = True
        self.probes = 0

    def probe(self) -> None:
        self.probes += 1
        if not self.up:
            raise sa.exc.OperationalError("INSERT", {}, Exception("disk I/O error for postgres:s3cret@db"))


def test_writable_until_a_write_fails_and_the_database_is_not_asked_meanwhile() -> None:
    """A fresh log is writable since the start, and readiness costs no database call then."""
    # Given a healthy log
    database = Database()
    health = LogHealth(database.probe, clock=Clock())

    # When readiness is asked twice
    answers = [health.writable(), health.writable()]

    # Then it is writable, with no error and no change of state, and the database was not probed
    assert answers == [True, True]
    assert health.state.as_dict() == {"writable": True, "last_error": None, "since": None}
    assert database.probes == 0


def test_a_failed_write_makes_it_unwritable_until_a_probe_succeeds() -> None:
    """After a failed write the log is unwritable since that failure (a later failure keeps the
    date, updates the reason); each readiness check probes, and the first that succeeds makes
    it writable again, keeping the last reason. The password never appears."""
    # Given a log whose writes start failing
    clock, database = Clock(), Database()
    health = LogHealth(database.probe, secret="s3cret", clock=clock)
    database.up = False
    health.failed(sa.exc.OperationalError("INSERT", {}, Exception("database is locked")))
    failed_at = clock.now
    clock.advance(30)

    # When readiness is asked while the database is down, and again once it is back
    down = health.writable()
    while_down = health.state.as_dict()
    database.up = True
    clock.advance(30)
    up = health.writable()

    # Then it was unwritable since the first failure with the probe's reason, redacted
    assert down is False
    assert while_down["writable"] is False
    assert while_down["since"] == failed_at.isoformat(timespec="seconds")
    assert "disk I/O error" in while_down["last_error"]
    assert "s3cret" not in while_down["last_error"]
    # And writable again since the successful probe, keeping the reason for the operator
    assert up is True
    assert health.state.writable is True
    assert health.state.since == clock.now
    assert "disk I/O error" in (health.state.last_error or "")
    assert database.probes == 2


def test_a_successful_write_clears_the_state_without_a_probe() -> None:
    """A write that goes through after failures makes the log writable at once."""
    # Given a log whose last write failed
    clock, database = Clock(), Database()
    health = LogHealth(database.probe, clock=clock)
    health.failed("OperationalError: database is locked")
    clock.advance(5)

    # When the next write goes through
    health.succeeded()

    # Then the log is writable since then, without asking the database
    assert health.state.writable is True
    assert health.state.since == clock.now
    assert database.probes == 0
