"""The production backends, for real: MLflow on PostgreSQL, and model artifacts on an
S3-compatible store (moto's server stands in for S3 or MinIO)."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.core.contract import Contract
from {{ cookiecutter.package_name }}.model.bundle import load_bundle
from {{ cookiecutter.package_name }}.settings import MlflowSettings
from {{ cookiecutter.package_name }}.stores import registry
from tests.support.postgres import scratch_database
from tests.support.project import make_settings, train_version

pytestmark = pytest.mark.slow


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A fresh database on the test PostgreSQL server, dropped afterwards."""
    with scratch_database("mlflow") as url:
        yield url


@pytest.fixture
def s3_bucket(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A bucket on a local S3-compatible server, reached the way MLflow reaches MinIO."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", endpoint)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="models")
        yield "s3://models/mlflow"
    finally:
        server.stop()


def test_registry_on_postgresql_with_artifacts_on_s3(
    postgres_database: str,
    s3_bucket: str,
    tmp_path_factory: pytest.TempPathFactory,
    demo: pd.DataFrame,
    contract: Contract,
) -> None:
    """Moved to production backends by settings alone, training registers a champion whose
    bundle comes back from S3 and serves."""
    # Given settings that point MLflow at PostgreSQL and its artifacts at S3
    settings = make_settings(
        tmp_path_factory.mktemp("backends"),
        mlflow=MlflowSettings(tracking_uri=postgres_database, artifact_location=s3_bucket),
    )

    # When a model is trained
    trained = train_version(settings, demo, contract)

    # Then the registry (in PostgreSQL) holds the champion and its bundle loads from S3
    client = registry.connect(settings)
    assert registry.aliases(client, settings.mlflow.registered_model_name) == {registry.CHAMPION: trained.version}
    version = client.get_model_version(settings.mlflow.registered_model_name, trained.version)
    assert version.run_id is not None
    assert client.get_run(version.run_id).info.artifact_uri.startswith(s3_bucket)
    with registry.fetched_bundle(client, version) as folder:
        bundle = load_bundle(folder)
        assert len(bundle.score_frame(trained.holdout.head(10))) == 10
