"""The HTTP front door, before BentoML parses anything: API key, content type, body size.

A plain ASGI middleware (added with `Service.add_asgi_middleware`), so it costs
a few microseconds per request and answers bad requests without touching the
model: 401 without a valid key (when keys are configured), 415 for a body that is not
JSON, 413 past the size limit, 400 for an empty body; an API without parameters
(/reload) takes no body or a JSON object, and anything else is a 400 in the shape its
document promises (`detail` one line of text). Every 503, whoever answers it, carries
Retry-After. Health, readiness, metrics and the OpenAPI document stay open so that
probes need no secret.

Also here: a log filter that keeps client mistakes from filling the server log with
tracebacks. `api_document` makes BentoML's OpenAPI document describe these answers.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Collection, MutableMapping
from typing import Any

from pydantic import ValidationError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

JSON_TYPES = frozenset({"application/json"})

# Seconds a client should wait before retrying a 503, sent on every one. A 503 is an outage
# of seconds to minutes (the prediction log's database restarting or failing over, no
# champion loaded yet), never one request's fault: 5 s is one readiness probe period of
# infra/k8s/service.yaml, after which a load balancer has taken a replica that cannot answer
# out of rotation, and it keeps clients that retry in a loop off a database that is recovering.
RETRY_AFTER_S = 5
_RETRY_AFTER = (b"retry-after", str(RETRY_AFTER_S).encode())


def error_body(error: str, detail: str | None = None) -> bytes:
    """An error answer: ErrorResponse's shape (`detail` a list), or with `detail` one line of
    text, the shape BentoML documents for the APIs the gateway does not describe itself."""
    return json.dumps({"error": error, "detail": [] if detail is None else detail}).encode()


def _with_retry_after(send: Send) -> Send:
    """`send`, adding Retry-After to a 503 that does not carry one."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start" and message["status"] == 503:
            headers = list(message.get("headers") or [])
            if not any(name.lower() == b"retry-after" for name, _ in headers):
                message = {**message, "headers": [*headers, _RETRY_AFTER]}
        await send(message)

    return sending


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "a string" if isinstance(value, str) else "an array"


def not_an_object(body: bytes) -> str | None:
    """What is wrong with the body of an API without parameters, in one line; None when it is
    empty or a JSON object (whose keys are ignored)."""
    if not body.strip():
        return None
    try:
        document = json.loads(body)
    except ValueError:
        return "body: expected a JSON object or no body, got text that is not JSON"
    if isinstance(document, dict):
        return None
    return f"body: expected a JSON object or no body, got {_json_kind(document)}"


async def _answer(
    send: Send,
    status: int,
    error: str,
    headers: list[tuple[bytes, bytes]] | None = None,
    *,
    detail: str | None = None,
) -> None:
    body = error_body(error, detail)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


