"""The one encoding from contract features to the model's float32 input matrix.

The ONNX graph holds the trees but not the category-to-code mapping, so the
mapping is fitted at training, stored with the model as JSON, and applied by
the same code in training, parity checking, batch scoring and the service.
Column i of the matrix is `contract.feature_names[i]`. Unseen and missing
categories become NaN, which LightGBM and its ONNX export both send down the
"missing" branch.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .contract import Contract, clean_category

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Encoding:
    features: tuple[str, ...]
    kinds: tuple[str, ...]
    levels: Mapping[str, tuple[str, ...]]
    normalize: Mapping[str, bool]

    @property
    def categorical_indices(self) -> list[int]:
        return [i for i, kind in enumerate(self.kinds) if kind == "categorical"]

    @property
    def n_features(self) -> int:
        return len(self.features)

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """A prepared frame (see `data.prepare_frame`) as the float32 model input."""
        import pandas as pd

        out = np.empty((len(frame), self.n_features), dtype=np.float32)
        for i, (name, kind) in enumerate(zip(self.features, self.kinds, strict=True)):
            column = frame[name]
            if kind == "categorical":
                codes = pd.Categorical(column, categories=list(self.levels[name])).codes
                out[:, i] = np.where(codes < 0, np.nan, codes)
            else:
                out[:, i] = pd.to_numeric(column.astype("Float64"), errors="coerce").to_numpy(
                    dtype=np.float32, na_value=np.nan
                )
        return out

    @functools.cached_property
    def _codes(self) -> dict[str, dict[str, int]]:
        """Each categorical's level-to-code table, built once per model rather than per request."""
        return {name: {level: code for code, level in enumerate(levels)} for name, levels in self.levels.items()}

    def transform_columns(
        self, columns: Mapping[str, Sequence[Any]], count: int, *, normalized: bool = False
    ) -> np.ndarray:
        """Columns of `count` type-checked records (None for missing) as the model input; a
        feature the columns lack is missing. `normalized`: the categoricals are normalised
        already (`edge.CheckedRecords.columns` are, by the same contract as the model's)."""
        out = np.empty((count, self.n_features), dtype=np.float32)
        for i, (name, kind) in enumerate(zip(self.features, self.kinds, strict=True)):
            column = columns.get(name)
            if column is None:
                out[:, i] = np.nan
            elif kind == "categorical":
                table, nan = self._codes[name], math.nan
                if self.normalize[name] and not normalized:
                    out[:, i] = [nan if v is None else table.get(clean_category(v), nan) for v in column]
                else:
                    out[:, i] = [nan if v is None else table.get(v, nan) for v in column]
            else:
                out[:, i] = column  # numpy reads None as NaN, True as 1.0, in C
        return out

    def transform_records(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Records as the service receives them (already type-checked) as the model input."""
        columns = {name: [record.get(name) for record in records] for name in self.features}
        return self.transform_columns(columns, len(records))

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "kinds": list(self.kinds),
            "levels": {name: list(levels) for name, levels in self.levels.items()},
            "normalize": dict(self.normalize),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Encoding:
        return cls(
            features=tuple(raw["features"]),
            kinds=tuple(raw["kinds"]),
            levels={name: tuple(levels) for name, levels in raw["levels"].items()},
            normalize=dict(raw["normalize"]),
        )


def open_categoricals(contract: Contract) -> list[str]:
    """The categorical features whose levels come from the training data (no closed set)."""
    return [f.name for f in contract.features if f.type == "categorical" and f.allowed_categories is None]


def fit_encoding(frame: pd.DataFrame, contract: Contract, max_levels: int) -> Encoding:
    """Levels per categorical: the contract's closed set, or for open (high-cardinality)
    features the `max_levels` most frequent training values (ties broken by name so the
    mapping is deterministic)."""
    counts = {name: frame[name].dropna().value_counts() for name in open_categoricals(contract)}
    return encoding_from_counts(counts, contract, max_levels)


def encoding_from_counts(counts: Mapping[str, pd.Series], contract: Contract, max_levels: int) -> Encoding:
    """`fit_encoding` from each open categorical's value counts, however they were counted
    (one frame, or partitions added up on Dask)."""
    levels: dict[str, tuple[str, ...]] = {}
    normalize: dict[str, bool] = {}
    for feature in contract.features:
        if feature.type != "categorical":
            continue
        normalize[feature.name] = feature.normalize
        allowed = feature.allowed_categories
        if allowed is not None:
            levels[feature.name] = tuple(sorted(allowed))
            continue
        ranked = sorted(counts[feature.name].items(), key=lambda item: (-int(item[1]), str(item[0])))
        levels[feature.name] = tuple(str(level) for level, _ in ranked[:max_levels])
    return Encoding(
        features=tuple(contract.feature_names),
        kinds=tuple(f.type for f in contract.features),
        levels=levels,
        normalize=normalize,
    )
