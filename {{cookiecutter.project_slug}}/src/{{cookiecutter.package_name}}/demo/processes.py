"""Starting and stopping the local stack's processes (Prefect server, worker, model service).

Each process runs in its own process group, so stopping it also stops whatever it
started (a Prefect worker's flow runs, BentoML's workers). A `Stack` stops every
process it started, newest first, when its block ends: normally, on an error, or
on Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import psutil  # type: ignore[import-untyped]  # no stubs in the lock; see pyproject's mypy overrides

from ..errors import ProjectError


class StackError(ProjectError):
    """A process of the local stack did not start or died."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 - local http URLs only
            return bool(200 <= answer.status < 300)
    except OSError:
        return False


def family(pid: int) -> list[psutil.Process]:
    """A process and all its descendants. BentoML starts each server worker in a session of
    its own, so signalling the process group alone does not reach them."""
    try:
        parent = psutil.Process(pid)
        return [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def stop_group(process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """SIGTERM to the process group (a server stops its workers, a worker its flow runs), then
    SIGKILL to whatever is left of the group and of the process's descendants."""
    members = family(process.pid)
    if process.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=timeout)
    _, alive = psutil.wait_procs(members, timeout=5)
    for survivor in alive:
        with suppress(psutil.NoSuchProcess):
            survivor.kill()
    with suppress(ProcessLookupError, PermissionError):  # the leader may be gone, its children not
        os.killpg(process.pid, signal.SIGKILL)
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=timeout)


@dataclass
class Managed:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def alive(self) -> bool:
        return self.process.poll() is None


@dataclass
class Stack:
    """The processes started for one session of work, stopped together."""

    log_dir: Path
    started: list[Managed] = field(default_factory=list)
    # The signal that asked the session to stop (see running_stack), kept in case the
    # KeyboardInterrupt it raised was swallowed on the way up.
    interrupted: int | None = None

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        ready: Callable[[], bool] | None = None,
        timeout: float = 120,
    ) -> Managed:
        """Start `argv` in its own process group and wait until `ready()` holds."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                list(argv), cwd=cwd, env=dict(env), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        managed = Managed(name, process, log_path)
        self.started.append(managed)
        deadline = time.monotonic() + timeout
        while ready is not None and not ready():
            if not managed.alive():
                raise StackError(f"{name} exited with {process.returncode}; its log ends:\n{managed.log_tail()}")
            if time.monotonic() > deadline:
                raise StackError(f"{name} was not ready after {timeout:.0f} s; its log ends:\n{managed.log_tail()}")
            time.sleep(0.3)
        return managed

    def check(self) -> None:
        """Stop here if the session was interrupted; fail loudly when a process of the stack has died."""
        if self.interrupted is not None:
            raise KeyboardInterrupt(f"signal {self.interrupted}")
        for managed in self.started:
            if not managed.alive():
                raise StackError(
                    f"{managed.name} died (exit {managed.process.returncode}); its log ends:\n{managed.log_tail()}"
                )

    def stop(self) -> None:
        while self.started:
            stop_group(self.started.pop().process)


@contextmanager
def running_stack(log_dir: Path) -> Iterator[Stack]:
    """A Stack that is stopped on every way out, SIGTERM included (turned into an exception
    so that the same cleanup runs as for Ctrl-C). The signal is also remembered, and
    `Stack.check` raises it again: a library that swallows the KeyboardInterrupt (seen with
    the demo in CI: Ctrl-C during a Prefect call, and the demo ran on to its end) delays
    the stop only until the caller's next check."""
    stack = Stack(log_dir)

    def interrupt(signum: int, _frame: FrameType | None) -> None:
        stack.interrupted = signum
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {number: signal.signal(number, interrupt) for number in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stack
    finally:
        stack.stop()
        for number, handler in previous.items():
            signal.signal(number, handler)
