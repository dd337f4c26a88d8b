"""Batch scoring: a file through the champion's ONNX bundle, as the service would score it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.core.contract import Contract
from {{ cookiecutter.package_name }}.errors import DataError
from {{ cookiecutter.package_name }}.model.bundle import load_bundle
from {{ cookiecutter.package_name }}.serving.batch_scoring import default_output, score_file
from {{ cookiecutter.package_name }}.stores import registry
from tests.support.live_prefect import LiveServer
from tests.support.project import PROJECT_ROOT, Trained

pytestmark = pytest.mark.slow


def to_score(trained: Trained, contract: Contract, tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    """Holdout rows without their label, written as a caller would send them (categoricals in
    odd case, booleans as text)."""
    rows = trained.holdout.head(300).drop(columns=[contract.target]).copy()
    rows["channel"] = rows["channel"].str.upper()
    rows["card_present"] = rows["card_present"].map({True: "yes", False: "no"})
    path = tmp_path / "today.csv"
    rows.to_csv(path, index=False)
    return path, rows


def test_a_file_is_scored_with_the_champion_as_the_service_scores_it(
    trained: Trained, contract: Contract, tmp_path: Path
) -> None:
    """Every row gets the champion's score (the same as its bundle gives the prepared rows),
    the decision at its threshold, and the version; the ids come along."""
    # Given a file of transactions to score
    path, rows = to_score(trained, contract, tmp_path)

    # When it is scored
    result = score_file(trained.settings, contract, path)

    # Then the output sits next to the input with a score per row
    scored = pd.read_parquet(result.output_path)
    assert Path(result.output_path) == default_output(path)
    assert (result.rows, result.model_version, len(scored)) == (300, trained.version, 300)
    assert scored[contract.id_column].astype(str).tolist() == rows[contract.id_column].astype(str).tolist()
    client = registry.connect(trained.settings)
    version = client.get_model_version(trained.settings.mlflow.registered_model_name, trained.version)
    with registry.fetched_bundle(client, version) as folder:
        bundle = load_bundle(folder)
        expected = bundle.score_frame(trained.holdout.head(300))
    if expected.ndim == 2:  # multiclass: the most probable class, its probability, and every class's
        classes = contract.class_labels
        assert scored["label"].tolist() == [classes[i] for i in expected.argmax(axis=1)]
        np.testing.assert_array_equal(scored[[f"probability.{c}" for c in classes]].to_numpy(), expected)
        expected = expected.max(axis=1)
    np.testing.assert_array_equal(scored["score"].to_numpy(), expected)
    if bundle.threshold is not None:
        assert scored["decision"].tolist() == (expected >= bundle.threshold).tolist()
    assert set(scored["model_version"]) == {trained.version}


def test_a_file_missing_a_feature_is_refused_naming_it(trained: Trained, contract: Contract, tmp_path: Path) -> None:
    """A file without a feature column stops with a one-line error naming the column."""
    # Given a file without the amount column
    path, _ = to_score(trained, contract, tmp_path)
    pd.read_csv(path).drop(columns=["amount"]).to_csv(path, index=False)

    # When / Then
    with pytest.raises(DataError, match=r"lacks feature columns \['amount'\]"):
        score_file(trained.settings, contract, path)


def test_the_batch_scoring_flow_writes_where_asked(
    trained: Trained,
    contract: Contract,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    on_live_prefect: LiveServer,
) -> None:
    """The deployment's flow scores the file into the given output and reports what it did."""
    from prefect.flows import load_flow_from_entrypoint

    from {{ cookiecutter.package_name }}.settings import ENV_PREFIX, get_settings

    # Given the trained registry published to the flow through the environment
    monkeypatch.setenv(f"{ENV_PREFIX}PROJECT_ROOT", str(PROJECT_ROOT))
    monkeypatch.setenv(f"{ENV_PREFIX}STATE_DIR", str(trained.settings.var_dir))
    get_settings.cache_clear()
    path, _ = to_score(trained, contract, tmp_path)
    flow: Any = load_flow_from_entrypoint(f"{PROJECT_ROOT / 'flows' / 'scoring.py'}:batch_scoring")

    # When the flow runs
    try:
        result = flow(input_path=str(path), output_path=str(tmp_path / "out.csv"))
    finally:
        get_settings.cache_clear()

    # Then the CSV holds the scores
    assert result["rows"] == 300
    assert len(pd.read_csv(tmp_path / "out.csv")) == 300
