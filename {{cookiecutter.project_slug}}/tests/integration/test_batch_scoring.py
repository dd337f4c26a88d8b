"""Batch scoring: a file through the champion's ONNX bundle, as the service would score it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from {{ cookiecutter.package_name }}.cli.app import app
from {{ cookiecutter.package_name }}.core.contract import Contract
from {{ cookiecutter.package_name }}.data.tables import read_table
from {{ cookiecutter.package_name }}.errors import DataError
from {{ cookiecutter.package_name }}.model.bundle import load_bundle
from {{ cookiecutter.package_name }}.serving.batch_scoring import BATCH_THREADS, default_output, score_chunk, score_file
from {{ cookiecutter.package_name }}.settings import ENV_PREFIX, ScoringSettings, get_settings
from {{ cookiecutter.package_name }}.stores import registry
from tests.support.live_prefect import LiveServer
from tests.support.project import DASK, PROJECT_ROOT, Trained, without_row_keys

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


def whole_file_scores(trained: Trained, contract: Contract, path: Path) -> pd.DataFrame:
    """What scoring did before it streamed: the whole file read at once and scored as one chunk."""
    client = registry.connect(trained.settings)
    version = client.get_model_version(trained.settings.mlflow.registered_model_name, trained.version)
    with registry.fetched_bundle(client, version) as folder:
        bundle = load_bundle(folder, BATCH_THREADS, contract.hash)
        return score_chunk(bundle, contract, read_table(path), 0, str(version.version))


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
@pytest.mark.parametrize("keyed", [True, False], ids=["id", "no-id"])
def test_a_file_streamed_in_chunks_scores_as_the_whole_file_does(
    trained: Trained, contract: Contract, tmp_path: Path, suffix: str, keyed: bool
) -> None:
    """Scored 64 rows at a time, every row has the very score, decision and label the whole file
    scored at once gives it; without an id column, `row` counts on across the chunks."""
    # Given 300 rows to score, as CSV or Parquet, under a contract with or without an id
    if not keyed:  # the same model, scored as though its contract named no id or timestamp column
        idless = without_row_keys(contract)
        vars(idless)["hash"] = contract.hash  # the hash is cached: the trained model stays servable
        contract = idless
    _, rows = to_score(trained, contract, tmp_path)
    path = tmp_path / f"today{suffix}"
    rows.to_csv(path, index=False) if suffix == ".csv" else rows.to_parquet(path, index=False)
    settings = trained.settings.model_copy(update={"scoring": ScoringSettings(chunk_rows=64)})
    seen: list[int] = []

    # When streamed in chunks of 64
    result = score_file(settings, contract, path, tmp_path / f"out{suffix}", progress=lambda n, _: seen.append(n))

    # Then the chunks' scores are the whole file's, row for row
    streamed = pd.read_csv(result.output_path) if suffix == ".csv" else pd.read_parquet(result.output_path)
    whole = whole_file_scores(trained, contract, path)
    assert seen == [64, 128, 192, 256, 300]
    assert list(streamed.columns) == list(whole.columns)
    np.testing.assert_array_equal(streamed["score"].to_numpy(), whole["score"].to_numpy())
    for column in ("decision", "label"):
        if column in whole:
            assert streamed[column].tolist() == whole[column].tolist()
    if keyed:
        assert streamed[contract.id_column].astype(str).tolist() == rows[contract.id_column].astype(str).tolist()
    else:
        assert streamed["row"].tolist() == list(range(300))
    assert result.mean_score == pytest.approx(float(whole["score"].mean()), rel=1e-9)


@pytest.mark.parametrize("keyed", [True, False], ids=["id", "no-id"])
def test_partitions_scored_on_dask_match_the_streamed_scores_row_for_row(
    trained: Trained, contract: Contract, tmp_path: Path, keyed: bool
) -> None:
    """COMPUTE__ENGINE=dask: a folder of Parquet partitions, scored a partition per task on a
    LocalCluster of two workers, gives every row the very score, decision and label the streamed
    path gives it, in the input's order; without an id, `row` counts on across partitions."""
    # Given 300 rows as three Parquet partitions, and the same rows as one file
    if not keyed:
        idless = without_row_keys(contract)
        vars(idless)["hash"] = contract.hash  # the hash is cached: the trained model stays servable
        contract = idless
    _, rows = to_score(trained, contract, tmp_path)
    folder = tmp_path / "today"
    folder.mkdir()
    for index, start in enumerate(range(0, 300, 100)):
        rows.iloc[start : start + 100].to_parquet(folder / f"part-{index}.parquet", index=False)
    whole = tmp_path / "today.parquet"
    rows.to_parquet(whole, index=False)

    # When the folder is scored on Dask, and the file streamed on the local engine
    on_dask = score_file(
        trained.settings.model_copy(update={"compute": DASK}), contract, folder, tmp_path / "d.parquet"
    )
    streamed = score_file(trained.settings, contract, whole, tmp_path / "local.parquet")

    # Then the scores are a folder of one part per partition, in order, equal to the streamed ones
    assert sorted(p.name for p in Path(on_dask.output_path).iterdir()) == [
        "part-00000.parquet",
        "part-00001.parquet",
        "part-00002.parquet",
    ]
    pd.testing.assert_frame_equal(pd.read_parquet(on_dask.output_path), pd.read_parquet(streamed.output_path))
    assert (on_dask.rows, on_dask.flagged, on_dask.model_version) == (300, streamed.flagged, streamed.model_version)
    assert on_dask.mean_score == pytest.approx(streamed.mean_score, rel=1e-12)


