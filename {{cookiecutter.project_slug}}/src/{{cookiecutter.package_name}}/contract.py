"""The one description of the data: `contract.yaml`.

Everything else that describes the data is derived from it here: the Great
Expectations suite (checked in, and tested to be up to date), the service's
request model, the ONNX input order and the feature kinds drift monitoring
uses. `draft_contract` writes a first contract from a user's own data file.

This module must stay light: the service imports it, and it pulls in only
pydantic and PyYAML (pandas only inside `draft_contract`).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator, model_validator

from .errors import ContractError

if TYPE_CHECKING:
    import pandas as pd

FeatureType = Literal["numeric", "integer", "categorical", "boolean"]
Task = Literal["binary_classification", "regression"]

SUITE_NAME = "contract"
# Above this many distinct values a drafted categorical is left open (no category list).
DRAFT_MAX_CATEGORIES = 50

NUMERIC_DTYPES = [
    "float64",
    "float32",
    "int64",
    "int32",
    "int16",
    "int8",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "Float64Dtype",
    "Int64Dtype",
    "Int32Dtype",
]
BOOLEAN_DTYPES = ["bool", "BooleanDtype"]
# Categoricals are Python strings in an object column after data.prepare_frame; GX then
# checks each value, so the Python type name is what matches.
CATEGORICAL_DTYPES = ["str"]
TIMESTAMP_DTYPES = ["datetime64[ns]", "datetime64[us]", "datetime64[ms]", "datetime64[s]"]


def clean_category(value: str) -> str:
    """How a categorical value is normalised when its feature says `normalize: true`."""
    return " ".join(value.split()).lower()


class Feature(BaseModel):
    """One model input."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    type: FeatureType
    description: str = ""
    nullable: bool = False
    min: float | None = None
    max: float | None = None
    categories: tuple[str, ...] | None = Field(
        None, description="Closed set of levels; unset for open (high-cardinality) categoricals."
    )
    pattern: str | None = Field(None, description="Regex every value of an open categorical must match.")
    normalize: bool = Field(True, description="Categoricals: collapse whitespace and lowercase before use.")

    @field_validator("name")
    @classmethod
    def _name_is_plain(cls, name: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ValueError(f"feature name {name!r} must be letters, digits and underscores")
        return name

    @model_validator(mode="after")
    def _options_fit_type(self) -> Feature:
        is_numeric = self.type in ("numeric", "integer")
        if not is_numeric and (self.min is not None or self.max is not None):
            raise ValueError(f"{self.name}: min/max only apply to numeric and integer features")
        if self.type != "categorical" and (self.categories is not None or self.pattern is not None):
            raise ValueError(f"{self.name}: categories/pattern only apply to categorical features")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"{self.name}: min {self.min} is above max {self.max}")
        if self.categories is not None:
            levels = [clean_category(c) if self.normalize else c for c in self.categories]
            if len(set(levels)) != len(levels):
                raise ValueError(f"{self.name}: categories repeat after normalisation")
            if not levels:
                raise ValueError(f"{self.name}: categories must not be empty")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as err:
                raise ValueError(f"{self.name}: pattern {self.pattern!r} is not a regex ({err})") from err
        return self

    @property
    def allowed_categories(self) -> tuple[str, ...] | None:
        if self.categories is None:
            return None
        return tuple(clean_category(c) for c in self.categories) if self.normalize else self.categories

    def clean(self, value: str) -> str:
        return clean_category(value) if self.normalize else value


