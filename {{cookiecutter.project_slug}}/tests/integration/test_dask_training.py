"""Training on Dask: a real LocalCluster (2 worker processes, 1 thread each) trains on
partitioned Parquet, registers a champion whose ONNX export passed parity, and the service
serves it; its holdout metrics are close to the local engine's on the same data."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest
from starlette.testclient import TestClient

from {{ cookiecutter.package_name }}.core.contract import Contract
from {{ cookiecutter.package_name }}.data.compute import dask_client
from {{ cookiecutter.package_name }}.data.demo_world import demo_frame
from {{ cookiecutter.package_name }}.data.tables import prepare_frame, write_table
from {{ cookiecutter.package_name }}.errors import DataError, ValidationFailed
{% if cookiecutter.problem_type == "multiclass_classification" -%}
from {{ cookiecutter.package_name }}.model.bundle import PROFILE_FILE, answered_class, load_bundle
{%- else -%}
from {{ cookiecutter.package_name }}.model.bundle import PROFILE_FILE, load_bundle
{%- endif %}
from {{ cookiecutter.package_name }}.model.feature_profile import feature_profile
from {{ cookiecutter.package_name }}.model.reference_profile import load_profile
from {{ cookiecutter.package_name }}.settings import ENV_PREFIX, Settings, get_settings
from {{ cookiecutter.package_name }}.stores import registry
from {{ cookiecutter.package_name }}.training import dask_steps, gate, steps
from {{ cookiecutter.package_name }}.training.distributed_profile import profile_partitions
from tests.support.project import DASK, PROJECT_ROOT, TEST_ROWS, Trained, make_settings
from tests.support.service import load_service, service_env, transactions

if TYPE_CHECKING:
    from distributed import Client

pytestmark = pytest.mark.slow

# The Dask model is fitted on the same rows with the same parameters and rounds chosen the
# same way, but by two LightGBM ranks (each finds splits on its half's histograms merged):
# close, not identical. Measured on these 40k rows (Dask vs local):
{% if cookiecutter.problem_type == "binary_classification" -%}
# ROC AUC 0.948 vs 0.951, AP 0.303 vs 0.292.
TOLERANCE = {"roc_auc": 0.02, "average_precision": 0.06}
{%- elif cookiecutter.problem_type == "multiclass_classification" -%}
# macro F1 0.479 vs 0.463.
TOLERANCE = {"macro_f1": 0.05}
{%- else -%}
# RMSE 4.963 vs 4.964.
TOLERANCE = {"rmse": 0.15}
{%- endif %}


@pytest.fixture(scope="module")
def s3_store() -> Iterator[str]:
    """A local S3-compatible server (moto), reached the way the project reaches MinIO: its
    endpoint in MLFLOW_S3_ENDPOINT_URL, credentials in the AWS variables. Set before the
    cluster starts, so that its workers read S3 with their own environment, as deployed ones do."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in {
                "MLFLOW_S3_ENDPOINT_URL": endpoint,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "us-east-1",
            }.items():
                patch.setenv(name, value)
            yield endpoint
    finally:
        server.stop()


@pytest.fixture(scope="module")
def cluster(s3_store: str) -> Iterator[Client]:
    """One LocalCluster for the module (starting one costs seconds), its workers started in
    the environment that reaches `s3_store`."""
    with dask_client(DASK) as client:
        yield client


@pytest.fixture(scope="module")
def s3_partitions(s3_store: str, partitions: Path) -> str:
    """The two partitions uploaded under s3://training-data/extracts/ (with a file that is not
    Parquet beside them, which the reader skips)."""
    import boto3

    bucket = boto3.client("s3", endpoint_url=s3_store)
    bucket.create_bucket(Bucket="training-data")
    for part in sorted(partitions.glob("*.parquet")):
        bucket.upload_file(str(part), "training-data", f"extracts/2026/{part.name}")
    bucket.put_object(Bucket="training-data", Key="extracts/_SUCCESS", Body=b"")
    bucket.put_object(Bucket="training-data", Key="empty-prefix/README.txt", Body=b"no data here")
    return "s3://training-data/extracts/"


