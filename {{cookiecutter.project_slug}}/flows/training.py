"""Training: load, add fresh labelled rows, validate, split, train, evaluate, export, prove
parity, fit the loss model (regression), register, gate, write the model card, replay a new
challenger on the logged traffic (`promotion.replay`: one found worse never gets shadow traffic).

Each step is a task around a function in the package (`training.steps`, `training.gate`), so
this file reads as the table of contents of a training run. A failing step
stops the run with its reason; nothing is registered before validation and the
parity check pass, and nothing gets an alias before the gate passes.

With `COMPUTE__ENGINE=dask` the run opens the cluster (`COMPUTE__ADDRESS`, or a LocalCluster)
and hands over to `training_on_dask`, a flow on prefect-dask's DaskTaskRunner whose tasks
load, validate, split, fit and count the whole table for the reference profile on the
cluster (each gets its client with `get_dask_client()`); from evaluation on, both flows run
the same tasks.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import lightgbm as lgb
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect_dask.task_runners import DaskTaskRunner
from prefect_dask.utils import get_dask_client

from {{ cookiecutter.package_name }}.core import transient
from {{ cookiecutter.package_name }}.core.contract import Contract
from {{ cookiecutter.package_name }}.core.encoding import Encoding
from {{ cookiecutter.package_name }}.promotion import replay
from {{ cookiecutter.package_name }}.settings import Settings, get_settings
from {{ cookiecutter.package_name }}.training import dask_steps, gate, steps
from {{ cookiecutter.package_name }}.training.distributed_split import DaskSplit
from {{ cookiecutter.package_name }}.training.fit import lightgbm_params
from {{ cookiecutter.package_name }}.training.split import HeldOut

# Inputs are data frames and models: never cache or hash them (cache_policy=NO_CACHE).
# Reads retry a passing fault (a lost connection, a database restarting: `transient`) with backoff.
RETRY = transient.TASK_RETRY
load_data = task(name="load-training-data", cache_policy=NO_CACHE, **RETRY)(steps.load_training_data)
read_fresh_rows = task(name="read-fresh-labelled-rows", cache_policy=NO_CACHE, **RETRY)(steps.read_fresh_rows)
# Validation, splitting, fitting, evaluation, export and parity compute on data in memory, seeded:
# a retry would fail the same way, after as long again.
add_fresh_rows = task(name="add-fresh-rows", cache_policy=NO_CACHE)(steps.add_fresh_rows)
validate_data = task(name="validate-data", cache_policy=NO_CACHE)(steps.validate)
split_data = task(name="split-data", cache_policy=NO_CACHE)(steps.split)
train_model = task(name="train-lightgbm", cache_policy=NO_CACHE)(steps.fit)
evaluate_holdout = task(name="evaluate-holdout", cache_policy=NO_CACHE)(steps.evaluate_holdout)
export_onnx = task(name="export-onnx", cache_policy=NO_CACHE)(steps.export)
check_parity = task(name="check-parity", cache_policy=NO_CACHE)(steps.check_parity)
fit_loss_model = task(name="fit-loss-model", cache_policy=NO_CACHE)(steps.fit_loss_model)
# No retries: registering is not idempotent. A retry after MLflow created the version but before the
# answer came back would register a second version of the same model; the one left behind never
# reaches the gate (no alias; the next gate tags it `gate.status=incomplete`).
log_to_mlflow = task(name="log-to-mlflow", cache_policy=NO_CACHE)(steps.log_and_register)
# No retries: it moves an alias, and a retry must not judge or alias a version twice; a run killed
# here is settled by the next one (a half version is tagged incomplete, a half promotion recovered).
gate_and_alias = task(name="gate-and-alias", cache_policy=NO_CACHE)(gate.gate)
load_partitions = task(name="load-partitions", cache_policy=NO_CACHE, **RETRY)(dask_steps.load_partitioned)
add_fresh_partition = task(name="add-fresh-rows", cache_policy=NO_CACHE)(dask_steps.add_fresh_partitioned)


@task(name="validate-partitions", cache_policy=NO_CACHE)
def validate_partitions(table: dask_steps.Partitioned, settings: Settings) -> tuple[Any, Any]:
    with get_dask_client() as client:
        return dask_steps.validate_partitioned(table, settings, client)


@task(name="split-on-dask", cache_policy=NO_CACHE)
def split_partitions(frame: Any, contract: Contract, settings: Settings) -> DaskSplit:
    with get_dask_client() as client:
        return dask_steps.split_partitioned(frame, contract, settings, client)


@task(name="train-lightgbm-on-dask", cache_policy=NO_CACHE)
def train_on_dask(
    data: DaskSplit, contract: Contract, settings: Settings
) -> tuple[lgb.Booster, Encoding, dict[str, Any]]:
    with get_dask_client() as client:
        booster, encoding, found = dask_steps.fit_partitioned(data, contract, settings, client)
        return booster, encoding, {**found.params, **dask_steps.engine_params(settings, client)}


@task(name="profile-partitions", cache_policy=NO_CACHE)
def profile_partitions(data: DaskSplit, contract: Contract) -> Any:  # model.reference_profile.TableProfile
    with get_dask_client() as client:
        return dask_steps.profile_partitioned(data, contract, client)


# The card's artifacts overwrite themselves: writing it twice leaves one card.
write_model_card = task(name="write-model-card", cache_policy=NO_CACHE, **RETRY)(steps.write_model_card)
# No retries: it may take the challenger alias away (an alias move).
replay_challenger = task(name="replay-challenger", cache_policy=NO_CACHE)(replay.replay_challenger)


@flow(name="training")
def training(
    data_path: str | None = None, reason: str = "manual", evidence: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Train a new model version. `reason` and `evidence` say why it runs (a schedule, a
    person, or monitoring's degradation event) and are recorded on the version."""
    settings = get_settings()
    logger = get_run_logger()
    logger.info("training because: %s", reason)
    if settings.compute.engine == "dask":
        with dask_steps.compute_client(settings) as client:
            runner = DaskTaskRunner(address=str(client.scheduler_info()["address"]))
            on_dask = training_on_dask.with_options(task_runner=runner)  # type: ignore[arg-type]  # prefect-dask's runner is not generic
            result: dict[str, Any] = on_dask(data_path, reason, evidence)
            return result
    contract = steps.load_project_contract(settings)

    base = load_data(settings, contract, data_path)  # a path or an s3:// URL
    fresh = read_fresh_rows(settings, contract)
    frame = add_fresh_rows(base, fresh, settings, contract)
    report = validate_data(frame, settings)
    logger.info(report.summary())
    data = split_data(frame, contract, settings)
    logger.info("split %s: %s", data.description, data.sizes())
    booster, encoding = train_model(data, contract, settings)
    learned = steps.learned_until(data, fresh, contract)
    params = {
        **lightgbm_params(contract, settings.training, data.train[contract.target].to_numpy()),
        **dask_steps.engine_params(settings),
    }
    return finish(settings, contract, frame, data, booster, encoding, params, reason, evidence, learned)


