"""Replay end to end: a real prediction log (SQLite, and PostgreSQL when one answers) holding
the champion's answers to real requests with their labels, a real challenger in MLflow that
scores those requests offline, the verdict on the version, and the training flow's step.

Champion v1 and challenger v2 are trained once for the module. The logged requests are v2's
holdout rows (features as a request body carries them, labels as the log keeps them). The
champion's logged answers are made with a known quality: no signal at all (a challenger that
learned anything is better), or perfect on prepaid cards and no signal elsewhere (the
challenger, a real model, is worse there beyond any tolerance).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from {{ cookiecutter.package_name }}.core.contract import Contract
from {{ cookiecutter.package_name }}.promotion import card_view, replay
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.stores import prediction_log as predictions
from {{ cookiecutter.package_name }}.stores import registry
from {{ cookiecutter.package_name }}.stores.monitoring_history import History
from {{ cookiecutter.package_name }}.stores.prediction_log_schema import CHAMPION
from {{ cookiecutter.package_name }}.stores.prediction_rows import PredictionRow
from {{ cookiecutter.package_name }}.stores.registry import CHALLENGER
from tests.support.postgres import scratch_schema
from tests.support.project import Trained, make_settings, train_version

pytestmark = pytest.mark.slow
SEGMENT = ("card_type", "prepaid")


@pytest.fixture(scope="module")
def lineup(tmp_path_factory: pytest.TempPathFactory, demo: pd.DataFrame, contract: Contract) -> tuple[Path, Trained]:
    """A registry holding champion v1 and challenger v2 (real, gated models); v2 as trained."""
    state = tmp_path_factory.mktemp("replay") / "state"
    train_version(make_settings(state), demo, contract, reason="first")
    # The same data trains the same model; a hair of tolerance lets the twin through the gate.
    second = train_version(make_settings(state, gate={"champion_tolerance": 0.01}), demo, contract, reason="again")
    assert second.alias == CHALLENGER
    return state, second


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request: pytest.FixtureRequest, lineup: tuple[Path, Trained], tmp_path: Path) -> Iterator[Settings]:
    """Settings on the module's registry (v1 champion, v2 challenger again) with a prediction
    log of this test's own: a SQLite file, or a schema on the test PostgreSQL server."""
    state, second = lineup
    client = registry.connect(second.settings)
    name = second.settings.mlflow.registered_model_name
    client.set_registered_model_alias(name, CHALLENGER, second.version)
    if request.param == "sqlite":
        yield make_settings(state, prediction_log={"url": f"sqlite:///{tmp_path / 'predictions.db'}"})
        return
    with scratch_schema("replay") as (url, schema):
        yield make_settings(state, prediction_log={"url": url, "db_schema": schema})


def champion_answers(contract: Contract, labels: np.ndarray, perfect: np.ndarray, seed: int) -> dict[str, Any]:
    """Scores with a known quality: the truth itself where `perfect`, no signal elsewhere
    (uniform scores, shuffled targets, random class probabilities)."""
    rng = np.random.default_rng(seed)
    n = len(labels)
    if contract.is_multiclass:
        probabilities = rng.dirichlet(np.ones(contract.n_classes), size=n)
        probabilities[perfect] = np.eye(contract.n_classes)[labels[perfect].astype(int)]
        return {"score": probabilities.max(axis=1), "probabilities": probabilities.tolist(), "decision": None}
    if contract.is_classification:
        scores = np.where(perfect, labels, rng.random(n))
        return {"score": scores, "probabilities": None, "decision": scores >= 0.5}
    return {"score": np.where(perfect, labels, rng.permutation(labels)), "probabilities": None, "decision": None}


def log_answers(
    settings: Settings, contract: Contract, holdout: pd.DataFrame, perfect_on: tuple[str, str] | None
) -> int:
    """The holdout as yesterday's traffic answered by champion v1, every request labelled."""
    features = [f.name for f in contract.features]
    records = holdout[features].astype(object).where(holdout[features].notna(), None).to_dict("records")
    labels = holdout[contract.target].to_numpy(dtype=float)  # the split's rows hold class indexes already
    perfect = np.zeros(len(holdout), dtype=bool)
    if perfect_on is not None:
        perfect = (holdout[perfect_on[0]].astype(str) == perfect_on[1]).to_numpy()
    answers = champion_answers(contract, labels, perfect, seed=7)
    start = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=1)
    rows = [
        PredictionRow(
            request_id=f"replay-{i:06d}",
            role=CHAMPION,
            logged_at=start + timedelta(seconds=i),
            occurred_at=start + timedelta(seconds=i),
            model_name=settings.mlflow.registered_model_name,
            model_version="1",
            record_id=None,
            features={str(k): (v.item() if hasattr(v, "item") else v) for k, v in record.items()},
            score=float(answers["score"][i]),
            decision=None if answers["decision"] is None else bool(answers["decision"][i]),
            latency_ms=1.0,
            schema_events=None,
            probabilities=None if answers["probabilities"] is None else answers["probabilities"][i],
        )
        for i, record in enumerate(records)
    ]
    log = predictions.from_settings(settings)
    try:
        log.record(rows)
        log.add_labels(((row["request_id"], label) for row, label in zip(rows, labels, strict=True)), source="test")
    finally:
        log.close()
    return len(rows)


def tags(settings: Settings, version: str) -> dict[str, str]:
    client = registry.connect(settings)
    return dict(client.get_model_version(settings.mlflow.registered_model_name, version).tags)


