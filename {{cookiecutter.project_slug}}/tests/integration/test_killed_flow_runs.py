"""Flow runs and the Prefect server killed mid-run (SIGKILL, as an OOM kill or a lost node does it),
with real processes: a `prefect server start` the test owns (its own PREFECT_HOME and SQLite, a free
port), the project's deployments registered from prefect.yaml, a process worker (`make worker`)
whose flow runs are the processes killed, and for training a real `mlflow server`.

Each flow run gets its state folder through the run's job variables (`env`), so that the tests
share the server and the worker but nothing else.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]  # no stubs in the lock
import pytest
import yaml

from {{ cookiecutter.package_name }}.demo.processes import family, stop_group
from {{ cookiecutter.package_name }}.promotion import aliases as promotion
from {{ cookiecutter.package_name }}.settings import ENV_PREFIX, Settings
from {{ cookiecutter.package_name }}.stores import registry
from {{ cookiecutter.package_name }}.stores.monitoring_history import History
from tests.support.holding_proxy import Hold, holding_proxy
from tests.support.live_prefect import LiveServer, live_server, prefect_cli, reporting_to, wait_for
from tests.support.mlflow_server import MlflowServer
from tests.support.monitoring import LIVE_START, UPSTREAM_CHANGE, http_receiver, log_champion_traffic
from tests.support.project import PROJECT_ROOT, TEST_ROWS, Trained
from tests.support.service import private_registry

pytestmark = pytest.mark.slow

POOL = yaml.safe_load((PROJECT_ROOT / "prefect.yaml").read_text(encoding="utf-8"))["definitions"]["work_pool"]["name"]
TRAINING, MONITORING = "training/retrain", "monitoring/monitoring"
RUN_TIMEOUT_S = 600  # a flow run on 2 busy cores; the kill tests wait for states, never for a time


@dataclass
class Orchestrator:
    """The server (restartable on its folder and port), the deployments and one worker."""

    workdir: Path
    server: LiveServer
    servers: ExitStack
    worker: subprocess.Popen[bytes] | None = None
    measured: dict[str, float] = field(default_factory=dict)

    def kill_server(self) -> None:
        """SIGKILL to the server's whole process group: no shutdown, as a lost node."""
        assert self.server.process is not None
        os.killpg(self.server.process.pid, signal.SIGKILL)
        self.server.process.wait(timeout=30)

    def start_server(self) -> None:
        """The server again, on its database and port (the worker and flows find it there)."""
        port = int(self.server.api_url.rsplit(":", 1)[1].split("/", 1)[0])
        self.server = self.servers.enter_context(live_server(self.workdir, port=port))

    def client(self) -> Any:
        from prefect.client.orchestration import get_client

        return get_client(sync_client=True)

    def run(self, deployment: str, state: Path, parameters: dict[str, Any], **env: str) -> uuid.UUID:
        """A flow run of `deployment` for the worker, with its state folder (and `env`)."""
        variables = {f"{ENV_PREFIX}STATE_DIR": str(state), f"{ENV_PREFIX}DEMO_ROWS": str(TEST_ROWS), **env}
        with reporting_to(self.server.api_url), self.client() as client:
            found = client.read_deployment_by_name(deployment)
            created = client.create_flow_run_from_deployment(
                found.id, parameters=parameters, job_variables={"env": variables}
            )
        return created.id  # type: ignore[no-any-return]

    def state(self, run_id: uuid.UUID) -> Any:
        with reporting_to(self.server.api_url), self.client() as client:
            return client.read_flow_run(run_id).state

    def finished(self, run_id: uuid.UUID) -> Any:
        """The run's state once final (completed, failed, crashed, cancelled), else None."""
        state = self.state(run_id)
        return state if state is not None and state.is_final() else None

    def kill_run(self, run_id: uuid.UUID, what: str) -> Any:
        """SIGKILL the run's processes; its final state, once the worker has reported it."""
        killed_at = time.monotonic()
        processes = self.flow_processes(run_id)
        assert processes, f"no process runs flow run {run_id}"
        for process in processes:
            with suppress(psutil.NoSuchProcess):
                process.kill()
        psutil.wait_procs(processes, timeout=30)
        final = wait_for(lambda: self.finished(run_id), 120, interval=0.2, what="the killed run's final state")
        self.measured[f"{what}: killed -> {final.name} (s)"] = time.monotonic() - killed_at
        assert "status code: -9" in (final.message or ""), final.message  # what the user reads in the UI
        return final

    def flow_processes(self, run_id: uuid.UUID) -> list[psutil.Process]:
        """The worker's children running this flow run (the worker sets PREFECT__FLOW_RUN_ID)."""
        assert self.worker is not None
        found = []
        for child in family(self.worker.pid)[1:]:
            with suppress(psutil.Error):
                if child.environ().get("PREFECT__FLOW_RUN_ID") == str(run_id):
                    found.append(child)
        return found


