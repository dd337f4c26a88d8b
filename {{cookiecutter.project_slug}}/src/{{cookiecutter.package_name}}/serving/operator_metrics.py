"""Operators' metrics: the model's state on the service's Prometheus /metrics, beside BentoML's own.

Two kinds, because BentoML runs its workers as separate processes:

- Counters of what requests did (answers, refusals by reason, schema events by kind) live in
  prometheus_client's multiprocess files, which BentoML's /metrics sums over the workers.
  `RequestMetrics` holds them; `RefusalCounter` (an ASGI middleware, outermost) counts every
  refused request of the observed paths once, whoever refused it: the gateway, BentoML's own
  body parsing, or a handler, which names the reason with `note_refusal`.
- The state (version per alias, model age, the latest monitoring results) is the answering
  worker's own view, rendered at scrape time (`state_text`, which services/service.py appends
  through BentoML's `__metrics__` hook). Stored in multiprocess gauges, a version no longer
  served would stay exported until the process ends.

Every label is of bounded cardinality: endpoints, aliases, versions, reasons and event kinds
from fixed lists, never a request id, a field name a client sent or free text.
"""

from __future__ import annotations

import collections
import contextvars
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .http.gateway import ASGIApp, Message, Receive, Scope, Send

PREFIX = __name__.split(".")[0]  # the package's name: every metric of the project starts with it

# A refusal's reason when no handler named one: what the status says about who refused it.
# 401, 413 (body) and 415 come from the gateway; a 400 nobody named is a body BentoML could not
# read (malformed JSON, no `records` key) or the gateway found empty; 504 is BentoML's timeout.
REASON_BY_STATUS = {
    400: "malformed_body",
    401: "unauthorised",
    404: "not_found",
    413: "body_too_large",
    415: "not_json",
    503: "unavailable",
    504: "timeout",
}
OTHER_CLIENT_ERROR, SERVER_ERROR = "client_error", "server_error"

# The reasons a handler names (`refusal_reason`), per endpoint and status.
HANDLER_REASONS = {
    ("/predict", 400): "contract",
    ("/predict", 413): "too_many_records",
    ("/feedback", 400): "invalid_labels",
    ("/feedback", 413): "too_many_records",
}

# What a refused record's problem was, from pydantic's error type: missing, of the wrong type,
# unknown (when unknown fields are refused) or a value out of bounds (too long, not finite).
MISSING_FIELD, TYPE_MISMATCH, INVALID_VALUE = "missing_field", "type_mismatch", "invalid_value"
_PROBLEM_KINDS = {"missing": MISSING_FIELD, "extra_forbidden": "unknown_field", "int_from_float": TYPE_MISMATCH}
SERVED, REFUSED = "served", "refused"


def status_reason(status: int) -> str:
    """The reason of a refusal no handler named, from its status."""
    if status in REASON_BY_STATUS:
        return REASON_BY_STATUS[status]
    return SERVER_ERROR if status >= 500 else OTHER_CLIENT_ERROR


def refusal_reason(endpoint: str, status: int, reason: str | None = None) -> str:
    """A handler's refusal as a label: the reason it carries (`Unavailable`'s), else the
    endpoint's reason for that status, else the status's."""
    return reason or HANDLER_REASONS.get((endpoint, status)) or status_reason(status)


def problem_kind(error_type: str) -> str:
    """A refused field's problem (pydantic's error type, e.g. `float_parsing`) as a schema event kind."""
    if error_type in _PROBLEM_KINDS:
        return _PROBLEM_KINDS[error_type]
    if error_type.endswith(("_type", "_parsing")):
        return TYPE_MISMATCH
    return INVALID_VALUE


def event_counts(events: Iterable[Iterable[Mapping[str, Any]]]) -> collections.Counter[str]:
    """Schema events of answered records (the edge's, one list per record) by kind."""
    return collections.Counter(str(event["kind"]) for record in events for event in record)


