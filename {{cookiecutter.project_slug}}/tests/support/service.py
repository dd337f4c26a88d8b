"""Helpers for the service tests: a private copy of the trained registry, extra model
versions, the service module loaded with test settings, a real `bentoml serve`, and records."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import psutil  # type: ignore[import-untyped]
import pytest

from {{ cookiecutter.package_name }}.data.demo_world import TransactionGenerator
from {{ cookiecutter.package_name }}.demo.processes import family, free_port, http_ok, stop_group
from {{ cookiecutter.package_name }}.settings import ENV_PREFIX, Settings, get_settings
from {{ cookiecutter.package_name }}.stores import registry
from tests.support.project import PROJECT_ROOT, Trained, make_settings

LABELS = ("is_fraud", "settlement_hours", "fraud_kind", "fraud_probability")


def private_registry(trained: Trained, state: Path) -> Settings:
    """Settings whose registry is a copy of the session's trained one (same artifacts,
    aliases of its own), so a test may move aliases and add versions."""
    state.mkdir(parents=True, exist_ok=True)
    shutil.copy(trained.settings.var_dir / "mlflow.db", state / "mlflow.db")
    return make_settings(state)


def add_version(settings: Settings, edit: Callable[[Path], None] | None = None) -> str:
    """Register a new version carrying the champion's bundle, changed by `edit` when given."""
    client = registry.connect(settings)
    name = settings.mlflow.registered_model_name
    champion = registry.version_by_alias(client, name, registry.CHAMPION)
    assert champion is not None
    experiment = client.get_experiment_by_name("service-tests")
    experiment_id = (
        experiment.experiment_id
        if experiment is not None
        else client.create_experiment("service-tests", artifact_location=(settings.var_dir / "extra").as_uri())
    )
    run = client.create_run(experiment_id)
    with registry.fetched_bundle(client, champion) as bundle, tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "bundle"
        shutil.copytree(bundle, copy)
        if edit is not None:
            edit(copy)
        client.log_artifacts(run.info.run_id, str(copy), registry.BUNDLE_ARTIFACT)
    client.set_terminated(run.info.run_id)
    version = client.create_model_version(
        name, source=f"{run.info.artifact_uri}/{registry.BUNDLE_ARTIFACT}", run_id=run.info.run_id
    )
    registry.set_tags(client, name, str(version.version), {registry.GATE_STATUS: registry.PASSED})
    return str(version.version)


def set_alias(settings: Settings, alias: str, version: str) -> None:
    client = registry.connect(settings)
    client.set_registered_model_alias(settings.mlflow.registered_model_name, alias, version)


def edit_bundle_json(change: Mapping[str, Any]) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        description = json.loads((folder / "bundle.json").read_text())
        description.update(change)
        (folder / "bundle.json").write_text(json.dumps(description))

    return edit


def service_env(settings: Settings, **service: object) -> dict[str, str]:
    """The environment that points the service at these settings (and service options)."""
    env = {
        f"{ENV_PREFIX}PROJECT_ROOT": str(PROJECT_ROOT),
        f"{ENV_PREFIX}STATE_DIR": str(settings.var_dir),
        "BENTOML_DO_NOT_TRACK": "true",
    }
    if settings.mlflow.tracking_uri:
        env[f"{ENV_PREFIX}MLFLOW__TRACKING_URI"] = settings.mlflow.tracking_uri
    for key, value in service.items():
        env[f"{ENV_PREFIX}SERVICE__{key.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value)
    return env


def load_service(monkeypatch: pytest.MonkeyPatch, env: Mapping[str, str]) -> ModuleType:
    """Import services/service.py afresh under `env`: it reads its settings at import.
    BentoML's Prometheus metrics register once per process, so in-process services run
    without them (the server tests keep them on)."""
    env = {f"{ENV_PREFIX}SERVICE__METRICS": "false", **env}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.syspath_prepend(str(PROJECT_ROOT))
    get_settings.cache_clear()
    sys.modules.pop("services.service", None)
    module = importlib.import_module("services.service")
    get_settings.cache_clear()
    return module


def transactions(n: int, seed: int = 11, start: datetime = datetime(2026, 4, 1, tzinfo=UTC)) -> list[dict[str, Any]]:
    """Realistic request records, as JSON would carry them (no labels)."""
    frame = TransactionGenerator(seed=seed).sample(n, start, id_prefix=f"live{seed}").drop(columns=list(LABELS))
    records: list[dict[str, Any]] = json.loads(frame.to_json(orient="records", date_format="iso"))
    return records


def wait_until(condition: Callable[[], bool], timeout: float = 30.0, every: float = 0.05) -> bool:
    """Poll until true (a wait with a generous deadline, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return condition()


def find_uv() -> str | None:
    """uv for `bentoml build`: on PATH, the project's .tools, or the UV variable make passes."""
    for candidate in (shutil.which("uv"), str(PROJECT_ROOT / ".tools" / "bin" / "uv"), os.environ.get("UV")):
        if candidate and Path(candidate).is_file():
            return str(Path(candidate).resolve())
    return None


@dataclass(frozen=True)
class Server:
    url: str
    pid: int  # also the process group id: the server and its workers


@contextmanager
def running_server(env: Mapping[str, str], log_path: Path, timeout: float = 120.0) -> Iterator[Server]:
    """`{{ cookiecutter.project_slug }} serve` in its own process group, once /readyz answers 200.
    The group is stopped on the way out, also when the test fails."""
    port = free_port()
    cli = Path(sys.executable).with_name("{{ cookiecutter.project_slug }}")
    full_env = {**os.environ, **env, "BENTOML_HOME": str(log_path.parent / "bentoml-home")}
    with log_path.open("wb") as output:
        process = subprocess.Popen(
            [str(cli), "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=PROJECT_ROOT,
            env=full_env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            if not wait_until(lambda: _ready(url) or process.poll() is not None, timeout=timeout, every=0.2):
                raise AssertionError(f"the service did not become ready in {timeout:.0f} s:\n{_tail(log_path)}")
            if process.poll() is not None:
                raise AssertionError(f"the service exited with {process.returncode}:\n{_tail(log_path)}")
            yield Server(url, process.pid)
        finally:
            stop_group(process)


def kill_server(pid: int) -> None:
    """SIGKILL the server and every worker at once, as an OOM kill or a lost node would."""
    for process in family(pid):
        with contextlib.suppress(psutil.NoSuchProcess):
            process.send_signal(signal.SIGKILL)


def _ready(url: str) -> bool:
    return http_ok(f"{url}/readyz")


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
