"""Schema drift: how the columns of a window differ from the reference's, as events.

An upstream team adds a column, drops one, renames one or starts sending
numbers as text; the service sees fields it does not know. Each becomes one
structured event (column, kind, detail), and none of them stops the drift
engine: a renamed feature is found by its values and scored under its new
name, a retyped one is scored after coercion.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd

from ..core.histogram import ColumnKind, NumericCounts, column_kind, count_categories, count_numeric, numeric_values
from ..core.two_sample import ks_from_counts, total_variation
from ..model.reference_profile import CategoricalReference, FeatureReference, NumericReference, Reference

EventKind = Literal["added", "dropped", "renamed", "type_changed", "unknown_field", "duplicated"]
EXPECTED_KIND = {"numeric": "numeric", "integer": "numeric", "boolean": "boolean", "categorical": "string"}

# A numeric feature has changed type only when more than this share of its values are not numbers.
TYPE_CHANGE_MIN_SHARE = 0.01


@dataclass(frozen=True)
class SchemaEvent:
    """One change in the shape of the data."""

    column: str
    kind: EventKind
    detail: str
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"column": self.column, "kind": self.kind, "detail": self.detail, "data": dict(self.data)}


@dataclass(frozen=True)
class SchemaDiff:
    events: tuple[SchemaEvent, ...]
    sources: Mapping[str, str]  # feature -> the window's column holding it (its new name when renamed)
    frame: pd.DataFrame  # the window with unique, string column names

    @property
    def changed(self) -> bool:
        return bool(self.events)


def _unique_columns(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[SchemaEvent]]:
    """String column names, first occurrence kept: a duplicated name cannot be scored twice."""
    names = [str(c) for c in frame.columns]
    repeats = {name: count for name, count in Counter(names).items() if count > 1}
    events = [
        SchemaEvent(name, "duplicated", f"{name} appears {count} times; the first is used", {"count": count})
        for name, count in repeats.items()
    ]
    if not repeats and list(frame.columns) == names:
        return frame, events
    first = [i for i, name in enumerate(names) if names.index(name) == i]
    unique = frame.iloc[:, first]
    unique.columns = [names[i] for i in first]
    return unique, events


def numeric_distance(reference: NumericReference, counted: NumericCounts) -> float:
    """How far a column counted into a numeric feature's bins is from its reference: the KS
    statistic, or the null-rate gap when that is larger."""
    if counted.n == 0:
        return 1.0
    null_gap = abs(counted.missing / counted.n - reference.missing / max(reference.n, 1))
    statistic = ks_from_counts(reference.counts, counted.counts.astype(float))[0]
    return max(1.0 if np.isnan(statistic) else statistic, null_gap)


def categorical_distance(reference: CategoricalReference, levels: Mapping[str, int], missing: int, n: int) -> float:
    """`numeric_distance` for a column counted into a categorical feature's levels (total
    variation)."""
    if n == 0:
        return 1.0
    null_gap = abs(missing / n - reference.missing / max(reference.n, 1))
    current = np.array([levels.get(level, 0) for level in reference.levels], dtype=float)
    unseen = float(sum(count for level, count in levels.items() if level not in reference.index))
    statistic = total_variation(np.append(reference.counts, reference.other_count), np.append(current, unseen))
    return max(1.0 if np.isnan(statistic) else statistic, null_gap)


def _distance(reference: FeatureReference, column: pd.Series) -> float:
    """How far a column's values are from a feature's reference: the KS statistic (numeric)
    or total variation (categorical), or the null-rate gap when that is larger."""
    if isinstance(reference, NumericReference):
        return numeric_distance(reference, count_numeric(numeric_values(column)[0], reference.edges))
    levels, missing = count_categories(column, boolean=reference.boolean, normalize=reference.normalize)
    return categorical_distance(reference, levels, missing, len(column))


class Columns(Protocol):
    """What the schema comparison reads of a window's columns: a DataFrame's (`FrameColumns`),
    or the totals of a window read in chunks (`monitoring.window_reduction`)."""

    @property
    def names(self) -> Sequence[str]: ...

    def kind(self, name: str) -> ColumnKind: ...

    def dtype(self, name: str) -> str: ...

    def non_null(self, name: str) -> int: ...

    def unparseable(self, name: str) -> int: ...

    def distance(self, reference: FeatureReference, name: str) -> float: ...


@dataclass(frozen=True)
class FrameColumns:
    """`Columns` of a DataFrame with unique string column names."""

    frame: pd.DataFrame

    @property
    def names(self) -> Sequence[str]:
        return list(self.frame.columns)

    def kind(self, name: str) -> ColumnKind:
        return column_kind(self.frame[name])

    def dtype(self, name: str) -> str:
        return str(self.frame[name].dtype)

    def non_null(self, name: str) -> int:
        return int(self.frame[name].notna().sum())

    def unparseable(self, name: str) -> int:
        return numeric_values(self.frame[name])[1]

    def distance(self, reference: FeatureReference, name: str) -> float:
        return _distance(reference, self.frame[name])


def _match_renames(
    reference: Reference, columns: Columns, dropped: list[str], added: list[str], max_distance: float
) -> list[tuple[str, str, float]]:
    """Pair dropped features with added columns whose values match, closest pairs first."""
    candidates = sorted(
        (distance, feature, column)
        for feature in dropped
        for column in added
        if (distance := columns.distance(reference.features[feature], column)) <= max_distance
    )
    matched: list[tuple[str, str, float]] = []
    used: set[str] = set()
    for distance, feature, column in candidates:
        if feature not in used and column not in used:
            matched.append((feature, column, distance))
            used.update((feature, column))
    return matched


def _type_change(reference: Reference, feature: str, columns: Columns, column: str) -> SchemaEvent | None:
    spec = reference.features[feature]
    expected = reference.column_kinds.get(feature) or EXPECTED_KIND.get(spec.type, "string")
    found = columns.kind(column)
    if "empty" in (found, expected) or found == expected:
        return None
    if isinstance(spec, NumericReference) and found == "string":
        # Numbers sent as text ("12.5") still read as numbers: the type changed only when
        # values that are not numbers are more than a stray record or two.
        unparseable = columns.unparseable(column)
        if unparseable <= TYPE_CHANGE_MIN_SHARE * max(columns.non_null(column), 1):
            return None
    data: dict[str, Any] = {"expected": expected, "found": found, "dtype": columns.dtype(column)}
    if isinstance(spec, NumericReference):
        data["unparseable"] = columns.unparseable(column)
        detail = f"{feature} was {expected}, now {found} ({data['unparseable']} values are not numbers)"
    else:
        detail = f"{feature} was {expected}, now {found}"
    return SchemaEvent(feature, "type_changed", detail, data)


def _unknown_field_events(unknown_fields: Mapping[str, int] | Iterable[str] | None) -> list[SchemaEvent]:
    if unknown_fields is None:
        return []
    counts = Counter(unknown_fields) if not isinstance(unknown_fields, Mapping) else dict(unknown_fields)
    return [
        SchemaEvent(
            str(name),
            "unknown_field",
            f"the service received {int(count)} request(s) with field {name}",
            {"count": int(count)},
        )
        for name, count in sorted(counts.items(), key=lambda item: str(item[0]))
    ]


def schema_diff(
    reference: Reference,
    frame: pd.DataFrame,
    unknown_fields: Mapping[str, int] | Iterable[str] | None = None,
    rename_max_distance: float = 0.1,
    ignore_columns: Iterable[str] = (),
) -> SchemaDiff:
    """Compare the window's columns with the reference's. `unknown_fields` are the request
    fields the service kept but does not know (names, or names with counts);
    `ignore_columns` are bookkeeping columns of the window's source (e.g. the prediction
    log's score and model version), which are not data and raise no event."""
    window, duplicated = _unique_columns(frame)
    events, sources = compare_columns(
        reference, FrameColumns(window), unknown_fields, rename_max_distance, ignore_columns
    )
    return SchemaDiff(events=(*duplicated, *events), sources=sources, frame=window)


