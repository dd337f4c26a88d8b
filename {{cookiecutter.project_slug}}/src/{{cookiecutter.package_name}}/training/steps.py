"""The training pipeline's steps, each a plain function that runs without a Prefect server.

flows/training.py wraps each step in a Prefect task; tests call them directly.
The order is the contract of the pipeline: nothing is registered unless the
data passed validation and the ONNX export passed the parity check, and no
version gets an alias unless it passed the gate.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from ..core.contract import Contract, load_contract
from ..core.contract_derived import suite_path
from ..core.encoding import Encoding, fit_encoding
from ..core.metrics import evaluate, primary_metric
from ..data.demo_world import demo_frame
from ..data.fresh_labels import FreshRows

# The flow's read-fresh-labelled-rows and add-fresh-rows steps are data's own functions.
from ..data.fresh_labels import add_fresh_rows as add_fresh_rows  # noqa: PLC0414 - a step of the flow
from ..data.fresh_labels import read_fresh_rows as read_fresh_rows  # noqa: PLC0414 - a step of the flow
from ..data.object_store import data_location, read_training_table
from ..data.tables import TableFacts, prepare_frame, target_codes
from ..data.validation import Report, ensure_valid, load_suite, validate_frame
from ..model.bundle import write_bundle
from ..model.card_html import render_html
from ..model.manifest import build_manifest
from ..model.model_card import HTML_FILE, MARKDOWN_FILE, ModelCard, to_markdown
from ..model.reference_profile import TableProfile, fit_profile
from ..settings import Settings
from ..stores import registry
from .card import build_card
from .fit import choose_threshold, predict, train_booster
from .gate import Evaluation, GateDecision, Registered
from .loss_estimator import LossEstimator, fit_loss_estimator, model_errors
from .onnx_export import ParityReport, ensure_parity, onnx_scores, parity_report, to_onnx
from .split import HeldOut, Split, split_frame

log = logging.getLogger(__name__)
CANARY_ROWS = 16
SERVING_PACKAGES = ("onnx", "onnxruntime", "numpy", "pandas", "mlflow")


@dataclass
class TrainingOutcome:
    version: str
    run_id: str
    gate: GateDecision
    metrics: dict[str, float]
    parity: dict[str, Any] = field(default_factory=dict)


def load_training_data(settings: Settings, contract: Contract, data_path: str | Path | None = None) -> pd.DataFrame:
    """The user's CSV/Parquet file or `s3://` prefix of Parquet files (argument, then
    settings), else the built-in demo data; prepared to the contract's form but not yet
    validated. The labelled answers from the prediction log are added by their own step
    (`data.fresh_labels`)."""
    path = (data_location(data_path) if data_path else None) or settings.data_path
    raw = (
        read_training_table(path) if path is not None else demo_frame(contract, settings.demo_rows, settings.demo_days)
    )
    return prepare_frame(raw, contract)


def validate(frame: pd.DataFrame, settings: Settings) -> Report:
    report = validate_frame(frame, load_suite(suite_path(settings.gx_dir)))
    ensure_valid(report)
    return report


def split(frame: pd.DataFrame, contract: Contract, settings: Settings) -> Split:
    """Train, validation and holdout rows, as `training.split` says (auto: by time when the
    contract names a timestamp column, else at random, seeded and stratified)."""
    group = settings.training
    data = split_frame(
        target_codes(frame, contract),  # validated in the user's labels; the model learns 0/1
        contract,
        method=group.split,
        holdout_fraction=group.holdout_fraction,
        validation_fraction=group.validation_fraction,
        seed=group.seed,
    )
    log.info("split %s; %s", data.description, ", ".join(f"{k} {v}" for k, v in data.sizes().items()))
    return data


def fit(data: Split, contract: Contract, settings: Settings) -> tuple[lgb.Booster, Encoding]:
    encoding = fit_encoding(data.train, contract, settings.training.max_category_levels)
    return train_booster(data, contract, encoding, settings.training), encoding


def learned_until(data: HeldOut, fresh: FreshRows | None, contract: Contract) -> datetime | None:
    """Up to when this run learned from the prediction log's labelled answers (UTC), or None
    when it learned from none. Replay judges the new version only on requests after it: scored
    on rows it was trained on, any challenger looks better than it is. By time, the holdout
    (the newest slice) was not learned from; at random, any fresh row may have been."""
    if fresh is None or fresh.frame.empty:
        return None
    column = contract.timestamp_column
    if data.method == "time" and column is not None and not data.holdout.empty:
        first = pd.Timestamp(data.holdout[column].min())
        return (first.tz_localize(UTC) if first.tzinfo is None else first.tz_convert(UTC)).to_pydatetime()
    return fresh.end


def evaluate_holdout(
    booster: lgb.Booster, encoding: Encoding, data: HeldOut, contract: Contract, settings: Settings
) -> Evaluation:
    """The threshold comes from the validation slice; the metrics from the holdout."""
    valid_scores = predict(booster, encoding.transform(data.valid))
    threshold = choose_threshold(contract, data.valid[contract.target].to_numpy(), valid_scores, settings.training)
    holdout_scores = predict(booster, encoding.transform(data.holdout))
    holdout_labels = data.holdout[contract.target].to_numpy()
    metrics = evaluate(contract.task, holdout_labels, holdout_scores, threshold, contract.class_labels)
    return Evaluation(threshold=threshold, metrics=metrics, holdout_scores=holdout_scores)


def export(booster: lgb.Booster, encoding: Encoding, settings: Settings) -> bytes:
    return to_onnx(booster, encoding.n_features, settings.training.onnx_opset)


def check_parity(
    onnx_bytes: bytes, encoding: Encoding, data: HeldOut, evaluation: Evaluation, contract: Contract, settings: Settings
) -> ParityReport:
    """ONNX against LightGBM on every holdout row; raises ParityError beyond tolerance."""
    exported = onnx_scores(onnx_bytes, encoding.transform(data.holdout), contract.task)
    report = parity_report(evaluation.holdout_scores, exported, evaluation.threshold, settings.parity, contract.task)
    ensure_parity(report)
    return report


def fit_loss_model(
    onnx_bytes: bytes, encoding: Encoding, data: HeldOut, parity: ParityReport, contract: Contract, settings: Settings
) -> LossEstimator | None:
    """Regression: the loss model that lets monitoring estimate MAE and RMSE before labels
    arrive (`training/loss_estimator.py` says why the validation slice fits it and the
    holdout calibrates it); None for classifiers. Raises ParityError like the model's export."""
    if contract.task != "regression":
        return None
    valid_matrix = encoding.transform(data.valid)
    valid_scores = onnx_scores(onnx_bytes, valid_matrix, contract.task)  # as the service would answer
    fit_inputs, fit_errors = model_errors(valid_matrix, valid_scores, data.valid[contract.target].to_numpy())
    holdout_inputs, holdout_errors = model_errors(
        encoding.transform(data.holdout), parity.exported, data.holdout[contract.target].to_numpy()
    )
    found = fit_loss_estimator(
        fit_inputs,
        fit_errors,
        holdout_inputs,
        holdout_errors,
        encoding,
        seed=settings.training.seed,
        opset=settings.training.onnx_opset,
        parity=settings.parity,
        threads=settings.training.num_threads,
    )
    if found is None:
        log.warning("too few validation rows for a loss model: no estimated performance before labels")
    return found


