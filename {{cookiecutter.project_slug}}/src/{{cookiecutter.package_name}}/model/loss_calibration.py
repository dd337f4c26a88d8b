"""The loss model's residual calibration: fitted on the holdout at training, stored as JSON,
and turned into a window's estimated MAE and RMSE with an uncertainty band.

Direct loss estimation (DLE) predicts each answer's absolute error |y - prediction| with a
second model (the loss model, `training/loss_estimator.py`). Its raw predictions m are
neither exactly calibrated nor the squared error RMSE needs, and the window's mean of them
says nothing about how wrong it may be. The holdout (rows neither model trained on) gives
the empirical relation between predicted and realized absolute error a = |e|:

- bins of m (deciles): per bin the ratios E[a] / E[m] and E[a^2] / E[m^2], so that a row
  with prediction m has expected |e| = ratio1 * m and expected e^2 = ratio2 * m^2 (scale-free,
  so it carries over to rows a shifted window predicts worse than any holdout row), with the
  spread of a and a^2 around them and the ratios' own sampling variance;
- regions of the inputs (deciles of each encoded feature and of the prediction): per region
  the mean residual left after the ratios. A covariate shift concentrates a window in some
  regions; where the loss model is biased there, the window's estimate is too. Each input
  column gives an estimate of that bias (the window's region shares times the regions' mean
  residuals), and the band stretches to take in the largest of them on either side.

The band at coverage `band` for the mean over n rows: the point, moved by the most negative
(lower end) and most positive (upper end) regional bias, then widened by z standard errors
from the rows' own noise, the ratios' and the regions' sampling variance. RMSE's band is the
square root of the band of the mean squared error. It is an estimate under covariate shift
only: a change in y given x (concept drift) is invisible to it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import norm

METHOD = "dle-binned-ratio"
BINS = 10  # deciles of the predicted error
REGION_BINS = 10  # deciles of each input column
FLOOR_SHARE = 0.01  # predicted errors below 1% of the median one count as that much (no zero division)


def _edges(values: np.ndarray, bins: int) -> np.ndarray:
    """Decile edges that are data values, without the maximum: every bin then holds a row."""
    finite = values[np.isfinite(values)]
    if not len(finite):
        return np.empty(0)
    found = np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1], method="lower"))
    kept: np.ndarray = found[found < finite.max()]
    return kept


def _assign(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin index per value: 0..len(edges) by the edges (right-closed), len(edges) + 1 for NaN."""
    index = np.searchsorted(edges, values, side="left")
    found: np.ndarray = np.where(np.isnan(values), len(edges) + 1, index)
    return found


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> tuple[float, float, float]:
    """Ratio estimate sum(num) / sum(den), the residual spread per den^2 (row noise), and the
    ratio's sampling variance."""
    n = len(numerator)
    total = float(denominator.sum())
    ratio = float(numerator.sum()) / total
    residual = numerator - ratio * denominator
    noise = float(np.sum(residual**2) / np.sum(denominator**2))
    variance = float(np.sum(residual**2)) / total**2 * n / max(n - 1, 1)
    return ratio, noise, variance


def _regions(column: np.ndarray, residual: np.ndarray) -> dict[str, list[float]]:
    edges = _edges(column, REGION_BINS)
    size = len(edges) + 2
    index = _assign(column, edges)
    n = np.bincount(index, minlength=size).astype(float)
    sums = np.bincount(index, weights=residual, minlength=size)
    squares = np.bincount(index, weights=residual**2, minlength=size)
    mean = np.divide(sums, n, out=np.zeros(size), where=n > 0)
    spread = np.divide(squares - n * mean**2, n - 1, out=np.zeros(size), where=n > 1)
    pooled = float(np.var(residual, ddof=1)) if len(residual) > 1 else 0.0
    # A region of one row says nothing about its spread: it takes the pooled one.
    variance = np.divide(np.where(n > 1, spread, pooled), n, out=np.zeros(size), where=n > 0)
    return {"edges": edges.tolist(), "bias": mean.tolist(), "variance": variance.tolist()}