def test_a_challenger_better_on_the_logged_traffic_stays_in_shadow(
    settings: Settings, contract: Contract, lineup: tuple[Path, Trained]
) -> None:
    """Against a champion whose logged answers carry no signal, the training flow's replay step
    finds the real challenger better overall and on every judged segment, records that on the
    version, and leaves it the challenger (it still goes through shadow)."""
    # Given yesterday's labelled traffic answered by a champion with no signal
    logged = log_answers(settings, contract, lineup[1].holdout, perfect_on=None)

    # When the training flow's step replays the new challenger
    step = replay.replay_challenger(settings, contract, "2")
    found = step.summary

    # Then it is better, with an interval above zero, and keeps its alias
    assert found["verdict"] == replay.BETTER, found["reason"]
    assert found["replayed"] == found["labelled"] == logged
    assert found["overall"]["ci_low"] > 0
    assert not any(s["worse"] for s in found["segments"])
    assert not step.removed_from_shadow
    assert registry.aliases(registry.connect(settings), settings.mlflow.registered_model_name)[CHALLENGER] == "2"
    recorded = tags(settings, "2")
    assert recorded[replay.VERDICT] == replay.BETTER
    assert recorded["replay.champion_version"] == "1"
    assert '"challenger_version":"2"' in recorded[replay.EVIDENCE]

    # And the monitoring history keeps the verdict beside shadow's decisions, for the report
    # (the module's tests share one history: the newest row is this replay's)
    with History.from_settings(settings) as history:
        newest = history.shadow_decisions(settings.mlflow.registered_model_name, limit=1).to_dict("records")[0]
    assert (newest["source"], newest["challenger_version"], newest["decision"]) == (replay.SOURCE, "2", "better")
    assert newest["n"] == logged


def test_a_challenger_worse_on_a_segment_never_gets_shadow_traffic(
    settings: Settings, contract: Contract, lineup: tuple[Path, Trained]
) -> None:
    """Against a champion perfect on prepaid cards, the replay step finds the challenger worse
    there, names the segment, and takes the challenger alias away with the reason on the version
    and on its model card."""
    # Given traffic where the champion's logged answers are the truth on prepaid cards
    log_answers(settings, contract, lineup[1].holdout, perfect_on=SEGMENT)

    # When the training flow's step replays the new challenger
    step = replay.replay_challenger(settings, contract, "2")
    found = step.summary

    # Then it is worse on that segment, and out of shadow
    worse = [s for s in found["segments"] if s["worse"]]
    assert found["verdict"] == replay.WORSE
    assert SEGMENT in [(s["segment"], s["value"]) for s in worse]
    assert "worse on card_type=prepaid" in found["reason"]
    assert step.aliases_after is not None
    assert CHALLENGER not in step.aliases_after
    assert CHALLENGER not in registry.aliases(registry.connect(settings), settings.mlflow.registered_model_name)
    recorded = tags(settings, "2")
    assert recorded[replay.VERDICT] == replay.WORSE
    assert recorded["rejected.reason"].startswith("replay: worse on ")
    assert "worse on card_type=prepaid" in recorded["rejected.reason"]
    assert recorded["rejected.by"] == replay.WHO

    # And its model card says so
    client, name = registry.connect(settings), settings.mlflow.registered_model_name
    card = card_view.card_markdown(client, name, "2", CHALLENGER)
    assert "- Replay against champion version 1 (" in card
    assert "): worse: worse on " in card


def test_the_replay_command_prints_the_verdict_and_leaves_the_aliases(
    settings: Settings, contract: Contract, lineup: tuple[Path, Trained], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`replay --version 2 --days 2` prints the verdict with its figures; the command records it
    on the version but moves no alias, even for a worse challenger."""
    from {{ cookiecutter.package_name }}.cli import app

    # Given traffic on which the challenger is worse on prepaid cards, and the CLI on these settings
    log_answers(settings, contract, lineup[1].holdout, perfect_on=SEGMENT)
    monkeypatch.setattr("{{ cookiecutter.package_name }}.settings.get_settings", lambda: settings)

    # When the command runs
    result = CliRunner().invoke(app, ["replay", "--version", "2", "--days", "2"])

    # Then it prints the worse verdict, and v2 is still the challenger
    assert result.exit_code == 0, result.output
    assert '"verdict": "worse"' in result.output
    assert '"segment": "card_type"' in result.output
    assert registry.aliases(registry.connect(settings), settings.mlflow.registered_model_name)[CHALLENGER] == "2"


def test_replay_leaves_out_the_requests_the_challenger_learned_from(
    settings: Settings, contract: Contract, lineup: tuple[Path, Trained]
) -> None:
    """A challenger trained on the log's labelled answers up to some moment (its
    `training.learned_until` tag, which the training flow writes) is replayed only on the
    requests after it: its own training rows would flatter it."""
    # Given yesterday's labelled traffic, one request a second, and v2 tagged as having learned
    # from the log until just before the last third of it
    logged = log_answers(settings, contract, lineup[1].holdout, perfect_on=None)
    log = predictions.from_settings(settings)
    try:
        times = log.window(datetime.now(UTC) - timedelta(days=2), datetime.now(UTC))["occurred_at"].sort_values()
    finally:
        log.close()
    cut = pd.Timestamp(times.iloc[2 * logged // 3]).tz_localize(UTC)
    client, name = registry.connect(settings), settings.mlflow.registered_model_name
    client.set_model_version_tag(name, "2", registry.LEARNED_UNTIL, cut.isoformat())
    try:
        # When the training flow's step replays it
        found = replay.replay_challenger(settings, contract, "2").summary
    finally:
        client.delete_model_version_tag(name, "2", registry.LEARNED_UNTIL)

    # Then only the requests after the cut were judged, and the window says where it began
    after = int((times > cut.tz_convert(None)).sum())
    assert 0 < after < logged
    assert found["labelled"] == found["replayed"] == after
    assert found["window"][0].startswith(cut.isoformat()[:19])