class Contract(BaseModel):
    """The whole data contract. See contract.yaml for the annotated example."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = 1
    task: Task
    target: str
    id_column: str
    timestamp_column: str
    features: tuple[Feature, ...]
    segments: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Contract:
        names = [f.name for f in self.features]
        if not names:
            raise ValueError("features must not be empty")
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"features repeat: {', '.join(duplicates)}")
        reserved = {self.target, self.id_column, self.timestamp_column}
        if len(reserved) != 3:
            raise ValueError("target, id_column and timestamp_column must be three different columns")
        clashes = sorted(reserved.intersection(names))
        if clashes:
            raise ValueError(f"{', '.join(clashes)} cannot be both a feature and the target/id/timestamp")
        by_name = {f.name: f for f in self.features}
        for segment in self.segments:
            feature = by_name.get(segment)
            if feature is None:
                raise ValueError(f"segment {segment!r} is not a feature")
            if feature.type not in ("categorical", "boolean"):
                raise ValueError(f"segment {segment!r} must be categorical or boolean, not {feature.type}")
        return self

    @property
    def feature_names(self) -> list[str]:
        """The model's input order: ONNX column i is `feature_names[i]`."""
        return [f.name for f in self.features]

    @property
    def columns(self) -> list[str]:
        """Every column a training table has."""
        return [self.id_column, self.timestamp_column, *self.feature_names, self.target]

    @property
    def is_classification(self) -> bool:
        return self.task == "binary_classification"

    def feature(self, name: str) -> Feature:
        for feature in self.features:
            if feature.name == name:
                return feature
        raise KeyError(name)

    @cached_property
    def hash(self) -> str:
        """Fingerprint of what a model depends on; a served model must match the service's."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json", exclude_defaults=True), sort_keys=False, allow_unicode=True)


def parse_contract(raw: Any, source: str = "contract") -> Contract:
    try:
        return Contract.model_validate(raw)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'contract'}: {e['msg']}" for e in err.errors())
        raise ContractError(f"{source} is invalid: {problems}") from None


def load_contract(path: Path) -> Contract:
    """Read and check contract.yaml; every problem is a one-line ContractError."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ContractError(f"no contract at {path}: draft one with the `contract draft` command") from None
    except OSError as err:
        raise ContractError(f"cannot read contract {path}: {err.strerror}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ContractError(f"{path} is not valid YAML: {str(err).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise ContractError(f"{path} must hold a mapping, not {type(raw).__name__}")
    return parse_contract(raw, source=str(path))


# --- derived: the Great Expectations suite ----------------------------------------------------


def _expectation(kind: str, **kwargs: Any) -> dict[str, Any]:
    return {"type": kind, "kwargs": kwargs}


def _feature_expectations(feature: Feature) -> list[dict[str, Any]]:
    column = feature.name
    found: list[dict[str, Any]] = []
    if not feature.nullable:
        found.append(_expectation("expect_column_values_to_not_be_null", column=column))
    if feature.type in ("numeric", "integer"):
        found.append(_expectation("expect_column_values_to_be_in_type_list", column=column, type_list=NUMERIC_DTYPES))
        if feature.min is not None or feature.max is not None:
            found.append(
                _expectation(
                    "expect_column_values_to_be_between",
                    column=column,
                    min_value=feature.min,
                    max_value=feature.max,
                )
            )
    elif feature.type == "boolean":
        found.append(_expectation("expect_column_values_to_be_in_type_list", column=column, type_list=BOOLEAN_DTYPES))
    else:
        found.append(
            _expectation("expect_column_values_to_be_in_type_list", column=column, type_list=CATEGORICAL_DTYPES)
        )
        if feature.allowed_categories is not None:
            found.append(
                _expectation(
                    "expect_column_values_to_be_in_set",
                    column=column,
                    value_set=sorted(feature.allowed_categories),
                )
            )
        if feature.pattern is not None:
            found.append(_expectation("expect_column_values_to_match_regex", column=column, regex=feature.pattern))
    return found


def expectation_suite(contract: Contract) -> dict[str, Any]:
    """The Great Expectations suite (JSON form) that training data must pass."""
    expectations = [
        _expectation("expect_table_columns_to_match_set", column_set=contract.columns, exact_match=True),
        _expectation("expect_table_row_count_to_be_between", min_value=1, max_value=None),
        _expectation("expect_column_values_to_not_be_null", column=contract.id_column),
        _expectation("expect_column_values_to_be_unique", column=contract.id_column),
        _expectation("expect_column_values_to_not_be_null", column=contract.timestamp_column),
        _expectation(
            "expect_column_values_to_be_in_type_list", column=contract.timestamp_column, type_list=TIMESTAMP_DTYPES
        ),
        _expectation("expect_column_values_to_not_be_null", column=contract.target),
    ]
    if contract.is_classification:
        expectations.append(_expectation("expect_column_values_to_be_in_set", column=contract.target, value_set=[0, 1]))
    else:
        expectations.append(
            _expectation("expect_column_values_to_be_in_type_list", column=contract.target, type_list=NUMERIC_DTYPES)
        )
    for feature in contract.features:
        expectations.extend(_feature_expectations(feature))
    return {
        "name": SUITE_NAME,
        "meta": {"generated_from": "contract.yaml", "contract_hash": contract.hash},
        "expectations": expectations,
    }


def suite_json(contract: Contract) -> str:
    return json.dumps(expectation_suite(contract), indent=2, sort_keys=False) + "\n"


def suite_path(gx_dir: Path) -> Path:
    return gx_dir / "expectations" / f"{SUITE_NAME}.json"


# --- derived: the service's request model ------------------------------------------------------


def _request_field(feature: Feature) -> tuple[Any, Any]:
    description = feature.description or feature.type
    python_type: Any
    if feature.type == "numeric":
        python_type = float
        extra: dict[str, Any] = {"allow_inf_nan": False}
    elif feature.type == "integer":
        python_type = int
        extra = {}
    elif feature.type == "boolean":
        python_type = bool
        extra = {}
    else:
        python_type = str
        extra = {"max_length": 256}
    if feature.nullable:
        return (python_type | None, Field(None, description=description, **extra))
    return (python_type, Field(..., description=description, **extra))


def request_model(contract: Contract) -> type[BaseModel]:
    """One record as the service accepts it. Unknown fields are kept (as `model_extra`)
    so that the service can report them as schema events instead of dropping them."""
    fields: dict[str, Any] = {f.name: _request_field(f) for f in contract.features}
    fields[contract.id_column] = (
        str | None,
        Field(None, max_length=128, description="Caller's id, echoed in the log."),
    )
    fields[contract.timestamp_column] = (str | None, Field(None, description="Event time (ISO 8601); default: now."))
    return create_model(
        "Record",
        __config__=ConfigDict(extra="allow", str_strip_whitespace=False),
        **fields,
    )


# --- drafting a contract from the user's data --------------------------------------------------


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
    from .errors import DataError

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