def fit_loss_calibration(inputs: np.ndarray, predicted: np.ndarray, realized: np.ndarray) -> dict[str, Any]:
    """The calibration from the holdout: the loss model's `inputs` (encoded features and the
    prediction), its `predicted` absolute errors and the `realized` ones |y - prediction|."""
    predicted = np.asarray(predicted, dtype=float)
    realized = np.asarray(realized, dtype=float)
    keep = np.isfinite(predicted) & np.isfinite(realized)
    matrix = np.asarray(inputs, dtype=float)[keep]
    predicted, realized = predicted[keep], realized[keep]
    if len(predicted) < 2 * BINS:
        return {"method": METHOD, "n": len(predicted), "bins": None, "regions": []}
    positive = predicted[predicted > 0]
    floor = FLOOR_SHARE * float(np.median(positive)) if len(positive) else 1.0
    m = np.maximum(predicted, floor)
    edges = _edges(m, BINS)
    index = _assign(m, edges)
    bins: dict[str, list[float]] = {
        f"{kind}_{part}": [] for kind in ("abs", "sq") for part in ("ratio", "noise", "var")
    }
    for k in range(len(edges) + 1):
        rows = index == k
        for name, (numerator, denominator) in {
            "abs": (realized[rows], m[rows]),
            "sq": (realized[rows] ** 2, m[rows] ** 2),
        }.items():
            ratio, noise, variance = _ratio(numerator, denominator)
            bins[f"{name}_ratio"].append(ratio)
            bins[f"{name}_noise"].append(noise)
            bins[f"{name}_var"].append(variance)
    abs_residual = realized - np.asarray(bins["abs_ratio"])[index] * m
    sq_residual = realized**2 - np.asarray(bins["sq_ratio"])[index] * m**2
    return {
        "method": METHOD,
        "n": len(predicted),
        "floor": floor,
        "bins": {"edges": edges.tolist(), **bins},
        "regions": [
            {"abs": _regions(matrix[:, j], abs_residual), "sq": _regions(matrix[:, j], sq_residual)}
            for j in range(matrix.shape[1])
        ],
    }


@dataclass(frozen=True)
class LossBand:
    value: float
    lower: float
    upper: float


def _regional(regions: Sequence[Mapping[str, Any]], kind: str, inputs: np.ndarray) -> tuple[float, float, float]:
    """The most negative and most positive regional bias of the window's mean (0 if none is),
    and the largest sampling variance among them."""
    n = len(inputs)
    low = high = variance = 0.0
    for j, region in enumerate(regions):
        spec = region[kind]
        index = _assign(inputs[:, j], np.asarray(spec["edges"], dtype=float))
        counts = np.bincount(index, minlength=len(spec["bias"])).astype(float)
        bias = float(counts @ np.asarray(spec["bias"], dtype=float)) / n
        low, high = min(low, bias), max(high, bias)
        variance = max(variance, float(counts**2 @ np.asarray(spec["variance"], dtype=float)) / n**2)
    return low, high, variance


def _band(point: float, variance: float, bias: tuple[float, float, float], z: float) -> tuple[float, float, float]:
    low, high, region_variance = bias
    spread = z * math.sqrt(variance + region_variance)
    return point, point + low - spread, point + high + spread


def estimate_losses(
    calibration: Mapping[str, Any], inputs: np.ndarray, predicted: np.ndarray, band: float
) -> dict[str, LossBand] | None:
    """Estimated MAE and RMSE of a window (with their band at coverage `band`) from the loss
    model's inputs and predictions on its rows; None without a calibration or rows."""
    bins = calibration.get("bins")
    predicted = np.asarray(predicted, dtype=float)
    keep = np.isfinite(predicted)
    if not bins or not keep.any():
        return None
    matrix = np.asarray(inputs, dtype=float)[keep]
    m = np.maximum(predicted[keep], float(calibration["floor"]))
    n = len(m)
    index = _assign(m, np.asarray(bins["edges"], dtype=float))
    size = len(bins["abs_ratio"])
    first = np.bincount(index, weights=m, minlength=size)
    second = np.bincount(index, weights=m**2, minlength=size)
    fourth = np.bincount(index, weights=m**4, minlength=size)
    table = {key: np.asarray(value, dtype=float) for key, value in bins.items()}
    z = float(norm.ppf((1 + band) / 2))
    regions = calibration.get("regions", [])
    mae = _band(
        float(table["abs_ratio"] @ first) / n,
        float(table["abs_noise"] @ second + table["abs_var"] @ first**2) / n**2,
        _regional(regions, "abs", matrix),
        z,
    )
    mse = _band(
        float(table["sq_ratio"] @ second) / n,
        float(table["sq_noise"] @ fourth + table["sq_var"] @ second**2) / n**2,
        _regional(regions, "sq", matrix),
        z,
    )
    return {
        "mae": LossBand(mae[0], max(mae[1], 0.0), mae[2]),
        "rmse": LossBand(*(math.sqrt(max(value, 0.0)) for value in mse)),
    }