class Gateway:
    """Checks every request to `protected` paths (key) and `body_paths` (JSON body, size)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        api_keys: Collection[str],
        max_body_bytes: int,
        protected: Collection[str],
        body_paths: Collection[str],
        no_parameter_paths: Collection[str] = (),
    ) -> None:
        self.app = app
        # Several keys so that one can be rotated without downtime: old and new are both valid
        # while clients move. None: the API is open.
        self.api_keys = tuple(key.encode() for key in api_keys) or None
        self.max_body_bytes = max_body_bytes
        self.protected = frozenset(protected)
        self.body_paths = frozenset(body_paths)
        self.no_parameter_paths = frozenset(no_parameter_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = _with_retry_after(send)
        path = scope["path"]
        if self.api_keys is not None and path in self.protected and not self._authorised(scope):
            await _answer(
                send,
                401,
                "missing or wrong API key: send it as X-API-Key or Authorization: Bearer <key>",
                [(b"www-authenticate", b'Bearer realm="api"')],
            )
            return
        if scope["method"] == "POST" and path in self.body_paths:
            await self._checked_body(scope, receive, send)
            return
        if scope["method"] == "POST" and path in self.no_parameter_paths:
            await self._ignored_body(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _authorised(self, scope: Scope) -> bool:
        assert self.api_keys is not None
        for name, value in scope["headers"]:
            if name == b"x-api-key":
                offered = value.strip()
            elif name == b"authorization" and value[:7].lower() == b"bearer ":
                offered = value[7:].strip()
            else:
                continue
            # Compared with every key, in constant time each: how long a refusal takes says
            # neither how much of a key matched nor which key came close.
            if sum(hmac.compare_digest(offered, key) for key in self.api_keys):
                return True
        return False

    def _header_problem(self, scope: Scope) -> tuple[int, str] | None:
        """(status, reason) when the headers already disqualify the body."""
        content_type = b""
        length: int | None = None
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value
            elif name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    return 400, "Content-Length is not a number"
        problem = _media_problem(content_type)
        if problem is not None:
            return problem
        if length is not None and length > self.max_body_bytes:
            return 413, f"the body is {length} bytes; the limit is {self.max_body_bytes}"
        if length == 0:
            return 400, "the body is empty: send a JSON object"
        return None

    async def _checked_body(self, scope: Scope, receive: Receive, send: Send) -> None:
        problem = self._header_problem(scope)
        if problem is not None:
            await _answer(send, *problem)
            return
        if any(name == b"content-length" for name, _ in scope["headers"]):
            await self.app(scope, receive, send)  # within the limit: BentoML reads the body itself
            return
        # No Content-Length (chunked): read up to the limit, then replay what was read.
        body = await self._read_limited(receive)
        if body is None:
            await _answer(send, 413, f"the body exceeds the limit of {self.max_body_bytes} bytes")
            return
        if not body:
            await _answer(send, 400, "the body is empty: send a JSON object")
            return
        await self.app(scope, _replay(body, receive), send)

    async def _ignored_body(self, scope: Scope, receive: Receive, send: Send) -> None:
        """An API without parameters: BentoML refuses a body that is not a JSON object with
        pydantic's list of errors, where its document promises `detail` as one line of text,
        and parses a form body (multipart without a boundary: a 500) before it looks at it."""
        content_type = next((value for name, value in scope["headers"] if name == b"content-type"), b"")
        refusal = _media_problem(content_type)
        if refusal is not None:
            await _answer(send, *refusal)
            return
        body = await self._read_limited(receive)
        if body is None:
            await _answer(send, 413, f"the body exceeds the limit of {self.max_body_bytes} bytes")
            return
        problem = not_an_object(body)
        if problem is not None:
            await _answer(
                send, 400, f"{scope['path']} takes no parameters: send no body or an empty JSON object", detail=problem
            )
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read_limited(self, receive: Receive) -> bytes | None:
        """The whole body, or None once it passes the limit (or the client goes away)."""
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks)


def _media_problem(content_type: bytes) -> tuple[int, str] | None:
    """(415, reason) for a Content-Type that is not JSON; None for JSON or none at all."""
    media_type = content_type.split(b";")[0].strip().decode("latin-1").lower()
    if media_type and media_type not in JSON_TYPES:
        return 415, f"the body must be JSON (Content-Type: application/json), not {media_type}"
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives the body already read, then hands over to the real one."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


class QuietClientErrors(logging.Filter):
    """BentoML logs each request its input model refuses (malformed JSON, a missing key) as
    an ERROR with a traceback; those are the client's mistakes, already answered with a
    400 that names them. Keep one WARNING line instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], ValidationError):
            error = record.exc_info[1]
            record.msg = "%s: refused, %d validation error(s): %s"
            record.args = (
                str(record.args[0]) if isinstance(record.args, tuple) and record.args else "request",
                error.error_count(),
                "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in error.errors()[:3]),
            )
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def quiet_client_errors() -> None:
    target = logging.getLogger("bentoml._internal.server.http_app")
    if not any(isinstance(f, QuietClientErrors) for f in target.filters):
        target.addFilter(QuietClientErrors())
