"""A monitoring window reduced page by page to what the drift engine and the estimates read.

`WindowReduction.add` takes one page of the prediction log's answers (the DataFrame
`PredictionLog.window` returns, for some of the window's rows, oldest first) and keeps only
totals that add across pages: per feature the counts (and sums) in the reference profile's
bins or per level, per received column what the schema comparison reads (its pandas type
over the whole window, its non-null values, the first values that name an object column's
kind), the edge's event counts, and the answers per model version. Of the monitored version
it keeps the scores (and a multiclass model's probabilities, a regression model's loss-model
inputs and predictions) as float64 arrays, since the estimates before labels resample the
rows themselves: 8 bytes per answer and class, not a DataFrame of every column.

The drift statistics are functions of those counts (the KS test too: `ks_from_counts`), so
`drift.score_counted` on a reduction gives the report `drift.score_window` gives on the
whole window: equal counts, p-values and verdicts; the bin sums (Wasserstein distance, means)
are added per page, so they can differ from one sum over the window in the last bits only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..core.histogram import (
    KIND_SAMPLE,
    ColumnKind,
    NumericCounts,
    count_categories,
    count_numeric,
    dtype_kind,
    numeric_values,
    sample_kind,
)
from ..model.reference_profile import CategoricalReference, FeatureReference, NumericReference, Reference
from .schema_drift import categorical_distance, numeric_distance

# One value per Python type a JSON record holds: pandas gives a column the same dtype for
# these as for the values of that type themselves (a column's dtype depends only on which
# types it holds, a null or an absent key alike), so the window's dtype is known from pages.
_REPRESENTATIVE: dict[str, Any] = {"null": None, "bool": True, "int": 1, "float": 1.5, "str": "a"}
_OTHER = [0]  # lists, dicts: object


@dataclass
class _Column:
    """What the schema comparison reads of one received column, over the pages so far."""

    rows: int = 0  # rows of the pages that had the column
    non_null: int = 0
    types: set[str] = field(default_factory=set)
    head: list[Any] = field(default_factory=list)  # non-null values in the window's first KIND_SAMPLE rows
    first: list[Any] = field(default_factory=list)  # its first KIND_SAMPLE non-null values
    unparseable: int = 0
    parsed_rows: int = 0  # rows whose unparseable values are counted


def _types(column: pd.Series) -> set[str]:
    """The Python types of the column's values, named as `_REPRESENTATIVE` names them."""
    dtype = column.dtype
    nulls = {"null"} if column.isna().any() else set()
    if pd.api.types.is_bool_dtype(dtype):
        return {"bool"} | nulls
    if pd.api.types.is_integer_dtype(dtype):
        return {"int"} | nulls
    if pd.api.types.is_float_dtype(dtype):
        return {"float"} | nulls
    if isinstance(dtype, pd.StringDtype):
        return {"str"} | nulls
    names = {"bool": "bool", "int": "int", "float": "float", "str": "str"}
    found = {names.get(type(value).__name__, "other") for value in column.dropna()}
    return found | nulls


@dataclass
class _NumericTotals:
    counts: np.ndarray
    sums: np.ndarray
    minimum: float = float("inf")
    maximum: float = float("-inf")

    @classmethod
    def of(cls, spec: NumericReference) -> _NumericTotals:
        size = len(spec.edges) + 1
        return cls(np.zeros(size, dtype=np.int64), np.zeros(size))

    def add(self, counted: NumericCounts) -> None:
        self.counts += counted.counts
        self.sums += counted.sums
        if counted.present:
            self.minimum = min(self.minimum, counted.minimum)
            self.maximum = max(self.maximum, counted.maximum)

    def total(self, rows: int) -> NumericCounts:
        present = int(self.counts.sum())
        return NumericCounts(
            n=rows,
            missing=rows - present,
            counts=self.counts.copy(),
            sums=self.sums.copy(),
            mean=float(self.sums.sum()) / present if present else float("nan"),
            std=float("nan"),
            minimum=self.minimum if present else float("nan"),
            maximum=self.maximum if present else float("nan"),
        )


Totals = _NumericTotals | dict[str, int]  # a numeric feature's bins, or a categorical one's levels in order


def _count(spec: FeatureReference, column: pd.Series, totals: Totals | None) -> tuple[Totals, int | None]:
    """Add a page's column to a feature's totals; returns them and, for a numeric reading,
    the page's values that are not numbers."""
    if isinstance(spec, NumericReference):
        values, unparseable = numeric_values(column)
        found = totals if isinstance(totals, _NumericTotals) else _NumericTotals.of(spec)
        found.add(count_numeric(values, spec.edges))
        return found, unparseable
    levels = totals if isinstance(totals, dict) else {}
    for level, count in count_categories(column, boolean=spec.boolean, normalize=spec.normalize)[0].items():
        levels[level] = levels.get(level, 0) + count
    return levels, None


