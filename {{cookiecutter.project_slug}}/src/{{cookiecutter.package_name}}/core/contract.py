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
import re
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import ContractError

if TYPE_CHECKING:
    pass

FeatureType = Literal["numeric", "integer", "categorical", "boolean"]
Task = Literal["binary_classification", "regression"]


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

# What a served record can do to the contract, as the service's edge logs it (schema events):
# the retraining data leaves out the rows served outside the contract, monitoring counts them.
UNKNOWN_FIELD = "unknown_field"
UNSEEN_CATEGORY = "unseen_category"
PATTERN_MISMATCH = "pattern_mismatch"
OUT_OF_RANGE = "out_of_range"
NORMALISED = "normalised"


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


# --- derived: the service's request model ------------------------------------------------------


# --- drafting a contract from the user's data --------------------------------------------------