def log_and_register(
    *,
    settings: Settings,
    contract: Contract,
    frame: pd.DataFrame | TableFacts,
    data: HeldOut,
    encoding: Encoding,
    evaluation: Evaluation,
    onnx_bytes: bytes,
    parity: ParityReport,
    booster_params: dict[str, Any],
    run_tags: dict[str, str],
    loss: LossEstimator | None = None,
    learned_until: datetime | None = None,
    table_profile: TableProfile | None = None,
) -> Registered:
    """One MLflow run: parameters, metrics, the ONNX model (registered as a new version) and
    the bundle (encoding, manifest, reference profile, contract, and the regression loss model).
    The profile describes the holdout's features, or the whole table's in `table_profile`
    (the Dask engine counts its partitions: `dask_steps.profile_partitioned`)."""
    import mlflow
    import onnx
    from mlflow.models import infer_signature

    registry.connect(settings)
    table = TableFacts.of(frame)  # a frame in memory, or the facts of one on Dask
    holdout_matrix = encoding.transform(data.holdout)
    exported = parity.exported  # the holdout as the service will score it
    manifest = build_manifest(
        project_root=settings.project_root,
        seed=settings.training.seed,
        data_fingerprint=table.fingerprint,
        onnx_opset=settings.training.onnx_opset,
    )
    profile = fit_profile(
        data.holdout,
        contract,
        exported,
        evaluation.metrics,
        evaluation.threshold,
        loss_calibration=loss.calibration if loss is not None else None,
        table=table_profile,
    )
    with mlflow.start_run(tags=run_tags) as run, tempfile.TemporaryDirectory() as scratch:
        mlflow.log_params({**booster_params, **data.sizes(), "split": data.method, "contract_hash": contract.hash[:12]})
        mlflow.log_metrics({f"holdout_{k}": v for k, v in evaluation.metrics.items() if np.isfinite(v)})
        mlflow.log_metrics(parity.as_metrics())
        if loss is not None:
            mlflow.log_metrics(loss.as_metrics())
        if evaluation.threshold is not None:
            mlflow.log_metric("threshold", evaluation.threshold)
        bundle_dir = write_bundle(
            Path(scratch) / registry.BUNDLE_ARTIFACT,
            onnx_bytes,
            encoding=encoding,
            task=contract.task,
            threshold=evaluation.threshold,
            contract_yaml=contract.to_yaml(),
            contract_hash=contract.hash,
            metadata={
                "metrics": {k: v for k, v in evaluation.metrics.items() if np.isfinite(v)},
                "parity": parity.as_dict(),
                "trained_at": manifest["created_at"],
                "run_id": run.info.run_id,
                "primary_metric": primary_metric(contract.task).name,
                "data_rows": table.rows,
                "split": data.method,
            },
            manifest=manifest,
            canary_inputs=holdout_matrix[:CANARY_ROWS],
            canary_scores=exported[:CANARY_ROWS],
            profile=profile,
            loss_onnx=loss.onnx_bytes if loss is not None else None,
        )
        mlflow.log_artifacts(str(bundle_dir), artifact_path=registry.BUNDLE_ARTIFACT)
        mlflow.log_dict(manifest, "manifest.json")
        example = holdout_matrix[:5]
        info = mlflow.onnx.log_model(
            onnx.load_from_string(onnx_bytes),
            name="model",
            signature=infer_signature(example, evaluation.holdout_scores[:5]),
            input_example=example,
            registered_model_name=settings.mlflow.registered_model_name,
            onnx_execution_providers=["CPUExecutionProvider"],
            # Stated, not inferred: inference scans the environment (slow) and the model
            # needs only these to be served by `mlflow models serve`.
            pip_requirements=[f"{p}=={v}" for p, v in manifest["packages"].items() if p in SERVING_PACKAGES and v],
            metadata={"contract_hash": contract.hash, "threshold": evaluation.threshold},
        )
    version = str(info.registered_model_version)
    if learned_until is not None:
        registry.set_tags(
            registry.connect(settings),
            settings.mlflow.registered_model_name,
            version,
            {registry.LEARNED_UNTIL: learned_until.isoformat()},
        )
    log.info("registered %s version %s (run %s)", settings.mlflow.registered_model_name, version, run.info.run_id)
    return Registered(run_id=run.info.run_id, version=version)


