"""The demo's processes, found and stopped by the state folder they run on.

The demo starts its Prefect server, worker and service in sessions of their own (so that a
Ctrl-C reaches the demo first, which stops them in order). A test that runs the demo must
therefore stop them itself when it ends early: killing the demo alone (what
`subprocess.run(timeout=...)` or a pytest-timeout does) would leave them running.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]  # no stubs in the lock


def stack_of(state: Path) -> list[Any]:
    """Every process started for the demo that uses `state` (found by their environment: each
    has a folder under `state` in it)."""
    found = []
    for process in psutil.process_iter():
        try:
            if any(value.startswith(str(state)) for value in process.environ().values()):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def stop(demo: subprocess.Popen[Any], state: Path) -> None:
    """Leave nothing behind: the demo is asked first, as a user would (Ctrl-C), and whatever
    of its stack survives is killed."""
    if demo.poll() is None:
        demo.send_signal(signal.SIGINT)
        try:
            demo.wait(timeout=120)
        except subprocess.TimeoutExpired:
            demo.kill()
    for process in stack_of(state):
        try:
            process.kill()
        except psutil.NoSuchProcess:
            continue
