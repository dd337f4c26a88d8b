"""The reference profile: what the training data looked like, fitted once and stored as JSON.

Monitoring compares each window of live data with this profile instead of with
the training data itself, so scoring a window is a single pass over the window
and no training rows (or pickles) travel with the model. The profile holds,
per numeric feature, 50 quantile bins (edges, counts and bin means) with the
null rate and summary statistics; per categorical or boolean feature, every
level's count (up to MAX_LEVELS) with the null rate; the score distribution;
the holdout performance, overall and per segment; and what performance estimation
needs: for classifiers the calibration map (multiclass: one per class), for regression
the loss model's residual calibration.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..core.contract import Contract
from ..core.histogram import category_labels, column_kind
from ..core.metrics import evaluate, primary_metric
from ..core.two_sample import quantile_groups
from ..errors import DataError
from .bundle import answered_class
from .calibration import fit_calibration, fit_class_calibration
from .feature_profile import categorical_profile, feature_profile, finite_or_none, numeric_profile

FORMAT_VERSION = 2


@dataclass(frozen=True)
class TableProfile:
    """The profile's part that describes the table itself: its rows, each column's dtype and
    kind, each feature's bins or levels. Fitted from the frame at hand (`table_profile`), or
    on the Dask engine from the counts of every partition (`training.distributed_profile`)."""

    rows: int
    columns: Mapping[str, Mapping[str, str]]
    features: Mapping[str, Mapping[str, Any]]


def column_facts(frame: pd.DataFrame) -> dict[str, dict[str, str]]:
    """Each column's dtype and kind (`core.histogram.column_kind`), as the profile records them."""
    return {str(name): {"dtype": str(frame[name].dtype), "kind": column_kind(frame[name])} for name in frame.columns}


def table_profile(frame: pd.DataFrame, contract: Contract) -> TableProfile:
    missing = [name for name in contract.feature_names if name not in frame.columns]
    if missing:
        raise DataError(f"the reference data lacks feature column(s) {', '.join(missing)}")
    return TableProfile(
        rows=len(frame),
        columns=column_facts(frame),
        features={feature.name: feature_profile(frame[feature.name], feature) for feature in contract.features},
    )


def _metrics_json(metrics: Mapping[str, float]) -> dict[str, float | None]:
    return {name: finite_or_none(float(value)) for name, value in metrics.items()}


def _segment_performance(
    frame: pd.DataFrame, contract: Contract, scores: np.ndarray, threshold: float | None
) -> dict[str, dict[str, dict[str, float | None]]]:
    labels = frame[contract.target].to_numpy(dtype=float)
    found: dict[str, dict[str, dict[str, float | None]]] = {}
    for segment in contract.segments:
        feature = contract.feature(segment)
        names = category_labels(frame[segment], boolean=feature.type == "boolean", normalize=feature.normalize)
        found[segment] = {}
        for level in sorted({str(v) for v in names if v is not None}):
            rows = names == level
            found[segment][level] = _metrics_json(
                evaluate(contract.task, labels[rows], scores[rows], threshold, contract.class_labels)
            )
    return found


def answered_probability(scores: np.ndarray) -> np.ndarray:
    """A row's one score: itself, or (multiclass, a row per record of one probability per
    class) the probability of the class answered, the most probable one."""
    return answered_class(scores)[1] if scores.ndim == 2 else scores


def class_profile(probabilities: np.ndarray, contract: Contract) -> dict[str, Any]:
    """Multiclass: the classes (as the contract writes them), how often each was answered,
    and each class's probability distribution, for prediction drift on the class mix and
    per class."""
    codes, _ = answered_class(probabilities)
    answered = np.bincount(codes, minlength=contract.n_classes).tolist()
    names = np.asarray([str(label) for label in contract.class_labels], dtype=object)
    return {
        "labels": list(contract.class_labels),
        "answered": answered,
        # The answered classes as a categorical profile: drift of the class mix is tested as a
        # categorical feature's is (chi-squared, Jensen-Shannon), with the same settings.
        "mix": categorical_profile(pd.Series(names[codes], dtype=object), boolean=False, normalize=False),
        "probabilities": [numeric_profile(probabilities[:, i]) for i in range(contract.n_classes)],
    }


