"""A real `prefect server start` for integration tests: its own port, PREFECT_HOME and SQLite.

Schedules and automations only run on a real server (never on the ephemeral
one), so the deployment tests start one. It runs in its own process group and
is stopped by group, also when a test fails; workers started by tests are
stopped before it (a worker outliving its server hangs).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from {{ cookiecutter.package_name }}.demo.processes import free_port, http_ok, stop_group

STARTUP_TIMEOUT_S = 120
T = TypeVar("T")
PREFECT = str(Path(sys.executable).with_name("prefect"))


@dataclass(frozen=True)
class LiveServer:
    api_url: str
    home: Path
    log_path: Path
    # The `prefect server start` process (the leader of its group), for tests that kill it.
    process: subprocess.Popen[bytes] | None = field(default=None, compare=False)

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a process that talks to this server (and nothing else)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env.update(
            PREFECT_API_URL=self.api_url,
            PREFECT_HOME=str(self.home),
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            PREFECT_LOGGING_LEVEL="WARNING",
        )
        env.update(extra)
        return env

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"


def _healthy(api_url: str) -> bool:
    return http_ok(f"{api_url}/health")


@contextmanager
def live_server(workdir: Path, port: int | None = None) -> Iterator[LiveServer]:
    """A server whose state is all in `workdir`: started again with the same folder and port
    (a restart after a crash), it finds its database and its clients find it."""
    home = workdir / "prefect-home"
    home.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    settings = LiveServer(f"http://127.0.0.1:{port}/api", home, workdir / "prefect-server.log")
    env = settings.env(PREFECT_UI_ENABLED="false")  # its SQLite database is PREFECT_HOME/prefect.db
    env.pop("PREFECT_API_URL")  # the server does not talk to itself
    with settings.log_path.open("ab") as log:
        process = subprocess.Popen(
            [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped as one
        )
        server = LiveServer(settings.api_url, home, settings.log_path, process)
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT_S
            while not _healthy(server.api_url):
                if process.poll() is not None:
                    raise RuntimeError(f"prefect server exited with {process.returncode}:\n{server.log_tail()}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"prefect server not healthy after {STARTUP_TIMEOUT_S} s:\n{server.log_tail()}")
                time.sleep(0.5)
            yield server
        finally:
            stop_group(process)


@contextmanager
def reporting_to(api_url: str) -> Iterator[None]:
    """Point this process's Prefect clients at `api_url` for the block; on the way out,
    deliver the logs and events still queued, and stop the events worker, whose client
    keeps the URL it was made with (a later test would otherwise emit to this server)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogHandler
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        try:
            yield
        finally:
            APILogHandler().flush()
            EventsWorker.drain_all(timeout=30)


def prefect_cli(
    server: LiveServer, *args: str, cwd: Path, timeout: float = 300, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PREFECT, *args], cwd=cwd, env=server.env(**env), capture_output=True, text=True, timeout=timeout, check=False
    )


def wait_for(condition: Callable[[], T], timeout: float, interval: float = 1.0, what: str = "the condition") -> T:
    """Poll `condition()` until it returns something truthy (and return it), or fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
