"""The /predict body reader: orjson for what it reads, BentoML's own reader for everything else."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest
from _bentoml_impl.serde import JSONSerde  # BentoML's reader, the one the service falls back to
from pydantic import ValidationError
from starlette.requests import Request

from {{ cookiecutter.package_name }}.serving.http.request_body import JSONFirst


class Body(JSONFirst):
    records: Any


def request(body: bytes) -> Request:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {"type": "http", "method": "POST", "path": "/predict", "headers": [(b"content-type", b"application/json")]}
    return Request(scope, receive)


class NeverAsked:
    """A serde that fails the test when the fast path hands a body it should have read on."""

    async def parse_request(self, request: Request, cls: type[Any]) -> Any:
        raise AssertionError("BentoML's reader was asked")


def read(body: bytes, serde: Any) -> Any:
    parsed = asyncio.run(Body.from_http_request(request(body), serde))
    assert isinstance(parsed, Body)
    return parsed.records


def test_a_json_object_is_read_by_orjson_alone() -> None:
    """A well-formed body never reaches BentoML's reader, and its records arrive as sent."""
    # Given a body of two records; When it is read with a serde that must not be asked
    records = read(b'{"records": [{"amount": 1.5, "channel": " POS"}, {"amount": null}]}', NeverAsked())

    # Then the records are the JSON's, value for value
    assert records == [{"amount": 1.5, "channel": " POS"}, {"amount": None}]


def test_what_orjson_refuses_is_read_by_bentoml_as_before() -> None:
    """A literal NaN (not JSON, but what Python's json module writes) still reaches the edge, which names the field."""
    # Given a body with a NaN amount; When it is read
    records = read(b'{"records": {"amount": NaN}}', JSONSerde())

    # Then BentoML's reader took it, as it did before the fast path existed
    assert math.isnan(records["amount"])


@pytest.mark.parametrize("body", [b'{"records": [{"amount": 1,}', b'{"rows": []}', b"[1, 2]"])
def test_bodies_bentoml_refuses_are_refused_by_bentoml(body: bytes) -> None:
    """Malformed JSON, a missing key or a body that is not an object fail in BentoML's reader, with its error."""
    # Given a bad body; When it is read; Then BentoML's validation error is raised, answered as a 400 upstream
    with pytest.raises(ValidationError):
        read(body, JSONSerde())
