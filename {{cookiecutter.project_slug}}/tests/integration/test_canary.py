"""The canary phase against a real `bentoml serve`: the share it answers and its stickiness
measured over a few thousand requests, a new share taken without a restart, an injected
breach rolled back by the canary evaluation, and a clean canary completed.

One server and one private registry for the module; the tests run in order on them (each
starts its own canary and leaves none behind)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from {{ cookiecutter.package_name }}.promotion import canary_steps
from {{ cookiecutter.package_name }}.promotion.canary_guards import COMPLETE, ROLLBACK
from {{ cookiecutter.package_name }}.settings import ENV_PREFIX, CanarySettings, Settings, get_settings
from {{ cookiecutter.package_name }}.stores import registry
from {{ cookiecutter.package_name }}.stores.monitoring_history import History
from {{ cookiecutter.package_name }}.stores.prediction_log import PredictionLog
from {{ cookiecutter.package_name }}.stores.prediction_log_schema import ANSWERED, CANARY
from tests.support.live_prefect import LiveServer
from tests.support.project import ALL_TIME, PROJECT_ROOT, Trained
from tests.support.service import (
    Server,
    add_version,
    private_registry,
    running_server,
    service_env,
    transactions,
    wait_until,
)

pytestmark = pytest.mark.slow

KEY = "merchant_id"
RECORDS, BATCH = 3000, 100
# The canary's settings, for the service and for the flow run in this process. Latency is not
# what these tests inject: on a shared 2-core machine the p99 of two equal models can differ by
# more than the default 1.5x, so its limit is loose here.
CANARY_ENV = {
    "ENABLED": "true",
    "KEY_FIELD": KEY,
    "SHARE": "0.2",
    "MIN_ANSWERS": "300",
    "DURATION_HOURS": "0.0001",
    "MAX_LATENCY_P99_RATIO": "5",
    "MAX_SCORE_PSI": "0.2",  # off by default; the injected breach is a like-for-like model answering wrong
}


def reversed_features(folder: Path) -> None:
    """A canary that answers worse: its encoding feeds the model's columns in reverse order, so
    it scores every record from the wrong features (the runtime's load check, which scores
    encoded rows, still passes)."""
    import json

    description = json.loads((folder / "bundle.json").read_text())
    encoding = description["encoding"]
    encoding["features"], encoding["kinds"] = encoding["features"][::-1], encoding["kinds"][::-1]
    (folder / "bundle.json").write_text(json.dumps(description))


class Stack:
    def __init__(self, settings: Settings, server: Server, good: str, bad: str) -> None:
        self.settings, self.server, self.good, self.bad = settings, server, good, bad
        self.client = registry.connect(settings)
        self.name = settings.mlflow.registered_model_name

    def metadata(self) -> dict[str, Any]:
        found: dict[str, Any] = httpx.get(f"{self.server.url}/metadata", timeout=30).json()
        return found

    def canary_is(self, version: str | None, share: float | None = None) -> bool:
        canary = self.metadata()["canary"]
        if version is None:
            return canary is None
        return canary is not None and canary["version"] == version and (share is None or canary["share"] == share)

    def start(self, version: str) -> None:
        settings = self.settings.model_copy(update={"canary": CanarySettings(share=0.2)})
        canary_steps.start(self.client, self.name, version, settings, who="test", why="test")
        assert wait_until(lambda: self.canary_is(version, 0.2), timeout=60)

    def send(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Every record's prediction, in batches as callers send them."""
        answers: list[dict[str, Any]] = []
        with httpx.Client(base_url=self.server.url, timeout=60) as http:
            for i in range(0, len(records), BATCH):
                response = http.post("/predict", json={"records": records[i : i + BATCH]})
                assert response.status_code == 200, response.text
                answers += response.json()["predictions"]
        return answers


