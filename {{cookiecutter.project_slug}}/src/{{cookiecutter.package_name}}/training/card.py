"""Build a version's model card (`model.model_card.ModelCard`) from what training computed:
the split, the holdout scores and metrics, the gate's decision, parity, the booster."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from ..core.contract import Contract
from ..core.encoding import Encoding
from ..core.metrics import evaluate, primary_metric
from ..model.model_card import (
    GateSummary,
    Importance,
    ModelCard,
    ReliabilityBin,
    SegmentRow,
    TrainingData,
    Uncovered,
)
from .gate import Evaluation, GateDecision
from .split import HeldOut

# TreeSHAP walks every tree per row (about 3 ms a row for the demo's model, 100k rows, 2 threads):
# a seeded sample of 1,000 holdout rows ranks the features as all of them would.
SHAP_ROWS = 1_000
RELIABILITY_BINS = 10
MAX_SEGMENT_LEVELS = 20  # the largest levels of a segment column; a card is not a full breakdown
# A feature is "not covered" when at least this share of its training rows lie where the
# holdout has no rows; below it, a few extreme training values would list nearly every feature.
UNCOVERED_SHARE = 0.01
# ... and at least this many holdout rows' worth of them (share >= CHANCE_ROWS / holdout rows):
# even a holdout drawn from the training rows' own distribution misses the share beyond its
# extremes (about 2 / n for n rows, above k / n with chance (1 + k) e^-k), and a level of share
# p with chance (1 - p)^n. At 8 rows a feature is listed by chance alone about 0.3% of the time.
CHANCE_ROWS = 8


def build_card(
    *,
    model_name: str,
    version: str,
    run_id: str,
    contract: Contract,
    data: HeldOut,
    rows: int,
    encoding: Encoding,
    booster: lgb.Booster,
    evaluation: Evaluation,
    decision: GateDecision,
    parity: Mapping[str, Any],
    manifest: Mapping[str, Any],
    min_segment_rows: int,
    min_segment_positives: int,
    seed: int,
) -> ModelCard:
    labels = data.holdout[contract.target].to_numpy()
    scores = evaluation.holdout_scores
    train = training_rows(data)
    reliability = reliability_bins(contract.task, labels, scores)
    return ModelCard(
        model_name=model_name,
        version=version,
        run_id=run_id,
        created_at=str(manifest.get("created_at", "")),
        task=contract.task,
        target=contract.target,
        class_labels=tuple(str(c) for c in contract.class_labels) if contract.labels is not None else (),
        contract_hash=contract.hash,
        features=tuple(contract.feature_names),
        primary_metric=primary_metric(contract.task).name,
        threshold=evaluation.threshold,
        data=training_data(data, train, contract, rows, str(manifest.get("data_fingerprint", ""))),
        metrics=dict(evaluation.metrics),
        segments=segment_rows(
            data.holdout, contract, scores, evaluation.threshold, min_segment_rows, min_segment_positives
        ),
        min_segment_rows=min_segment_rows,
        gate=GateSummary(
            decision.passed, decision.alias, decision.reason, decision.champion_version, decision.champion_metric
        ),
        parity=dict(parity),
        reliability=reliability,
        calibration_error=calibration_error(reliability) if reliability else None,
        residuals=residual_summary(labels, scores) if contract.task == "regression" else {},
        importance=importances(booster, encoding, data.holdout, seed),
        shap_rows=min(SHAP_ROWS, len(data.holdout)),
        uncovered=uncovered_features(train, data.holdout, encoding) if train is not None else (),
        manifest=dict(manifest),
        coverage_judged=train is not None,
    )


def training_rows(data: HeldOut) -> pd.DataFrame | None:
    """The training rows when they are in this process; on Dask they stay on the cluster, and
    the card says what it could not judge without them rather than judge from other rows."""
    train = getattr(data, "train", None)
    return train if isinstance(train, pd.DataFrame) else None


def training_data(
    data: HeldOut, train: pd.DataFrame | None, contract: Contract, rows: int, fingerprint: str
) -> TrainingData:
    column = contract.timestamp_column

    def span(*frames: pd.DataFrame) -> tuple[str, str] | None:
        if column is None or any(column not in f.columns for f in frames):
            return None
        times = [pd.to_datetime(f[column]).dropna() for f in frames]
        if all(t.empty for t in times):
            return None
        return str(min(t.min() for t in times if len(t))), str(max(t.max() for t in times if len(t)))

    return TrainingData(
        rows=rows,
        split=data.method,
        split_description=data.description,
        sizes=data.sizes(),
        fingerprint=fingerprint,
        time_range=span(train, data.valid, data.holdout) if train is not None else None,
        holdout_range=span(data.holdout),
    )


def segment_rows(
    holdout: pd.DataFrame,
    contract: Contract,
    scores: np.ndarray,
    threshold: float | None,
    min_rows: int,
    min_positives: int,
) -> tuple[SegmentRow, ...]:
    """The holdout metrics of each level of each segment column (the largest levels first).
    A level with fewer than `min_rows` rows (the floor under which monitoring calls a realized
    metric unreliable) is `too_few`, and so is a binary level with fewer than `min_positives`
    positives (shadow evaluation's floor for judging a segment): average precision on three
    frauds is noise."""
    found = []
    labels = holdout[contract.target].to_numpy()
    for column in (s for s in contract.segments if s in holdout.columns):
        values = holdout[column].astype("string").fillna("(missing)")
        for value, n in values.value_counts().head(MAX_SEGMENT_LEVELS).items():
            mask = (values == value).to_numpy()
            y = labels[mask]
            metrics = evaluate(contract.task, y, scores[mask], threshold, contract.class_labels)
            positives = int(np.sum(y == 1)) if contract.is_binary else None
            too_few = None
            if n < min_rows:
                too_few = f"{n:,} holdout rows, fewer than {min_rows:,}"
            elif positives is not None and positives < min_positives:
                too_few = f"{positives} positives among its holdout rows, fewer than {min_positives}"
            elif positives == n:
                too_few = "only positives in the holdout, so no ranking metric"
            found.append(SegmentRow(column, str(value), int(n), positives, metrics, too_few))
    return tuple(found)


def reliability_bins(task: str, labels: np.ndarray, scores: np.ndarray) -> tuple[ReliabilityBin, ...]:
    """Equal-width bins of the predicted probability: binary, P(positive) against the positive
    rate; multiclass, the answered (most probable) class's probability against how often that
    answer was right. Empty bins are left out; regression has none."""
    if task == "regression" or not len(labels):
        return ()
    if task == "multiclass_classification":
        matrix = np.asarray(scores, dtype=float)
        predicted = matrix.max(axis=1)
        observed = (matrix.argmax(axis=1) == np.asarray(labels, dtype=int)).astype(float)
    else:
        predicted = np.asarray(scores, dtype=float)
        observed = np.asarray(labels, dtype=float)
    edges = np.linspace(0.0, 1.0, RELIABILITY_BINS + 1)
    index = np.clip(np.digitize(predicted, edges[1:-1]), 0, RELIABILITY_BINS - 1)
    bins = []
    for b in range(RELIABILITY_BINS):
        mask = index == b
        if mask.any():
            bins.append(
                ReliabilityBin(
                    float(edges[b]),
                    float(edges[b + 1]),
                    int(mask.sum()),
                    float(predicted[mask].mean()),
                    float(observed[mask].mean()),
                )
            )
    return tuple(bins)


def calibration_error(bins: tuple[ReliabilityBin, ...]) -> float:
    """Expected calibration error: the row-weighted mean gap between predicted and observed."""
    total = sum(b.n for b in bins)
    return float(sum(b.n * abs(b.predicted - b.observed) for b in bins) / total)


def residual_summary(labels: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
    residuals = np.asarray(predictions, dtype=float) - np.asarray(labels, dtype=float)
    if not len(residuals):
        return {}
    quantiles = np.quantile(residuals, [0.05, 0.25, 0.5, 0.75, 0.95])
    return {
        "mean (bias)": float(residuals.mean()),
        "std": float(residuals.std()),
        **{f"p{q}": float(v) for q, v in zip((5, 25, 50, 75, 95), quantiles, strict=True)},
        "max abs": float(np.abs(residuals).max()),
    }


def shap_contributions(booster: lgb.Booster, matrix: np.ndarray) -> np.ndarray:
    """LightGBM's SHAP values as (rows, classes, features + 1), the last column the expected
    value: the rows of each class sum to that class's raw score. A multiclass booster
    answers one block of features + 1 columns per class, side by side."""
    contributions = np.asarray(booster.predict(matrix, pred_contrib=True), dtype=float)
    width = matrix.shape[1] + 1
    return contributions.reshape(len(matrix), contributions.shape[1] // width, width)


def importances(booster: lgb.Booster, encoding: Encoding, holdout: pd.DataFrame, seed: int) -> tuple[Importance, ...]:
    """Gain share and mean |SHAP| on a seeded sample of the holdout, most important first."""
    gain = np.asarray(booster.feature_importance(importance_type="gain"), dtype=float)
    shares = gain / gain.sum() if gain.sum() > 0 else np.zeros_like(gain)
    rows = np.random.default_rng(seed).permutation(len(holdout))[:SHAP_ROWS]
    sample = holdout.iloc[np.sort(rows)]
    if len(sample):
        contributions = shap_contributions(booster, encoding.transform(sample))[:, :, :-1]
        mean_abs = np.abs(contributions).mean(axis=(0, 1))
    else:
        mean_abs = np.full(encoding.n_features, np.nan)
    found = [Importance(name, float(shares[i]), float(mean_abs[i])) for i, name in enumerate(encoding.features)]
    return tuple(sorted(found, key=lambda f: (-f.gain_share, f.feature)))


def uncovered_features(train: pd.DataFrame, holdout: pd.DataFrame, encoding: Encoding) -> tuple[Uncovered, ...]:
    """Features with training values the holdout never showed (see UNCOVERED_SHARE, CHANCE_ROWS).

    Compared with the training slice, not the contract's min/max: the contract's bounds say
    what a value may be (often wide, or absent), not where the data lives, so a holdout would
    "miss" most of every bounded range and the list would say nothing. The training rows are
    the model's best picture of the values it will meet live; where the holdout has none of
    them (a time split's newest slice after a shift, a rare level), its metrics cannot vouch
    for the model. Both are compared as the model sees them (the encoded matrix): numeric,
    values outside the holdout's [min, max]; categorical, levels the holdout lacks, among those
    the model knows (a level beyond them is missing to the model, as a missing value is)."""
    found = []
    floor = max(UNCOVERED_SHARE, CHANCE_ROWS / max(1, len(holdout)))
    seen_matrix, tested_matrix = encoding.transform(train), encoding.transform(holdout)
    for index, (name, kind) in enumerate(zip(encoding.features, encoding.kinds, strict=True)):
        seen = seen_matrix[:, index][~np.isnan(seen_matrix[:, index])]
        tested = tested_matrix[:, index][~np.isnan(tested_matrix[:, index])]
        if not len(seen):
            continue
        if kind == "categorical":
            outside = ~np.isin(seen, tested)
            levels = encoding.levels[name]
            missing = [levels[int(code)] for code in np.unique(seen[outside])]
            training = f"{len(np.unique(seen))} levels"
            held = f"lacks {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}"
        else:
            low, high = (float(tested.min()), float(tested.max())) if len(tested) else (np.inf, -np.inf)
            outside = (seen < low) | (seen > high)
            training = f"{seen.min():.4g} to {seen.max():.4g}"
            held = f"{low:.4g} to {high:.4g}" if len(tested) else "no values"
        share = float(outside.mean())
        if share >= floor:
            found.append(Uncovered(name, share, training, held))
    return tuple(found)
