"""What the contract derives: the Great Expectations suite and the service's request model.

A test fails when a checked-in derived file differs from what these functions write
(`contract check`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, create_model

if TYPE_CHECKING:
    pass
import logging

from .contract import BOOLEAN_DTYPES, CATEGORICAL_DTYPES, NUMERIC_DTYPES, TIMESTAMP_DTYPES, Contract, Feature

log = logging.getLogger(__name__)


SUITE_NAME = "contract"


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
    ]
    if contract.id_column is not None:
        expectations.append(_expectation("expect_column_values_to_not_be_null", column=contract.id_column))
        expectations.append(_expectation("expect_column_values_to_be_unique", column=contract.id_column))
    if contract.timestamp_column is not None:
        expectations.append(_expectation("expect_column_values_to_not_be_null", column=contract.timestamp_column))
        expectations.append(
            _expectation(
                "expect_column_values_to_be_in_type_list", column=contract.timestamp_column, type_list=TIMESTAMP_DTYPES
            )
        )
    expectations.append(_expectation("expect_column_values_to_not_be_null", column=contract.target))
    if contract.is_classification:
        classes = list(contract.class_labels)  # as the data writes them (see data.prepare_frame): 0/1 unless named
        expectations.append(
            _expectation("expect_column_values_to_be_in_set", column=contract.target, value_set=classes)
        )
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
    if contract.id_column is not None:
        fields[contract.id_column] = (
            str | None,
            Field(None, max_length=128, description="Caller's id, echoed in the log."),
        )
    if contract.timestamp_column is not None:
        fields[contract.timestamp_column] = (
            str | None,
            Field(None, description="Event time (ISO 8601); default: now."),
        )
    return create_model(
        "Record",
        __config__=ConfigDict(extra="allow", str_strip_whitespace=False),
        **fields,
    )
