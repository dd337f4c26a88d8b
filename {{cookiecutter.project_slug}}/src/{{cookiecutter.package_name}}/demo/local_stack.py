"""The demo's local stack: its folders, its environment, a webhook inbox, and the Prefect calls it makes."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ..settings import ENV_PREFIX, Settings
from .processes import StackError
from .scenario import Scenario

FLOW_TIMEOUT_S = 600


@dataclass(frozen=True)
class DemoPaths:
    root: Path  # var/demo: wiped at the start of every run, so the demo can be re-run

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def extract(self) -> Path:
        """The upstream training extract the training deployment reads (settings.data_path)."""
        return self.root / "extract.parquet"

    @property
    def outcome(self) -> Path:
        return self.root / "outcome.json"


class _Inbox(BaseHTTPRequestHandler):
    received: list[dict[str, Any]]

    def do_POST(self) -> None:  # http.server's naming
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length)
        try:
            self.received.append(json.loads(body or b"{}"))
        except json.JSONDecodeError:
            self.received.append({"raw": body.decode(errors="replace")})
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_args: Any) -> None:  # keep the terminal for the progress display
        return


@contextmanager
def webhook_inbox() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    handler = type("Inbox", (_Inbox,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/alerts", received
    finally:
        server.shutdown()
        server.server_close()


PASSED_SECRETS = ("SERVICE__API_KEY", "SERVICE__API_KEYS", "ALERTS__WEBHOOK_TOKEN")


def demo_environment(
    settings: Settings, paths: DemoPaths, scenario: Scenario, prefect_url: str, inbox: str
) -> dict[str, str]:
    """Settings for the whole stack, through the environment as in production. Only the
    clocks of a 15-day story are shortened: the service reloads aliases every 2 s, a canary
    runs for a simulated day, and
    sustained drift needs more windows than the story has (its own incident, caught by
    the drift alerts, should not start a retraining the story has no room for)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", ENV_PREFIX))}
    # Secrets given to the demo reach its stack as in production: the service then asks for a
    # key (the demo sends the first), alerts carry the token. The template's tests give fake
    # ones and look for them in every file the demo wrote.
    secrets = {f"{ENV_PREFIX}{name}": os.environ.get(f"{ENV_PREFIX}{name}", "") for name in PASSED_SECRETS}
    return {
        **base,
        **{name: value for name, value in secrets.items() if value},
        f"{ENV_PREFIX}PROJECT_ROOT": str(settings.project_root),
        f"{ENV_PREFIX}STATE_DIR": str(paths.state),
        f"{ENV_PREFIX}DATA_PATH": str(paths.extract),
        f"{ENV_PREFIX}SERVICE__RELOAD_INTERVAL_S": "2",
        f"{ENV_PREFIX}ALERTS__CHANNEL": "webhook",
        f"{ENV_PREFIX}ALERTS__WEBHOOK_URL": inbox,
        f"{ENV_PREFIX}RETRAIN_RULES__DRIFT_WINDOWS": str(scenario.days + 1),
        f"{ENV_PREFIX}MONITORING__PERFORMANCE_DAYS": str(scenario.performance_days),
        f"{ENV_PREFIX}SHADOW_EVALUATION__MIN_SAMPLES": str(scenario.shadow_min_samples),
        f"{ENV_PREFIX}CANARY__ENABLED": "true",
        f"{ENV_PREFIX}CANARY__SHARE": str(scenario.canary_share),
        f"{ENV_PREFIX}CANARY__KEY_FIELD": scenario.canary_key,
        f"{ENV_PREFIX}CANARY__DURATION_HOURS": str(scenario.canary_hours),
        # The story replays past days: its records are served days after their own timestamps.
        f"{ENV_PREFIX}CANARY__EVENT_SLACK_DAYS": str(scenario.days + 1),
        "PREFECT_API_URL": prefect_url,
        "PREFECT_HOME": str(paths.root / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        # The worker asks for due runs every 10 s by default: a story of ~40 flow runs waited
        # 5 s on average for each; 1 s costs the local server nothing.
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "BENTOML_HOME": str(paths.root / "bentoml"),
        "BENTOML_DO_NOT_TRACK": "true",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        "PYTHONUNBUFFERED": "1",
    }


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def _post(
    url: str, body: bytes, content_type: str = "application/json", timeout: float = 60, key: str | None = None
) -> tuple[int, Any]:
    headers = {"content-type": content_type} | ({"X-API-Key": key} if key else {})
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)  # noqa: S310 - the local service
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 - the local service
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as err:
        payload = err.read()
        try:
            return err.code, json.loads(payload or b"null")
        except json.JSONDecodeError:
            return err.code, payload.decode(errors="replace")


def _get_json(url: str, key: str | None = None) -> Any:
    request = urllib.request.Request(url, headers={"X-API-Key": key} if key else {})  # noqa: S310 - the local service
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - the local service's http URL
        return json.loads(answer.read())


def _run_deployment(name: str, parameters: dict[str, Any] | None = None) -> Any:
    from prefect.client.schemas.objects import FlowRun
    from prefect.deployments import run_deployment

    run = run_deployment(name, parameters=parameters or {}, timeout=FLOW_TIMEOUT_S, poll_interval=1)
    assert isinstance(run, FlowRun)  # called outside an event loop, it returns the run itself
    if run.state is None or not run.state.is_final():
        raise StackError(f"{name} did not finish within {FLOW_TIMEOUT_S} s")
    if not run.state.is_completed():
        raise StackError(f"{name} ended {run.state.type.value}: {run.state.message}")
    return run


def _training_runs() -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

    with get_client(sync_client=True) as client:
        return list(
            client.read_flow_runs(deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["retrain"])))
        )


def _wait_for_new_training(known: set[str], timeout: float = FLOW_TIMEOUT_S) -> Any:
    """The training run the retraining automation starts after a degradation event."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for run in _training_runs():
            if str(run.id) not in known and run.state is not None and run.state.is_final():
                if not run.state.is_completed():
                    raise StackError(f"the triggered training run ended {run.state.type.value}: {run.state.message}")
                return run
        time.sleep(1)
    raise StackError(f"no training run followed the degradation event within {timeout:.0f} s")


def _pause_schedules() -> None:
    """The deployments keep their cron schedules, paused: the story's clock, not the wall clock, runs things."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        for deployment in client.read_deployments():
            for schedule in client.read_deployment_schedules(deployment.id):
                client.update_deployment_schedule(deployment.id, schedule.id, active=False)