def register(server: LiveServer) -> None:
    """The work pool and the two deployments, as `make deploy` registers them."""
    pool = prefect_cli(
        server, "work-pool", "create", POOL, "--type", "process",
        "--base-job-template", "infra/prefect/process-base-job-template.json", cwd=PROJECT_ROOT,
    )  # fmt: skip
    assert pool.returncode == 0, pool.stdout + pool.stderr
    names = ("--name", "retrain", "--name", "monitoring")
    deployed = prefect_cli(server, "--no-prompt", "deploy", *names, cwd=PROJECT_ROOT)
    assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr[-3000:]


@pytest.fixture(scope="module")
def orchestrated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orchestrator]:
    """The server, the deployments and a worker (`make worker`); the worker is stopped first
    (by process group, with its flow runs), then whichever server is running."""
    workdir = tmp_path_factory.mktemp("killed-runs")
    with ExitStack() as servers:
        orchestrator = Orchestrator(workdir, servers.enter_context(live_server(workdir)), servers)
        register(orchestrator.server)
        with (workdir / "worker.log").open("ab") as log:
            orchestrator.worker = subprocess.Popen(
                ["make", "--no-print-directory", "-o", "install", "worker"],
                cwd=PROJECT_ROOT,
                # Asks for due runs every second, not every 10 s: the runs here are waited for.
                env=orchestrator.server.env(PREFECT_LOGGING_LEVEL="INFO", PREFECT_WORKER_QUERY_SECONDS="1"),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: it and its flow runs stop together
            )
        try:
            yield orchestrator
        finally:
            stop_group(orchestrator.worker)
            print("\nmeasured:", orchestrator.measured)  # noqa: T201  # the figures in docs/reliability.md


def test_a_training_run_killed_after_registering_leaves_no_alias_and_the_next_run_is_judged(
    orchestrated: Orchestrator, trained: Trained, tmp_path: Path
) -> None:
    """A training run SIGKILLed after MLflow registered its version and before the gate looked
    at the registry: the user sees the run Crashed in Prefect, reported by the worker ("Process
    exited with status code: -9. Process exited due to a SIGKILL signal...") and, in the
    registry, a version with no alias and no gate verdict. Nothing else moved: the champion
    stays where it was. The next training run completes normally, its version is judged by the
    gate, and it tags the left-over version `gate.status=incomplete`; no alias journal is left
    to recover."""
    # Given a registry with a champion behind a real MLflow server, and a proxy that holds the
    # gate's first request (the champion alias) once a version has been registered
    state = tmp_path / "state"
    settings = private_registry(trained, state)
    name = settings.mlflow.registered_model_name
    client = registry.connect(settings)
    before = registry.aliases(client, name)
    server = MlflowServer(settings.var_dir / "mlflow.db", tmp_path / "mlflow.log")
    server.start()
    rule = Hold(after=("POST", "/model-versions/create"), hold=("GET", "/registered-models/alias"))
    try:
        with holding_proxy(server.port, rule) as url:
            uri = {f"{ENV_PREFIX}MLFLOW__TRACKING_URI": url}

            # When a training run reaches the gate and its process is killed there
            first = orchestrated.run(TRAINING, state, {"reason": "kill test"}, **uri)
            wait_for(lambda: rule.held.is_set() or orchestrated.finished(first), RUN_TIMEOUT_S, what="the gate")
            assert rule.held.is_set(), f"the run ended before the gate: {orchestrated.state(first)}"
            crashed = orchestrated.kill_run(first, "training")

            # Then it is Crashed, and its version has no alias and no verdict
            assert crashed.is_crashed(), crashed
            versions = {v.version: v for v in client.search_model_versions(f"name = '{name}'")}
            half = max(versions, key=int)
            assert half not in before.values()
            assert registry.aliases(client, name) == before
            assert registry.GATE_STATUS not in versions[half].tags

            # When the next training run goes to the end
            second = orchestrated.run(TRAINING, state, {"reason": "after the kill"}, **uri)
            done = wait_for(lambda: orchestrated.finished(second), RUN_TIMEOUT_S, what="the next training run")
    finally:
        server.stop()

    # Then it completed, judged its own version, and left the half one without alias, tagged incomplete
    assert done.is_completed(), done
    versions = {v.version: v for v in client.search_model_versions(f"name = '{name}'")}
    newest = max(versions, key=int)
    assert int(newest) == int(half) + 1
    assert versions[half].tags[registry.GATE_STATUS] == registry.INCOMPLETE
    assert versions[newest].tags[registry.GATE_STATUS] in (registry.PASSED, registry.FAILED)
    after = registry.aliases(client, name)
    assert half not in after.values()
    assert after[registry.CHAMPION] == before[registry.CHAMPION]
    assert set(after.values()) <= {before[registry.CHAMPION], newest}
    assert promotion.recover(client, name) is None  # no half-done alias move was left behind


