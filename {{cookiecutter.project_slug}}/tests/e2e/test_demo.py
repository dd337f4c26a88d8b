"""The lifecycle demo end to end: every incident is caught by the component that should
catch it, the biased challenger is rejected and the better one promoted.

It runs the real thing (`{{ cookiecutter.project_slug }} demo`: a Prefect server, the deployments' worker,
the BentoML service) in its own state folder and judges from what the demo recorded,
which `demo_outcome` reads back from the monitoring history and MLflow.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]  # no stubs in the lock
import pytest

from {{ cookiecutter.package_name }}.settings import ENV_PREFIX
from tests.support.project import PROJECT_ROOT

CLI = str(Path(sys.executable).with_name("{{ cookiecutter.project_slug }}"))
# Stopping waits up to 25 s per process group (the service, the worker, the Prefect server);
# with bakes running side by side in CI, one stop took longer than 120 s.
STOP_DEADLINE_S = 300
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    state = tmp_path_factory.mktemp("demo-state")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", ENV_PREFIX))}
    env[f"{ENV_PREFIX}STATE_DIR"] = str(state)
    result = subprocess.run(
        [CLI, "demo"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=1800, check=False
    )
    recorded = state / "demo" / "outcome.json"
    assert recorded.is_file(), f"the demo recorded nothing (exit {result.returncode}):\n{result.stderr[-4000:]}"
    found: dict[str, Any] = json.loads(recorded.read_text(encoding="utf-8"))
    found["exit_code"] = result.returncode
    found["stdout"] = result.stdout
    return found


def test_every_incident_is_caught_by_the_component_that_should_catch_it(outcome: dict[str, Any]) -> None:
    """Schema change and drift by monitoring, messy inputs by the service, the challengers
    by shadow evaluation; each on or after the day it started."""
    # Given the demo's recorded outcome / Then every incident was caught by its component
    for catch in outcome["catches"]:
        assert catch["caught"] is not None, catch
        assert catch["component"] == catch["expected_component"], catch
        assert catch["caught"] >= catch["started"], catch
    assert outcome["exit_code"] == 0
    assert "What broke, and what caught it" in outcome["stdout"]


def test_the_wrong_challenger_is_rejected_and_the_right_one_promoted_and_served(outcome: dict[str, Any]) -> None:
    """The challenger that learned the label bug is rejected for its segment; the one trained
    after the repair is promoted, and the running service answers with it."""
    # Given the versions' story
    versions = outcome["versions"]
    rejected = [v for v, s in versions.items() if s["shadow"] == "reject"]
    promoted = [v for v, s in versions.items() if s["shadow"] == "promote"]

    # Then one was rejected for the segment, a later one promoted
    assert len(rejected) == 1
    assert "card_type=prepaid" in versions[rejected[0]]["reason"]
    assert versions[rejected[0]]["trigger"] == "scheduled"
    assert len(promoted) == 1
    assert int(promoted[0]) > int(rejected[0])

    # And the service served the promoted version without a restart, for the whole last day
    last_day = outcome["days"][-1]
    promotion_day = next(d for d in outcome["days"] if d["promoted"])
    assert promotion_day["reload_seconds"] is not None
    assert last_day["served_versions"] == [promoted[0]]


def test_the_too_early_retraining_is_refused_by_the_gate(outcome: dict[str, Any]) -> None:
    """The retraining the degradation starts right away cannot know the new fraud yet (all
    of it is in its holdout): the gate refuses it and the champion keeps serving."""
    # Given the version the degradation event produced
    triggered = [s for s in outcome["versions"].values() if s["trigger"].startswith("monitoring:")]

    # Then it failed the gate and never shadowed
    assert len(triggered) == 1
    assert triggered[0]["gate"] == "failed"
    assert triggered[0]["shadow"] == ""


def _stack_of(state: Path) -> list[Any]:
    """Every process started for the demo that uses `state` (they run in sessions of their
    own, so they are found by their environment: each has a folder under `state` in it)."""
    found = []
    for process in psutil.process_iter():
        try:
            if any(value.startswith(str(state)) for value in process.environ().values()):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


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
            started = _stack_of(state)

            # When it gets Ctrl-C
            demo.send_signal(signal.SIGINT)
            try:
                demo.wait(timeout=STOP_DEADLINE_S)
            except subprocess.TimeoutExpired:
                pytest.fail(f"the demo still runs {STOP_DEADLINE_S} s after Ctrl-C\n{_logs(log, state)}")
            time.sleep(2)
            left = _stack_of(state)
        finally:
            _stop(demo, state)

    # Then nothing it started is left running
    assert len(started) >= 4  # the demo, the Prefect server, the worker, the service (and their children)
    assert left == [], [process.cmdline() for process in left]


def _logs(demo_log: Path, state: Path) -> str:
    """The end of the demo's log and of each process log it wrote, for a failure message."""
    logs = [demo_log, *sorted(state.rglob("*.log"))]
    return "\n".join(f"--- {path}\n{path.read_text(errors='replace')[-2000:]}" for path in logs if path.is_file())


def _stop(demo: subprocess.Popen[bytes], state: Path) -> None:
    """Whatever the test's outcome, leave nothing behind: the demo is asked first, as a
    user would, and what survives is killed."""
    if demo.poll() is None:
        demo.send_signal(signal.SIGINT)
        try:
            demo.wait(timeout=120)
        except subprocess.TimeoutExpired:
            demo.kill()
    for process in _stack_of(state):
        try:
            process.kill()
        except psutil.NoSuchProcess:
            continue
