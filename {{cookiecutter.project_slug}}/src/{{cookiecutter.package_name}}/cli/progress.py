"""Progress of a long pass over a file (`score`): a live bar on a terminal, a line now and then
in a log, where a bar's redraws would be thousands of lines."""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn, TimeRemainingColumn


def rate_text(rows: int, seconds: float) -> str:
    return f"{rows / seconds:,.0f} rows/s" if seconds > 0 else "- rows/s"


def left_text(done: float | None, seconds: float) -> str:
    """Time left, extrapolated from the share done so far; empty when the share is not known."""
    if done is None or done <= 0 or seconds <= 0:
        return ""
    left = seconds * (1 - done) / done
    return f", about {left:,.0f} s left" if left >= 1 else ", under a second left"


class RowsProgress:
    """Called with the rows done and the share of the input read (None: unknown). On a terminal
    it draws a rich bar (rows, rate, time left); elsewhere it writes a line through `write` at
    most every `every` seconds. The clock is a parameter so that a test can move it."""

    def __init__(
        self,
        *,
        interactive: bool,
        every: float,
        write: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interactive = interactive
        self.every = every
        self.write = write
        self.clock = clock
        self.started = clock()
        self._last_line = self.started
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> RowsProgress:
        if self.interactive:
            self._bar = Progress(
                TextColumn("scoring"),
                BarColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[rows]} rows, {task.fields[rate]}"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task("scoring", total=1.0, rows="0", rate="- rows/s")
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._bar.__exit__(kind, error, traceback)

    def elapsed(self) -> float:
        return self.clock() - self.started

    def __call__(self, rows: int, done: float | None) -> None:
        now = self.clock()
        seconds = now - self.started
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=done or 0.0, rows=f"{rows:,}", rate=rate_text(rows, seconds))
            return
        if now - self._last_line < self.every:
            return
        self._last_line = now
        share = f" ({done:.0%})" if done is not None else ""
        self.write(f"scored {rows:,} rows{share}, {rate_text(rows, seconds)}{left_text(done, seconds)}")
