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
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)

from ..errors import ContractError

if TYPE_CHECKING:
    pass

FeatureType = Literal["numeric", "integer", "categorical", "boolean"]
Task = Literal["binary_classification", "multiclass_classification", "regression"]
CLASSIFICATION_TASKS = ("binary_classification", "multiclass_classification")
# A class of a classification target as the data writes it: text, a whole number, a number or a boolean.
ClassLabel = StrictBool | StrictInt | StrictFloat | StrictStr


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


# Characters a feature name cannot hold: LightGBM refuses them ("special JSON characters").
NAME_REFUSED = frozenset('",:[]{}')
NAME_REFUSED_TEXT = '" , : [ ] { } or control characters'
MAX_NAME_LENGTH = 200  # the monitoring history's feature column


def clean_category(value: str) -> str:
    """How a categorical value is normalised when its feature says `normalize: true`."""
    return " ".join(value.split()).lower()


BOOLEAN_TEXT = {"true": True, "false": False}


def plain_value(value: object) -> object:
    """A NumPy scalar as the Python value it holds (numpy.bool_ is no bool, numpy.int64 no int)."""
    item = getattr(value, "item", None)
    if not isinstance(value, bool | int | float | str) and callable(item):
        return item()
    return value


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def same_label(label: ClassLabel, value: object) -> bool:
    """Whether `value` (from a table, a JSON body or the command line) is the class `label`:
    a boolean is that boolean or its text (true/false, any case); a number is that number or
    text holding it; text is that text, around which spaces do not count."""
    value = plain_value(value)
    if isinstance(label, bool):
        if isinstance(value, str):
            return BOOLEAN_TEXT.get(value.strip().lower()) is label
        return isinstance(value, bool) and value is label
    if _is_number(label):
        if isinstance(value, str):
            try:
                return float(value.strip()) == label
            except ValueError:
                return False
        return _is_number(value) and value == label
    return isinstance(value, str) and value.strip() == str(label).strip()


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
    def _name_is_usable(cls, name: str) -> str:
        """The column's name as the table spells it ("mean radius" too), within what every
        consumer takes: LightGBM refuses JSON's structural characters in a feature name, and
        the monitoring history keeps names of up to MAX_NAME_LENGTH characters."""
        if not name or name != name.strip() or len(name) > MAX_NAME_LENGTH:
            raise ValueError(
                f"feature name {name!r} must be 1 to {MAX_NAME_LENGTH} characters, without spaces at either end"
            )
        refused = sorted({c for c in name if c in NAME_REFUSED or not c.isprintable()})
        if refused:
            shown = " ".join(repr(c) for c in refused)
            raise ValueError(f"feature name {name!r} holds {shown}: a name cannot hold {NAME_REFUSED_TEXT}")
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
    labels: tuple[ClassLabel, ...] | None = Field(
        None,
        description=(
            "The classes as the data writes them (text, numbers or booleans). Binary classification: "
            "the negative and the positive class; unset: 0 and 1 (or false and true), 1 the positive class. "
            "Multiclass classification: every class, required; the model's class i is labels[i]."
        ),
    )
    id_column: str | None = Field(
        None, description="Unique row id; unset: answers are keyed by the service's request ids."
    )
    timestamp_column: str | None = Field(
        None, description="Event time; unset: the split is random, monitoring goes by the time answers were logged."
    )
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
        named = {"target": self.target, "id_column": self.id_column, "timestamp_column": self.timestamp_column}
        keys = [key for key, column in named.items() if column is not None]
        reserved = {column for column in named.values() if column is not None}
        if len(reserved) != len(keys):
            count = "three" if len(keys) == 3 else "two"
            raise ValueError(f"{', '.join(keys[:-1])} and {keys[-1]} must be {count} different columns")
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

    @model_validator(mode="after")
    def _labels_name_the_classes(self) -> Contract:
        if self.task == "multiclass_classification" and (self.labels is None or len(self.labels) < 3):
            raise ValueError("a multiclass_classification contract names its three or more classes in labels")
        if self.labels is None:
            return self
        if self.task == "regression":
            raise ValueError("labels name the classes of a classification target; a regression target has none")
        if self.task == "binary_classification" and len(self.labels) != 2:
            raise ValueError(f"labels of a binary target are two classes (negative, positive), not {len(self.labels)}")
        if any(isinstance(label, str) and not label.strip() for label in self.labels):
            raise ValueError("labels must not be empty text")
        for i, label in enumerate(self.labels):
            for other in self.labels[i + 1 :]:
                if same_label(label, other) or same_label(other, label):
                    raise ValueError(f"labels must be different classes, not {label!r} twice")
        return self

    @property
    def feature_names(self) -> list[str]:
        """The model's input order: ONNX column i is `feature_names[i]`."""
        return [f.name for f in self.features]

    @property
    def row_keys(self) -> list[str]:
        """The bookkeeping columns the contract names: the id and the timestamp, where set."""
        return [c for c in (self.id_column, self.timestamp_column) if c is not None]

    @property
    def columns(self) -> list[str]:
        """Every column a training table has: the id and timestamp (where the contract
        names them), the features, the target."""
        return [*self.row_keys, *self.feature_names, self.target]

    @property
    def is_classification(self) -> bool:
        """Binary or multiclass: the target is classes, the model answers probabilities."""
        return self.task in CLASSIFICATION_TASKS

    @property
    def is_binary(self) -> bool:
        return self.task == "binary_classification"

    @property
    def is_multiclass(self) -> bool:
        return self.task == "multiclass_classification"

    @property
    def class_labels(self) -> tuple[ClassLabel, ...]:
        """The classes as the data writes them, in the model's order: `labels`, else 0 and 1
        (binary: the negative, then the positive class)."""
        return self.labels if self.labels is not None else (0, 1)

    @property
    def n_classes(self) -> int:
        """How many classes the model tells apart (0 for regression)."""
        return len(self.class_labels) if self.is_classification else 0

    def label_code(self, value: object, codes: bool = False) -> int | None:
        """The class's index in `class_labels` (binary: 0 negative, 1 positive), None for
        anything else (missing too).

        Without `labels`, 0 and 1 (also as booleans or text). With them, the labels (see
        `same_label`); and, with `codes` (label feedback), also the indexes 0 to n-1, unless a
        label is a number or a boolean itself, where an index could be read as a label."""
        value = plain_value(value)
        if self.labels is not None:
            for code, label in enumerate(self.labels):
                if same_label(label, value):
                    return code
            if not codes or not all(isinstance(label, str) for label in self.labels):
                return None
        if isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError:
                return None
        if not isinstance(value, int | float):
            return None
        return int(value) if float(value).is_integer() and 0 <= value < len(self.class_labels) else None

    def feature(self, name: str) -> Feature:
        for feature in self.features:
            if feature.name == name:
                return feature
        raise KeyError(name)

    @cached_property
    def hash(self) -> str:
        """Fingerprint of what a model depends on; a served model must match the service's."""
        # Unset labels (0/1) leave the hash as it was before the contract could name them.
        dumped = self.model_dump(mode="json", exclude={"labels"} if self.labels is None else None)
        canonical = json.dumps(dumped, sort_keys=True, separators=(",", ":"))
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
