"""The shadow-evaluation flow end to end: live traffic in the prediction log, two real model
versions in MLflow, the flow on a real Prefect server, then the service's view and a rollback.

Champion v1 and challenger v2 are trained once for the module; each test puts
the aliases back and writes its own traffic (synthetic scores with a known
truth, tests/shadow_data.py) into its own prediction log.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.core.contract import Contract
from {{ cookiecutter.package_name }}.settings import ENV_PREFIX, Settings, get_settings
from {{ cookiecutter.package_name }}.stores import prediction_log as predictions
from {{ cookiecutter.package_name }}.stores import registry
from {{ cookiecutter.package_name }}.stores.registry import CHALLENGER, CHAMPION, PREVIOUS
from tests.support.live_prefect import LiveServer
from tests.support.project import PROJECT_ROOT, TEST_ROWS, make_settings, train_version
from tests.support.shadow_data import log_rows, traffic_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory, demo: pd.DataFrame, contract: Contract) -> Path:
    """A registry holding champion v1 and challenger v2, both real, parity-checked, gated models."""
    state = tmp_path_factory.mktemp("shadow-loop") / "state"
    settings = make_settings(state)
    train_version(settings, demo, contract, reason="first")
    # The same data trains the same model, but the gate measures the champion through its
    # float32 ONNX export: a hair of tolerance lets the twin through as challenger.
    train_version(make_settings(state, gate={"champion_tolerance": 0.01}), demo, contract, reason="retrained")
    assert registry.aliases(registry.connect(settings), settings.mlflow.registered_model_name) == {
        CHAMPION: "1",
        CHALLENGER: "2",
    }
    return state


@pytest.fixture
def loop(
    state_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, on_live_prefect: LiveServer
) -> Iterator[Settings]:
    """Settings published through the environment (the flow reads them itself), with this
    test's own prediction log, and the aliases as training left them."""
    monkeypatch.setenv(f"{ENV_PREFIX}PROJECT_ROOT", str(PROJECT_ROOT))
    monkeypatch.setenv(f"{ENV_PREFIX}STATE_DIR", str(state_dir))
    monkeypatch.setenv(f"{ENV_PREFIX}DEMO_ROWS", str(TEST_ROWS))
    monkeypatch.setenv(f"{ENV_PREFIX}PREDICTION_LOG__URL", f"sqlite:///{tmp_path / 'predictions.db'}")
    get_settings.cache_clear()
    settings = get_settings()
    client = registry.connect(settings)
    name = settings.mlflow.registered_model_name
    for alias, version in ((CHAMPION, "1"), (CHALLENGER, "2")):
        client.set_registered_model_alias(name, alias, version)
    if PREVIOUS in registry.aliases(client, name):
        client.delete_registered_model_alias(name, PREVIOUS)
    yield settings
    get_settings.cache_clear()


def live_traffic(settings: Settings, contract: Contract, demo: pd.DataFrame, paired: pd.DataFrame) -> None:
    """The paired requests as the service would have logged them over the last day."""
    raw = demo.iloc[0][[f.name for f in contract.features]].to_dict()
    record = {str(k): (None if pd.isna(v) else v.item() if hasattr(v, "item") else v) for k, v in raw.items()}
    log = predictions.from_settings(settings)
    try:
        log_rows(
            log,
            paired,
            model_name=settings.mlflow.registered_model_name,
            champion_version="1",
            challenger_version="2",
            start=datetime.now(UTC).replace(tzinfo=None) - timedelta(days=1),
            record=record,
        )
    finally:
        log.close()


