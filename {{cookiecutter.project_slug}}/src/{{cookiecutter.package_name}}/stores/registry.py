"""MLflow: the experiment, the registered model, its versions and their aliases.

Aliases are the switch: `champion` serves, `challenger` shadows, `previous` is
where a rollback returns to. Stages are deprecated and never used. A version
may hold `champion` only if its `gate.status` tag says it passed the gate.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import RegistryError

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion
    from mlflow.tracking import MlflowClient

    from ..settings import Settings

CHAMPION, CHALLENGER, PREVIOUS = "champion", "challenger", "previous"
# A version answering a share of live traffic before it becomes champion (promotion/canary_steps.py);
# the registered model's tags say which share and since when.
CANARY = "canary"
CANARY_SHARE_TAG, CANARY_STARTED_TAG = "canary.share", "canary.started_at"
BUNDLE_ARTIFACT = "bundle"
GATE_STATUS, GATE_REASON = "gate.status", "gate.reason"
PASSED, FAILED = "passed", "failed"
# A version whose training run stopped between registering it and the gate (a killed worker).
INCOMPLETE = "incomplete"
# When the version's training stopped learning from the prediction log's labelled answers (ISO,
# UTC): replay judges it only on requests after that (`training.steps.learned_until`).
LEARNED_UNTIL = "training.learned_until"

log = logging.getLogger(__name__)


def _quiet_mlflow() -> None:
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def connect(settings: Settings) -> MlflowClient:
    """Point MLflow at the configured tracking/registry URI and make sure the experiment
    exists with an artifact root that does not depend on the working directory."""
    _quiet_mlflow()
    import mlflow
    from mlflow.tracking import MlflowClient

    if settings.mlflow_tracking_uri.startswith("sqlite:///"):
        settings.var_dir.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_registry_uri(settings.mlflow_tracking_uri)
    client = MlflowClient(tracking_uri=settings.mlflow_tracking_uri, registry_uri=settings.mlflow_tracking_uri)
    if client.get_experiment_by_name(settings.mlflow.experiment_name) is None:
        client.create_experiment(settings.mlflow.experiment_name, artifact_location=settings.mlflow_artifact_location)
    mlflow.set_experiment(settings.mlflow.experiment_name)
    return client


def version_by_alias(client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as err:
        if err.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise


def aliases(client: MlflowClient, name: str) -> dict[str, str]:
    """alias -> version for the registered model (empty when it does not exist yet)."""
    from mlflow.exceptions import MlflowException

    try:
        model = client.get_registered_model(name)
    except MlflowException as err:
        if err.error_code == "RESOURCE_DOES_NOT_EXIST":
            return {}
        raise
    return {alias: str(version) for alias, version in (model.aliases or {}).items()}


def model_state(client: MlflowClient, name: str) -> tuple[dict[str, str], dict[str, str]]:
    """The registered model's aliases and tags, read in one call (empty when it does not exist)."""
    from mlflow.exceptions import MlflowException

    try:
        model = client.get_registered_model(name)
    except MlflowException as err:
        if err.error_code == "RESOURCE_DOES_NOT_EXIST":
            return {}, {}
        raise
    aliases = {alias: str(version) for alias, version in (model.aliases or {}).items()}
    return aliases, dict(model.tags or {})


def download_bundle(client: MlflowClient, version: ModelVersion, destination: Path) -> Path:
    """Fetch a version's bundle folder (ONNX, encoding, manifest, profile) into `destination`."""
    if version.run_id is None:
        raise RegistryError(f"model version {version.version} has no run, so no bundle")
    destination.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=destination.parent) as scratch:
        fetched = Path(client.download_artifacts(version.run_id, BUNDLE_ARTIFACT, scratch))
        # Replace in one rename so that a reader never sees half a bundle.
        staged = destination.with_name(destination.name + ".incoming")
        shutil.rmtree(staged, ignore_errors=True)
        shutil.move(str(fetched), staged)
        old = destination.with_name(destination.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if destination.exists():
            destination.rename(old)
        staged.rename(destination)
        shutil.rmtree(old, ignore_errors=True)
    return destination


@contextmanager
def fetched_bundle(client: MlflowClient, version: ModelVersion) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as scratch:
        yield download_bundle(client, version, Path(scratch) / "bundle")


def set_tags(client: MlflowClient, name: str, version: str, tags: Mapping[str, Any]) -> None:
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, str(value))


def require_passed(client: MlflowClient, name: str, version: str) -> ModelVersion:
    """The guard rail: only a version that passed validation, parity and the gate may serve."""
    from mlflow.exceptions import MlflowException

    try:
        found = client.get_model_version(name, version)
    except MlflowException:
        raise RegistryError(f"{name} version {version} does not exist") from None
    if found.tags.get(GATE_STATUS) != PASSED:
        reason = found.tags.get(GATE_REASON, "it never passed the gate")
        raise RegistryError(f"{name} version {version} may not serve: {reason}")
    return found


def mark_unfinished(client: MlflowClient, name: str, newest: str) -> list[str]:
    """Tag the versions registered before `newest` that never reached the gate (their training
    run was killed between registering and judging) `gate.status=incomplete`, with the reason.

    Such a version could never get an alias (the gate aliases only its own run's version, and
    `require_passed` refuses it), but without the tag it looks like a run still in progress. A
    run that is still judging one (two trainings at once) overwrites the tag with its verdict."""
    marked = []
    for found in client.search_model_versions(f"name = '{name}'"):
        if int(found.version) < int(newest) and GATE_STATUS not in (found.tags or {}):
            reason = "its training run stopped after registering it and before the gate: it may never serve"
            set_tags(client, name, str(found.version), {GATE_STATUS: INCOMPLETE, GATE_REASON: reason})
            marked.append(str(found.version))
    if marked:
        log.warning(
            "%s versions %s were registered by training runs that never finished: tagged %s", name, marked, INCOMPLETE
        )
    return marked
