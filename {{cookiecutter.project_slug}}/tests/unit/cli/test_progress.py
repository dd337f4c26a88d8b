"""Progress of `score` in a log: a line now and then with rows, rate and time left."""

from __future__ import annotations

from {{ cookiecutter.package_name }}.cli.progress import RowsProgress


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_without_a_terminal_a_line_is_written_at_most_every_interval() -> None:
    """Chunks finishing more often than the interval give one line per interval, with the rows
    done, the share, the rate and the time left extrapolated from the share."""
    # Given a log reporter writing at most every 10 s
    clock, lines = Clock(), list[str]()
    with RowsProgress(interactive=False, every=10.0, write=lines.append, clock=clock) as progress:
        # When chunks finish at 4 s, 8 s and 12 s
        for seconds, rows, done in ((4, 100_000, 0.1), (8, 200_000, 0.2), (12, 300_000, 0.25)):
            clock.now = 100.0 + seconds
            progress(rows, done)

    # Then one line came, after 10 s: 300k rows in 12 s is 25k rows/s, and 3/4 of the file is left
    assert lines == ["scored 300,000 rows (25%), 25,000 rows/s, about 36 s left"]
    assert progress.elapsed() == 12


def test_an_input_of_unknown_length_reports_no_time_left() -> None:
    """Without the share read, the line has rows and rate and makes up no time left."""
    clock, lines = Clock(), list[str]()
    progress = RowsProgress(interactive=False, every=1.0, write=lines.append, clock=clock)
    clock.now += 2
    progress(5_000, None)
    assert lines == ["scored 5,000 rows, 2,500 rows/s"]


def test_on_a_terminal_the_bar_takes_the_place_of_lines() -> None:
    """On a terminal, progress goes to the bar: no log lines are written."""
    clock, lines = Clock(), list[str]()
    with RowsProgress(interactive=True, every=0.001, write=lines.append, clock=clock) as progress:
        clock.now += 5
        progress(10, 0.5)
    assert lines == []