@pytest.fixture
def on_trained(trained: Trained, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The trained registry published to the command line through the environment."""
    monkeypatch.setenv(f"{ENV_PREFIX}PROJECT_ROOT", str(PROJECT_ROOT))
    monkeypatch.setenv(f"{ENV_PREFIX}STATE_DIR", str(trained.settings.var_dir))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_the_score_command_writes_the_scores_and_a_summary(
    trained: Trained, contract: Contract, tmp_path: Path, on_trained: None
) -> None:
    """`score INPUT --out` writes a score per row and ends with one summary line."""
    path, _ = to_score(trained, contract, tmp_path)
    result = CliRunner().invoke(app, ["score", str(path), "--out", str(tmp_path / "scores.csv")])
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(tmp_path / "scores.csv")) == 300
    summary = result.stdout.strip().splitlines()
    assert len(summary) == 1
    assert summary[0].startswith(f"scored 300 rows of {path} with champion v{trained.version}")


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing-feature", "lacks feature columns ['amount']"),
        ("unreadable", "not a readable parquet file"),
        ("no-file", "no such file"),
        ("unknown-alias", "has no `nightly` version to score with"),
    ],
)
def test_the_score_command_refuses_bad_input_in_one_line(
    trained: Trained, contract: Contract, tmp_path: Path, on_trained: None, case: str, message: str
) -> None:
    """A file missing a feature, an unreadable or absent file, an unknown alias: one line, exit 1,
    and no output file left behind."""
    # Given bad input of each kind
    path, _ = to_score(trained, contract, tmp_path)
    alias = "nightly" if case == "unknown-alias" else "champion"
    if case == "missing-feature":
        pd.read_csv(path).drop(columns=["amount"]).to_csv(path, index=False)
    elif case == "unreadable":
        path = tmp_path / "today.parquet"
        path.write_text("id,amount\n1,2\n")
    elif case == "no-file":
        path = tmp_path / "nowhere.csv"

    # When scored from the command line
    result = CliRunner().invoke(app, ["score", str(path), "--alias", alias, "--out", str(tmp_path / "out.parquet")])

    # Then it stops with one line saying what is wrong
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0]
    assert not any(p.name.startswith("out.parquet") for p in tmp_path.iterdir())
