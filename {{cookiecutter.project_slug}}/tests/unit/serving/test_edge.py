"""The contract at the service's edge: what is refused (and how it is named), what is served and recorded."""

from __future__ import annotations

import math
from typing import Any

import pytest

from {{ cookiecutter.package_name }}.core.contract import (
    NORMALISED,
    OUT_OF_RANGE,
    PATTERN_MISMATCH,
    UNKNOWN_FIELD,
    UNSEEN_CATEGORY,
    Contract,
    parse_contract,
)
from {{ cookiecutter.package_name }}.serving.edge import Edge, Rejected
from tests.support.project import without_row_keys


def good_record() -> dict[str, Any]:
    return {
        "transaction_id": "tx-1",
        "event_time": "2026-04-01T10:00:00Z",
        "amount": 42.5,
        "merchant_category": "grocery",
        "merchant_id": "m12345",
        "channel": "pos",
        "card_type": "debit",
        "card_present": True,
        "is_international": False,
        "hour_of_day": 14,
        "customer_age": 40,
        "account_age_days": 800,
        "txn_count_24h": 2,
        "amount_to_avg_ratio": 1.1,
        "distance_from_home_km": 3.2,
        "device_risk_score": None,
    }


@pytest.fixture
def edge(contract: Contract) -> Edge:
    return Edge(contract, max_records=10)


def test_clean_record_is_served_without_events(edge: Edge) -> None:
    """A record that matches the contract passes untouched, with no schema events."""
    # Given a clean record
    record = good_record()

    # When it is checked
    checked = edge.check(record)

    # Then it is served as it came, with its caller id and no events
    assert checked.received == [record]
    assert checked.features[0]["amount"] == 42.5
    assert checked.record_ids == ["tx-1"]
    assert checked.events == [[]]


@pytest.mark.parametrize(
    ("change", "field", "error_type"),
    [
        ({"amount": None}, "amount", "float_type"),  # null where the contract forbids it
        ({"amount": "lots"}, "amount", "float_parsing"),  # wrong type
        ({"amount": math.nan}, "amount", "finite_number"),  # non-finite
        ({"amount": math.inf}, "amount", "finite_number"),
        ({"hour_of_day": 3.5}, "hour_of_day", "int_from_float"),
        ({"card_present": "maybe"}, "card_present", "bool_parsing"),
        ({"channel": 7}, "channel", "string_type"),
        ({"merchant_id": "x" * 300}, "merchant_id", "string_too_long"),
    ],
)
def test_contract_breaches_are_refused_naming_the_field(
    edge: Edge, change: dict[str, Any], field: str, error_type: str
) -> None:
    """A wrong type, a forbidden null or a non-finite number is a 400 that names the field and what it expects."""
    # Given a record with one bad field
    record = {**good_record(), **change}

    # When it is checked
    with pytest.raises(Rejected) as raised:
        edge.check([record])

    # Then the refusal names the record, the field, the problem and the expectation
    rejected = raised.value
    assert rejected.status == 400
    (problem,) = rejected.problems
    assert problem.loc == ("records", 0, field)
    assert problem.type == error_type
    assert problem.expected
    assert f"records[0].{field}" in rejected.error


def test_missing_fields_are_all_named_across_records(edge: Edge) -> None:
    """Every missing field of every record is listed, not only the first."""
    # Given two records, each missing different fields
    first = good_record()
    del first["amount"]
    second = good_record()
    del second["channel"]
    del second["hour_of_day"]

    # When they are checked together
    with pytest.raises(Rejected) as raised:
        edge.check([first, second])

    # Then all three problems come back with their places
    locations = {p.loc for p in raised.value.problems}
    assert locations == {("records", 0, "amount"), ("records", 1, "channel"), ("records", 1, "hour_of_day")}
    assert all(p.type == "missing" for p in raised.value.problems)
    assert "3 problem(s) in 2 of 2 record(s)" in raised.value.error


def test_a_single_record_is_named_without_an_index(edge: Edge) -> None:
    """One record sent as an object gets problems at records.<field>."""
    # Given one record (not a list) without its amount
    record = good_record()
    del record["amount"]

    # When it is checked
    with pytest.raises(Rejected) as raised:
        edge.check(record)

    # Then the problem sits at records.amount
    assert raised.value.problems[0].loc == ("records", "amount")
    assert raised.value.body()["detail"][0]["loc"] == ["records", "amount"]


