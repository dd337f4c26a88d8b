"""The additions that make BentoML's OpenAPI document describe what the service really answers:
the gateway's refusals (400, 401, 413, 415, 503 with Retry-After) with their body, the API key's
security schemes, and each API's 200 answer as its whole model.

A client that checks answers against the document (schemathesis does, for every answer it
gets: tests/integration/test_service_fuzz.py) then accepts every real one.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from .gateway import RETRY_AFTER_S

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


def _refer_to_component(answer: dict[str, Any] | None, component_names: Collection[str]) -> None:
    """Point a 200 answer's schema at the model's full schema in the components. BentoML inlines
    an API's output model with each optional field cut to its first type (`Metadata.challenger`
    documented as always an object, where it is null without a challenger), so a client that
    checks answers against the document refuses real ones; the components keep the model whole."""
    from bentoml._internal.utils.cattr import bentoml_cattr

    content = (answer or {}).get("content", {})
    media = content.get("application/json")
    if media is None:
        return
    media = media if isinstance(media, dict) else bentoml_cattr.unstructure(media)  # BentoML's MediaType
    schema = media.get("schema")
    if isinstance(schema, dict) and "$ref" not in schema and schema.get("title") in component_names:
        content["application/json"] = {**media, "schema": {"$ref": f"#/components/schemas/{schema['title']}"}}


def _document_operation(
    path: str,
    operation: dict[str, Any],
    *,
    component_names: Collection[str],
    protected: Collection[str],
    body_paths: Collection[str],
    no_parameter_paths: Collection[str],
    api_key: bool,
    max_body_bytes: int,
) -> dict[str, Any]:
    # BentoML keys its responses by int, FastAPI by str: one form, or the JSON repeats keys.
    responses = {str(code): answer for code, answer in operation.get("responses", {}).items()}
    operation["responses"] = responses
    _refer_to_component(responses.get("200"), component_names)
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
        responses["415"] = _error("A body that is not application/json.")
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
                component_names=set(components["schemas"]),
                protected=protected,
                body_paths=body_paths,
                no_parameter_paths=no_parameter_paths,
                api_key=api_key,
                max_body_bytes=max_body_bytes,
            )
        if changes:
            spec.paths[path] = attr.evolve(item, **changes)
    return spec
