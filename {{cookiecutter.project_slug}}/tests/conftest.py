"""Shared fixtures: isolated settings, demo data and a trained model in a temporary registry.

Every test gets its state (MLflow, databases, caches) under pytest's temporary
folders, never in the project's var/. The expensive things (a trained model, a
Prefect server) are made once per session. Helpers live in the tests/support package.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.core.contract import Contract, load_contract
from {{ cookiecutter.package_name }}.data.demo_world import demo_frame
from {{ cookiecutter.package_name }}.data.tables import prepare_frame
from {{ cookiecutter.package_name }}.settings import ENV_PREFIX, Settings, get_settings
from tests.support.live_prefect import LiveServer, live_server, reporting_to
from tests.support.project import PROJECT_ROOT, TEST_ROWS, Trained, make_settings, train_version

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")


@pytest.fixture(scope="session")
def contract() -> Contract:
    return load_contract(PROJECT_ROOT / "contract.yaml")


@pytest.fixture(scope="session")
def demo(contract: Contract) -> pd.DataFrame:
    """The demo training table, prepared (read-only: copy before changing it)."""
    return prepare_frame(demo_frame(contract, TEST_ROWS, 60), contract)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "state")


@pytest.fixture
def env_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """The same isolated settings, also published through the environment, for code that
    calls get_settings() itself (flows, the CLI, the service)."""
    state = tmp_path / "state"
    monkeypatch.setenv(f"{ENV_PREFIX}PROJECT_ROOT", str(PROJECT_ROOT))
    monkeypatch.setenv(f"{ENV_PREFIX}STATE_DIR", str(state))
    monkeypatch.setenv(f"{ENV_PREFIX}DEMO_ROWS", str(TEST_ROWS))
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory, demo: pd.DataFrame, contract: Contract) -> Trained:
    """A champion registered in a session-wide temporary MLflow (treat as read-only)."""
    return train_version(make_settings(tmp_path_factory.mktemp("trained")), demo, contract)


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    """One temporary Prefect server for the whole session (starting one costs ~12 s)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def live_prefect(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A real `prefect server start` (its own port, PREFECT_HOME and SQLite) for the session:
    schedules, events and automations need one. Stopped by process group at the end."""
    with live_server(tmp_path_factory.mktemp("live-prefect")) as server:
        yield server


@pytest.fixture
def on_live_prefect(live_prefect: LiveServer) -> Iterator[LiveServer]:
    """Flows run in this process report to the live server during the test."""
    with reporting_to(live_prefect.api_url):
        yield live_prefect
