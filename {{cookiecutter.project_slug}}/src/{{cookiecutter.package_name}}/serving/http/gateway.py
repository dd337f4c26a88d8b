"""The HTTP front door, before BentoML parses anything: API key, content type, body size.

A plain ASGI middleware (added with `Service.add_asgi_middleware`), so it costs
a few microseconds per request and answers bad requests without touching the
model: 401 without the key (when one is configured), 415 for a body that is not
JSON, 413 past the size limit, 400 for an empty body; an API without parameters
(/reload) takes no body or a JSON object, and anything else is a 400 in the shape its
document promises (`detail` one line of text). Every 503, whoever answers it, carries
Retry-After. Health, readiness, metrics and the OpenAPI document stay open so that
probes need no secret.

Also here: the additions that make BentoML's OpenAPI document describe these
answers, and a log filter that keeps client mistakes from filling the server
log with tracebacks.
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
        api_key: str | None,
        max_body_bytes: int,
        protected: Collection[str],
        body_paths: Collection[str],
        no_parameter_paths: Collection[str] = (),
    ) -> None:
        self.app = app
        self.api_key = api_key.encode() if api_key else None
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
        if self.api_key is not None and path in self.protected and not self._authorised(scope):
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
        assert self.api_key is not None
        for name, value in scope["headers"]:
            if name == b"x-api-key":
                offered = value.strip()
            elif name == b"authorization" and value[:7].lower() == b"bearer ":
                offered = value[7:].strip()
            else:
                continue
            if hmac.compare_digest(offered, self.api_key):
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
        media_type = content_type.split(b";")[0].strip().decode("latin-1").lower()
        if media_type and media_type not in JSON_TYPES:
            return 415, f"the body must be JSON (Content-Type: application/json), not {media_type}"
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
        pydantic's list of errors, where its document promises `detail` as one line of text."""
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


ERROR_SCHEMA = {
    "type": "object",
    "title": "ErrorResponse",
    "required": ["error"],
    "properties": {
        "error": {"type": "string", "description": "One line: what was wrong."},
        "detail": {
            "type": "array",
            "description": "For invalid input: each problem, where it is and what was expected.",
            "items": {
                "type": "object",
                "required": ["loc", "msg", "type"],
                "properties": {
                    "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                    "expected": {"type": "string"},
                },
            },
        },
    },
}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
    }


RETRY_AFTER_HEADER = {
    "Retry-After": {
        "description": f"Seconds to wait before retrying (always {RETRY_AFTER_S}).",
        "schema": {"type": "integer"},
    }
}


def _document_operation(
    path: str,
    operation: dict[str, Any],
    *,
    protected: Collection[str],
    body_paths: Collection[str],
    no_parameter_paths: Collection[str],
    api_key: bool,
    max_body_bytes: int,
) -> dict[str, Any]:
    # BentoML keys its responses by int, FastAPI by str: one form, or the JSON repeats keys.
    responses = {str(code): answer for code, answer in operation.get("responses", {}).items()}
    operation["responses"] = responses
    if path in body_paths:
        responses["400"] = _error("Malformed JSON, an empty body, or records that break the contract.")
        responses["413"] = _error(f"More records than the limit, or a body over {max_body_bytes} bytes.")
        responses["415"] = _error("The body is not application/json.")
        responses["503"] = {
            **_error("No model loaded yet, or the prediction log cannot be written."),
            "headers": RETRY_AFTER_HEADER,
        }
        responses.pop("404", None)
    if path in no_parameter_paths:
        # 400 stays BentoML's InvalidArgument (`detail` one line of text): the gateway answers it so.
        responses["413"] = _error(f"A body over {max_body_bytes} bytes.")
    if path in protected and api_key:
        responses["401"] = _error("Missing or wrong API key.")
        operation["security"] = [{"ApiKey": []}, {"Bearer": []}]
    return operation


def document_responses(
    spec: Any,
    *,
    protected: Collection[str],
    body_paths: Collection[str],
    api_key: bool,
    max_body_bytes: int,
    no_parameter_paths: Collection[str] = (),
) -> Any:
    """Add to BentoML's OpenAPI document (its attrs object, changed in place) the answers
    the gateway and the handlers give: 400/413/415/503 with their body, and 401 with the
    security schemes when an API key is required."""
    import attr
    from bentoml._internal.utils.cattr import bentoml_cattr

    components = spec.components  # BentoML builds it as a plain dict
    components.setdefault("schemas", {})["ErrorResponse"] = ERROR_SCHEMA
    if api_key:
        components["securitySchemes"] = {
            "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            "Bearer": {"type": "http", "scheme": "bearer"},
        }
    for path, item in list(spec.paths.items()):
        changes = {}
        for method in ("get", "post"):
            operation = getattr(item, method)
            if operation is None:
                continue
            as_dict = operation if isinstance(operation, dict) else bentoml_cattr.unstructure(operation)
            changes[method] = _document_operation(
                path,
                as_dict,
                protected=protected,
                body_paths=body_paths,
                no_parameter_paths=no_parameter_paths,
                api_key=api_key,
                max_body_bytes=max_body_bytes,
            )
        if changes:
            spec.paths[path] = attr.evolve(item, **changes)
    return spec