@pytest.fixture(scope="module")
def stack(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A server on a private registry holding the champion, an equal version and a bad one."""
    state = tmp_path_factory.mktemp("canary")
    settings = private_registry(trained, state / "state")
    good, bad = add_version(settings), add_version(settings, reversed_features)
    env = service_env(settings, workers=1, reload_interval_s=0.5)
    env |= {f"{ENV_PREFIX}CANARY__{key}": value for key, value in CANARY_ENV.items()}
    env["BENTOML_HOME"] = str(state / "bentoml-home")
    with running_server(env, state / "server.log") as server:
        yield Stack(settings, server, good, bad)


@pytest.fixture
def flow_settings(stack: Stack, monkeypatch: pytest.MonkeyPatch, on_live_prefect: LiveServer) -> Iterator[None]:
    """The canary flow, run in this process, reads the same registry, log and canary settings."""
    for key, value in service_env(stack.settings).items():
        monkeypatch.setenv(key, value)
    for key, value in CANARY_ENV.items():
        monkeypatch.setenv(f"{ENV_PREFIX}CANARY__{key}", value)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def run_canary_evaluation() -> dict[str, Any]:
    from prefect.flows import load_flow_from_entrypoint

    flow: Any = load_flow_from_entrypoint(f"{PROJECT_ROOT / 'flows' / 'canary.py'}:canary_evaluation")
    result: dict[str, Any] = flow()
    return result


def recent(n: int, seed: int) -> list[dict[str, Any]]:
    """Records whose event times are in the last day, as live traffic's are."""
    return transactions(n, seed=seed, start=datetime.now(UTC) - timedelta(days=1))


def by_key(records: list[dict[str, Any]], answers: list[dict[str, Any]]) -> dict[str, set[str]]:
    versions: dict[str, set[str]] = {}
    for record, answer in zip(records, answers, strict=True):
        versions.setdefault(str(record[KEY]), set()).add(str(answer["model_version"]))
    return versions


def share_on(versions: dict[str, set[str]], canary: str) -> float:
    return sum(canary in found for found in versions.values()) / len(versions)


def tolerance(share: float, n: int) -> float:
    """Four binomial standard deviations: a correct router fails this once in ~16,000 runs."""
    return 4 * math.sqrt(share * (1 - share) / n)


def test_the_canary_answers_its_share_stickily_and_takes_a_new_share_without_a_restart(stack: Stack) -> None:
    """Over 3,000 records the canary answers the records of about a fifth of the merchants, each
    merchant always by the same model (also when the same records come again); raising the
    share to a half on the registered model reaches the running server, which keeps every
    merchant the canary had and adds others; every canary answer is in the log as `canary`."""
    # Given a canary at 0.2 keyed by merchant, seen by the running server
    stack.start(stack.good)
    pid = stack.server.pid
    records = recent(RECORDS, 31)

    # When the records are sent, then sent again
    first, again = stack.send(records), stack.send(records)

    # Then each merchant got one model, the same both times, and about a fifth got the canary
    versions = by_key(records, first)
    assert all(len(found) == 1 for found in by_key(records + records, first + again).values())
    share = share_on(versions, stack.good)
    assert abs(share - 0.2) < tolerance(0.2, len(versions)), (share, len(versions))

    # When the share is raised on the registered model
    canary_steps.set_share(stack.client, stack.name, 0.5)
    assert wait_until(lambda: stack.canary_is(stack.good, 0.5), timeout=60)
    raised = by_key(records, stack.send(records))

    # Then the same server (no restart) answers about half the merchants with the canary,
    # including every merchant it had at 0.2
    assert stack.server.pid == pid
    assert abs(share_on(raised, stack.good) - 0.5) < tolerance(0.5, len(raised))
    assert all(stack.good in raised[key] for key, found in versions.items() if stack.good in found)

    # And the log holds each canary answer under the role `canary`
    canary_answers = sum(a["model_version"] == stack.good for a in first + again)
    log = PredictionLog(stack.settings.prediction_log_url)
    try:
        frame = log.window(*ALL_TIME, roles=ANSWERED)
    finally:
        log.close()
    assert int((frame["role"] == CANARY).sum()) >= canary_answers
    assert set(frame.loc[frame["role"] == CANARY, "model_version"].astype(str)) == {stack.good}
    canary_steps.rollback(stack.client, stack.name, who="test", why="end of the share test")
    assert wait_until(lambda: stack.canary_is(None), timeout=60)


def test_a_breach_is_rolled_back_automatically_with_an_alert(stack: Stack, flow_settings: None) -> None:
    """A canary that scores from the wrong features answers its share with a very different
    score distribution: the canary evaluation rolls it back (the champion never moved), alerts
    with the evidence, and the server stops routing to it without a restart."""
    # Given the bad version as the canary, having answered its share of 3,000 records
    champion = registry.aliases(stack.client, stack.name)[registry.CHAMPION]
    stack.start(stack.bad)
    stack.send(recent(RECORDS, 32))

    # When the canary evaluation runs
    result = run_canary_evaluation()

    # Then it rolled back on the score distribution, the champion stays and the canary is gone
    assert result["decision"] == ROLLBACK, result["reason"]
    assert "score_psi" in result["reason"]
    assert result["applied"] is True
    assert result["aliases"] == {registry.CHAMPION: champion}
    # And an alert with the evidence is in the history (the channel is `none`: not sent)
    with History.from_settings(stack.settings) as history:
        alerts = history.alerts(key="canary_rollback")
    assert len(alerts) == 1
    assert alerts.iloc[0]["status"] == "not_sent"
    assert alerts.iloc[0]["evidence"]["canary_version"] == stack.bad
    # And the server answers every record with the champion again
    assert wait_until(lambda: stack.canary_is(None), timeout=60)
    assert {a["model_version"] for a in stack.send(recent(300, 33))} == {champion}


def test_a_clean_canary_completes_the_promotion(stack: Stack, flow_settings: None) -> None:
    """A canary that answers like the champion, past its duration with enough answers, is
    promoted by the canary evaluation, and the server answers every record with it."""
    # Given the equal version as the canary, having answered its share of 3,000 records
    before = registry.aliases(stack.client, stack.name)[registry.CHAMPION]
    stack.start(stack.good)
    stack.send(recent(RECORDS, 34))

    # When the canary evaluation runs
    result = run_canary_evaluation()

    # Then it completed: the canary is the champion, the old champion `previous`, no canary alias
    assert result["decision"] == COMPLETE, result["reason"]
    assert result["aliases"] == {registry.CHAMPION: stack.good, registry.PREVIOUS: before}
    # And the server answers every record with the new champion
    assert wait_until(lambda: stack.metadata()["model_version"] == stack.good and stack.canary_is(None), timeout=60)
    assert {a["model_version"] for a in stack.send(recent(300, 35))} == {stack.good}
