"""Estimated performance of a regression model before labels arrive: direct loss estimation.

The loss model fitted at training (`training/loss_estimator.py`, shipped as
`loss_model.onnx`) predicts each answer's absolute error from the record and the logged
prediction; the residual calibration in the reference profile (`model/loss_calibration.py`)
turns a window's predicted errors into an estimated MAE and RMSE with a band. Like CBPE for
classifiers it sees covariate shift (the window moving to where the model errs more or
less), not concept drift (the truth changing for the same records): always an estimate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..core.metrics import primary_metric
from ..model.loss_calibration import estimate_losses
from ..model.loss_model import LossModel
from ..settings import DriftSettings
from .performance import EstimatedMetric, PerformanceEstimate

REGRESSION = "regression"
ESTIMATED_LOSSES = ("rmse", "mae")
LOSS_NOTE = (
    "Estimated from the loss model fitted at training (direct loss estimation): it predicts each answer's "
    "absolute error from the record and the prediction. Valid under covariate shift; blind to concept drift "
    "(a change in the truth for the same records). Compare with realized performance once labels arrive."
)


def estimate_loss(
    profile: Mapping[str, Any],
    loss_model: LossModel | None,
    features: pd.DataFrame,
    scores: np.ndarray | Sequence[float],
    settings: DriftSettings | None = None,
) -> PerformanceEstimate | None:
    """Estimated RMSE and MAE of a regression model's window (`features`: the records as
    received, `scores`: the logged predictions, row for row); None for other tasks, or a
    model version without a loss model or its calibration."""
    settings = settings or DriftSettings()
    calibration = profile.get("loss_calibration")
    if profile.get("task") != REGRESSION or loss_model is None or not calibration:
        return None
    inputs, predicted = loss_rows(loss_model, features, scores)
    return estimate_from_losses(profile, inputs, predicted, settings)


def loss_rows(
    loss_model: LossModel, features: pd.DataFrame, scores: np.ndarray | Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """The loss model's inputs and predicted absolute errors for the rows with a finite
    score (row by row: a window read in pages concatenates them)."""
    score_array = np.asarray(scores, dtype=float)
    keep = np.isfinite(score_array)
    rows = features.reset_index(drop=True)[keep]
    inputs = loss_model.inputs(rows, score_array[keep])
    return inputs, loss_model.predict(inputs)


def estimate_from_losses(
    profile: Mapping[str, Any], inputs: np.ndarray, predicted: np.ndarray, settings: DriftSettings
) -> PerformanceEstimate | None:
    """`estimate_loss` from the loss model's inputs and predictions on the window's rows."""
    calibration = profile.get("loss_calibration")
    if profile.get("task") != REGRESSION or not calibration:
        return None
    found = estimate_losses(calibration, inputs, predicted, settings.band)
    if found is None:
        return None
    baseline = profile.get("performance", {})
    metrics = tuple(
        EstimatedMetric(
            name,
            found[name].value,
            found[name].lower,
            found[name].upper,
            float(baseline[name]) if baseline.get(name) is not None else float("nan"),
        )
        for name in ESTIMATED_LOSSES
    )
    return PerformanceEstimate(
        n=len(predicted),
        band=settings.band,
        threshold=None,
        primary_metric=primary_metric(REGRESSION).name,
        metrics=metrics,
        method="dle",
        note=LOSS_NOTE,
    )