@pytest.mark.parametrize("body", [[], 5, "records", [1, 2], None])
def test_wrong_shapes_are_refused(edge: Edge, body: Any) -> None:
    """Anything but an object or a non-empty list of objects is a 400."""
    # Given a body of the wrong shape; When it is checked; Then it is refused with a reason
    with pytest.raises(Rejected) as raised:
        edge.check(body)
    assert raised.value.status == 400
    assert raised.value.problems


def test_oversized_batch_is_413_with_the_limit(edge: Edge) -> None:
    """More records than the limit is a 413 that states the limit."""
    # Given eleven records against a limit of ten
    records = [good_record() for _ in range(11)]

    # When they are checked
    with pytest.raises(Rejected) as raised:
        edge.check(records)

    # Then the answer is 413 and says 10
    assert raised.value.status == 413
    assert "limit is 10" in raised.value.error


def test_unknown_field_is_served_and_recorded(edge: Edge) -> None:
    """An upstream field the contract does not know is served and recorded as a schema event."""
    # Given a record with a new field
    record = {**good_record(), "account_type": "business"}

    # When it is checked
    checked = edge.check([record])

    # Then it is served, logged as received, and the event names the field
    assert checked.received[0]["account_type"] == "business"
    assert "account_type" not in checked.features[0]
    assert checked.events[0] == [{"kind": UNKNOWN_FIELD, "field": "account_type"}]


def test_unknown_field_is_refused_when_configured(contract: Contract) -> None:
    """With reject_unknown_fields, the same record is a 400 naming the field."""
    # Given an edge that rejects unknown fields
    strict = Edge(contract, max_records=10, reject_unknown_fields=True)

    # When a record with a new field is checked
    with pytest.raises(Rejected) as raised:
        strict.check([good_record(), {**good_record(), "account_type": "business"}])

    # Then it is refused at that field
    (problem,) = raised.value.problems
    assert problem.loc == ("records", 1, "account_type")
    assert problem.type == "extra_forbidden"
    assert strict.record_json_schema()["additionalProperties"] is False


def test_unusual_values_are_normalised_served_and_recorded(edge: Edge) -> None:
    """Stray whitespace and case are normalised; unseen categories, pattern misses and
    out-of-range numbers are served and each recorded."""
    # Given a record with every kind of unusual value
    record = {
        **good_record(),
        "channel": "  POS ",  # whitespace and case: normalised to a known level
        "card_type": "Virtual",  # a category the contract never listed
        "merchant_id": "shop-9",  # does not match the pattern
        "amount": 75_000.0,  # above the contract's max
        "hour_of_day": -1,  # below the min
    }

    # When it is checked
    checked = edge.check([record])

    # Then it is served with the normalised values, the originals are kept, and each oddity is an event
    features = checked.features[0]
    assert features["channel"] == "pos"
    assert features["card_type"] == "virtual"
    assert checked.received[0]["channel"] == "  POS "
    kinds = {(e["kind"], e["field"]) for e in checked.events[0]}
    assert kinds == {
        (NORMALISED, "channel"),
        (NORMALISED, "card_type"),
        (UNSEEN_CATEGORY, "card_type"),
        (PATTERN_MISMATCH, "merchant_id"),
        (OUT_OF_RANGE, "amount"),
        (OUT_OF_RANGE, "hour_of_day"),
    }
    unseen = next(e for e in checked.events[0] if e["kind"] == UNSEEN_CATEGORY)
    assert unseen["value"] == "virtual"