class RequestMetrics:
    """The request counters. In a BentoML worker prometheus_client writes them to the
    multiprocess files whatever `registry` is (None there: nothing to register twice when
    the service is built again); tests pass a registry to read them back."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.answered_requests = Counter(
            f"{PREFIX}_answered_requests",
            "Requests answered with 2xx, by endpoint.",
            ["endpoint"],
            registry=registry,
        )
        self.answered_records = Counter(
            f"{PREFIX}_answered_records",
            "Records scored in /predict answers, by the alias and version that answered.",
            ["alias", "version"],
            registry=registry,
        )
        self.refused_requests = Counter(
            f"{PREFIX}_refused_requests",
            "Requests refused (4xx/5xx), by endpoint and reason.",
            ["endpoint", "reason"],
            registry=registry,
        )
        self.schema_events = Counter(
            f"{PREFIX}_schema_events",
            "Schema events: on served records (the edge's kinds) and refused ones (missing_field, "
            "type_mismatch, invalid_value, unknown_field).",
            ["source", "kind"],
            registry=registry,
        )

    def answered(self, endpoint: str) -> None:
        self.answered_requests.labels(endpoint).inc()

    def predictions(
        self, alias: str, version: str, records: int, events: Iterable[Iterable[Mapping[str, Any]]]
    ) -> None:
        """An answer of `records` records and their schema events."""
        self.answered_records.labels(alias, version).inc(records)
        for kind, count in event_counts(events).items():
            self.schema_events.labels(SERVED, kind).inc(count)

    def refused(self, endpoint: str, reason: str) -> None:
        self.refused_requests.labels(endpoint, reason).inc()

    def refused_problems(self, error_types: Iterable[str]) -> None:
        """The problems a contract refusal named, by kind."""
        for kind, count in collections.Counter(map(problem_kind, error_types)).items():
            self.schema_events.labels(REFUSED, kind).inc(count)


@dataclass
class _Outcome:
    reason: str | None = None


# The request in flight's outcome: the middleware sets a fresh one, a handler names its reason
# in it (also from a thread: anyio copies the context, and the copy holds the same object).
_OUTCOME: contextvars.ContextVar[_Outcome | None] = contextvars.ContextVar("refusal_outcome", default=None)


def note_refusal(reason: str) -> None:
    """Name the reason of the refusal this request is about to answer (outside a request: nothing)."""
    outcome = _OUTCOME.get()
    if outcome is not None:
        outcome.reason = reason


class RefusalCounter:
    """Counts each request to `paths` answered with a status of 400 or more, by endpoint and
    reason, and each one answered below 400 as answered. Add it before the gateway (BentoML
    wraps the first middleware added outermost) so that the gateway's refusals pass through it."""

    def __init__(self, app: ASGIApp, *, metrics: RequestMetrics | None, paths: Collection[str]) -> None:
        self.app = app
        self.metrics = metrics
        self.paths = frozenset(paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        metrics = self.metrics
        if metrics is None or scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        outcome = _Outcome()
        token = _OUTCOME.set(outcome)
        status = 500  # an exception with no answer started is a server error

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            _OUTCOME.reset(token)
            if status >= 400:
                metrics.refused(scope["path"], outcome.reason or status_reason(status))
            else:
                metrics.answered(scope["path"])


# --- the state, rendered at scrape time ------------------------------------------------------


def _gauge(name: str, documentation: str, labels: Sequence[str] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"{PREFIX}_{name}", documentation, labels=list(labels))


def _trained_at(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def model_families(store: Mapping[str, Any], now: datetime, log_writable: bool | None) -> list[Metric]:
    """The served models (from `ModelStore.describe()`): version per alias, age in days, and
    whether the registry and the prediction log (None: disabled) can be reached."""
    info = _gauge("model_version_info", "1 for the model version each alias serves.", ["alias", "version"])
    age = _gauge("model_age_days", "Days since the served model was trained.", ["alias", "version"])
    for alias in ("champion", "challenger", "canary"):
        served = store.get(alias)
        if not served:
            continue
        version = str(served["version"])
        info.add_metric([alias, version], 1.0)
        trained = _trained_at(served.get("trained_at"))
        if trained is not None:
            age.add_metric([alias, version], (now - trained).total_seconds() / 86400.0)
    families: list[Metric] = [info, age]
    reachable = (store.get("registry") or {}).get("reachable")
    if reachable is not None:
        registry = _gauge("registry_reachable", "1 when the last registry poll succeeded, 0 when it failed.")
        registry.add_metric([], 1.0 if reachable else 0.0)
        families.append(registry)
    if log_writable is not None:
        writable = _gauge("prediction_log_writable", "1 when the prediction log can be written (else /predict is 503).")
        writable.add_metric([], 1.0 if log_writable else 0.0)
        families.append(writable)
    return families


def render(families: Iterable[Metric]) -> str:
    """Families in Prometheus' text format."""

    found = [family for family in families if family.samples]  # a family without samples says nothing

    class _Fixed(Collector):
        def collect(self) -> Iterable[Metric]:
            return found

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed())
    return generate_latest(registry).decode()


def append_text(exposition: str, extra: str) -> str:
    """BentoML's exposition with `extra` after it, each line ending with a newline."""
    if exposition and not exposition.endswith("\n"):
        exposition += "\n"
    return exposition + extra
