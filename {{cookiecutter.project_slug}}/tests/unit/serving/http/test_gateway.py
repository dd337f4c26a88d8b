"""The HTTP front door: API key, content type, body size and empty bodies, before any parsing."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from {{ cookiecutter.package_name }}.serving.http.gateway import RETRY_AFTER_S, Gateway


async def echo(request: Request) -> JSONResponse:
    body = await request.body()
    return JSONResponse({"bytes": len(body)})


def client_for(api_keys: tuple[str, ...] = (), max_body_bytes: int = 100) -> TestClient:
    app = Starlette(routes=[Route("/predict", echo, methods=["POST"]), Route("/livez", echo, methods=["GET"])])
    app.add_middleware(
        Gateway, api_keys=api_keys, max_body_bytes=max_body_bytes, protected=["/predict"], body_paths=["/predict"]
    )
    return TestClient(app)


@pytest.fixture
def open_client() -> Iterator[TestClient]:
    with client_for() as client:
        yield client


def test_json_within_the_limit_passes(open_client: TestClient) -> None:
    """A JSON body under the limit reaches the endpoint intact."""
    # Given a small JSON body; When it is posted
    response = open_client.post("/predict", content=b'{"records": {}}', headers={"content-type": "application/json"})

    # Then the endpoint saw all of it
    assert response.status_code == 200
    assert response.json() == {"bytes": 15}


@pytest.mark.parametrize(
    ("content", "content_type", "status", "phrase"),
    [
        (b"", "application/json", 400, "empty"),
        (b"a=1", "application/x-www-form-urlencoded", 415, "application/json"),
        (b"{}", "text/plain", 415, "text/plain"),
        (b"{" + b" " * 200 + b"}", "application/json", 413, "limit is 100"),
    ],
)
def test_bad_bodies_get_a_clear_4xx(
    open_client: TestClient, content: bytes, content_type: str, status: int, phrase: str
) -> None:
    """An empty body, a body that is not JSON, or one over the limit gets its own 4xx with a JSON reason."""
    # Given a bad body; When it is posted
    response = open_client.post("/predict", content=content, headers={"content-type": content_type})

    # Then the status and the reason say what is wrong
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert phrase in response.json()["error"]


def test_chunked_bodies_are_limited_too(open_client: TestClient) -> None:
    """A body sent without Content-Length is measured while it is read."""

    # Given bodies streamed in chunks (no Content-Length), one small and one too big
    def small() -> Iterator[bytes]:
        yield b'{"records":'
        yield b" {}}"

    def big() -> Iterator[bytes]:
        for _ in range(5):
            yield b" " * 30

    # When they are posted
    ok = open_client.post("/predict", content=small(), headers={"content-type": "application/json"})
    too_big = open_client.post("/predict", content=big(), headers={"content-type": "application/json"})

    # Then the small one arrives whole and the big one is refused
    assert ok.status_code == 200
    assert ok.json() == {"bytes": 15}
    assert too_big.status_code == 413


def test_api_key_guards_protected_paths_only() -> None:
    """With a key set, protected paths need it (either header); probes stay open."""
    # Given a gateway with an API key
    with client_for(api_keys=("s3cret",)) as client:
        # When requests come with no key, a wrong key, and the right key in each header
        missing = client.post("/predict", content=b"{}", headers={"content-type": "application/json"})
        wrong = client.post("/predict", content=b"{}", headers={"content-type": "application/json", "x-api-key": "no"})
        by_header = client.post(
            "/predict", content=b"{}", headers={"content-type": "application/json", "x-api-key": "s3cret"}
        )
        by_bearer = client.post(
            "/predict", content=b"{}", headers={"content-type": "application/json", "authorization": "Bearer s3cret"}
        )
        probe = client.get("/livez")

    # Then only the right key passes, the refusal explains itself, and the probe needs nothing
    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert "API key" in json.loads(missing.content)["error"]
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert (by_header.status_code, by_bearer.status_code, probe.status_code) == (200, 200, 200)


def keyed_post(client: TestClient, key: str) -> int:
    headers = {"content-type": "application/json", "x-api-key": key}
    return client.post("/predict", content=b"{}", headers=headers).status_code


def test_during_a_rotation_both_keys_pass_and_a_removed_key_fails() -> None:
    """A key rotation without downtime: while the old and the new key are both configured, each
    passes; once the old one is removed, it is refused and the new one still passes."""
    # Given a gateway with the old and the new key, then one with the new key only
    with client_for(api_keys=("old-key-1", "new-key-2")) as during:
        # When each key is sent during the switch
        old_during, new_during, other = (
            keyed_post(during, "old-key-1"),
            keyed_post(during, "new-key-2"),
            keyed_post(during, "new-key"),
        )
    with client_for(api_keys=("new-key-2",)) as after:
        # And after the old key is removed
        old_after, new_after = keyed_post(after, "old-key-1"), keyed_post(after, "new-key-2")

    # Then both pass during the switch, a prefix of a key never does, and the removed key fails after
    assert (old_during, new_during, other) == (200, 200, 401)
    assert (old_after, new_after) == (401, 200)


async def unavailable(request: Request) -> JSONResponse:
    return JSONResponse({"error": "down"}, status_code=503)


def test_every_503_carries_retry_after() -> None:
    """Whatever behind the gateway answers 503, the client is told to wait RETRY_AFTER_S seconds;
    other answers carry no Retry-After."""
    # Given an app whose endpoint answers 503 behind the gateway
    app = Starlette(routes=[Route("/readyz", unavailable), Route("/livez", echo)])
    app.add_middleware(Gateway, api_keys=(), max_body_bytes=100, protected=[], body_paths=[])

    # When it is asked, and a healthy endpoint too
    with TestClient(app) as client:
        down, up = client.get("/readyz"), client.get("/livez")

    # Then only the 503 says when to retry
    assert down.status_code == 503
    assert down.headers["retry-after"] == str(RETRY_AFTER_S)
    assert "retry-after" not in up.headers


@pytest.mark.parametrize(
    ("content", "kind"),
    [(b"[null, null]", "an array"), (b"null", "null"), (b'"x"', "a string"), (b"7", "a number"), (b"{", "not JSON")],
)
def test_an_api_without_parameters_refuses_a_body_that_is_not_an_object(content: bytes, kind: str) -> None:
    """/reload takes no body or a JSON object; anything else is a 400 whose `detail` is one line
    of text naming the body and what was expected (BentoML's documented shape)."""
    # Given /reload behind the gateway as an API without parameters
    app = Starlette(routes=[Route("/reload", echo, methods=["POST"])])
    app.add_middleware(
        Gateway, api_keys=(), max_body_bytes=100, protected=[], body_paths=[], no_parameter_paths=["/reload"]
    )
    with TestClient(app) as client:
        # When a body that is not an object is posted, and then {} and nothing
        refused = client.post("/reload", content=content, headers={"content-type": "application/json"})
        empty_object = client.post("/reload", content=b"{}", headers={"content-type": "application/json"})
        nothing = client.post("/reload")

    # Then the first is refused with a string detail, the others reach the endpoint
    assert refused.status_code == 400
    detail = refused.json()["detail"]
    assert isinstance(detail, str)
    assert detail.startswith("body: expected a JSON object")
    assert kind in detail
    assert "/reload" in refused.json()["error"]
    assert (empty_object.status_code, nothing.status_code) == (200, 200)


def test_an_api_without_parameters_refuses_a_body_that_is_not_json() -> None:
    """/reload with a form body (multipart without its boundary, which BentoML's parser turned
    into a 500, found by the fuzz test) or plain text is a 415, before anything parses it."""
    # Given /reload behind the gateway as an API without parameters
    app = Starlette(routes=[Route("/reload", echo, methods=["POST"])])
    app.add_middleware(
        Gateway, api_keys=(), max_body_bytes=100, protected=[], body_paths=[], no_parameter_paths=["/reload"]
    )
    with TestClient(app) as client:
        # When it gets a form without a boundary, and text
        form = client.post("/reload", content=b"{}", headers={"content-type": "multipart/form-data"})
        text = client.post("/reload", content=b"{}", headers={"content-type": "text/plain"})

    # Then both are refused as unsupported media, saying what is expected
    assert (form.status_code, text.status_code) == (415, 415)
    assert "application/json" in form.json()["error"]
