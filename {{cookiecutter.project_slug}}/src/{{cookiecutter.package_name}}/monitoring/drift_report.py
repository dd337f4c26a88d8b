"""What drift scoring found: per feature, for the predictions, and for the window as a whole."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import numpy as np

from ..settings import DriftSettings
from .schema_drift import SchemaEvent

Status = Literal["drifted", "stable", "missing", "no_data"]


def _json(value: Any) -> Any:
    """JSON-safe: NaN and infinities become None, numpy scalars and tuples become plain Python."""
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, Mapping):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_json(v) for v in value]
    return value


@dataclass(frozen=True)
class Histogram:
    """Reference and current counts on the same bins, for plots: numeric bins are
    `(edges[i-1], edges[i]]`, open-ended at both ends; categorical bins are `levels`."""

    reference: tuple[int, ...]
    current: tuple[int, ...]
    edges: tuple[float, ...] | None = None
    levels: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        return _json({"edges": self.edges, "levels": self.levels, "reference": self.reference, "current": self.current})  # type: ignore[no-any-return]


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's drift in one window. NaN means "not computable here" (e.g. no values)."""

    feature: str
    kind: Literal["numeric", "categorical"]
    type: str
    status: Status
    column: str | None = None  # the window's column scored (differs from `feature` when renamed)
    reasons: tuple[str, ...] = ()  # why it drifted: distribution, missing_values, unseen_categories
    effects: tuple[str, ...] = ()  # effect sizes beyond their thresholds
    test: Literal["ks", "chi2"] | None = None
    statistic: float = float("nan")
    p_value: float = float("nan")
    p_adjusted: float = float("nan")
    psi: float = float("nan")
    js_distance: float = float("nan")
    wasserstein: float = float("nan")  # numeric: in reference standard deviations
    max_share_change: float = float("nan")  # categorical
    null_rate_reference: float = float("nan")
    null_rate_current: float = float("nan")
    null_p_value: float = float("nan")
    null_p_adjusted: float = float("nan")
    unseen_share: float = float("nan")  # categorical: share of values the reference never saw
    unseen_expected: float = float("nan")  # ... expected without drift (the reference's rare levels)
    unseen_levels: tuple[str, ...] = ()
    n_reference: int = 0  # values present
    n_current: int = 0
    mean_reference: float = float("nan")
    mean_current: float = float("nan")
    histogram: Histogram | None = None

    @property
    def drifted(self) -> bool:
        return self.status == "drifted"

    @property
    def null_rate_change(self) -> float:
        return self.null_rate_current - self.null_rate_reference

    def to_dict(self) -> dict[str, Any]:
        found = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "histogram"}
        found["drifted"] = self.drifted
        found["null_rate_change"] = self.null_rate_change
        found["histogram"] = self.histogram.to_dict() if self.histogram else None
        return _json(found)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class PredictionDrift:
    """Drift of the model's score distribution, plus the share of rows above the threshold."""

    scores: FeatureDrift
    flag_rate_reference: float = float("nan")
    flag_rate_current: float = float("nan")
    flag_rate_p_value: float = float("nan")
    classes: FeatureDrift | None = None  # multiclass: the mix of answered classes
    class_probabilities: tuple[FeatureDrift, ...] = ()  # multiclass: each class's probability

    @property
    def drifted(self) -> bool:
        return (
            self.scores.drifted
            or (self.classes is not None and self.classes.drifted)
            or any(found.drifted for found in self.class_probabilities)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "drifted": self.drifted,
            "scores": self.scores.to_dict(),
            "classes": self.classes.to_dict() if self.classes is not None else None,
            "class_probabilities": [found.to_dict() for found in self.class_probabilities],
            **_json(
                {
                    "flag_rate_reference": self.flag_rate_reference,
                    "flag_rate_current": self.flag_rate_current,
                    "flag_rate_p_value": self.flag_rate_p_value,
                }
            ),
        }


@dataclass(frozen=True)
class DriftReport:
    """Everything one window says about drift: per feature, for the scores, for the schema."""

    rows: int
    features: tuple[FeatureDrift, ...]
    schema: tuple[SchemaEvent, ...] = ()
    prediction: PredictionDrift | None = None
    settings: DriftSettings = field(default_factory=DriftSettings)

    @property
    def drifted_features(self) -> tuple[str, ...]:
        return tuple(f.feature for f in self.features if f.drifted)

    @property
    def scored(self) -> int:
        """Features that could be judged (present in a non-empty window)."""
        return sum(1 for f in self.features if f.status in ("drifted", "stable"))

    @property
    def share_drifted(self) -> float:
        return len(self.drifted_features) / self.scored if self.scored else 0.0

    @property
    def dataset_drifted(self) -> bool:
        return bool(self.drifted_features) and self.share_drifted >= self.settings.dataset_drift_share

    @property
    def schema_changed(self) -> bool:
        return bool(self.schema)

    def feature(self, name: str) -> FeatureDrift:
        for found in self.features:
            if found.feature == name:
                return found
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "scored": self.scored,
            "drifted_features": list(self.drifted_features),
            "n_drifted": len(self.drifted_features),
            "share_drifted": self.share_drifted,
            "dataset_drifted": self.dataset_drifted,
            "schema_changed": self.schema_changed,
            "features": [f.to_dict() for f in self.features],
            "schema": [e.to_dict() for e in self.schema],
            "prediction": self.prediction.to_dict() if self.prediction else None,
            "settings": self.settings.model_dump(mode="json"),
        }