@flow(name="training-on-dask")
def training_on_dask(data_path: str | None, reason: str, evidence: dict[str, Any] | None) -> dict[str, Any]:
    """The training flow's first steps on the Dask cluster; the rest as the local run's."""
    settings = get_settings()
    logger = get_run_logger()
    contract = steps.load_project_contract(settings)
    table = load_partitions(settings, contract, data_path)  # a path or an s3:// URL
    report, facts = validate_partitions(table, settings)
    logger.info(report.summary())
    fresh = read_fresh_rows(settings, contract)
    frame = add_fresh_partition(table, fresh, settings, contract)
    data = split_partitions(frame, contract, settings)
    logger.info("split %s: %s", data.description, data.sizes())
    booster, encoding, params = train_on_dask(data, contract, settings)
    learned = steps.learned_until(data, fresh, contract)
    profile = profile_partitions(data, contract)  # the whole table's features, counted on the workers
    return finish(
        settings, contract, facts, data, booster, encoding, params, reason, evidence, learned, table_profile=profile
    )


def finish(
    settings: Settings,
    contract: Contract,
    frame: Any,  # the table in pandas, or its facts (rows, hash) on Dask
    data: HeldOut,
    booster: lgb.Booster,
    encoding: Encoding,
    params: dict[str, Any],
    reason: str,
    evidence: dict[str, Any] | None,
    learned: datetime | None = None,  # up to when it learned from the log's labelled answers
    table_profile: Any = None,  # model.reference_profile.TableProfile, on Dask
) -> dict[str, Any]:
    """Evaluate, export, prove parity, register and gate: the same on every engine (the
    reference profile's features are the holdout's, or on Dask `table_profile`'s)."""
    evaluation = evaluate_holdout(booster, encoding, data, contract, settings)
    onnx_bytes = export_onnx(booster, encoding, settings)
    parity = check_parity(onnx_bytes, encoding, data, evaluation, contract, settings)
    loss_model = fit_loss_model(onnx_bytes, encoding, data, parity, contract, settings)  # regression only
    registered = log_to_mlflow(
        settings=settings,
        contract=contract,
        frame=frame,
        data=data,
        encoding=encoding,
        evaluation=evaluation,
        onnx_bytes=onnx_bytes,
        parity=parity,
        booster_params={**params, "num_trees": booster.num_trees()},
        run_tags={"trigger": reason, "evidence": str(evidence or {})[:4000]},
        loss=loss_model,
        learned_until=learned,
        table_profile=table_profile,
    )
    decision = gate_and_alias(registered, evaluation, data, contract, settings, reason)
    write_model_card(
        settings=settings,
        contract=contract,
        frame=frame,
        data=data,
        booster=booster,
        encoding=encoding,
        evaluation=evaluation,
        parity=parity,
        registered=registered,
        decision=decision,
    )
    # A new challenger, replayed on the champion's logged traffic: one found worse loses its alias.
    replayed = replay_challenger(settings, contract, registered.version) if decision.passed else None
    alias = None if replayed is not None and replayed.removed_from_shadow else decision.alias

    outcome = steps.TrainingOutcome(
        version=registered.version,
        run_id=registered.run_id,
        gate=decision,
        metrics=evaluation.metrics,
        parity=parity.as_dict(),
    )
    create_markdown_artifact(
        key="training-summary",
        markdown=f"```json\n{steps.summary(outcome)}\n```",
        description=f"version {registered.version}",
    )
    return {
        "version": registered.version,
        "alias": alias,
        "passed": decision.passed,
        "reason": decision.reason,
        "metrics": evaluation.metrics,
        "parity": parity.as_dict(),
        "replay": replayed.as_dict() if replayed is not None else None,
    }


if __name__ == "__main__":
    training()
