"""The MLflow registry goes away under a running service and comes back: a real `mlflow server`
the test stops and starts again, and a real `bentoml serve` polling it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from mlflow.tracking import MlflowClient

from {{ cookiecutter.package_name }}.settings import ENV_PREFIX
from tests.support.mlflow_server import MlflowServer
from tests.support.project import Trained
from tests.support.service import add_version, private_registry, running_server, service_env, transactions, wait_until

pytestmark = pytest.mark.slow


def predict(url: str, records: list[dict[str, Any]]) -> httpx.Response:
    return httpx.post(f"{url}/predict", json={"records": records}, timeout=30)


def registry_state(url: str) -> dict[str, Any]:
    found: dict[str, Any] = httpx.get(f"{url}/metadata", timeout=30).json()["registry"]
    return found


def test_the_service_keeps_serving_through_a_registry_outage_and_follows_the_alias_after(
    trained: Trained, tmp_path: Path
) -> None:
    """While the registry is down, /reload and the poller keep the champion the service has:
    answers stay 200 from that version, /metadata says unreachable (since when, why), and the
    log says so once, without a traceback. When the registry returns, an alias moved there is
    served without a restart."""
    # Given a registry server with champion v1 and a second version, and a service polling it each second
    settings = private_registry(trained, tmp_path / "state")
    newer = add_version(settings)
    server = MlflowServer(settings.var_dir / "mlflow.db", tmp_path / "mlflow.log")
    server.start()
    env = {
        **service_env(settings, workers=1, reload_interval_s=1, registry_timeout_s=2),
        f"{ENV_PREFIX}MLFLOW__TRACKING_URI": server.url,
    }
    log_path = tmp_path / "service.log"
    records = transactions(2)
    try:
        with running_server(env, log_path) as service:
            assert predict(service.url, records).json()["model_version"] == trained.version
            assert registry_state(service.url)["reachable"] is True

            # When the registry stops, a reload is asked for and the poller runs a few times
            server.stop()
            reloaded = httpx.post(f"{service.url}/reload", timeout=60)
            first = registry_state(service.url)["checked_at"]
            assert wait_until(lambda: registry_state(service.url)["checked_at"] != first, timeout=120)
            later = registry_state(service.url)["checked_at"]
            assert wait_until(lambda: registry_state(service.url)["checked_at"] != later, timeout=120)
            during = predict(service.url, records)
            down = registry_state(service.url)

            # Then the answers still come from the version it had, and /metadata says why it cannot follow
            assert reloaded.status_code == 200
            assert reloaded.json()["model_version"] == trained.version
            assert during.status_code == 200
            assert during.json()["model_version"] == trained.version
            assert down["reachable"] is False
            assert down["error"]
            assert down["since"] is not None
            outage_lines = [line for line in log_path.read_text().splitlines() if "is unreachable" in line]
            assert len(outage_lines) == 1, outage_lines  # one line for the outage, not one per poll
            assert "Traceback" not in log_path.read_text()

            # When the registry returns and the champion alias moves there
            server.start()
            client = MlflowClient(tracking_uri=server.url, registry_uri=server.url)
            client.set_registered_model_alias(settings.mlflow.registered_model_name, "champion", newer)

            # Then the service serves the new champion without a restart, and says the registry is back
            assert wait_until(lambda: predict(service.url, records).json()["model_version"] == newer, timeout=120)
            back = registry_state(service.url)
            assert back["reachable"] is True
            assert back["error"] is None
            assert back["last_error"] == down["error"]
            assert back["since"] > down["since"]
            assert "reachable again" in log_path.read_text()
    finally:
        server.stop()
