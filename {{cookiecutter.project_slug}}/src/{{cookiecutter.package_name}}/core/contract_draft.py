"""A first contract drafted from a table: the `contract draft` command's logic.

A draft is a proposal for a person to review, never used unseen.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd
from .contract import Contract, Feature, parse_contract
from .contract_target import TargetReading, read_target

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


def infer_features(frame: pd.DataFrame, exclude: Iterable[str | None] = ()) -> list[Feature]:
    """A drafted feature for every column of `frame` not in `exclude` (where None names no
    column), in the table's order: its type, nullability, a rounded-out range or its
    categories, from the values alone (no target needed). Names stay as the table spells
    them, also ones a contract.yaml refuses ("price [usd]"): `draft_contract` reports those
    when it checks the contract, and `drift`, which compares two tables and builds no service
    or suite from them, can use any name."""
    skip = {str(name) for name in exclude if name is not None}
    return [
        _draft_feature("column", frame[name]).model_copy(update={"name": str(name)})
        for name in frame.columns
        if str(name) not in skip
    ]


def guess_row_keys(frame: pd.DataFrame, exclude: Iterable[str] = ()) -> tuple[str | None, str | None]:
    """The columns that look like a unique row id and an event time (None where none does):
    bookkeeping, which a draft keeps out of the features and `drift` does not compare."""
    skip = {str(name) for name in exclude}
    id_column = _guess_id(frame, skip)
    return id_column, _guess_timestamp(frame, skip | ({id_column} if id_column else set()))


def row_key_notes(contract: Contract) -> list[str]:
    """The contract's id and timestamp columns, or what having none means, in a line each."""
    notes = []
    if contract.id_column is None:
        notes.append("no id column: answers are keyed by the service's request ids")
    else:
        notes.append(f"id column: {contract.id_column}")
    if contract.timestamp_column is not None:
        notes.append(f"timestamp column: {contract.timestamp_column} (the split is by time)")
    else:
        stratified = ", stratified" if contract.is_classification else ""
        notes.append(
            f"no timestamp column: the split will be random (seeded{stratified}); monitoring goes by the time "
            "the service logged each answer"
        )
    return notes


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
    *,
    no_id_column: bool = False,
    no_timestamp_column: bool = False,
    reading: TargetReading | None = None,
) -> Contract:
    """A first contract for the user's table; review it before training on it. The id and
    timestamp columns are the ones named, else guessed; none where none is found or
    `no_id_column` / `no_timestamp_column` asks for none. The task (and a binary target's
    labels) is `reading`, else read from the target's values (`read_target`, which stops
    where they do not tell)."""
    from ..errors import DataError

    if frame.empty:
        raise DataError("the data has no rows: a contract needs examples to describe")
    if target not in frame.columns:
        raise DataError(f"target column {target!r} is not in the data (columns: {', '.join(map(str, frame.columns))})")
    for label, column in (("id column", id_column), ("timestamp column", timestamp_column)):
        if column is not None and column not in frame.columns:
            raise DataError(f"{label} {column!r} is not in the data")
    # Unset and not found, a row key is left out: the service's request ids key the answers,
    # and the split is random (`row_key_notes` says so).
    if no_id_column and id_column is not None:
        raise DataError(f"name an id column ({id_column!r}) or ask for none, not both")
    if no_timestamp_column and timestamp_column is not None:
        raise DataError(f"name a timestamp column ({timestamp_column!r}) or ask for none, not both")
    id_column = None if no_id_column else id_column or _guess_id(frame, {target})
    taken = {target} | ({id_column} if id_column is not None else set())
    timestamp_column = None if no_timestamp_column else timestamp_column or _guess_timestamp(frame, taken)
    reading = reading or read_target(frame, target)
    features = infer_features(frame, exclude=[c for c in (target, id_column, timestamp_column) if c is not None])
    if segments is None:
        segments = [
            f.name
            for f in features
            if f.type == "categorical" and f.categories is not None and 2 <= len(f.categories) <= 8
        ][:2]
    return parse_contract(
        {
            "task": reading.task,
            "target": target,
            **({"labels": list(reading.labels)} if reading.labels is not None else {}),
            "id_column": id_column,
            "timestamp_column": timestamp_column,
            "features": [f.model_dump(exclude_defaults=True) for f in features],
            "segments": list(segments),
        },
        source="the drafted contract",
    )