def fit_profile(
    frame: pd.DataFrame,
    contract: Contract,
    scores: np.ndarray | None = None,
    performance: Mapping[str, float] | None = None,
    threshold: float | None = None,
    loss_calibration: Mapping[str, Any] | None = None,
    table: TableProfile | None = None,
) -> dict[str, Any]:
    """Profile the features of `frame` (the holdout at training time, or any reference table),
    or take the rows, columns and features from `table` (the Dask engine's whole table).

    With `scores` (the model's, on the rows of `frame`) it also profiles the score
    distribution and, when `frame` has the target, the per-segment performance
    and (for classifiers) the calibration map.
    """
    described = table_profile(frame, contract) if table is None else table
    labelled = scores is not None and contract.target in frame.columns
    score_array = np.asarray(scores, dtype=float) if scores is not None else None
    if score_array is not None and len(score_array) != len(frame):
        raise DataError(f"{len(score_array)} scores for {len(frame)} reference rows")
    calibration = None
    segment_performance: dict[str, Any] = {}
    if labelled and score_array is not None:
        segment_performance = _segment_performance(frame, contract, score_array, threshold)
        if contract.is_binary:
            calibration = fit_calibration(score_array, frame[contract.target].to_numpy(dtype=float))
        elif contract.is_multiclass:
            target = frame[contract.target].to_numpy(dtype=float)
            calibration = fit_class_calibration(score_array, target, contract.n_classes)
    classes = class_profile(score_array, contract) if contract.is_multiclass and score_array is not None else None
    return {
        "format_version": FORMAT_VERSION,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "contract_hash": contract.hash,
        "task": contract.task,
        "target": contract.target,
        "id_column": contract.id_column,
        "timestamp_column": contract.timestamp_column,
        "segments": list(contract.segments),
        "n_rows": described.rows,
        "columns": {name: dict(facts) for name, facts in described.columns.items()},
        "features": {name: dict(spec) for name, spec in described.features.items()},
        # Multiclass: the score is the answered (most probable) class's probability, the
        # model's confidence; the class mix and each class's probability are in `classes`.
        "score": numeric_profile(answered_probability(score_array)) if score_array is not None else None,
        "classes": classes,
        "threshold": threshold,
        "primary_metric": primary_metric(contract.task).name,
        "performance": _metrics_json(performance or {}),
        "segment_performance": segment_performance,
        "calibration": calibration,
        # Regression: the loss model's residual calibration (model/loss_calibration.py).
        "loss_calibration": dict(loss_calibration) if loss_calibration is not None else None,
    }


# --- reading a stored profile ------------------------------------------------------------------------

REQUIRED_KEYS = ("format_version", "task", "features", "columns")
FEATURE_KEYS = {
    "numeric": ("n", "missing", "edges", "counts", "means", "std"),
    "categorical": ("n", "missing", "levels", "counts", "other_count", "singletons", "normalize", "type"),
}


def check_profile(raw: Any, source: str = "profile") -> dict[str, Any]:
    """The profile if it has the shape this code reads; otherwise a one-line DataError."""
    if not isinstance(raw, dict):
        raise DataError(f"{source} is not a reference profile (a JSON object)")
    absent = [key for key in REQUIRED_KEYS if key not in raw]
    if absent:
        raise DataError(f"{source} is not a reference profile: it lacks {', '.join(absent)}")
    if raw["format_version"] != FORMAT_VERSION:
        raise DataError(
            f"{source} is profile format {raw['format_version']}, this code reads {FORMAT_VERSION}: refit it"
        )
    if not isinstance(raw["features"], dict) or not raw["features"]:
        raise DataError(f"{source} profiles no features")
    for name, spec in [*raw["features"].items(), *([("score", raw["score"])] if raw.get("score") else [])]:
        kind = spec.get("kind") if isinstance(spec, dict) else None
        if kind not in FEATURE_KEYS:
            raise DataError(f"{source}: feature {name!r} has no known kind")
        lacking = [key for key in FEATURE_KEYS[kind] if key not in spec]
        if lacking:
            raise DataError(f"{source}: feature {name!r} lacks {', '.join(lacking)}")
    return raw