def compare_columns(
    reference: Reference,
    columns: Columns,
    unknown_fields: Mapping[str, int] | Iterable[str] | None = None,
    rename_max_distance: float = 0.1,
    ignore_columns: Iterable[str] = (),
) -> tuple[tuple[SchemaEvent, ...], dict[str, str]]:
    """`schema_diff` on any `Columns` (unique names): the events, and for each feature the
    column holding it."""
    names = list(columns.names)
    present = set(names)
    known = {*reference.column_kinds, *reference.features, *reference.optional_columns, *map(str, ignore_columns)}
    dropped = [name for name in reference.features if name not in present]
    added = [name for name in names if name not in known]
    sources = {name: name for name in reference.features if name in present}
    events: list[SchemaEvent] = []
    for feature, column, distance in _match_renames(reference, columns, dropped, added, rename_max_distance):
        events.append(
            SchemaEvent(
                feature, "renamed", f"{feature} now arrives as {column}", {"new_name": column, "distance": distance}
            )
        )
        sources[feature] = column
        dropped.remove(feature)
        added.remove(column)
    events += [SchemaEvent(name, "dropped", f"feature {name} is missing from the data") for name in dropped]
    for name in added:
        kind = columns.kind(name)
        events.append(SchemaEvent(name, "added", f"column {name} is new (kind {kind})", {"kind": kind}))
    for feature, column in sources.items():
        change = _type_change(reference, feature, columns, column)
        if change is not None:
            events.append(change)
    events += _unknown_field_events(unknown_fields)
    return tuple(events), sources
