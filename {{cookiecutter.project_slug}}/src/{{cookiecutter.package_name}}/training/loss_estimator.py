"""Direct loss estimation (DLE) for regression: a small second model that predicts, for each
answer, how far the model's prediction is from the truth, so monitoring can estimate MAE and
RMSE before labels arrive.

Which rows: the loss model must learn the errors the model makes on data it did not train
on, or it learns the (much smaller) training errors. So it is fitted on the validation slice,
which the model saw only to choose its number of trees (one number, a negligible optimism),
with a seeded quarter of that slice held back for the loss model's own early stopping. Its
residual calibration (`model/loss_calibration.py`) is fitted on the holdout, which neither
model saw: the band is measured on rows that are new to both, and with a split by time they
are also the newest, as production's rows will be. The prediction column is the ONNX model's
score on those rows (what the service logs), and the loss model itself ships as ONNX,
proven against LightGBM on all its rows like the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np

from ..core.encoding import Encoding
from ..model.loss_calibration import fit_loss_calibration
from ..model.loss_model import loss_inputs
from ..settings import ParitySettings
from .fit import float32_thresholds
from .onnx_export import ParityReport, ensure_parity, onnx_scores, parity_report, to_onnx

MAX_TREES = 100
EARLY_STOPPING_ROUNDS = 10
STOPPING_SHARE = 0.25  # of the validation slice, for the loss model's early stopping
MIN_ROWS = 200  # fewer validation rows than this: no loss model (and no estimate)
PREDICTION_COLUMN = "model_prediction"


@dataclass(frozen=True)
class LossEstimator:
    """The fitted loss model, its ONNX export and parity proof, and the holdout calibration."""

    booster: lgb.Booster
    onnx_bytes: bytes
    parity: ParityReport
    calibration: dict[str, Any]
    fit_rows: int
    calibration_rows: int

    def as_metrics(self) -> dict[str, float]:
        return {
            "loss_model_trees": float(self.booster.num_trees()),
            "loss_model_fit_rows": float(self.fit_rows),
            "loss_model_calibration_rows": float(self.calibration_rows),
            "loss_model_parity_max_abs_diff": self.parity.max_abs_diff,
        }


def loss_params(seed: int, threads: int, rows: int) -> dict[str, Any]:
    return {
        "objective": "regression",  # the conditional mean of |error|: what MAE averages
        "learning_rate": 0.1,
        "num_leaves": 15,
        "min_data_in_leaf": max(5, min(50, rows // 40)),
        "lambda_l2": 1.0,
        "seed": seed,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": threads,
        "max_cat_threshold": 64,
        "verbosity": -1,
    }


def fit_loss_booster(
    inputs: np.ndarray, errors: np.ndarray, encoding: Encoding, seed: int, threads: int = 1
) -> lgb.Booster:
    """A small seeded LightGBM regressor of absolute error on `inputs` (see `loss_inputs`),
    early-stopped on a seeded share of the rows; float32-exact thresholds like the model's."""
    stopping = np.random.default_rng(seed).random(len(errors)) < STOPPING_SHARE
    names = [*encoding.features, PREDICTION_COLUMN]

    def dataset(rows: np.ndarray, reference: lgb.Dataset | None = None) -> lgb.Dataset:
        return lgb.Dataset(
            inputs[rows],
            label=errors[rows],
            feature_name=names,
            categorical_feature=encoding.categorical_indices,
            reference=reference,
            free_raw_data=False,
        )

    train_set = dataset(~stopping)
    booster = lgb.train(
        loss_params(seed, threads, int((~stopping).sum())),
        train_set,
        num_boost_round=MAX_TREES,
        valid_sets=[dataset(stopping, train_set)],
        callbacks=[lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False)],
    )
    best = booster.best_iteration or booster.current_iteration()
    return lgb.Booster(model_str=float32_thresholds(booster.model_to_string(num_iteration=best)))


def fit_loss_estimator(
    fit_inputs: np.ndarray,
    fit_errors: np.ndarray,
    calibration_inputs: np.ndarray,
    calibration_errors: np.ndarray,
    encoding: Encoding,
    *,
    seed: int,
    opset: int,
    parity: ParitySettings,
    threads: int = 1,
) -> LossEstimator | None:
    """Fit on the first rows, export, prove parity on all rows, calibrate on the second rows.
    None when there are too few rows to fit it; raises ParityError when ONNX disagrees."""
    if len(fit_errors) < MIN_ROWS or len(calibration_errors) < MIN_ROWS // 4:
        return None
    booster = fit_loss_booster(fit_inputs, fit_errors, encoding, seed, threads)
    onnx_bytes = to_onnx(booster, fit_inputs.shape[1], opset)
    every = np.vstack((fit_inputs, calibration_inputs))
    exported = onnx_scores(onnx_bytes, every, "regression")
    report = parity_report(np.asarray(booster.predict(every), dtype=float), exported, None, parity)
    ensure_parity(report)
    calibration = fit_loss_calibration(calibration_inputs, exported[len(fit_inputs) :], calibration_errors)
    return LossEstimator(booster, onnx_bytes, report, calibration, len(fit_errors), len(calibration_errors))


def model_errors(matrix: np.ndarray, scores: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The loss model's inputs and targets for rows the model scored: |y - score|."""
    return loss_inputs(matrix, scores), np.abs(np.asarray(y, dtype=float) - np.asarray(scores, dtype=float))
