"""Splitting by time and training LightGBM, seeded and deterministic."""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np

from ..core.contract import Contract
from ..core.encoding import Encoding
from ..core.metrics import best_f1_threshold
from ..settings import TrainingSettings
from .split import Split


def positive_weight(y: np.ndarray, weighting: str) -> float:
    positives = float(np.sum(y == 1))
    return weight_of_positives(positives, float(len(y)) - positives, weighting)


def weight_of_positives(positives: float, negatives: float, weighting: str) -> float:
    """Binary: LightGBM's scale_pos_weight from the class counts (`positive_weight`)."""
    if weighting == "none" or positives == 0:
        return 1.0
    ratio = negatives / positives
    return ratio if weighting == "balanced" else float(np.sqrt(ratio))


def class_weights(y: np.ndarray, n_classes: int, weighting: str) -> np.ndarray:
    """Multiclass: a weight per row, (rows of the largest class / rows of its class), square-
    rooted for sqrt_balanced, so that a rare class is not drowned out by the common one; the
    counterpart of `positive_weight`, which LightGBM's binary objective takes as one number."""
    if weighting == "none":
        return np.ones(len(y))
    counts = np.bincount(np.asarray(y, dtype=int), minlength=n_classes).astype(float)
    return np.asarray(class_weight_table(counts, weighting)[np.asarray(y, dtype=int)], dtype=float)


def class_weight_table(counts: np.ndarray, weighting: str) -> np.ndarray:
    """Each class's row weight from the class counts (see `class_weights`)."""
    if weighting == "none":
        return np.ones(len(counts))
    ratio = counts.max() / np.maximum(counts, 1.0)
    return np.asarray(ratio if weighting == "balanced" else np.sqrt(ratio), dtype=float)


def lightgbm_params(contract: Contract, settings: TrainingSettings, y_train: np.ndarray) -> dict[str, Any]:
    counts = np.bincount(np.asarray(y_train, dtype=int), minlength=2) if contract.is_binary else np.zeros(2)
    return lightgbm_params_for_counts(contract, settings, counts)


def lightgbm_params_for_counts(contract: Contract, settings: TrainingSettings, counts: np.ndarray) -> dict[str, Any]:
    """`lightgbm_params` from the training rows' class counts (binary: negatives, positives),
    however they were counted (one frame, or partitions added up on Dask)."""
    params: dict[str, Any] = {
        "learning_rate": settings.learning_rate,
        "num_leaves": settings.num_leaves,
        "min_data_in_leaf": settings.min_data_in_leaf,
        "feature_fraction": settings.feature_fraction,
        "lambda_l2": settings.lambda_l2,
        "seed": settings.seed,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": settings.num_threads,
        "max_cat_threshold": 64,
        "verbosity": -1,
    }
    if contract.is_multiclass:
        # Class weights go in as row weights (`class_weights`); early stopping on log loss,
        # which rewards probabilities that mean what they say, not just the top class.
        params.update(objective="multiclass", num_class=contract.n_classes, metric="multi_logloss")
    elif contract.is_classification:
        params.update(
            objective="binary",
            metric="average_precision",
            scale_pos_weight=weight_of_positives(float(counts[1]), float(counts[0]), settings.class_weighting),
        )
    else:
        params.update(objective="regression", metric="rmse")
    return params


def _dataset(
    matrix: np.ndarray,
    y: np.ndarray,
    encoding: Encoding,
    reference: lgb.Dataset | None = None,
    weight: np.ndarray | None = None,
) -> lgb.Dataset:
    return lgb.Dataset(
        matrix,
        label=y,
        weight=weight,
        feature_name=list(encoding.features),
        categorical_feature=encoding.categorical_indices,
        reference=reference,
        free_raw_data=False,
    )


