"""The log writer commits concurrent requests together, answers first, and never loses a request's rows silently."""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Sequence
from concurrent.futures import Future
from pathlib import Path

import pytest
import sqlalchemy as sa

from {{ cookiecutter.package_name }}.serving.log_writer import BACKGROUND_ROWS, LogWriter
from {{ cookiecutter.package_name }}.stores.prediction_log import CommitInDoubt, PredictionLog, PredictionLogError
from {{ cookiecutter.package_name }}.stores.prediction_log_schema import CHALLENGER, CHAMPION
from {{ cookiecutter.package_name }}.stores.prediction_rows import PredictionRow
from {{ cookiecutter.package_name }}.stores.sql import utcnow


def rows(prefix: str, count: int = 1, role: str = CHAMPION) -> list[PredictionRow]:
    now = utcnow()
    return [
        PredictionRow(
            request_id=f"{prefix}-{i}",
            role=role,
            logged_at=now,
            occurred_at=now,
            model_name="fraud",
            model_version="1",
            record_id=None,
            features={"amount": 1.0} if role == CHAMPION else None,
            score=0.5,
            decision=False,
            latency_ms=0.1,
            schema_events=None,
        )
        for i in range(count)
    ]


class Recorder:
    """A stand-in store that keeps each commit's request ids; it waits at `gate` when one is set
    and refuses any commit holding a row whose id starts with `poison`."""

    def __init__(self) -> None:
        self.commits: list[list[str]] = []
        self.gate: threading.Event | None = None
        self.entered = threading.Event()
        self.poison = "bad"

    def record_batches(self, batches: Sequence[Sequence[PredictionRow]], *, forget: Collection[str] = ()) -> None:
        batch = [row for rows in batches for row in rows]
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(30)
        if any(r["request_id"].startswith(self.poison) for r in batch):
            raise sa.exc.IntegrityError("INSERT", None, Exception("duplicate request_id"))
        self.commits.append([r["request_id"] for r in batch])


def busy_writer(
    background_rows: int = BACKGROUND_ROWS,
) -> tuple[Recorder, threading.Event, LogWriter, Future[None]]:
    """A writer on a Recorder whose first commit (request "first") is in progress, held at
    the returned gate until the test sets it."""
    store = Recorder()
    gate = store.gate = threading.Event()
    writer = LogWriter(store, background_rows=background_rows)
    first = writer.write(rows("first"))
    assert store.entered.wait(10)
    return store, gate, writer, first


def wait_all(futures: Sequence[Future[None]]) -> None:
    for future in futures:
        future.exception(timeout=30)


def test_requests_that_arrive_during_a_commit_share_the_next_one(tmp_path: Path) -> None:
    """Ten requests queued behind a commit in progress are written by one more commit, and all land in the log."""
    # Given a writer on a real SQLite log, busy with a first request (its commit held back)
    prediction_log = PredictionLog(f"sqlite:///{tmp_path / 'log.db'}")
    writer = LogWriter(prediction_log)
    with prediction_log._write_lock:  # the commit in progress: the writer waits for this lock
        first = writer.write(rows("first"))
        deadline = time.monotonic() + 10
        while writer.waiting and time.monotonic() < deadline:
            time.sleep(0.005)

        # When ten more requests arrive meanwhile
        later = [writer.write(rows(f"later{i}", 5)) for i in range(10)]
        assert not any(f.done() for f in [first, *later])

    # Then every request's commit completes, with two commits in all, and every row is in the log
    wait_all([first, *later])
    assert all(f.exception() is None for f in [first, *later])
    assert writer.commits == 2
    window = prediction_log.window(utcnow().replace(year=2000), utcnow().replace(year=2100))
    assert len(window) == 1 + 10 * 5
    writer.close()
    prediction_log.close()


def test_answers_go_first_and_shadow_rows_are_bounded_per_commit() -> None:
    """Waiting answers are all taken by the next commit, with at most `background_rows` shadow rows beside them."""
    # Given a writer that is busy with a first answer, and shadow work of 5 x 100 rows queued behind it
    store, gate, writer, first = busy_writer(background_rows=200)
    shadow = [writer.write(rows(f"shadow{i}", 100, CHALLENGER), urgent=False) for i in range(5)]

    # When two answers arrive after the shadow work, and the first commit ends
    answers = [writer.write(rows(f"answer{i}")) for i in range(2)]
    gate.set()
    wait_all([first, *shadow, *answers])

    # Then the next commit holds both answers and only two of the shadow batches (200 rows)
    second = store.commits[1]
    assert second[:2] == ["answer0-0", "answer1-0"]
    assert len(second) == 2 + 200
    # And the remaining shadow rows follow in later commits; nothing is lost
    assert sum(len(commit) for commit in store.commits) == 1 + 500 + 2
    writer.close()


def test_one_requests_bad_rows_fail_only_that_request() -> None:
    """A commit refused for its data is retried request by request: only the bad request hears the error."""
    # Given a writer held back while a bad request and two good ones queue up
    store, gate, writer, first = busy_writer()
    good, bad, other = writer.write(rows("good")), writer.write(rows("bad")), writer.write(rows("other"))

    # When the commits run
    gate.set()
    wait_all([first, good, bad, other])

    # Then the bad request fails with the database's error and the good ones are committed
    assert isinstance(bad.exception(), sa.exc.IntegrityError)
    assert good.exception() is None
    assert other.exception() is None
    assert ["good-0"] in store.commits
    assert ["other-0"] in store.commits
    writer.close()