def load_profile(path: Path) -> dict[str, Any]:
    """Read a reference_profile.json (as written by training or by `save_profile`)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: cannot read it ({err})") from None
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from None
    return check_profile(raw, str(path))


def save_profile(profile: Mapping[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(profile), allow_nan=False), encoding="utf-8")
    return path


# --- the profile as arrays, ready for scoring -----------------------------------------------------------


@dataclass(frozen=True)
class NumericReference:
    name: str
    type: str
    n: int
    missing: int
    edges: np.ndarray
    counts: np.ndarray
    sums: np.ndarray
    std: float
    groups: np.ndarray  # decile label per fine bin, for PSI and JS

    @property
    def spread(self) -> float:
        """What Wasserstein distances are divided by: the reference standard deviation
        (1 for a constant feature, whose distance is then in its own units)."""
        return self.std if self.std > 0 else 1.0


@dataclass(frozen=True)
class CategoricalReference:
    name: str
    type: str
    boolean: bool
    normalize: bool
    n: int
    missing: int
    levels: tuple[str, ...]
    index: Mapping[str, int]
    counts: np.ndarray
    other_count: int
    singletons: int

    @property
    def expected_unseen(self) -> float:
        """Share of live values expected to fall outside the stored levels with no drift at all."""
        present = self.n - self.missing
        return (self.other_count + self.singletons) / present if present else 0.0


FeatureReference = NumericReference | CategoricalReference


@dataclass(frozen=True)
class Reference:
    """A profile compiled into arrays once, so that scoring many windows repeats no parsing."""

    features: Mapping[str, FeatureReference]
    score: NumericReference | None  # multiclass: the answered class's probability
    column_kinds: Mapping[str, str]
    optional_columns: frozenset[str]
    task: str
    threshold: float | None
    profile: Mapping[str, Any] = field(repr=False)
    classes: CategoricalReference | None = None  # multiclass: the mix of answered classes

    @property
    def class_labels(self) -> tuple[Any, ...]:
        """Multiclass: the classes as the contract writes them, in the model's order."""
        found = self.profile.get("classes") or {}
        return tuple(found.get("labels") or ())


def numeric_reference(name: str, spec: Mapping[str, Any]) -> NumericReference:
    counts = np.asarray(spec["counts"], dtype=float)
    return NumericReference(
        name=name,
        type=str(spec.get("type", "numeric")),
        n=int(spec["n"]),
        missing=int(spec["missing"]),
        edges=np.asarray(spec["edges"], dtype=float),
        counts=counts,
        sums=np.asarray(spec["means"], dtype=float) * counts,
        std=float(spec["std"]) if spec["std"] is not None else 0.0,
        groups=quantile_groups(counts),
    )


def _categorical_reference(name: str, spec: Mapping[str, Any]) -> CategoricalReference:
    levels = tuple(str(level) for level in spec["levels"])
    return CategoricalReference(
        name=name,
        type=str(spec["type"]),
        boolean=spec["type"] == "boolean",
        normalize=bool(spec["normalize"]),
        n=int(spec["n"]),
        missing=int(spec["missing"]),
        levels=levels,
        index={level: i for i, level in enumerate(levels)},
        counts=np.asarray(spec["counts"], dtype=float),
        other_count=int(spec["other_count"]),
        singletons=int(spec["singletons"]),
    )


def compile_profile(profile: Mapping[str, Any]) -> Reference:
    """Arrays and lookups for a (checked) profile."""
    raw = check_profile(dict(profile))
    features: dict[str, FeatureReference] = {
        name: numeric_reference(name, spec) if spec["kind"] == "numeric" else _categorical_reference(name, spec)
        for name, spec in raw["features"].items()
    }
    optional = {raw.get(key) for key in ("id_column", "timestamp_column", "target")}
    return Reference(
        features=features,
        score=numeric_reference("score", raw["score"]) if raw.get("score") else None,
        column_kinds={name: str(info.get("kind", "")) for name, info in raw["columns"].items()},
        optional_columns=frozenset(str(c) for c in optional if c),
        task=str(raw["task"]),
        threshold=raw.get("threshold"),
        profile=raw,
        classes=_categorical_reference("answered class", raw["classes"]["mix"])
        if (raw.get("classes") or {}).get("mix")
        else None,
    )