@pytest.fixture(scope="module")
def partitions(tmp_path_factory: pytest.TempPathFactory, contract: Contract) -> Path:
    """The demo table (the rows `trained` was trained on) as two Parquet partitions."""
    folder = tmp_path_factory.mktemp("partitions")
    raw = demo_frame(contract, TEST_ROWS, 60)
    half = len(raw) // 2
    write_table(raw.iloc[:half], folder / "part-0000.parquet")
    write_table(raw.iloc[half:], folder / "part-0001.parquet")
    return folder


def train_on_dask(settings: Settings, contract: Contract, client: Client, path: Path | str) -> steps.TrainingOutcome:
    """The training flow's steps on the Dask engine, without Prefect (the flow has its own test)."""
    table = dask_steps.load_partitioned(settings, contract, path)
    _, facts = dask_steps.validate_partitioned(table, settings, client)
    frame = dask_steps.add_fresh_partitioned(table, None, settings, contract)
    data = dask_steps.split_partitioned(frame, contract, settings, client)
    booster, encoding, found = dask_steps.fit_partitioned(data, contract, settings, client)
    profile = dask_steps.profile_partitioned(data, contract, client)
    evaluation = steps.evaluate_holdout(booster, encoding, data, contract, settings)
    onnx_bytes = steps.export(booster, encoding, settings)
    parity = steps.check_parity(onnx_bytes, encoding, data, evaluation, contract, settings)
    registered = steps.log_and_register(
        settings=settings,
        contract=contract,
        frame=facts,
        data=data,
        encoding=encoding,
        evaluation=evaluation,
        onnx_bytes=onnx_bytes,
        parity=parity,
        booster_params={**found.params, **dask_steps.engine_params(settings, client), "num_trees": booster.num_trees()},
        run_tags={"trigger": "test"},
        table_profile=profile,
    )
    decision = gate.gate(registered, evaluation, data, contract, settings, "test")
    return steps.TrainingOutcome(registered.version, registered.run_id, decision, evaluation.metrics, parity.as_dict())


