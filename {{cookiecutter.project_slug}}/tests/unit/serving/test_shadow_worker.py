"""Shadow scoring is isolated: a failing or stuck challenger never reaches the caller, and is counted."""

from __future__ import annotations

import threading

from {{ cookiecutter.package_name }}.serving.shadow_worker import Shadow


def test_failures_are_counted_not_raised() -> None:
    """A job that raises is counted as failed with its reason; submit never raises."""

    # Given a shadow whose work always raises
    def broken(jobs: list[int]) -> None:
        raise RuntimeError(f"challenger exploded on {jobs[-1]}")

    shadow: Shadow[int] = Shadow(broken, queue_size=10, max_age_s=60)

    # When three jobs are submitted
    accepted = [shadow.submit(i) for i in range(3)]
    assert shadow.join()

    # Then all were accepted, all failed, and the last reason is kept
    stats = shadow.snapshot()
    shadow.close()
    assert accepted == [True, True, True]
    assert (stats["submitted"], stats["failed"], stats["completed"]) == (3, 3, 0)
    assert stats["last_error"] == "RuntimeError: challenger exploded on 2"


def test_a_stuck_challenger_sheds_work_instead_of_blocking() -> None:
    """While the work is stuck, submit keeps returning at once: the queue fills, then jobs are dropped."""
    # Given work that blocks until released, and a queue of two
    release = threading.Event()
    started = threading.Event()

    def stuck(jobs: list[int]) -> None:
        started.set()
        release.wait(30)

    shadow: Shadow[int] = Shadow(stuck, queue_size=2, max_age_s=60)

    # When ten jobs are submitted while the first one is stuck
    shadow.submit(0)
    assert started.wait(10)
    results = [shadow.submit(i) for i in range(1, 10)]

    # Then two more were queued and the other seven dropped, without waiting for the stuck job
    stats = shadow.snapshot()
    assert results == [True, True] + [False] * 7
    assert stats["dropped"] == 7
    assert stats["completed"] == 0

    # And once released, the queued jobs complete (as one batch)
    release.set()
    assert shadow.join()
    assert shadow.snapshot()["completed"] == 3
    shadow.close()


def test_jobs_that_waited_too_long_are_skipped_as_stale() -> None:
    """Work that waited behind a stuck job beyond max_age_s is skipped and counted as stale."""
    # Given a first job that holds the thread, a max age of 5 s and a clock the test moves
    now = [0.0]
    release = threading.Event()
    started = threading.Event()
    done: list[int] = []

    def work(jobs: list[int]) -> None:
        if 0 in jobs:
            started.set()
            release.wait(30)
        done.extend(jobs)

    shadow: Shadow[int] = Shadow(work, queue_size=10, max_age_s=5.0, clock=lambda: now[0])

    # When two jobs queue up behind it and a minute passes before it is released
    shadow.submit(0)
    assert started.wait(10)
    shadow.submit(1)
    shadow.submit(2)
    now[0] = 60.0
    release.set()
    assert shadow.join()

    # Then only the first ran; the others were stale
    stats = shadow.snapshot()
    shadow.close()
    assert done == [0]
    assert stats["stale"] == 2


def test_waiting_jobs_are_run_as_one_batch() -> None:
    """Jobs that queued up while the thread was busy reach the work function together."""
    # Given work that records the batches it gets, held on the first one
    release = threading.Event()
    started = threading.Event()
    batches: list[list[int]] = []

    def work(jobs: list[int]) -> None:
        started.set()
        release.wait(30)
        batches.append(jobs)

    shadow: Shadow[int] = Shadow(work, queue_size=100, max_age_s=60, max_batch=3)

    # When five jobs queue behind the first
    shadow.submit(0)
    assert started.wait(10)
    for job in range(1, 6):
        shadow.submit(job)
    release.set()
    assert shadow.join()
    shadow.close()

    # Then they ran in order, in batches of at most three
    assert batches == [[0], [1, 2, 3], [4, 5]]
    assert shadow.snapshot()["completed"] == 6


def test_a_big_lone_job_runs_at_once_while_small_ones_and_a_busy_queue_gather() -> None:
    """A big job that comes alone is not held back; a small one, or any job behind others (a
    busy server), waits the gather interval so that jobs arriving meanwhile share its batch."""
    # Given a shadow with a gather interval whose waits are recorded (each lets one more job in)
    batches: list[list[int]] = []
    waits: list[float] = []
    release, started = threading.Event(), threading.Event()
    shadow: Shadow[int]

    def work(jobs: list[int]) -> None:
        batches.append(jobs)
        if jobs == [0]:
            started.set()
            release.wait(30)

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        shadow.submit(99)  # arrives while the shadow gathers

    shadow = Shadow(work, queue_size=10, max_age_s=60, gather_s=0.5, sleep=sleep)

    # When a big job comes alone, three big ones queue behind it, and later a small one comes alone
    shadow.submit(0, gather=False)
    assert started.wait(10)
    for job in (1, 2, 3):
        shadow.submit(job, gather=False)
    release.set()
    assert shadow.join()
    shadow.submit(7)
    assert shadow.join()
    shadow.close()

    # Then the lone big job ran without a wait; the queued ones and the small one waited, taking the late one along
    assert batches == [[0], [1, 2, 3, 99], [7, 99]]
    assert waits == [0.5, 0.5]