def run_shadow_evaluation(server: LiveServer) -> tuple[dict[str, Any], list[Any]]:
    """Run the flow in this process against the live server; its result and its artifacts."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
    from prefect.flows import load_flow_from_entrypoint

    flow: Any = load_flow_from_entrypoint(f"{PROJECT_ROOT / 'flows' / 'shadow.py'}:shadow_evaluation")
    state = flow(return_state=True)
    result: dict[str, Any] = state.result()
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id]))
        )
    return result, artifacts


def version_tags(settings: Settings, version: str) -> dict[str, str]:
    client = registry.connect(settings)
    return dict(client.get_model_version(settings.mlflow.registered_model_name, version).tags)


def served_version(settings: Settings, contract: Contract) -> str | None:
    """The version the service would answer with: its model store, refreshed from the registry."""
    from {{ cookiecutter.package_name }}.serving.model_store import ModelStore

    store = ModelStore(settings, contract.hash)
    lineup = store.refresh()
    return lineup.champion.version if lineup.champion is not None else None


def test_a_better_challenger_is_promoted_served_and_can_be_rolled_back(
    loop: Settings, contract: Contract, demo: pd.DataFrame, on_live_prefect: LiveServer
) -> None:
    """On traffic where the challenger ranks better everywhere, the flow promotes it, records
    the decision on the versions and as artifacts, and the service then serves it; `make
    rollback` returns to v1, saying who and why."""
    # Given a day of labelled traffic where the challenger is better
    live_traffic(loop, contract, demo, traffic_for(contract, 3000, seed=0, challenger_noise=0.7))
    assert served_version(loop, contract) == "1"

    # When the shadow evaluation runs
    result, artifacts = run_shadow_evaluation(on_live_prefect)

    # Then it promoted v2: v1 is `previous`, the challenger alias is gone
    assert result["decision"] == "promote", result["reason"]
    assert result["applied"]
    assert result["aliases"] == {CHAMPION: "2", PREVIOUS: "1"}
    tags = version_tags(loop, "2")
    assert tags["shadow.decision"] == "promote"
    assert tags["promotion.by"].startswith("shadow-evaluation flow run")
    assert tags["promotion.reason"].startswith("better with 95% confidence")
    assert {a.key for a in artifacts} == {"shadow-evaluation", "shadow-evaluation-segments"}
    (report,) = [a for a in artifacts if a.key == "shadow-evaluation"]
    assert "**Decision: promote**" in report.data

    # And the service serves v2 without a restart
    assert served_version(loop, contract) == "2"

    # When someone rolls back with `make rollback`
    rolled = subprocess.run(
        ["make", "--no-print-directory", "-o", "install", "rollback", "REASON=fraud team reports misses", "WHO=oncall"],
        cwd=PROJECT_ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip

    # Then v1 serves again and both versions record who and why
    assert rolled.returncode == 0, rolled.stderr
    assert "rollback of" in rolled.stdout
    assert "oncall" in rolled.stdout
    assert registry.aliases(registry.connect(loop), loop.mlflow.registered_model_name) == {CHAMPION: "1"}
    assert version_tags(loop, "1")["rollback.reason"] == "fraud team reports misses"
    assert version_tags(loop, "2")["rolled_back.by"] == "oncall"
    assert served_version(loop, contract) == "1"


def test_a_worse_challenger_is_rejected(
    loop: Settings, contract: Contract, demo: pd.DataFrame, on_live_prefect: LiveServer
) -> None:
    """On traffic where the challenger ranks worse, the flow rejects it: it loses its alias,
    keeps the reason, and the champion is untouched."""
    # Given traffic where the challenger is noisier
    live_traffic(loop, contract, demo, traffic_for(contract, 3000, seed=1, challenger_noise=1.4))

    # When the shadow evaluation runs
    result, _ = run_shadow_evaluation(on_live_prefect)

    # Then
    assert result["decision"] == "reject"
    assert result["aliases"] == {CHAMPION: "1"}
    tags = version_tags(loop, "2")
    assert tags["shadow.decision"] == "reject"
    assert tags["rejected.reason"].startswith("not better with 95% confidence")
    assert version_tags(loop, "1")["shadow.last_decision"] == "reject"


def test_a_challenger_better_overall_but_worse_on_a_segment_is_rejected(
    loop: Settings, contract: Contract, demo: pd.DataFrame, on_live_prefect: LiveServer
) -> None:
    """A challenger that is better on average but misses the frauds on prepaid cards is
    rejected, and the reason names the segment."""
    # Given traffic where the challenger is better except on prepaid cards
    paired = traffic_for(
        contract, 4000, seed=2, challenger_noise=0.6, challenger_signal_on={("card_type", "prepaid"): 0.2}
    )
    live_traffic(loop, contract, demo, paired)

    # When the shadow evaluation runs
    result, artifacts = run_shadow_evaluation(on_live_prefect)

    # Then it is rejected for that segment, though better overall
    assert result["decision"] == "reject"
    assert result["evidence"]["overall"]["ci_low"] > 0
    assert "worse on card_type=prepaid" in result["reason"]
    assert result["aliases"] == {CHAMPION: "1"}
    assert "worse on card_type=prepaid" in version_tags(loop, "2")["rejected.reason"]
    (table,) = [a for a in artifacts if a.key == "shadow-evaluation-segments"]
    assert "prepaid" in str(table.data)


def test_with_too_few_labels_the_flow_keeps_waiting_and_moves_nothing(
    loop: Settings, contract: Contract, demo: pd.DataFrame, on_live_prefect: LiveServer
) -> None:
    """Below the minimum sample the decision is "keep waiting": recorded, nothing moves."""
    # Given plenty of traffic, but only a tenth of it labelled so far
    live_traffic(loop, contract, demo, traffic_for(contract, 3000, seed=3, challenger_noise=0.5, labelled_share=0.1))

    # When the shadow evaluation runs
    result, _ = run_shadow_evaluation(on_live_prefect)

    # Then
    assert result["decision"] == "keep waiting"
    assert not result["applied"]
    assert result["aliases"] == {CHAMPION: "1", CHALLENGER: "2"}
    assert version_tags(loop, "2")["shadow.decision"] == "keep waiting"
