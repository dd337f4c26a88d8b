"""The operators' request counters and the served models' gauges, without a server: how a
refusal's reason and a refused field's problem are classified, what the refusal counter counts
around a real ASGI app, and the state rendered in Prometheus' text format."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry

from {{ cookiecutter.package_name }}.serving.operator_metrics import (
    PREFIX,
    RefusalCounter,
    RequestMetrics,
    append_text,
    model_families,
    note_refusal,
    problem_kind,
    refusal_reason,
    render,
    status_reason,
)
from tests.support.metrics import samples, value

NOW = datetime(2026, 4, 11, 12, 0, tzinfo=UTC)


def counter(registry: CollectorRegistry, name: str, **labels: str) -> float:
    found = registry.get_sample_value(f"{PREFIX}_{name}_total", labels)
    return 0.0 if found is None else found


def test_a_refusal_reason_comes_from_the_handler_then_the_endpoint_then_the_status() -> None:
    """An explicit reason wins; a handler's 400/413 read as the endpoint's (contract, labels,
    too many records); what no handler names reads from the status (the gateway's, BentoML's)."""
    # Given refusals from each place / When classified / Then each reason is a fixed word
    assert refusal_reason("/predict", 503, "log_unavailable") == "log_unavailable"
    assert refusal_reason("/predict", 400) == "contract"
    assert refusal_reason("/feedback", 400) == "invalid_labels"
    assert refusal_reason("/predict", 413) == "too_many_records"
    assert [status_reason(s) for s in (400, 401, 413, 415, 504, 500, 418)] == [
        "malformed_body",
        "unauthorised",
        "body_too_large",
        "not_json",
        "timeout",
        "server_error",
        "client_error",
    ]


def test_a_refused_fields_problem_becomes_a_bounded_kind() -> None:
    """pydantic's error types fold into four kinds, so the label never grows with them."""
    # Given pydantic error types / When classified / Then missing, type mismatch, unknown, invalid
    kinds = [problem_kind(t) for t in ("missing", "float_parsing", "string_type", "int_from_float", "extra_forbidden")]
    assert kinds == ["missing_field", "type_mismatch", "type_mismatch", "type_mismatch", "unknown_field"]
    assert problem_kind("finite_number") == problem_kind("string_too_long") == "invalid_value"


def test_answers_count_records_by_version_and_their_schema_events_by_kind() -> None:
    """An answer adds its records to its version's count and each served event to its kind."""
    # Given counters in a registry of their own
    registry = CollectorRegistry()
    metrics = RequestMetrics(registry)
    # When two answers and a contract refusal are counted
    events: list[list[dict[str, Any]]] = [
        [{"kind": "unknown_field", "field": "x"}],
        [],
        [{"kind": "out_of_range", "field": "amount", "value": 9}],
    ]
    metrics.predictions("champion", "3", 3, events)
    metrics.predictions("champion", "3", 1, [[{"kind": "unknown_field", "field": "y"}]])
    metrics.refused_problems(["missing", "missing", "float_parsing"])
    # Then the records and the events by kind and source add up
    assert counter(registry, "answered_records", alias="champion", version="3") == 4
    assert counter(registry, "schema_events", source="served", kind="unknown_field") == 2
    assert counter(registry, "schema_events", source="served", kind="out_of_range") == 1
    assert counter(registry, "schema_events", source="refused", kind="missing_field") == 2
    assert counter(registry, "schema_events", source="refused", kind="type_mismatch") == 1


def _app(status: int, reason: str | None = None) -> Any:
    """An ASGI app answering `status`, naming `reason` the way a handler does."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if reason is not None:
            note_refusal(reason)
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    return app


def _call(app: Any, path: str) -> None:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app({"type": "http", "path": path, "method": "POST", "headers": []}, receive, send))
    assert sent[0]["type"] == "http.response.start"  # the answer went through unchanged


def test_the_refusal_counter_counts_each_request_once_by_its_named_or_status_reason() -> None:
    """Around the app: a 2xx counts as answered, a refusal by the reason the handler named or
    else its status, and a path it does not observe not at all."""
    # Given counters and apps answering as the gateway, a handler and BentoML do
    registry = CollectorRegistry()
    metrics = RequestMetrics(registry)

    def wrapped(status: int, reason: str | None = None) -> RefusalCounter:
        return RefusalCounter(_app(status, reason), metrics=metrics, paths=("/predict",))

    # When requests go through it
    _call(wrapped(200), "/predict")
    _call(wrapped(400, "contract"), "/predict")
    _call(wrapped(415), "/predict")
    _call(wrapped(400), "/predict")
    _call(wrapped(401), "/metadata")
    # Then each is counted once, by what it was
    assert counter(registry, "answered_requests", endpoint="/predict") == 1
    assert counter(registry, "refused_requests", endpoint="/predict", reason="contract") == 1
    assert counter(registry, "refused_requests", endpoint="/predict", reason="not_json") == 1
    assert counter(registry, "refused_requests", endpoint="/predict", reason="malformed_body") == 1
    assert counter(registry, "refused_requests", endpoint="/metadata", reason="unauthorised") == 0


def test_the_models_state_is_one_version_per_alias_with_its_age_in_days() -> None:
    """`ModelStore.describe()` becomes a version gauge per alias, the age since training in
    days, and the registry's and the log's health as 0/1; an absent alias has no sample."""
    # Given a store serving version 7 trained ten and a half days ago, no challenger
    store = {
        "champion": {"version": "7", "trained_at": "2026-04-01T00:00:00+00:00"},
        "challenger": None,
        "registry": {"reachable": False},
    }
    # When rendered and parsed back
    text = render(model_families(store, NOW, log_writable=True))
    found = samples(append_text("# bentoml's part", text))
    # Then
    assert value(found, f"{PREFIX}_model_version_info", alias="champion", version="7") == 1
    assert value(found, f"{PREFIX}_model_age_days", alias="champion", version="7") == 10.5
    assert value(found, f"{PREFIX}_registry_reachable") == 0
    assert value(found, f"{PREFIX}_prediction_log_writable") == 1
    assert not [key for key in found if ("alias", "challenger") in key[1]]


def test_a_canary_has_its_version_sample() -> None:
    """During a canary its version is exported beside the champion's, under the alias `canary`."""
    store = {
        "champion": {"version": "7", "trained_at": None},
        "canary": {"version": "8", "trained_at": None, "share": 0.1},
        "registry": {"reachable": True},
    }
    found = samples(append_text("# bentoml's part", render(model_families(store, NOW, log_writable=True))))
    assert value(found, f"{PREFIX}_model_version_info", alias="canary", version="8") == 1
    assert value(found, f"{PREFIX}_model_version_info", alias="champion", version="7") == 1