def write_model_card(
    *,
    settings: Settings,
    contract: Contract,
    frame: pd.DataFrame | TableFacts,
    data: HeldOut,
    booster: lgb.Booster,
    encoding: Encoding,
    evaluation: Evaluation,
    parity: ParityReport,
    registered: Registered,
    decision: GateDecision,
) -> ModelCard:
    """The version's model card, after the gate so that it states the gate's decision: logged
    to the version's run as `model_card.md` and `model_card.html`, and added to its bundle so
    that it ships with the model (MLflow takes artifacts on a finished run)."""
    import mlflow

    client = registry.connect(settings)
    card = build_card(
        model_name=settings.mlflow.registered_model_name,
        version=registered.version,
        run_id=registered.run_id,
        contract=contract,
        data=data,
        rows=frame.rows if isinstance(frame, TableFacts) else len(frame),
        encoding=encoding,
        booster=booster,
        evaluation=evaluation,
        decision=decision,
        parity=parity.as_dict(),
        # The manifest as the run recorded it, not a second one with another timestamp.
        manifest=mlflow.artifacts.load_dict(f"runs:/{registered.run_id}/manifest.json"),
        min_segment_rows=settings.drift.min_labelled_rows,
        min_segment_positives=settings.shadow_evaluation.min_segment_positives,
        seed=settings.training.seed,
    )
    with tempfile.TemporaryDirectory() as scratch:
        for name, text in ((MARKDOWN_FILE, to_markdown(card)), (HTML_FILE, render_html(card))):
            path = Path(scratch) / name
            path.write_text(text, encoding="utf-8")
            client.log_artifact(registered.run_id, str(path))
            client.log_artifact(registered.run_id, str(path), artifact_path=registry.BUNDLE_ARTIFACT)
    return card


def load_project_contract(settings: Settings) -> Contract:
    return load_contract(settings.contract_file)


def summary(outcome: TrainingOutcome) -> str:
    return json.dumps(
        {
            "version": outcome.version,
            "alias": outcome.gate.alias,
            "gate": outcome.gate.reason,
            "metrics": outcome.metrics,
        },
        indent=2,
        default=str,
    )
