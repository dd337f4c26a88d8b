"""The service's models over their lifetime: shadow isolation, hot reload after an alias move,
refusing a model this runtime cannot run, and starting while the registry is unreachable."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from starlette.testclient import TestClient

from {{ cookiecutter.package_name }}.demo.processes import free_port
from {{ cookiecutter.package_name }}.model import bundle as bundle_module
from {{ cookiecutter.package_name }}.model.bundle import ModelBundle
from {{ cookiecutter.package_name }}.serving import model_store as serving
from {{ cookiecutter.package_name }}.settings import ENV_PREFIX, Settings
from {{ cookiecutter.package_name }}.stores.prediction_log import PredictionLog
from tests.support.project import ALL_TIME, Trained, make_settings
from tests.support.service import (
    add_version,
    load_service,
    private_registry,
    service_env,
    set_alias,
    transactions,
    wait_until,
)


def logged(settings: Settings, roles: tuple[str, ...]) -> Any:
    prediction_log = PredictionLog(settings.prediction_log_url)
    try:
        return prediction_log.window(*ALL_TIME, roles)
    finally:
        prediction_log.close()


def challenger_scoring(
    monkeypatch: pytest.MonkeyPatch, version: str, fault: Callable[[ModelBundle, np.ndarray], np.ndarray]
) -> None:
    """Make the challenger (the bundle of `version`) score through `fault`; the champion is untouched."""
    real_load = bundle_module.load_bundle

    def load(path: Path, threads: int = 1, expected_contract_hash: str | None = None) -> ModelBundle:
        bundle = real_load(path, threads, expected_contract_hash)
        if path.name == f"v{version}":
            real_score = bundle.score_matrix
            monkeypatch.setattr(bundle, "score_matrix", lambda matrix: fault(bundle, real_score(matrix)))
        return bundle

    monkeypatch.setattr(serving, "load_bundle", load)


@pytest.fixture
def with_challenger(trained: Trained, tmp_path: Path) -> tuple[Settings, str]:
    """A private registry whose version 2 (the champion's bundle again) holds `challenger`."""
    settings = private_registry(trained, tmp_path / "state")
    version = add_version(settings)
    set_alias(settings, "challenger", version)
    return settings, version


def test_challenger_scores_in_the_shadow_and_is_never_returned(
    with_challenger: tuple[Settings, str], trained: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The challenger scores the same records after the champion answered; its rows are logged
    with role `challenger` under the same request ids, and never reach the caller."""
    # Given a champion and a challenger
    settings, challenger = with_challenger
    module = load_service(monkeypatch, service_env(settings))
    with TestClient(module.ModelService.to_asgi()) as client:
        # When records are scored
        answer = client.post("/predict", json={"records": transactions(5)}).json()
        assert wait_until(lambda: client.get("/metadata").json()["shadow"]["completed"] == 1)
        meta = client.get("/metadata").json()

    # Then the answer is the champion's alone, and the log has both models' rows
    ids = [p["request_id"] for p in answer["predictions"]]
    assert {p["model_version"] for p in answer["predictions"]} == {trained.version}
    assert meta["shadowing"] is True
    assert meta["challenger"]["version"] == challenger
    rows = logged(settings, ("champion", "challenger"))
    shadow_rows = rows[rows["role"] == "challenger"]
    assert sorted(shadow_rows["request_id"]) == sorted(ids)
    assert set(shadow_rows["model_version"]) == {challenger}
    champion_scores = rows[rows["role"] == "champion"].set_index("request_id")["score"]
    assert shadow_rows.set_index("request_id")["score"].to_dict() == pytest.approx(champion_scores[ids].to_dict())


def test_a_failing_challenger_never_touches_the_answer(
    with_challenger: tuple[Settings, str], trained: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A challenger that raises on every request: answers are the champion's, the failures are
    counted with their reason in /metadata, and no challenger row is written."""
    # Given a challenger that always raises
    settings, challenger = with_challenger

    def explode(bundle: ModelBundle, scores: np.ndarray) -> np.ndarray:
        raise RuntimeError("challenger exploded")

    challenger_scoring(monkeypatch, challenger, explode)
    module = load_service(monkeypatch, service_env(settings))
    records = transactions(8)
    with TestClient(module.ModelService.to_asgi()) as client:
        # When five requests are served
        answers = [client.post("/predict", json={"records": records}) for _ in range(5)]
        assert wait_until(lambda: client.get("/metadata").json()["shadow"]["failed"] == 5)
        meta = client.get("/metadata").json()

    # Then every answer succeeded with the champion's identical scores
    assert [a.status_code for a in answers] == [200] * 5
    scores = [[p["score"] for p in a.json()["predictions"]] for a in answers]
    assert all(s == scores[0] for s in scores)
    assert {a.json()["model_version"] for a in answers} == {trained.version}
    # And the failures are counted and explained, with nothing logged for the challenger
    assert meta["shadow"]["failed"] == 5
    assert meta["shadow"]["completed"] == 0
    assert "challenger exploded" in meta["shadow"]["last_error"]
    rows = logged(settings, ("champion", "challenger"))
    assert set(rows["role"]) == {"champion"}
    assert len(rows) == 40


def test_a_stuck_challenger_never_delays_the_answer(
    with_challenger: tuple[Settings, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the challenger hangs, every request is still answered (the live path never waits
    for it); the shadow queue fills, extra shadow work is dropped and counted, and the
    queued work is logged once the challenger recovers."""
    # Given a challenger that hangs until released, and a shadow queue of two
    settings, challenger = with_challenger
    started, release = threading.Event(), threading.Event()

    def hang(bundle: ModelBundle, scores: np.ndarray) -> np.ndarray:
        started.set()
        release.wait(60)
        return scores

    challenger_scoring(monkeypatch, challenger, hang)
    module = load_service(monkeypatch, service_env(settings, shadow_queue=2))
    with TestClient(module.ModelService.to_asgi()) as client:
        # When one request starts the challenger hanging and nine more arrive
        first = client.post("/predict", json={"records": transactions(3)})
        assert started.wait(30)
        rest = [client.post("/predict", json={"records": transactions(3, seed=s)}) for s in range(9)]
        during = client.get("/metadata").json()["shadow"]
        # And the challenger then recovers
        release.set()
        assert wait_until(lambda: client.get("/metadata").json()["shadow"]["completed"] == 3)

    # Then all ten were answered while it hung; two waited in the queue and seven were dropped
    assert [r.status_code for r in [first, *rest]] == [200] * 10
    assert during["completed"] == 0
    assert during["dropped"] == 7
    shadow_rows = logged(settings, ("challenger",))
    assert len(shadow_rows) == 9  # three requests of three records each


def test_hot_reload_serves_the_new_champion_without_failing_requests(
    trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When `champion` moves to another version, the service serves it within the reload
    interval, without a restart, and no request fails during the swap."""
    # Given a service polling every 0.2 s and a second version in the registry
    settings = private_registry(trained, tmp_path / "state")
    new_version = add_version(settings)
    module = load_service(monkeypatch, service_env(settings, reload_interval_s=0.2))
    records = transactions(4)
    statuses: list[int] = []
    versions: list[str] = []
    with TestClient(module.ModelService.to_asgi()) as client:
        # When the alias moves while requests keep coming
        def keep_asking() -> None:
            for _ in range(5000):
                response = client.post("/predict", json={"records": records})
                statuses.append(response.status_code)
                versions.append(response.json().get("model_version"))
                if versions[-1] == new_version and versions.count(new_version) >= 20:
                    return

        asking = threading.Thread(target=keep_asking)
        asking.start()
        assert wait_until(lambda: len(versions) >= 20)
        set_alias(settings, "champion", new_version)
        asking.join(120)
        meta = client.get("/metadata").json()

    # Then every request succeeded, the version switched once and for good, and /metadata says so
    assert set(statuses) == {200}
    switch = versions.index(new_version)
    assert set(versions[:switch]) == {trained.version}
    assert set(versions[switch:]) == {new_version}
    assert meta["model_version"] == new_version
    assert meta["reloads"] == 1


def _edit(file: str, change: Callable[[dict[str, Any]], None]) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        document = json.loads((folder / file).read_text())
        change(document)
        (folder / file).write_text(json.dumps(document))

    return edit


INCOMPATIBLE = {
    "another contract": (_edit("bundle.json", lambda d: d.update(contract_hash="0" * 64)), "contract"),
    "another onnxruntime": (
        _edit("manifest.json", lambda d: d["packages"].update(onnxruntime="99.0.0")),
        "onnxruntime 99.0.0",
    ),
    "a newer opset": (_edit("manifest.json", lambda d: d.update(onnx_opset=99)), "opset 99"),
    "canary mismatch": (
        # (np.add: a score per row, or a multiclass model's row of probabilities)
        _edit("bundle.json", lambda d: d["canary"].update(scores=np.add(d["canary"]["scores"], 0.5).tolist())),
        "canary",
    ),
}


@pytest.mark.parametrize("case", list(INCOMPATIBLE))
def test_an_incompatible_champion_is_refused_and_the_current_one_kept(
    trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    """A version this runtime cannot run is refused with the reason in the log and /metadata;
    the service keeps serving the model it has."""
    # Given a service on version 1 and an incompatible version 2 that becomes champion
    edit, reason = INCOMPATIBLE[case]
    settings = private_registry(trained, tmp_path / "state")
    bad = add_version(settings, edit)
    module = load_service(monkeypatch, service_env(settings))
    with caplog.at_level(logging.ERROR, logger="{{ cookiecutter.package_name }}"), TestClient(module.ModelService.to_asgi()) as client:
        set_alias(settings, "champion", bad)

        # When the service reloads
        meta = client.post("/reload").json()
        answer = client.post("/predict", json={"records": transactions(2)})

    # Then it refused version 2 for the stated reason and still answers with version 1
    assert meta["model_version"] == trained.version
    assert reason in meta["refused"][bad]
    assert answer.status_code == 200
    assert answer.json()["model_version"] == trained.version
    assert f"refusing champion {settings.mlflow.registered_model_name} version {bad}" in caplog.text


def test_starts_from_the_local_copy_when_the_registry_is_unreachable(
    trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """After one start with the registry up, a start with the registry down serves the cached
    champion, and says so in the log and in /metadata."""
    # Given a service that once loaded its champion from the registry
    settings = private_registry(trained, tmp_path / "state")
    module = load_service(monkeypatch, service_env(settings))
    with TestClient(module.ModelService.to_asgi()) as client:
        assert client.get("/metadata").json()["champion"]["source"] == "registry"

    # When it starts again while the registry (an MLflow server here) does not answer
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    down = {**service_env(settings), f"{ENV_PREFIX}MLFLOW__TRACKING_URI": f"http://127.0.0.1:{free_port()}"}
    module = load_service(monkeypatch, down)
    with (
        caplog.at_level(logging.WARNING, logger="{{ cookiecutter.package_name }}"),
        TestClient(module.ModelService.to_asgi()) as client,
    ):
        ready = client.get("/readyz").status_code
        meta = client.get("/metadata").json()
        answer = client.post("/predict", json={"records": transactions(2)})

    # Then it is ready, serves the cached champion, and reports the registry as unreachable
    assert ready == 200
    assert answer.status_code == 200
    assert answer.json()["model_version"] == trained.version
    assert meta["champion"]["source"] == "cache"
    assert meta["registry"]["reachable"] is False
    assert meta["registry"]["error"]
    assert "unreachable" in caplog.text
    assert "cached champion" in caplog.text


def test_without_registry_or_copy_it_is_alive_but_not_ready(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no registry and no local copy the service runs but is not ready, and /predict
    answers 503 with the reason instead of failing."""
    # Given an empty state and an unreachable registry
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    state = tmp_path / "state"
    env = {
        **service_env(make_settings(state)),
        f"{ENV_PREFIX}MLFLOW__TRACKING_URI": f"http://127.0.0.1:{free_port()}",
    }
    module = load_service(monkeypatch, env)
    with TestClient(module.ModelService.to_asgi()) as client:
        # When it is probed and asked to predict
        live, ready = client.get("/livez").status_code, client.get("/readyz").status_code
        answer = client.post("/predict", json={"records": transactions(1)})
        meta = client.get("/metadata").json()

    # Then it is alive, not ready, and says why
    assert (live, ready) == (200, 503)
    assert answer.status_code == 503
    assert "no model" in answer.json()["error"]
    assert meta["ready"] is False
    assert meta["model_version"] is None