class WindowReduction:
    """The running totals of a window's pages against one reference profile, for the
    version `version` (whose scores the estimates and prediction drift read)."""

    def __init__(self, reference: Reference, version: str) -> None:
        self.reference = reference
        self.version = version
        self.rows = 0
        self.versions: Counter[str] = Counter()
        self.edge: Counter[str] = Counter()
        self._columns: dict[str, _Column] = {}  # in order of first appearance, as one DataFrame orders them
        self._totals: dict[str, Totals] = {}  # a feature's own column
        self._pairs: dict[tuple[str, str], Totals] = {}  # (unknown column, feature not seen): a possible rename
        self._known = {*reference.column_kinds, *reference.features, *reference.optional_columns}
        self._answers: dict[str, list[np.ndarray]] = {}  # the monitored version's, per page

    # --- adding a page -----------------------------------------------------------------------

    def add(self, served: pd.DataFrame, features: pd.DataFrame, answers: Mapping[str, np.ndarray]) -> None:
        """Add one page: its answers, their received features and arrays of the monitored
        version's answers on it (scores, ..., row for row)."""
        for value in served["model_version"]:
            self.versions[str(value)] += 1
        for events in served.get("schema_events", pd.Series(dtype=object)):
            for event in events or ():
                if isinstance(event, Mapping):
                    self.edge[f"{event.get('kind')}:{event.get('field')}"] += 1
        for name in features.columns:
            self._observe(str(name), features[name])
        for name, spec in self.reference.features.items():
            if name in features.columns:
                self._totals[name], unparseable = _count(spec, features[name], self._totals.get(name))
                self._parsed(name, unparseable, len(features))
        self._count_renames(features)
        self.rows += len(served)
        for name, values in answers.items():
            self._answers.setdefault(name, []).append(values)

    def answers(self, name: str) -> np.ndarray | None:
        """The monitored version's `name` array over the window (None when no page gave one)."""
        parts = self._answers.get(name)
        return np.concatenate(parts) if parts else None

    def _observe(self, name: str, column: pd.Series) -> None:
        found = self._columns.setdefault(name, _Column())
        if found.rows < self.rows:  # absent from earlier pages: nulls there
            found.types.add("null")
        found.types |= _types(column)
        found.non_null += int(column.notna().sum())
        room = KIND_SAMPLE - self.rows
        if room > 0:
            found.head += column.iloc[:room].dropna().tolist()
        if len(found.first) < KIND_SAMPLE:
            found.first += column.dropna().iloc[: KIND_SAMPLE - len(found.first)].tolist()
        found.rows = self.rows + len(column)

    def _parsed(self, name: str, unparseable: int | None, rows: int) -> None:
        if unparseable is not None:
            found = self._columns[name]
            found.unparseable += unparseable
            found.parsed_rows += rows

    def _count_renames(self, features: pd.DataFrame) -> None:
        """Count each unknown column against each feature not seen so far: if that feature
        turns out missing from the window, the column may be it, renamed."""
        unseen = [name for name in self.reference.features if name not in self._columns]
        for key in [key for key in self._pairs if key[1] not in unseen]:
            del self._pairs[key]
        # A column's values that are not numbers are counted once, with the first numeric feature.
        numeric = next((f for f in unseen if isinstance(self.reference.features[f], NumericReference)), None)
        for column in (str(c) for c in features.columns if str(c) not in self._known):
            for feature in unseen:
                spec = self.reference.features[feature]
                self._pairs[column, feature], unparseable = _count(
                    spec, features[column], self._pairs.get((column, feature))
                )
                if feature == numeric:
                    self._parsed(column, unparseable, len(features))

    # --- what the drift engine reads (drift.CountedColumns) ------------------------------------

    @property
    def names(self) -> Sequence[str]:
        # An empty window has every feature's column and no rows: "no data", not "dropped".
        return list(self._columns) if self.rows else list(self.reference.features)

    def _dtype(self, name: str) -> Any:
        found = self._columns.get(name)
        if found is None:
            return np.dtype(object)
        types = found.types | ({"null"} if found.rows < self.rows else set())
        values = [_REPRESENTATIVE.get(kind, _OTHER) for kind in sorted(types)]
        return pd.DataFrame.from_records([{"c": value} for value in values])["c"].dtype

    def dtype(self, name: str) -> str:
        return str(self._dtype(name))

    def kind(self, name: str) -> ColumnKind:
        found = self._columns.get(name)
        if found is None:
            return "empty"
        typed = dtype_kind(self._dtype(name), lambda: found.non_null > 0)
        if typed is not None:
            return typed
        return sample_kind(pd.Series(found.head if found.head else found.first, dtype=object))

    def non_null(self, name: str) -> int:
        return self._columns[name].non_null if name in self._columns else 0

    def unparseable(self, name: str) -> int:
        found = self._columns[name]
        if found.parsed_rows != found.rows:
            raise RuntimeError(f"column {name} was not read as numbers on every page")
        return found.unparseable

    def _feature_totals(self, spec: FeatureReference, name: str) -> Totals:
        found = self._totals.get(name) if name == spec.name else self._pairs.get((name, spec.name))
        if found is None:
            return _NumericTotals.of(spec) if isinstance(spec, NumericReference) else {}
        return found

    def distance(self, reference: FeatureReference, name: str) -> float:
        totals = self._feature_totals(reference, name)
        if isinstance(reference, NumericReference) and isinstance(totals, _NumericTotals):
            return numeric_distance(reference, totals.total(self.rows))
        levels = totals if isinstance(totals, dict) else {}
        assert isinstance(reference, CategoricalReference)
        return categorical_distance(reference, levels, self.rows - sum(levels.values()), self.rows)

    def numeric_counts(self, spec: NumericReference, name: str) -> NumericCounts:
        totals = self._feature_totals(spec, name)
        assert isinstance(totals, _NumericTotals)
        return totals.total(self.rows)

    def category_counts(self, spec: CategoricalReference, name: str) -> tuple[dict[str, int], int]:
        totals = self._feature_totals(spec, name)
        levels = dict(totals) if isinstance(totals, dict) else {}
        return levels, self.rows - sum(levels.values())