def train_booster(split: Split, contract: Contract, encoding: Encoding, settings: TrainingSettings) -> lgb.Booster:
    """Train with early stopping on the validation slice; categoricals as LightGBM categoricals."""
    y_train = split.train[contract.target].to_numpy(dtype=float)
    y_valid = split.valid[contract.target].to_numpy(dtype=float)
    weighting = settings.class_weighting
    weights = (
        (class_weights(y_train, contract.n_classes, weighting), class_weights(y_valid, contract.n_classes, weighting))
        if contract.is_multiclass
        else (None, None)
    )
    train_set = _dataset(encoding.transform(split.train), y_train, encoding, weight=weights[0])
    valid_set = _dataset(encoding.transform(split.valid), y_valid, encoding, train_set, weight=weights[1])
    booster = lgb.train(
        lightgbm_params(contract, settings, y_train),
        train_set,
        num_boost_round=settings.num_boost_round,
        valid_sets=[valid_set],
        callbacks=[lgb.early_stopping(settings.early_stopping_rounds, verbose=False)],
    )
    # Keep only the trees up to the best iteration, so that the ONNX export (which
    # converts every tree) and LightGBM predict from the same model.
    return trimmed(booster, booster.best_iteration or booster.current_iteration())


def trimmed(booster: lgb.Booster, rounds: int) -> lgb.Booster:
    """The booster's first `rounds` boosting rounds, with float32-exact thresholds
    (`float32_thresholds`): what every engine's training hands to evaluation and export."""
    return lgb.Booster(model_str=float32_thresholds(booster.model_to_string(num_iteration=rounds)))


def _round_down_to_float32(value: float) -> float:
    rounded = np.float32(value)
    if float(rounded) > value:
        rounded = np.nextafter(rounded, np.float32(-np.inf))
    return float(rounded)


def _fix_tree(block: list[str]) -> list[str]:
    fields = dict(line.split("=", 1) for line in block if "=" in line)
    if "threshold" not in fields:
        return block
    kinds = [int(v) for v in fields["decision_type"].split()]
    thresholds = fields["threshold"].split()
    fixed = [
        t if kind & 1 else repr(_round_down_to_float32(float(t))) for t, kind in zip(thresholds, kinds, strict=True)
    ]
    return [f"threshold={' '.join(fixed)}" if line.startswith("threshold=") else line for line in block]


def float32_thresholds(model: str) -> str:
    """Move every numerical split threshold t down to the largest float32 <= t.

    The model always sees float32 inputs, and for a float32 x, `x <= t` holds exactly
    when `x <= round_down_f32(t)`, so LightGBM's predictions do not change. But ONNX
    stores thresholds as float32 by rounding to nearest, which can put a threshold on
    the other side of a training value (seen: device_risk_score 0.3533 against a
    threshold 1.5e-8 below it) and flip a split. With float32-exact thresholds the two
    runtimes take the same path on every row. Categorical splits are left alone.
    """
    lines = model.split("\n")
    out: list[str] = []
    block: list[str] | None = None
    for line in lines:
        if line.startswith("Tree="):
            if block is not None:
                out.extend(_fix_tree(block))
            block = [line]
        elif block is not None and (line.startswith("end of trees") or line.startswith("Tree=")):
            out.extend(_fix_tree(block))
            block = None
            out.append(line)
        elif block is not None:
            block.append(line)
        elif not line.startswith("tree_sizes="):  # byte offsets of the old text; LightGBM parses without them
            out.append(line)
    if block is not None:
        out.extend(_fix_tree(block))
    return "\n".join(out)


def predict(booster: lgb.Booster, matrix: np.ndarray) -> np.ndarray:
    """Scores in float64: the positive-class probability, the regression prediction, or
    (multiclass) a row of one probability per class."""
    return np.asarray(booster.predict(matrix), dtype=float)


def choose_threshold(
    contract: Contract, y_valid: np.ndarray, valid_scores: np.ndarray, settings: TrainingSettings
) -> float | None:
    """The decision threshold, chosen on validation data (never the holdout)."""
    if not contract.is_binary:
        return None  # regression has none; multiclass answers the most probable class
    if settings.threshold_strategy == "fixed":
        return settings.fixed_threshold
    return best_f1_threshold(y_valid, valid_scores)
