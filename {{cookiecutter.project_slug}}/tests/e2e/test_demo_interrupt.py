"""Ctrl-C during the lifecycle demo stops every process it started.

Its own file, so that a run that judges a demo already run (`test_demo.py` with
`DEMO_STATE_TO_JUDGE`) can leave out the whole-demo tests and still run this one, which needs
only the demo's first minutes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.settings import ENV_PREFIX
from tests.support.demo_stack import stack_of, stop
from tests.support.project import PROJECT_ROOT

CLI = str(Path(sys.executable).with_name("{{ cookiecutter.project_slug }}"))
# Stopping waits up to 25 s per process group (the service, the worker, the Prefect server);
# with bakes running side by side in CI, one stop took longer than 120 s.
STOP_DEADLINE_S = 300
pytestmark = pytest.mark.slow


def test_ctrl_c_stops_every_process_the_demo_started(tmp_path: Path) -> None:
    """Interrupted while it replays, the demo stops the Prefect server, the worker, the
    service and everything they started."""
    # Given a demo that has started its stack and is replaying days
    state = tmp_path / "state"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", ENV_PREFIX))}
    env[f"{ENV_PREFIX}STATE_DIR"] = str(state)
    log = tmp_path / "demo.log"
    with log.open("wb") as output:
        demo = subprocess.Popen([CLI, "demo"], cwd=PROJECT_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 600
            while b"day 1/" not in log.read_bytes():
                assert demo.poll() is None, log.read_text(errors="replace")[-3000:]
                assert time.monotonic() < deadline, "the demo did not reach its first day"
                time.sleep(1)
            started = stack_of(state)

            # When it gets Ctrl-C
            demo.send_signal(signal.SIGINT)
            try:
                demo.wait(timeout=STOP_DEADLINE_S)
            except subprocess.TimeoutExpired:
                pytest.fail(f"the demo still runs {STOP_DEADLINE_S} s after Ctrl-C\n{_logs(log, state)}")
            time.sleep(2)
            left = stack_of(state)
        finally:
            stop(demo, state)

    # Then nothing it started is left running
    assert len(started) >= 4  # the demo, the Prefect server, the worker, the service (and their children)
    assert left == [], [process.cmdline() for process in left]


def _logs(demo_log: Path, state: Path) -> str:
    """The end of the demo's log and of each process log it wrote, for a failure message."""
    logs = [demo_log, *sorted(state.rglob("*.log"))]
    return "\n".join(f"--- {path}\n{path.read_text(errors='replace')[-2000:]}" for path in logs if path.is_file())
