"""The log process commits rows before acknowledging them, fails only what it could not commit, and recovers."""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from {{ cookiecutter.package_name }} import log_process
from {{ cookiecutter.package_name }}.log_process import LogProcess, decode_rows, encode_rows
from {{ cookiecutter.package_name }}.predictions import (
    CHALLENGER,
    CHAMPION,
    PredictionBatch,
    PredictionLog,
    PredictionLogError,
    shadow_scores,
)
from {{ cookiecutter.package_name }}.sqlstore import utcnow

from .test_log_writer import rows, wait_all


def logged_ids(url: str, schema: str | None, role: str = CHAMPION) -> set[str]:
    opened = PredictionLog(url, db_schema=schema)
    try:
        if role == CHALLENGER:  # shadow rows sent without their champion's, so no window would pair them
            with opened.engine.connect() as connection:
                return set(connection.execute(sa.select(shadow_scores.c.request_id)).scalars())
        now = utcnow()
        window = opened.window(now - timedelta(days=1), now + timedelta(days=1), roles=[role])
        return set(window["request_id"])
    finally:
        opened.close()


def wait_until_gone(process: LogProcess) -> None:
    deadline = time.monotonic() + 30
    while process._child.alive and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not process._child.alive


def test_every_acknowledged_request_is_in_the_log(prediction_log: PredictionLog) -> None:
    """Answers and shadow rows of many requests are all committed once their futures complete."""
    # Given a log process on an empty log
    url, schema = prediction_log.url, prediction_log.db_schema
    process = LogProcess(url, db_schema=schema)
    try:
        # When 50 requests send their answers and 50 their shadow rows
        answers = [process.write(rows(f"req{i}", 3)) for i in range(50)]
        shadows = [process.write(rows(f"req{i}", 3, role=CHALLENGER), urgent=False) for i in range(50)]
        wait_all(answers + shadows)
        # Then every future succeeded and every row is in the log, read by another connection
        assert [f.exception() for f in answers + shadows] == [None] * 100
        expected = {f"req{i}-{j}" for i in range(50) for j in range(3)}
        assert logged_ids(url, schema) == expected
        assert logged_ids(url, schema, CHALLENGER) == expected
    finally:
        process.close()


def test_a_refused_commit_fails_only_its_request(tmp_path: Path) -> None:
    """A request whose rows break the log's key fails with the database's reason; the requests around it are logged."""
    # Given a log that already holds request "dup-0"
    url = f"sqlite:///{tmp_path / 'log.db'}"
    process = LogProcess(url)
    try:
        process.write(rows("dup")).result(timeout=30)
        # When it is sent again between two good requests
        sent = [process.write(rows("before")), process.write(rows("dup")), process.write(rows("after"))]
        wait_all(sent)
        # Then only the duplicate fails, naming the constraint, and the others are logged
        assert sent[0].exception() is None
        assert sent[2].exception() is None
        error = sent[1].exception()
        assert isinstance(error, PredictionLogError)
        assert "IntegrityError" in str(error)
        assert "UNIQUE" in str(error)
    finally:
        process.close()
    assert logged_ids(url, None) == {"dup-0", "before-0", "after-0"}


def test_a_killed_process_fails_fast_then_is_replaced(tmp_path: Path) -> None:
    """After the child is killed, writes fail at once until the restart interval passes; then a new child logs them."""
    # Given a log process whose child has been killed, on a clock the test moves
    # (a busy machine can take longer than any real interval to start the first child)
    now = [0.0]
    url = f"sqlite:///{tmp_path / 'log.db'}"
    process = LogProcess(url, restart_every_s=1.0, clock=lambda: now[0])
    try:
        process.write(rows("before")).result(timeout=30)
        os.kill(process.pid, signal.SIGKILL)
        wait_until_gone(process)
        # When a request is written within the restart interval, and another after it
        now[0] = 0.9
        refused = process.write(rows("during"))
        now[0] = 1.0
        accepted = process.write(rows("after"))
        # Then the first fails with a reason and the second is logged by a new child
        with pytest.raises(PredictionLogError, match="restarting"):
            refused.result(timeout=30)
        accepted.result(timeout=30)
        assert process.starts == 2
    finally:
        process.close()
    assert logged_ids(url, None) == {"before-0", "after-0"}


