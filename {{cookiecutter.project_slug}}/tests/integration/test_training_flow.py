"""The training flow under a real (temporary) Prefect server against a temporary MLflow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.core.contract import Contract
from {{ cookiecutter.package_name }}.core.metrics import primary_metric
from {{ cookiecutter.package_name }}.errors import ValidationFailed
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.stores import registry
from tests.support.project import PROJECT_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_server")]


def load_training_flow() -> Any:  # a Prefect Flow; its call signature is the flow function's
    from prefect.flows import load_flow_from_entrypoint

    return load_flow_from_entrypoint(f"{PROJECT_ROOT / 'flows' / 'training.py'}:training")


def test_flow_registers_a_parity_checked_champion(env_settings: Settings, contract: Contract, tmp_path: Path) -> None:
    """One flow run validates, trains, exports, proves parity, logs everything to MLflow,
    registers version 1 and makes it champion; a second run becomes the challenger, and its
    replay on the (empty) prediction log finds not enough evidence, so it stays in shadow."""
    # Given an empty registry and the training flow
    training = load_training_flow()

    # When the flow runs twice
    first = training(reason="first")
    second = training(reason="scheduled")

    # Then the first is champion and the second, equally good, is challenger
    assert (first["version"], first["alias"]) == ("1", registry.CHAMPION)
    assert second["alias"] == registry.CHALLENGER, second["reason"]
    client = registry.connect(env_settings)
    name = env_settings.mlflow.registered_model_name
    assert registry.aliases(client, name) == {registry.CHAMPION: "1", registry.CHALLENGER: "2"}
    assert first["replay"]["verdict"] is None  # a champion is not replayed
    assert (second["replay"]["verdict"], second["replay"]["replayed"]) == ("not enough evidence", 0)
    assert client.get_model_version(name, "2").tags["replay.verdict"] == "not enough evidence"

    # And the run holds metrics, parity, the ONNX model, the bundle and the model card
    version = client.get_model_version(name, "1")
    assert version.run_id is not None
    run = client.get_run(version.run_id)
    assert run.data.metrics["parity_max_abs_diff"] < env_settings.parity.max_abs_diff
    assert run.data.metrics[f"holdout_{primary_metric(contract.task).name}"] > 0
    artifacts = {a.path for a in client.list_artifacts(version.run_id)}
    assert {"bundle", "manifest.json", "model_card.md", "model_card.html"} <= artifacts
    bundle_files = {Path(a.path).name for a in client.list_artifacts(version.run_id, "bundle")}
    assert {"model.onnx", "bundle.json", "reference_profile.json", "contract.yaml", "model_card.md"} <= bundle_files
    # (the second version's card states the gate's comparison with the champion)
    second_run = client.get_model_version(name, "2").run_id
    assert second_run is not None
    card = Path(client.download_artifacts(second_run, "model_card.md", str(tmp_path))).read_text(encoding="utf-8")
    assert "Passed: " in card
    assert "alias challenger" in card
    assert "Compared with champion version 1" in card
    assert version.tags["trigger"] == "first"
    assert client.get_model_version(name, "2").tags["trigger"] == "scheduled"


def test_invalid_data_stops_the_flow_and_registers_nothing(
    env_settings: Settings, demo: pd.DataFrame, tmp_path: Path
) -> None:
    """Data that fails validation stops the run with the failed expectations; the registry stays empty."""
    # Given a data file with out-of-range amounts and an unannounced column
    broken = demo.assign(amount=-1.0, account_type="business")
    path = tmp_path / "broken.parquet"
    broken.to_parquet(path)

    # When the flow runs on it
    training = load_training_flow()
    with pytest.raises(ValidationFailed) as caught:
        training(data_path=str(path))

    # Then the message names each failure, and nothing was registered
    message = str(caught.value)
    assert "expect_column_values_to_be_between failed for column 'amount'" in message
    assert "unexpected columns ['account_type']" in message
    assert registry.aliases(registry.connect(env_settings), env_settings.mlflow.registered_model_name) == {}
