"""The gate: a registered version gets an alias only if its holdout metrics pass the
thresholds and beat the champion's on the same holdout."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.contract import Contract
from ..core.metrics import evaluate, primary_metric
from ..model.bundle import load_bundle
from ..settings import Settings
from ..stores import alias_journal, registry
from .split import HeldOut

log = logging.getLogger(__name__)
FLOAT32_NOISE = 1e-6  # relative: float32 carries ~7 significant digits


@dataclass(frozen=True)
class Evaluation:
    threshold: float | None
    metrics: dict[str, float]
    holdout_scores: np.ndarray


@dataclass(frozen=True)
class Registered:
    run_id: str
    version: str


@dataclass(frozen=True)
class GateDecision:
    passed: bool
    alias: str | None
    reason: str
    champion_version: str | None = None
    champion_metric: float | None = None


def _champion_metric(
    settings: Settings, contract: Contract, data: HeldOut, client: Any
) -> tuple[str | None, float | None, str]:
    """The current champion's primary metric on this run's holdout, or why it has none."""
    champion = registry.version_by_alias(client, settings.mlflow.registered_model_name, registry.CHAMPION)
    if champion is None:
        return None, None, "no champion yet"
    with registry.fetched_bundle(client, champion) as folder:
        bundle = load_bundle(folder)
        if bundle.contract_hash != contract.hash:
            return champion.version, None, f"champion v{champion.version} was trained on another contract"
        scores = bundle.score_frame(data.holdout)
    labels = data.holdout[contract.target].to_numpy()
    metric = evaluate(contract.task, labels, scores, bundle.threshold, contract.class_labels)
    return champion.version, metric[primary_metric(contract.task).name], "compared on the same holdout"


def decide_gate(
    metrics: dict[str, float], contract: Contract, settings: Settings, champion_metric: float | None
) -> tuple[bool, str]:
    """Absolute thresholds from settings, then no worse than the champion on the same holdout."""
    gate = settings.gate
    failures: list[str] = []
    if contract.is_multiclass:
        if not metrics["macro_f1"] >= gate.min_macro_f1:
            failures.append(f"macro_f1 {metrics['macro_f1']:.4f} < {gate.min_macro_f1}")
        floor = 1 / contract.n_classes + gate.balanced_accuracy_over_chance
        if not metrics["balanced_accuracy"] >= floor:
            failures.append(f"balanced_accuracy {metrics['balanced_accuracy']:.4f} < {floor:.4f} (chance + margin)")
    elif contract.is_classification:
        if not metrics["average_precision"] >= gate.min_average_precision:
            failures.append(f"average_precision {metrics['average_precision']:.4f} < {gate.min_average_precision}")
        if not metrics["roc_auc"] >= gate.min_roc_auc:
            failures.append(f"roc_auc {metrics['roc_auc']:.4f} < {gate.min_roc_auc}")
    else:
        if gate.max_rmse is not None and not metrics["rmse"] <= gate.max_rmse:
            failures.append(f"rmse {metrics['rmse']:.4f} > {gate.max_rmse}")
        if not metrics["r2"] >= gate.min_r2:
            failures.append(f"r2 {metrics['r2']:.4f} < {gate.min_r2}")
    primary = primary_metric(contract.task)
    # The champion is scored by its ONNX graph (float32), the new model by LightGBM
    # (float64): the same model differs in the 7th digit, which is not "worse".
    noise = FLOAT32_NOISE * max(1.0, abs(champion_metric)) if champion_metric is not None else 0.0
    if champion_metric is not None and not primary.better(
        metrics[primary.name], champion_metric, gate.champion_tolerance + noise
    ):
        failures.append(
            f"{primary.name} {metrics[primary.name]:.4f} is worse than the champion's {champion_metric:.4f}"
        )
    return (not failures, "; ".join(failures) or "met every threshold")


def gate(
    registered: Registered, evaluation: Evaluation, data: HeldOut, contract: Contract, settings: Settings, reason: str
) -> GateDecision:
    """Judge the new version and give it an alias: the first passing model becomes
    `champion`, later ones `challenger` (shadow evaluation decides their fate); a
    failing one keeps no alias and carries the reason as a tag."""
    client = registry.connect(settings)
    name = settings.mlflow.registered_model_name
    champion_version, champion_metric, compared = _champion_metric(settings, contract, data, client)
    passed, why = decide_gate(evaluation.metrics, contract, settings, champion_metric)
    alias = None
    if passed:
        alias = registry.CHALLENGER if champion_version is not None else registry.CHAMPION
    registry.set_tags(
        client,
        name,
        registered.version,
        {
            registry.GATE_STATUS: registry.PASSED if passed else registry.FAILED,
            registry.GATE_REASON: why,
            "gate.compared": compared,
            "contract_hash": contract.hash,
            "trigger": reason,
            "training.split": data.method,
        },
    )
    if alias is not None:
        alias_journal.recover(client, name)  # a promotion killed midway is settled before a new alias
        client.set_registered_model_alias(name, alias, registered.version)
    registry.mark_unfinished(client, name, registered.version)
    log.info("version %s: gate %s (%s); alias %s", registered.version, "passed" if passed else "failed", why, alias)
    return GateDecision(passed, alias, why, champion_version, champion_metric)
