"""The contract's edge against any JSON value (hypothesis): every field of a record, whatever it
holds, is served or refused with a 4xx that names that field; never an exception of another kind."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from {{ cookiecutter.package_name }}.core.contract import load_contract
from {{ cookiecutter.package_name }}.serving.edge import Edge, Rejected
from tests.support.project import PROJECT_ROOT
from tests.support.service import transactions

CONTRACT = load_contract(PROJECT_ROOT / "contract.yaml")
FIELDS = [*CONTRACT.row_keys, *CONTRACT.feature_names]
EDGE = Edge(CONTRACT, max_records=10)
BASE = transactions(1, seed=5)[0]  # a valid record of this contract, as JSON carries it

# Any JSON document: scalars of every kind (integers past 64 bits, floats to the limits of a
# double, any text), nested in arrays and objects.
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
# Fixed: the same examples on every run (no database, derandomized), and bounded for speed.
EXAMPLES = settings(
    max_examples=50, derandomize=True, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def outcome(records: Any, field: str) -> str:
    """'served', or 'refused' after checking the refusal is a 4xx naming `field`."""
    try:
        EDGE.check(records)
    except Rejected as rejected:
        refusal = rejected
    else:
        return "served"
    assert 400 <= refusal.status < 500, refusal.error
    assert field in refusal.error, refusal.error
    assert refusal.problems, refusal.error
    assert all(field in problem.loc for problem in refusal.problems), refusal.body()
    return "refused"


def test_the_base_record_is_served() -> None:
    """The record the properties start from is valid, so a refusal is the changed field's doing."""
    # Given the base record / When it is checked / Then it is served
    assert outcome(BASE, "") == "served"


@pytest.mark.parametrize("field", FIELDS)
@EXAMPLES
@given(value=JSON_VALUES)
def test_any_json_value_in_a_field_is_served_or_refused_naming_that_field(field: str, value: Any) -> None:
    """Whatever JSON value one field of a record holds (as one record and in a list of records,
    after a trip through JSON text as the service reads it), the record is served or refused
    with a 4xx whose message and every problem name that field."""
    # Given a valid record with one field replaced by the value, read back from JSON text
    record = orjson.loads(json.dumps({**BASE, field: value}))

    # When it is checked alone and in a list / Then each is served or refused naming the field
    assert outcome(record, field) == outcome([BASE, record], field)


@EXAMPLES
@given(value=JSON_VALUES)
def test_any_json_value_as_the_records_is_served_or_refused_naming_records(value: Any) -> None:
    """Whatever JSON value `records` itself is, it is served (only a record or a list of records
    can be) or refused with a 4xx naming `records`."""
    # Given any JSON value as the body's records / When it is checked / Then the outcome is one of the two
    assert outcome(value, "records") in {"served", "refused"}
