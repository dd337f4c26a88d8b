"""Training: load, add fresh labelled rows, validate, split, train, evaluate, export, prove
parity, fit the loss model (regression), register, gate.

Each step is a task around a function in the package (`training.steps`, `training.gate`), so
this file reads as the table of contents of a training run. A failing step
stops the run with its reason; nothing is registered before validation and the
parity check pass, and nothing gets an alias before the gate passes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from {{ cookiecutter.package_name }}.settings import get_settings
from {{ cookiecutter.package_name }}.training import gate, steps
from {{ cookiecutter.package_name }}.training.fit import lightgbm_params

# Inputs are data frames and models: never cache or hash them (cache_policy=NO_CACHE).
load_data = task(name="load-training-data", cache_policy=NO_CACHE)(steps.load_training_data)
read_fresh_rows = task(name="read-fresh-labelled-rows", cache_policy=NO_CACHE)(steps.read_fresh_rows)
add_fresh_rows = task(name="add-fresh-rows", cache_policy=NO_CACHE)(steps.add_fresh_rows)
validate_data = task(name="validate-data", cache_policy=NO_CACHE)(steps.validate)
split_data = task(name="split-data", cache_policy=NO_CACHE)(steps.split)
train_model = task(name="train-lightgbm", cache_policy=NO_CACHE)(steps.fit)
evaluate_holdout = task(name="evaluate-holdout", cache_policy=NO_CACHE)(steps.evaluate_holdout)
export_onnx = task(name="export-onnx", cache_policy=NO_CACHE)(steps.export)
check_parity = task(name="check-parity", cache_policy=NO_CACHE)(steps.check_parity)
fit_loss_model = task(name="fit-loss-model", cache_policy=NO_CACHE)(steps.fit_loss_model)
log_to_mlflow = task(name="log-to-mlflow", cache_policy=NO_CACHE)(steps.log_and_register)
gate_and_alias = task(name="gate-and-alias", cache_policy=NO_CACHE)(gate.gate)


@flow(name="training")
def training(
    data_path: str | None = None, reason: str = "manual", evidence: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Train a new model version. `reason` and `evidence` say why it runs (a schedule, a
    person, or monitoring's degradation event) and are recorded on the version."""
    settings = get_settings()
    logger = get_run_logger()
    logger.info("training because: %s", reason)
    contract = steps.load_project_contract(settings)

    base = load_data(settings, contract, Path(data_path) if data_path else None)
    fresh = read_fresh_rows(settings, contract)
    frame = add_fresh_rows(base, fresh, settings, contract)
    report = validate_data(frame, settings)
    logger.info(report.summary())
    data = split_data(frame, contract, settings)
    logger.info("split %s: %s", data.description, data.sizes())
    booster, encoding = train_model(data, contract, settings)
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
        booster_params={
            **lightgbm_params(contract, settings.training, data.train[contract.target].to_numpy()),
            "num_trees": booster.num_trees(),
        },
        run_tags={"trigger": reason, "evidence": str(evidence or {})[:4000]},
        loss=loss_model,
    )
    decision = gate_and_alias(registered, evaluation, data, contract, settings, reason)

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
        "alias": decision.alias,
        "passed": decision.passed,
        "reason": decision.reason,
        "metrics": evaluation.metrics,
        "parity": parity.as_dict(),
    }


if __name__ == "__main__":
    training()