def test_in_a_batch_each_record_gets_its_own_events(edge: Edge) -> None:
    """Records sharing a value share its treatment; every event lands on the record that earned it, nulls on none."""
    # Given four records: two write the same channel oddly, one is clean, one has nulls and an out-of-range age
    records = [good_record() for _ in range(4)]
    records[0]["channel"] = records[2]["channel"] = " Online"
    records[0]["card_type"] = "Gold"
    records[3].update(customer_age=130, account_age_days=None, device_risk_score=None, merchant_id="m1")
    records[2]["device_risk_score"] = 0.5

    # When they are checked in one request
    checked = edge.check(records)

    # Then the model reads the normalised values and each record carries only its own events
    assert checked.columns["channel"] == ["online", "pos", "online", "pos"]
    assert checked.columns["card_type"] == ["gold", "debit", "debit", "debit"]
    assert checked.columns["device_risk_score"] == [None, None, 0.5, None]
    assert [[(e["kind"], e["field"]) for e in found] for found in checked.events] == [
        [(NORMALISED, "channel"), (NORMALISED, "card_type"), (UNSEEN_CATEGORY, "card_type")],
        [],
        [(NORMALISED, "channel")],
        [(PATTERN_MISMATCH, "merchant_id"), (OUT_OF_RANGE, "customer_age")],
    ]
    assert checked.events[3][1]["value"] == 130
    assert checked.features[2]["channel"] == "online"


def test_records_schema_documents_one_or_many(edge: Edge) -> None:
    """The OpenAPI schema for `records` accepts one record or a bounded list, with every contract field."""
    # Given the edge's schema; When it is rendered
    schema = edge.records_json_schema()

    # Then it is a oneOf of a record and an array of them, up to the limit
    record, many = schema["oneOf"]
    assert {"amount", "merchant_category", "transaction_id"} <= set(record["properties"])
    assert "amount" in record["required"]
    assert many["maxItems"] == 10


def test_event_times_are_read_as_utc_and_bad_ones_refused(edge: Edge) -> None:
    """The record's timestamp says when the event happened (monitoring windows use it): any
    ISO 8601 form is read as naive UTC, a missing one is None, an unreadable one is a 400."""
    # Given records with a zoned, a naive, a missing and an unreadable timestamp
    zoned = {**good_record(), "event_time": "2026-04-01T12:00:00+02:00"}
    naive = {**good_record(), "event_time": "2026-04-01T10:00:00"}
    missing = {**good_record(), "event_time": None}
    bad = {**good_record(), "event_time": "yesterday at noon"}

    # When checked
    checked = edge.check([zoned, naive, missing])
    with pytest.raises(Rejected) as refused:
        edge.check([zoned, bad])

    # Then the readable ones are UTC, the missing one is None, and the bad one is named
    assert [t.isoformat() if t else None for t in checked.event_times] == [
        "2026-04-01T10:00:00",
        "2026-04-01T10:00:00",
        None,
    ]
    assert refused.value.status == 400
    assert [p.loc for p in refused.value.problems] == [("records", 1, "event_time")]
    assert refused.value.problems[0].expected == "an ISO 8601 timestamp string, or null"


def test_without_row_keys_records_carry_no_caller_id_or_event_time(contract: Contract) -> None:
    """A contract without an id or timestamp column: every record is served with no caller
    id (the service's request ids key the answers) and no event time (the time the answer is
    logged stands in); fields sent under those names are unknown fields, never refusals."""
    # Given an edge for the contract without row keys, and records with and without the old keys
    edge = Edge(without_row_keys(contract), max_records=10)
    bare = {k: v for k, v in good_record().items() if k not in ("transaction_id", "event_time")}
    keyed = {**good_record(), "event_time": "not a time at all"}

    # When both are checked
    checked = edge.check([bare, keyed])

    # Then neither has a caller id or event time, and the sent keys are reported as unknown
    assert checked.record_ids == [None, None]
    assert checked.event_times == [None, None]
    assert checked.events[0] == []
    assert sorted(e["field"] for e in checked.events[1] if e["kind"] == UNKNOWN_FIELD) == [
        "event_time",
        "transaction_id",
    ]
    assert checked.features[0]["amount"] == 42.5


def test_a_single_feature_contract_without_row_keys_is_read(contract: Contract) -> None:
    """The smallest contract, one feature and no row keys, reads its records too."""
    # Given a contract with only `amount` as a feature
    raw = without_row_keys(contract).model_dump(mode="json")
    raw.update(features=[f for f in raw["features"] if f["name"] == "amount"], segments=[])
    edge = Edge(parse_contract(raw), max_records=10)

    # When a record is checked / Then its one feature is read
    checked = edge.check([{"amount": 3.0}, {"amount": 4.5}])
    assert checked.columns == {"amount": [3.0, 4.5]}
    assert checked.record_ids == [None, None]