def test_dask_training_registers_a_served_champion_close_to_local(
    tmp_path: Path,
    cluster: Client,
    partitions: Path,
    contract: Contract,
    trained: Trained,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Partitioned Parquet trained on the cluster: a parity-checked champion that records
    its engine, that the service serves, and that scores like the local engine's model."""
    # Given the demo table as two partitions, and settings for the Dask engine
    settings = make_settings(tmp_path / "dask", compute=DASK)

    # When it trains on the cluster (`trained` is the local engine's model of the same rows)
    outcome = train_on_dask(settings, contract, cluster, partitions)

    # Then the Dask model is champion, its ONNX export matched LightGBM, and the run names its engine
    assert (outcome.version, outcome.gate.alias) == ("1", registry.CHAMPION), outcome.gate.reason
    assert outcome.parity["max_abs_diff"] <= settings.parity.max_abs_diff
    client = registry.connect(settings)
    params = client.get_run(outcome.run_id).data.params
    assert (params["compute_engine"], params["compute_workers"]) == ("dask", "2")
    assert params["holdout_rows"] == str(len(trained.holdout))  # the same split, found on the partitions

    # And its holdout metrics are within the stated tolerance of the local engine's
    for metric, tolerance in TOLERANCE.items():
        assert abs(outcome.metrics[metric] - trained.evaluation.metrics[metric]) <= tolerance, (
            metric,
            outcome.metrics[metric],
            trained.evaluation.metrics[metric],
        )

    # And the service serves it: its answers are the registered bundle's scores
    records = transactions(20, seed=5)
    module = load_service(monkeypatch, service_env(settings))
    with TestClient(module.ModelService.to_asgi(), raise_server_exceptions=False) as app:
        answered = app.post("/predict", json={"records": records})
    assert answered.status_code == 200, answered.text
    predictions = answered.json()["predictions"]
    assert {p["model_version"] for p in predictions} == {"1"}
    version = client.get_model_version(settings.mlflow.registered_model_name, "1")
    with registry.fetched_bundle(client, version) as folder:
        expected = load_bundle(folder).score_records(records)
{%- if cookiecutter.problem_type == "multiclass_classification" %}
    expected = answered_class(expected)[1]  # a multiclass score is the answered class's probability
{%- endif %}
    np.testing.assert_allclose([p["score"] for p in predictions], expected, rtol=1e-6)


def test_the_profile_counted_on_the_partitions_is_the_whole_tables(
    cluster: Client, partitions: Path, contract: Contract, settings: Settings
) -> None:
    """The reference profile's table part counted partition by partition on the workers equals
    the whole table's profiled at once in pandas: the same rows and columns, every categorical
    level's count, and with the same numeric bin edges every bin's count."""
    # Given the demo table as two partitions, read on the cluster, and the whole table in pandas
    table = dask_steps.load_partitioned(settings, contract, partitions)
    whole = pd.concat([prepare_frame(pd.read_parquet(f), contract) for f in table.files], ignore_index=True)
    sample = whole.sample(n=3_000, random_state=7)

    # When the profile is counted on the workers, with bin edges from the sample
    found = profile_partitions(table.frame, contract, cluster, sample)

    # Then it describes every row, and each column as the whole table's profile does
    assert found.rows == len(whole)
    assert found.columns == {name: {"dtype": str(whole[name].dtype), "kind": kind} for name, kind in _kinds(whole)}
    for feature in contract.features:
        spec = found.features[feature.name]
        edges = np.asarray(spec.get("edges", []), dtype=float) if spec["kind"] == "numeric" else None
        expected = feature_profile(whole[feature.name], feature, edges)
        if spec["kind"] == "categorical":
            # And every categorical level's count is the whole table's, exactly
            assert spec == expected, feature.name
            continue
        # And every numeric bin's count, the missing values and the extremes are exact, the
        # means and spread equal up to the order floats were added in
        exact = ("n", "missing", "counts", "min", "max", "edges")
        assert {k: spec[k] for k in exact} == {k: expected[k] for k in exact}, feature.name
        np.testing.assert_allclose(spec["means"], expected["means"], rtol=1e-9, err_msg=feature.name)
        np.testing.assert_allclose([spec["mean"], spec["std"]], [expected["mean"], expected["std"]], rtol=1e-9)
        assert len(spec["edges"]) > 1, feature.name  # the sample placed quantile bins (few on a count feature)


def _kinds(frame: pd.DataFrame) -> list[tuple[str, str]]:
    from {{ cookiecutter.package_name }}.core.histogram import column_kind

    return [(str(name), column_kind(frame[name])) for name in frame.columns]


def test_partitions_on_s3_train_a_registered_version(
    tmp_path: Path, cluster: Client, s3_partitions: str, partitions: Path, contract: Contract
) -> None:
    """Training data as Parquet partitions under an s3:// prefix: the Dask workers read them
    with the AWS environment and a version is registered from every row; the local engine
    reads the same prefix as one table."""
    # Given the demo table's two partitions in a bucket, and settings for the Dask engine
    settings = make_settings(tmp_path / "dask-s3", compute=DASK)
    rows = sum(len(pd.read_parquet(f)) for f in partitions.glob("*.parquet"))

    # When the partitions are loaded and trained on the cluster
    table = dask_steps.load_partitioned(settings, contract, s3_partitions)
    outcome = train_on_dask(settings, contract, cluster, s3_partitions)

    # Then both partitions (and not the marker file beside them) are the table, and a
    # parity-checked version was registered whose profile counted every row
    assert table.files == [f"{s3_partitions}2026/part-000{n}.parquet" for n in (0, 1)]
    assert outcome.version == "1", outcome.gate.reason
    assert outcome.parity["max_abs_diff"] <= settings.parity.max_abs_diff
    client = registry.connect(settings)
    version = client.get_model_version(settings.mlflow.registered_model_name, "1")
    with registry.fetched_bundle(client, version) as folder:
        assert load_profile(folder / PROFILE_FILE)["n_rows"] == rows

    # And the local engine reads the prefix as the same table, row for row
    local = steps.load_training_data(settings, contract, s3_partitions)
    whole = pd.concat([prepare_frame(pd.read_parquet(f), contract) for f in sorted(partitions.glob("*.parquet"))])
    pd.testing.assert_frame_equal(local, whole.reset_index(drop=True))


@pytest.mark.parametrize(
    ("location", "problem"),
    [
        ("s3://no-such-bucket/extracts/", "no such bucket 'no-such-bucket'"),
        ("s3://training-data/empty-prefix/", "no .parquet files under it"),
        ("s3://training-data/nothing-here/", "no .parquet files under it"),
    ],
)
@pytest.mark.usefixtures("s3_partitions")
def test_a_bad_s3_location_is_one_line_naming_it(
    tmp_path: Path, cluster: Client, contract: Contract, location: str, problem: str
) -> None:
    """A missing bucket, or a prefix without Parquet files, stops either engine's load with
    one line naming the location and what is wrong with it."""
    # Given settings for the Dask engine
    settings = make_settings(tmp_path / "state", compute=DASK)

    # When the Dask engine and the local engine load the location
    with pytest.raises(DataError) as on_dask:
        dask_steps.load_partitioned(settings, contract, location)
    with pytest.raises(DataError) as on_local:
        steps.load_training_data(settings, contract, location)

    # Then each says, in one line, which location and what is wrong
    for caught in (on_dask, on_local):
        assert str(caught.value).startswith(f"{location}: {problem}"), str(caught.value)
        assert "\n" not in str(caught.value)


def test_a_failing_partition_is_named(tmp_path: Path, cluster: Client, partitions: Path, contract: Contract) -> None:
    """One bad partition stops training with one line naming that partition and its failures."""
    # Given two partitions, the second with negative amounts
    folder = tmp_path / "parts"
    shutil.copytree(partitions, folder)
    broken = pd.read_parquet(folder / "part-0001.parquet").assign(amount=-1.0)
    broken.to_parquet(folder / "part-0001.parquet", index=False)
    settings = make_settings(tmp_path / "state", compute=DASK)

    # When the partitions are validated on the cluster
    table = dask_steps.load_partitioned(settings, contract, folder)
    with pytest.raises(ValidationFailed) as caught:
        dask_steps.validate_partitioned(table, settings, cluster)

    # Then the one-line message names the failing partition, its failure, and not the good one
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("data failed validation in 1 of 2 partition(s): partition part-0001.parquet: ")
    assert "expect_column_values_to_be_between failed for column 'amount'" in message
    assert "part-0000" not in message


@pytest.mark.usefixtures("prefect_server")
def test_the_training_flow_runs_on_the_cluster_at_the_address(
    cluster: Client, partitions: Path, env_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """COMPUTE__ENGINE=dask with an address: the flow trains on that cluster (DaskTaskRunner),
    and the registered bundle's reference profile describes the whole table, not the holdout."""
    # Given the engine set to dask, pointing at the running cluster, and the partitions as the data
    address = str(cluster.scheduler_info()["address"])
    monkeypatch.setenv(f"{ENV_PREFIX}COMPUTE__ENGINE", "dask")
    monkeypatch.setenv(f"{ENV_PREFIX}COMPUTE__ADDRESS", address)
    get_settings.cache_clear()

    # When the training flow runs
    from prefect.flows import load_flow_from_entrypoint

    training: Any = load_flow_from_entrypoint(f"{PROJECT_ROOT / 'flows' / 'training.py'}:training")
    result: dict[str, Any] = training(data_path=str(partitions), reason="on dask")

    # Then it registered a champion, and the run records the engine, its workers and the scheduler
    assert (result["version"], result["alias"]) == ("1", registry.CHAMPION), result["reason"]
    client = registry.connect(env_settings)
    run_id = client.get_model_version(env_settings.mlflow.registered_model_name, "1").run_id
    assert run_id is not None
    params = client.get_run(run_id).data.params
    assert (params["compute_engine"], params["compute_workers"], params["compute_scheduler"]) == ("dask", "2", address)

    # And the bundle's reference profile counted every row of the partitions
    rows = sum(len(pd.read_parquet(f)) for f in partitions.glob("*.parquet"))
    version = client.get_model_version(env_settings.mlflow.registered_model_name, "1")
    with registry.fetched_bundle(client, version) as folder:
        profile = load_profile(folder / PROFILE_FILE)
    assert profile["n_rows"] == rows
    assert rows > int(params["holdout_rows"])
    assert all(spec["n"] == rows for spec in profile["features"].values())
