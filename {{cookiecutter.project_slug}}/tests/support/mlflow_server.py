"""A real `mlflow server` for fault tests: on a port of its own, over a registry file the test
owns, in its own process group (it leaves children behind on SIGTERM), stopped and started
again on the same port as a registry outage would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from {{ cookiecutter.package_name }}.demo.processes import free_port, http_ok, stop_group
from tests.support.service import wait_until


class MlflowServer:
    def __init__(self, database: Path, log_path: Path) -> None:
        self.database, self.log_path = database, log_path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 300.0) -> None:
        """Start it and wait for /health (about 13 s on an idle 2-core machine)."""
        command = [
            str(Path(sys.executable).with_name("mlflow")),
            "server",
            "--backend-store-uri",
            f"sqlite:///{self.database}",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            "1",
        ]
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        with self.log_path.open("ab") as output:
            self._process = subprocess.Popen(
                command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )
        process = self._process
        started = wait_until(lambda: http_ok(f"{self.url}/health") or process.poll() is not None, timeout, every=0.3)
        if not started or process.poll() is not None:
            self.stop()
            raise AssertionError(f"mlflow server did not start:\n{self.log_path.read_text(errors='replace')[-3000:]}")

    def stop(self) -> None:
        if self._process is not None:
            stop_group(self._process)
            self._process = None