def monitoring_window(settings: Settings) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """The parameters of the logged day's window, and the history's runs of it."""
    start, end = LIVE_START, LIVE_START + timedelta(days=1)
    client = registry.connect(settings)
    champion = registry.version_by_alias(client, settings.mlflow.registered_model_name, registry.CHAMPION)
    assert champion is not None
    with History.from_settings(settings) as history:
        stored = history.window_runs(settings.mlflow.registered_model_name, str(champion.version), start, end)
    return {"start": f"{start.isoformat()}+00:00", "end": f"{end.isoformat()}+00:00"}, stored


def test_the_prefect_server_killed_during_a_monitoring_run_and_restarted(
    orchestrated: Orchestrator, trained: Trained, tmp_path: Path
) -> None:
    """The Prefect server SIGKILLed while a monitoring run is running, and started again on the
    same database and port as a supervisor would (systemd, Kubernetes). What the user sees: the
    flow process does not notice until it next talks to the server: it runs its steps (the
    window is stored), its logs and events to the server are lost ("Error logging to API",
    "EventsWorker failed"), and its final state waits in the client's retries; the server back,
    the run is reported Completed. The next monitoring run of the same window completes too,
    and the window is stored exactly once in the history."""
    # Given a day of the champion's traffic, with labels, in the prediction log
    state = tmp_path / "state"
    settings = private_registry(trained, state)
    log_champion_traffic(settings, rows=1500)
    window, _ = monitoring_window(settings)

    # When a monitoring run of that day is running and the server is killed, then started again
    first = orchestrated.run(MONITORING, state, window)
    wait_for(
        lambda: orchestrated.flow_processes(first) and orchestrated.state(first).is_running(),
        RUN_TIMEOUT_S,
        interval=0.2,
        what="the monitoring run to be running",
    )
    killed_at = time.monotonic()
    orchestrated.kill_server()
    orchestrated.start_server()
    orchestrated.measured["server back after (s)"] = time.monotonic() - killed_at
    reported = wait_for(lambda: orchestrated.finished(first), RUN_TIMEOUT_S, what="the run's final state")
    orchestrated.measured[f"monitoring: server killed -> run {reported.name} (s)"] = time.monotonic() - killed_at

    # Then the run that outlived the server is reported Completed, having stored its window once
    assert reported.is_completed(), reported
    assert len(monitoring_window(settings)[1]) == 1

    # When the same window is monitored again
    second = orchestrated.run(MONITORING, state, window)
    done = wait_for(lambda: orchestrated.finished(second), RUN_TIMEOUT_S, what="the second monitoring run")

    # Then it completed, and the window is still stored once
    assert done.is_completed(), done
    assert len(monitoring_window(settings)[1]) == 1


def test_a_monitoring_run_killed_after_storing_its_window_is_stored_once_when_run_again(
    orchestrated: Orchestrator, trained: Trained, tmp_path: Path
) -> None:
    """A monitoring run SIGKILLed after it stored its window, while it delivers the window's
    alert (the webhook holds the request): the user sees the run Crashed in Prefect (reported by
    the worker), the window in the history and no alert delivered. Running the window again
    completes: the window is stored once (the rerun replaces the killed run's row) and the
    alert is delivered once."""
    # Given a day of changed traffic (a new column, shifted features): the window alerts
    state = tmp_path / "state"
    settings = private_registry(trained, state)
    log_champion_traffic(settings, rows=1500, days=(UPSTREAM_CHANGE,))
    window, _ = monitoring_window(settings)
    rule = Hold(after=None, hold=("POST", "/alerts"))
    with http_receiver() as receiver, holding_proxy(int(receiver.url.rsplit(":", 1)[1]), rule) as url:
        env = {
            f"{ENV_PREFIX}ALERTS__CHANNEL": "webhook",
            f"{ENV_PREFIX}ALERTS__WEBHOOK_URL": f"{url}/alerts",
            f"{ENV_PREFIX}RETRAIN_RULES__ENABLED": "false",
        }

        # When a monitoring run of that day is killed while it delivers its alert
        first = orchestrated.run(MONITORING, state, window, **env)
        wait_for(lambda: rule.held.is_set() or orchestrated.finished(first), RUN_TIMEOUT_S, what="the alert")
        assert rule.held.is_set(), f"the run ended before alerting: {orchestrated.state(first)}"
        assert len(monitoring_window(settings)[1]) == 1  # stored before alerting
        crashed = orchestrated.kill_run(first, "monitoring")

        # Then it is Crashed, and nothing was delivered
        assert crashed.is_crashed(), crashed
        assert receiver.requests == []

        # When the same window is monitored again
        second = orchestrated.run(MONITORING, state, window, **env)
        done = wait_for(lambda: orchestrated.finished(second), RUN_TIMEOUT_S, what="the second monitoring run")

    # Then it completed: the window stored once, the alert delivered once
    assert done.is_completed(), done
    assert len(monitoring_window(settings)[1]) == 1
    assert len(receiver.requests) == 1, [r.body for r in receiver.requests]
