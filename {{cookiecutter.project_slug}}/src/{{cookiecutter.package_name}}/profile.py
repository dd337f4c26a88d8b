"""The reference profile: what the training data looked like, fitted once and stored as JSON.

Monitoring compares each window of live data with this profile instead of with
the training data itself, so scoring a window is a single pass over it and no
training rows (or pickles) travel with the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from .contract import Contract

FORMAT_VERSION = 1
QUANTILE_BINS = 50  # fine bins: KS works on their edges; PSI merges them into deciles
TOP_LEVELS = 200  # categoricals keep this many levels; the rest pool into OTHER
OTHER = "__other__"


def numeric_profile(values: pd.Series | np.ndarray) -> dict[str, Any]:
    data = pd.to_numeric(pd.Series(values).astype("Float64"), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    present = data[~np.isnan(data)]
    n = len(data)
    if len(present) == 0:
        return {"kind": "numeric", "n": n, "null_rate": 1.0 if n else 0.0, "edges": [], "counts": [0]}
    edges = np.unique(np.quantile(present, np.linspace(0, 1, QUANTILE_BINS + 1)[1:-1]))
    # Bin i holds values in (edges[i-1], edges[i]]: side="left" puts a value equal to an edge
    # in the bin below, so a heavy point mass stays in one bin.
    counts = np.bincount(np.searchsorted(edges, present, side="left"), minlength=len(edges) + 1)
    return {
        "kind": "numeric",
        "n": n,
        "null_rate": float(1 - len(present) / n),
        "edges": edges.tolist(),
        "counts": counts.tolist(),
        "mean": float(present.mean()),
        "std": float(present.std()),
        "min": float(present.min()),
        "max": float(present.max()),
        "quantiles": {str(q): float(np.quantile(present, q)) for q in (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)},
    }


def categorical_profile(values: pd.Series) -> dict[str, Any]:
    n = len(values)
    present = values.dropna().astype(str)
    counts = present.value_counts()
    ranked = sorted(counts.items(), key=lambda item: (-int(item[1]), str(item[0])))
    kept = dict(ranked[:TOP_LEVELS])
    other = int(sum(int(c) for _, c in ranked[TOP_LEVELS:]))
    return {
        "kind": "categorical",
        "n": n,
        "null_rate": float(1 - len(present) / n) if n else 0.0,
        "counts": {str(k): int(v) for k, v in kept.items()},
        "other_count": other,
        "n_levels": len(counts),
    }


def fit_profile(
    frame: pd.DataFrame,
    contract: Contract,
    scores: np.ndarray,
    performance: Mapping[str, float],
    threshold: float | None,
) -> dict[str, Any]:
    """Profile the features of `frame` (training data) and the model's `scores` on it."""
    features: dict[str, Any] = {}
    for feature in contract.features:
        column = frame[feature.name]
        if feature.type == "categorical":
            features[feature.name] = categorical_profile(column)
        elif feature.type == "boolean":
            features[feature.name] = categorical_profile(column.map(lambda v: None if pd.isna(v) else str(bool(v)).lower()))
        else:
            features[feature.name] = numeric_profile(column)
        features[feature.name]["type"] = feature.type
    return {
        "format_version": FORMAT_VERSION,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "contract_hash": contract.hash,
        "task": contract.task,
        "n_rows": len(frame),
        "columns": {str(c): str(frame[c].dtype) for c in frame.columns},
        "features": features,
        "score": numeric_profile(scores),
        "performance": {k: (None if not np.isfinite(v) else float(v)) for k, v in performance.items()},
        "threshold": threshold,
    }
