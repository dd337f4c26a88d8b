"""The training flow retrains on fresh data: the base data plus the labelled answers in the
prediction log, behind the same validation gate (run on the session's live Prefect server)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.core.contract import Contract
from {{ cookiecutter.package_name }}.data.demo_world import demo_frame
from {{ cookiecutter.package_name }}.errors import ValidationFailed
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.stores import prediction_log as predictions
from {{ cookiecutter.package_name }}.stores import registry
from {{ cookiecutter.package_name }}.stores.prediction_log_schema import CHAMPION
from {{ cookiecutter.package_name }}.stores.prediction_rows import PredictionRow
from tests.support.live_prefect import LiveServer
from tests.support.project import PROJECT_ROOT, TEST_ROWS, id_column, logged_labels

pytestmark = pytest.mark.slow
FRESH = 2000


@pytest.fixture
def fresh_traffic(contract: Contract) -> pd.DataFrame:
    """Transactions the service answered yesterday, in the contract's columns, with their own ids."""
    frame = demo_frame(contract, FRESH, 10, seed=99)
    return frame.assign(**{id_column(contract): [f"live-{i:05d}" for i in range(FRESH)]})


@pytest.fixture
def training(on_live_prefect: LiveServer) -> Any:
    """The training flow, reporting to the live server."""
    from prefect.flows import load_flow_from_entrypoint

    return load_flow_from_entrypoint(f"{PROJECT_ROOT / 'flows' / 'training.py'}:training")


def log_answered(settings: Settings, contract: Contract, frame: pd.DataFrame) -> None:
    """Log `frame` as champion answers of the last day (event time not sent), then its labels."""
    log = predictions.from_settings(settings)
    start = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=1)
    features = [f.name for f in contract.features] + [id_column(contract)]
    bodies = frame[features].astype(object).where(frame[features].notna(), None).to_dict("records")
    try:
        log.record(
            [
                PredictionRow(
                    request_id=f"req-{i}",
                    role=CHAMPION,
                    logged_at=start + timedelta(seconds=i),
                    occurred_at=start + timedelta(seconds=i),
                    model_name=settings.mlflow.registered_model_name,
                    model_version="1",
                    record_id=str(body[id_column(contract)]),
                    features={str(k): v for k, v in body.items()},
                    score=0.1,
                    decision=False,
                    latency_ms=1.0,
                    schema_events=None,
                )
                for i, body in enumerate(bodies)
            ]
        )
        labels = logged_labels(frame, contract)
        log.add_labels(((f"req-{i}", y) for i, y in enumerate(labels)), source="test")
    finally:
        log.close()


def test_retraining_learns_from_the_base_data_plus_the_labelled_answers(
    env_settings: Settings, contract: Contract, fresh_traffic: pd.DataFrame, training: Any
) -> None:
    """A training run includes the labelled answers of the last days on top of the base data,
    and records why it ran."""
    # Given a day of labelled answers in the prediction log
    log_answered(env_settings, contract, fresh_traffic)

    # When monitoring's automation starts a training run
    result = training(reason="monitoring: drift on amount", evidence={"incident_id": "i-1"})

    # Then the version was trained on the base rows plus the fresh ones
    client = registry.connect(env_settings)
    version = client.get_model_version(env_settings.mlflow.registered_model_name, result["version"])
    assert version.run_id is not None
    params = client.get_run(version.run_id).data.params
    assert sum(int(params[k]) for k in ("train_rows", "valid_rows", "holdout_rows")) == TEST_ROWS + FRESH
    assert version.tags["trigger"] == "monitoring: drift on amount"
    # And it says up to when it learned from the log's answers: replay never judges it on those
    learned = datetime.fromisoformat(version.tags[registry.LEARNED_UNTIL])
    assert learned.tzinfo is not None
    assert learned <= datetime.now(UTC)


def test_fresh_rows_that_break_the_contract_stop_the_run_with_the_reason(
    env_settings: Settings, contract: Contract, fresh_traffic: pd.DataFrame, training: Any
) -> None:
    """Fresh answers that fail the suite stop the run naming the prediction log; nothing is registered."""
    # Given answers whose amounts are negative (the service did not flag them)
    log_answered(env_settings, contract, fresh_traffic.assign(amount=-3.0))

    # When a training run starts / Then it stops with the reason
    with pytest.raises(ValidationFailed, match="fresh rows from the prediction log"):
        training(reason="scheduled")
    assert registry.aliases(registry.connect(env_settings), env_settings.mlflow.registered_model_name) == {}