def test_a_stalled_process_never_blocks_the_caller(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """While the child is stopped, writes return at once; past the backlog limit they fail, and
    what was sent before is committed once the child runs again."""
    # Given a log process whose child is stopped, with a small backlog limit
    monkeypatch.setattr(log_process, "MAX_BACKLOG_BYTES", 2 * 1024 * 1024)
    url = f"sqlite:///{tmp_path / 'log.db'}"
    process = LogProcess(url)
    try:
        process.write(rows("warm")).result(timeout=30)
        os.kill(process.pid, signal.SIGSTOP)
        try:
            # When far more rows are written than the socket holds (about 60 MB)
            started = time.monotonic()
            big = {"note": "x" * 20_000}
            sent = []
            for i in range(3000):
                batch = rows(f"big{i}")
                batch[0]["features"] = big
                sent.append(process.write(batch))
            elapsed = time.monotonic() - started
        finally:
            os.kill(process.pid, signal.SIGCONT)
        wait_all(sent)
        # Then no write waited for the child, the ones past the limit failed saying so, the rest were committed
        assert elapsed < 20, f"writes blocked for {elapsed:.1f} s"
        failed = [f for f in sent if f.exception() is not None]
        assert failed
        assert all("behind" in str(f.exception()) for f in failed)
        committed = {f"big{i}-0" for i, f in enumerate(sent) if f.exception() is None}
        assert len(committed) >= 90
    finally:
        process.close()
    assert logged_ids(url, None) == committed | {"warm-0"}


def test_a_log_that_cannot_be_opened_fails_every_write() -> None:
    """When the child cannot open the log, a write fails with an error instead of waiting forever."""
    # Given a log process pointed at a database server that does not answer
    process = LogProcess("postgresql+psycopg://user:secret@127.0.0.1:9/nowhere?connect_timeout=2", restart_every_s=60)
    try:
        # When a request is written
        sent = process.write(rows("lost"))
        # Then it fails, saying the process exited before committing
        with pytest.raises(PredictionLogError, match="exited"):
            sent.result(timeout=30)
    finally:
        process.close()


def test_close_commits_everything_sent(tmp_path: Path) -> None:
    """Closing lets the child commit every row already sent before it stops."""
    # Given 200 shadow writes sent and not waited for
    url = f"sqlite:///{tmp_path / 'log.db'}"
    process = LogProcess(url)
    sent = [process.write(rows(f"s{i}", role=CHALLENGER), urgent=False) for i in range(200)]
    # When the process is closed at once
    process.close()
    # Then all of them were committed and acknowledged
    assert all(f.done() and f.exception() is None for f in sent)
    assert len(logged_ids(url, None, CHALLENGER)) == 200


def test_rows_cross_the_socket_unchanged() -> None:
    """Times keep their microseconds (also when zero), and an integer orjson refuses still travels."""
    # Given rows with a whole-second time and a feature beyond 64 bits
    sent = rows("r", 2)
    sent[0]["occurred_at"] = utcnow().replace(microsecond=0)
    sent[1]["features"] = {"amount": 2**70, "note": "é"}
    # When they are encoded and decoded
    received = decode_rows(encode_rows(sent))
    # Then they are the same rows
    assert received == sent


def test_a_batch_crosses_the_socket_and_yields_the_same_rows() -> None:
    """A request's columns arrive as the same batch, whose rows are the ones the log gets."""
    # Given a champion batch of two records, one without an event time, and a challenger batch
    now = utcnow()
    champion = PredictionBatch(
        role=CHAMPION,
        model_name="fraud",
        model_version="3",
        logged_at=now,
        latency_ms=1.5,
        request_ids=["a", "b"],
        event_times=[now.replace(microsecond=0), None],
        record_ids=["t1", None],
        features=[{"amount": 2**70}, {"amount": 1.0, "extra": "x"}],
        scores=[0.25, 0.75],
        decisions=[False, True],
        schema_events=[[], [{"kind": "unknown_field", "field": "extra"}]],
    )
    challenger = dataclasses.replace(champion, role=CHALLENGER, features=None, decisions=None)
    for sent in (champion, challenger):
        # When it is encoded and decoded
        received = decode_rows(encode_rows(sent))
        # Then it is the same batch, and its rows are those of a list of rows
        assert received == sent
        assert list(received) == list(sent)
    assert champion[1]["occurred_at"] == now
    assert champion[1]["schema_events"] == [{"kind": "unknown_field", "field": "extra"}]
    assert champion[0]["schema_events"] is None
    assert challenger[0]["features"] is None
    assert challenger[0]["decision"] is None
