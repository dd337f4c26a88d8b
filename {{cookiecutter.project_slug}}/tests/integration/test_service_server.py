"""The service as it really runs: `{{ cookiecutter.project_slug }} serve` (a `bentoml serve` process), called
with BentoML's own client; the log after the server is killed under load; the Bento build."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import bentoml
import httpx
import pytest

from {{ cookiecutter.package_name }}.stores.prediction_log import PredictionLog
from tests.support.project import ALL_TIME, PROJECT_ROOT, Trained
from tests.support.service import (
    find_uv,
    kill_server,
    private_registry,
    running_server,
    service_env,
    transactions,
    wait_until,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def bentoml_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "bentoml-home"
    monkeypatch.setenv("BENTOML_HOME", str(home))
    monkeypatch.setenv("BENTOML_DO_NOT_TRACK", "true")
    return home


def test_bentoml_serve_answers_through_the_sync_client(trained: Trained, tmp_path: Path, bentoml_home: Path) -> None:
    """A real server answers /predict and /feedback through bentoml.SyncHTTPClient, refuses bad
    input with a 4xx, and serves /metadata and Prometheus /metrics."""
    # Given a running server on a private copy of the registry
    settings = private_registry(trained, tmp_path / "state")
    with running_server(service_env(settings, workers=1), tmp_path / "server.log") as server:
        url = server.url
        # When it is called with BentoML's client and plain HTTP
        with bentoml.SyncHTTPClient(url) as client:
            answer = client.call("predict", records=transactions(3))
            request_id = answer["predictions"][0]["request_id"]
            feedback = client.call("feedback", labels=[{"request_id": request_id, "label": 1}])
            with pytest.raises(bentoml.exceptions.BentoMLException) as refused:
                client.call("predict", records=[{"amount": 1.0}])
        meta = httpx.get(f"{url}/metadata").json()
        metrics = httpx.get(f"{url}/metrics").text

    # Then the answers, the refusal and the metadata are what the in-process tests promise
    assert answer["model_version"] == trained.version
    assert len(answer["predictions"]) == 3
    assert feedback == {"accepted": 1, "unknown": []}
    assert refused.value.error_code.value == 400
    assert "merchant_category" in str(refused.value)
    assert meta["model_version"] == trained.version
    assert meta["ready"] is True
    assert "bentoml_service_request_duration_seconds" in metrics


def test_no_answered_request_is_missing_after_sigkill(
    trained: Trained, tmp_path: Path, bentoml_home: Path, record_property: Any
) -> None:
    """Kill the server with SIGKILL while eight clients keep it busy: every request that got an
    answer is in the prediction log (rows are committed before the answer is sent). The reverse,
    logged but never answered, is allowed: the requests in flight at the kill."""
    # Given a server with two workers writing to one SQLite log, under load from eight threads
    settings = private_registry(trained, tmp_path / "state")
    answered: list[str] = []
    errors: list[str] = []
    stop = threading.Event()
    records = transactions(50)

    def client_loop(url: str, offset: int) -> None:
        with httpx.Client(timeout=10) as http:
            i = offset
            while not stop.is_set():
                try:
                    response = http.post(f"{url}/predict", json={"records": records[i % len(records)]})
                except httpx.HTTPError as err:
                    errors.append(type(err).__name__)
                    return
                if response.status_code == 200:
                    answered.extend(p["request_id"] for p in response.json()["predictions"])
                i += 1

    env = service_env(settings, workers=2)
    with running_server(env, tmp_path / "server.log") as server:
        threads = [threading.Thread(target=client_loop, args=(server.url, n)) for n in range(8)]
        for thread in threads:
            thread.start()
        # When the whole process group is killed mid-stream, after some hundreds of answers
        assert wait_until(lambda: len(answered) >= 400, timeout=120)
        kill_server(server.pid)
        for thread in threads:  # each client stops at its first failed request
            thread.join(60)
        stop.set()
        assert not any(thread.is_alive() for thread in threads)

    # Then every answered request id is in the log
    prediction_log = PredictionLog(settings.prediction_log_url)
    frame = prediction_log.window(*ALL_TIME)
    prediction_log.close()
    logged = set(frame["request_id"])
    missing = set(answered) - logged
    in_flight = len(logged) - len(set(answered) & logged)
    record_property("answered", len(answered))
    record_property("logged", len(logged))
    record_property("missing", len(missing))
    record_property("logged_not_answered", in_flight)
    sys.stderr.write(
        f"durability: {len(answered)} answered, {len(logged)} logged, {len(missing)} answered but missing, "
        f"{in_flight} logged but never answered (in flight at the kill)\n"
    )
    assert missing == set()
    assert errors  # the clients did see the server die


def test_bentoml_build_works_offline(tmp_path: Path, bentoml_home: Path) -> None:
    """`bentoml build` makes a Bento from services/bentofile.yaml without the package index,
    holding the service, the package source, the contract and the pinned requirements."""
    # Given uv (which BentoML calls) and no index allowed
    uv = find_uv()
    if uv is None:
        pytest.skip("bentoml build needs uv: none on PATH, in .tools/bin or in $UV (make install provides it)")
    env = {
        **os.environ,
        "PATH": f"{Path(uv).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "UV_OFFLINE": "1",
        "PIP_NO_INDEX": "1",
    }

    # When the Bento is built
    bentoml_cli = Path(sys.executable).with_name("bentoml")
    done = subprocess.run(
        [str(bentoml_cli), "build", "-f", "services/bentofile.yaml", ".", "--output", "tag"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    # Then it succeeds and the Bento holds what the container needs
    assert done.returncode == 0, done.stderr[-3000:]
    store = bentoml_home / "bentos" / "{{ cookiecutter.project_slug }}"
    (bento,) = [p for p in store.iterdir() if p.is_dir() and p.name != "latest"]
    source = bento / "src"
    assert (source / "services" / "service.py").is_file()
    package = PROJECT_ROOT / "src" / "{{ cookiecutter.package_name }}"
    modules = {p.relative_to(package) for p in package.rglob("*.py")}
    packed = {p.relative_to(source / "src" / "{{ cookiecutter.package_name }}") for p in (source / "src").rglob("*.py")}
    assert modules - packed == set(), "modules of the package missing from the Bento"
    assert (source / "contract.yaml").is_file()
    requirements = (bento / "env" / "python" / "requirements.txt").read_text()
    assert "onnxruntime==" in requirements
    assert "lightgbm" not in requirements
    manifest = json.dumps((bento / "bento.yaml").read_text())
    assert "services.service:ModelService" in manifest
