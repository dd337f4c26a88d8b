"""A first contract drafted from a table: the `contract draft` command's logic.

A draft is a proposal for a person to review, never used unseen.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd
from .contract import Contract, Feature, Task, parse_contract

# Above this many distinct values a drafted categorical is left open (no category list).
DRAFT_MAX_CATEGORIES = 50


def _round_out(value: float, up: bool) -> float:
    """Widen an observed bound to a round number so that tomorrow's data still fits."""
    if value == 0 or not math.isfinite(value):
        return value
    magnitude = 10 ** math.floor(math.log10(abs(value)))
    rounded = (math.ceil if up else math.floor)(value / magnitude) * magnitude
    return float(rounded)


def _draft_feature(name: str, column: pd.Series) -> Feature:
    import pandas as pd

    nullable = bool(column.isna().any())
    values = column.dropna()
    if pd.api.types.is_bool_dtype(column) or (len(values) and all(isinstance(v, bool) for v in values)):
        return Feature(name=name, type="boolean", nullable=nullable)
    if pd.api.types.is_numeric_dtype(column):
        integral = bool(len(values) and (values == values.round()).all())
        low, high = (float(values.min()), float(values.max())) if len(values) else (None, None)
        return Feature(
            name=name,
            type="integer" if integral else "numeric",
            nullable=nullable,
            min=0.0 if low is not None and low >= 0 else (_round_out(low, up=False) if low is not None else None),
            max=_round_out(high, up=True) if high is not None else None,
        )
    levels = sorted({" ".join(str(v).split()).lower() for v in values})
    if len(levels) <= DRAFT_MAX_CATEGORIES:
        return Feature(name=name, type="categorical", nullable=nullable, categories=tuple(levels))
    return Feature(name=name, type="categorical", nullable=nullable)


def _guess_timestamp(frame: pd.DataFrame, exclude: set[str]) -> str | None:
    import pandas as pd

    for name in frame.columns:
        if name in exclude:
            continue
        if pd.api.types.is_datetime64_any_dtype(frame[name]):
            return str(name)
    for name in frame.columns:
        if name in exclude or pd.api.types.is_numeric_dtype(frame[name]):
            continue
        sample = frame[name].dropna().astype(str).head(200)
        if len(sample) and pd.to_datetime(sample, errors="coerce", utc=True, format="mixed").notna().all():
            return str(name)
    return None


def _guess_id(frame: pd.DataFrame, exclude: set[str]) -> str | None:
    for name in frame.columns:
        if name in exclude:
            continue
        lowered = str(name).lower()
        if (lowered == "id" or lowered.endswith("_id")) and frame[name].is_unique and frame[name].notna().all():
            return str(name)
    return None


def draft_contract(
    frame: pd.DataFrame,
    target: str,
    id_column: str | None = None,
    timestamp_column: str | None = None,
    segments: Sequence[str] | None = None,
) -> Contract:
    """A first contract for the user's table; review it before training on it."""
    from ..errors import DataError

    if frame.empty:
        raise DataError("the data has no rows: a contract needs examples to describe")
    if target not in frame.columns:
        raise DataError(f"target column {target!r} is not in the data (columns: {', '.join(map(str, frame.columns))})")
    for label, column in (("id column", id_column), ("timestamp column", timestamp_column)):
        if column is not None and column not in frame.columns:
            raise DataError(f"{label} {column!r} is not in the data")
    id_column = id_column or _guess_id(frame, {target})
    if id_column is None:
        raise DataError("no unique id column found: name one with --id-column")
    timestamp_column = timestamp_column or _guess_timestamp(frame, {target, id_column})
    if timestamp_column is None:
        raise DataError("no timestamp column found: name one with --timestamp-column (the split is by time)")
    target_values = set(frame[target].dropna().unique().tolist())
    task: Task = "binary_classification" if target_values <= {0, 1} else "regression"  # True == 1, False == 0
    features = [
        _draft_feature(str(name), frame[name])
        for name in frame.columns
        if name not in {target, id_column, timestamp_column}
    ]
    if segments is None:
        segments = [
            f.name
            for f in features
            if f.type == "categorical" and f.categories is not None and 2 <= len(f.categories) <= 8
        ][:2]
    return parse_contract(
        {
            "task": task,
            "target": target,
            "id_column": id_column,
            "timestamp_column": timestamp_column,
            "features": [f.model_dump(exclude_defaults=True) for f in features],
            "segments": list(segments),
        },
        source="the drafted contract",
    )