def test_a_database_that_is_down_fails_every_waiting_request_at_once() -> None:
    """A commit that fails for the database (not the data) fails all the requests sharing it, without retrying each."""
    # Given three requests queued behind a commit in progress, on a database that then goes down
    store, gate, writer, first = busy_writer()
    queued = [writer.write(rows(f"lost{i}", 3)) for i in range(3)]
    attempts: list[int] = []

    def down(batches: Sequence[Sequence[PredictionRow]], *, forget: Collection[str] = ()) -> None:
        attempts.append(sum(len(batch) for batch in batches))
        raise sa.exc.OperationalError("INSERT", None, Exception("connection refused"))

    store.record_batches = down  # type: ignore[method-assign]

    # When the commit in progress ends and the next one is attempted
    gate.set()
    wait_all(queued)

    # Then every queued request fails with the database's error, after one attempt for all of them
    assert first.exception() is None
    assert all(isinstance(f.exception(), sa.exc.OperationalError) for f in queued)
    assert attempts == [9]
    writer.close()


def test_close_commits_what_is_queued_then_refuses_more() -> None:
    """Closing writes the rows already handed over; a later write fails with a clear error instead of vanishing."""
    # Given rows queued behind a commit in progress
    store, gate, writer, first = busy_writer()
    queued = writer.write(rows("queued", 3), urgent=False)

    # When the writer is closed (the commit in progress then ends)
    closer = threading.Thread(target=writer.close)
    closer.start()
    gate.set()
    closer.join(30)

    # Then the queued rows were committed, and a new write is refused
    assert first.exception() is None
    assert queued.exception() is None
    assert ["queued-0", "queued-1", "queued-2"] in store.commits
    with pytest.raises(PredictionLogError, match="closed"):
        writer.write(rows("late")).result(timeout=5)


def test_a_request_withdrawn_before_its_commit_is_not_written() -> None:
    """A request whose caller gave up (its future cancelled) before the commit started leaves no rows."""
    # Given a writer busy with a first request and a second one queued
    store, gate, writer, first = busy_writer()
    withdrawn = writer.write(rows("withdrawn"))

    # When the second is cancelled before its commit starts
    assert withdrawn.cancel()
    gate.set()
    first.result(timeout=30)
    writer.close()

    # Then only the first request was written
    assert store.commits == [["first-0"]]


class LostCommitReply:
    """A real log whose commits go through, but whose writer hears an error for those marked
    `lose`: PostgreSQL killed after writing a commit to its WAL and before answering it (crash
    recovery keeps the rows) cannot be timed from a test, so this stands in for the lost reply."""

    def __init__(self, prediction_log: PredictionLog, lose: str) -> None:
        self.log = prediction_log
        self.lose = lose  # the reply of a commit holding a request id that starts with this is lost

    def record_batches(self, batches: Sequence[Sequence[PredictionRow]], *, forget: Collection[str] = ()) -> None:
        self.log.record_batches(batches, forget=forget)
        if any(row["request_id"].startswith(self.lose) for rows in batches for row in rows):
            raise CommitInDoubt("the prediction log's commit failed: server closed the connection unexpectedly")


def logged_ids(prediction_log: PredictionLog) -> set[str]:
    with prediction_log.engine.connect() as connection:
        return set(connection.execute(sa.text("SELECT request_id FROM predictions")).scalars())


def test_a_refused_request_whose_commit_went_through_is_deleted_with_the_next_rows(tmp_path: Path) -> None:
    """A commit that reached the database but whose reply was lost fails its request (the
    client gets a 503 and retries): its row is deleted in the writer's next transaction, so the
    log never keeps a refused request, and the next request's row is written."""
    # Given a writer on a real log, whose first commit's reply is lost
    prediction_log = PredictionLog(f"sqlite:///{tmp_path / 'log.db'}")
    store = LostCommitReply(prediction_log, lose="refused")
    writer = LogWriter(store, forget_every_s=3600)  # no timer: the next request does it
    refused = writer.write(rows("refused", 2))
    error = refused.exception(timeout=30)
    in_the_log_meanwhile = logged_ids(prediction_log)

    # When the next request is written
    writer.write(rows("next")).result(timeout=30)
    writer.close()

    # Then the refused request heard the error, and only the next request's row stays
    assert isinstance(error, CommitInDoubt)
    assert in_the_log_meanwhile == {"refused-0", "refused-1"}
    assert logged_ids(prediction_log) == {"next-0"}
    assert writer.in_doubt == set()
    prediction_log.close()


def test_without_traffic_the_writer_deletes_a_refused_requests_rows_by_itself(tmp_path: Path) -> None:
    """With no request after the lost reply, the writer deletes the refused request's rows on
    its own (every `forget_every_s`), and a shadow row of an answered request is kept."""
    # Given a writer whose commit of a refused request lost its reply, beside an answered request's shadow row
    prediction_log = PredictionLog(f"sqlite:///{tmp_path / 'log.db'}")
    prediction_log.record(rows("answered"))
    store = LostCommitReply(prediction_log, lose="refused")
    writer = LogWriter(store, forget_every_s=0.01)
    shadow = writer.write(rows("answered", role=CHALLENGER), urgent=False)
    refused = writer.write(rows("refused"))
    wait_all([shadow, refused])

    # When no other request comes
    deadline = time.monotonic() + 30  # a generous bound, not a timing assertion
    while (writer.in_doubt or "refused-0" in logged_ids(prediction_log)) and time.monotonic() < deadline:
        time.sleep(0.01)
    gone = not writer.in_doubt and "refused-0" not in logged_ids(prediction_log)
    writer.close()

    # Then the refused request's row is gone, and the answered one and its shadow score stay
    assert gone
    assert logged_ids(prediction_log) == {"answered-0"}
    with prediction_log.engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM shadow_scores")).scalar_one() == 1
    prediction_log.close()
