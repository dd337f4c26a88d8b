"""The BentoML service: the champion answers, the challenger shadows, every answer is logged.

Only wiring lives here. The logic is in the package, importable and tested
without a server: `edge` (the contract at the edge), `serving` (models by alias,
local cache, hot reload), `predictor` (one request end to end), `predictions`
(the log), `shadow`, `gateway` (API key, content type, size limits) and
`request_body` (reading /predict's JSON).

Start it with `{{ cookiecutter.project_slug }} serve` or `make serve`; docs/serving.md covers
containers, BentoCloud and every setting. It needs onnxruntime, MLflow's client
and SQLAlchemy at run time, never LightGBM, Prefect or Great Expectations.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

try:
    import {{ cookiecutter.package_name }}  # noqa: F401 - installed in the project's environment
except ImportError:  # in a Bento the package travels as source under src/, not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import bentoml
from fastapi import FastAPI
from pydantic import TypeAdapter, WithJsonSchema
from starlette.responses import JSONResponse, Response

from {{ cookiecutter.package_name }}.core.contract import load_contract
from {{ cookiecutter.package_name }}.errors import ProjectError
from {{ cookiecutter.package_name }}.serving.edge import Edge, Rejected
from {{ cookiecutter.package_name }}.serving.http.api_document import document_responses
from {{ cookiecutter.package_name }}.serving.http.api_models import (
    ErrorResponse,
    FeedbackResponse,
    Metadata,
    PredictResponse,
    label_model,
)
from {{ cookiecutter.package_name }}.serving.http.gateway import Gateway, quiet_client_errors
from {{ cookiecutter.package_name }}.serving.http.gc_tuning import tune_for_serving
from {{ cookiecutter.package_name }}.serving.http.request_body import JSONFirst
from {{ cookiecutter.package_name }}.serving.model_store import ModelStore
from {{ cookiecutter.package_name }}.serving.operator_metrics import RefusalCounter, RequestMetrics
from {{ cookiecutter.package_name }}.serving.predictor import Predictor
from {{ cookiecutter.package_name }}.serving.service_metrics import ServiceMetrics
from {{ cookiecutter.package_name }}.settings import get_settings

try:
    SETTINGS = get_settings()
    # Read once, here: a missing, unreadable or empty key file stops the start, naming the file.
    API_KEYS = SETTINGS.service.valid_api_keys()
except ProjectError as err:  # a misspelled or refused setting: its one line, not an import traceback
    raise SystemExit(f"error: {err}") from None
CONTRACT = load_contract(SETTINGS.contract_file)
OPTIONS = SETTINGS.service
PROTECTED = ("/predict", "/feedback", "/metadata", "/reload")
BODY_PATHS = ("/predict", "/feedback")
NO_PARAMETER_PATHS = ("/reload",)  # its body is ignored; the gateway refuses one that is not a JSON object
# The operators' request counters (docs/monitoring.md); built at import, in the worker, where
# BentoML has set prometheus_client's multiprocess folder. None without /metrics.
REQUEST_METRICS = RequestMetrics() if OPTIONS.metrics else None

# The request bodies are validated by the package (edge.Edge, Predictor.feedback) so that
# every refusal names each field the same way; these annotations only document them.
RecordsBody = Annotated[
    Any,
    WithJsonSchema(
        Edge(
            CONTRACT, max_records=OPTIONS.max_records, reject_unknown_fields=OPTIONS.reject_unknown_fields
        ).records_json_schema()
    ),
]


class Input(JSONFirst):  # named as BentoML names an API's input: the document calls it predict__Input
    records: RecordsBody


_label_schema = TypeAdapter(label_model(CONTRACT)).json_schema()
LabelsBody = Annotated[
    Any, WithJsonSchema({"oneOf": [_label_schema, {"type": "array", "items": _label_schema, "minItems": 1}]})
]


class DocumentedService(bentoml.Service[Any]):
    """BentoML's OpenAPI document, plus the answers the gateway and the handlers give."""

    @property
    def openapi_spec(self) -> Any:
        return document_responses(
            super().openapi_spec,
            protected=PROTECTED,
            body_paths=BODY_PATHS,
            no_parameter_paths=NO_PARAMETER_PATHS,
            api_key=bool(API_KEYS),
            max_body_bytes=OPTIONS.max_body_bytes,
        )


admin = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)  # GET routes; BentoML's are POST only


def _refuse(ctx: bentoml.Context, rejected: Rejected, endpoint: str, metrics: ServiceMetrics | None) -> Response:
    if metrics is not None:
        metrics.refused(endpoint, rejected)
    ctx.response.status_code = rejected.status  # BentoML copies the context's status onto the answer
    return JSONResponse(rejected.body(), status_code=rejected.status)


async def _after_answer(handoff: Any) -> None:
    handoff()


# mypy takes `bentoml.service` for the _bentoml_sdk.service subpackage of the same name.
@bentoml.service(  # type: ignore[operator]
    name="{{ cookiecutter.project_slug }}",
    service_class=DocumentedService,
    workers=OPTIONS.workers,
    traffic={"timeout": OPTIONS.request_timeout_s},
    logging={"access": {"enabled": OPTIONS.access_log}},
    metrics={"enabled": OPTIONS.metrics},
    # BentoML wraps every request in an OpenTelemetry middleware, even with no exporter;
    # excluding the API routes is what turns its per-request work off. On, BentoML's own
    # tracing configuration (exporter, sample rate: BENTOML_CONFIG) applies.
    tracing={} if OPTIONS.tracing else {"excluded_urls": list(PROTECTED)},
)
@bentoml.asgi_app(admin, path="/")
class ModelService:
    """Scores records with the `champion` model from the registry; a `challenger`, when one
    exists, scores the same records in the shadow. Every answer is in the prediction log."""

    def __init__(self) -> None:
        quiet_client_errors()
        store = ModelStore(SETTINGS, CONTRACT.hash)
        self.predictor = Predictor.from_settings(SETTINGS, CONTRACT, store)
        store.start()
        self.metrics = ServiceMetrics.from_settings(SETTINGS, REQUEST_METRICS) if REQUEST_METRICS is not None else None
        if self.metrics is not None:
            self.metrics.start()  # reads the monitoring history on a thread of its own
        tune_for_serving()  # once the models are loaded: see gc_tuning

    @bentoml.api(route="/predict", input_spec=Input, output_spec=PredictResponse)
    async def predict(self, records: RecordsBody, ctx: bentoml.Context) -> Response:
        """Score one record or a list of records: per record the score, the decision at the
        model's threshold, the model version, a request id (for /feedback) and any schema
        events (unknown fields, unseen categories, out-of-range values, normalised text)."""
        try:
            answer, handoff = await self.predictor.predict(records)
        except Rejected as rejected:
            return _refuse(ctx, rejected, "/predict", self.metrics)
        if self.metrics is not None:
            self.metrics.answered(answer)
        if handoff is not None:
            ctx.response.background.add_task(_after_answer, handoff)  # runs once the answer is sent
        # Serialized here: PredictResponse documents the answer, and validating 100 predictions
        # into pydantic models only to dump them again cost 4% of the worker's time.
        return Response(answer.to_json(), media_type="application/json")

    @bentoml.api(route="/feedback", output_spec=FeedbackResponse)
    def feedback(self, labels: LabelsBody, ctx: bentoml.Context) -> FeedbackResponse | Response:
        """Store true labels by request id (one or many); unknown ids are listed in the answer."""
        try:
            result = self.predictor.feedback(labels)
        except Rejected as rejected:
            return _refuse(ctx, rejected, "/feedback", self.metrics)
        return FeedbackResponse(accepted=result.accepted, unknown=result.unknown)

    @bentoml.api(route="/reload", output_spec=Metadata)
    def reload(self) -> Metadata:
        """Ask the registry now (instead of at the next poll) and answer what is served. Takes no
        parameters: send no body or {} (anything else is a 400)."""
        self.predictor.store.refresh()
        return Metadata.model_validate(self.predictor.metadata())

    @admin.get(
        "/metadata",
        response_model=Metadata,
        responses={401: {"model": ErrorResponse, "description": "Missing or wrong API key (when one is set)."}},
        tags=["Service APIs"],
    )
    def metadata(self) -> Metadata:
        """The model served (name, version, alias, trained at, contract hash, metrics), whether a
        challenger shadows, the registry's state, shadow failures and the prediction log."""
        return Metadata.model_validate(self.predictor.metadata())

    def __is_ready__(self) -> bool:
        # Not ready while no champion is loaded or the prediction log cannot be written: every
        # /predict would be a 503, and a load balancer should send it to a replica that can
        # answer. Liveness (/livez) stays 200: a restart brings neither back. While the log is
        # down each probe asks the database again, so the replica returns once it can write.
        return self.predictor.ready

    def __metrics__(self, content: str) -> str:
        # BentoML's hook on /metrics (run on a thread): its exposition, which sums every
        # worker's counters, plus this worker's models and monitoring results.
        return self.metrics.exposition(content, self.predictor) if self.metrics is not None else content

    @bentoml.on_shutdown
    def shutdown(self) -> None:
        if self.metrics is not None:
            self.metrics.stop()
        self.predictor.close()


# The class decorator made ModelService a bentoml.Service; mypy keeps the class's own type.
# The first middleware added is the outermost: the refusal counter sees the gateway's answers.
ModelService.add_asgi_middleware(  # type: ignore[attr-defined]
    RefusalCounter, metrics=REQUEST_METRICS, paths=BODY_PATHS
)
ModelService.add_asgi_middleware(  # type: ignore[attr-defined]
    Gateway,
    api_keys=API_KEYS,
    max_body_bytes=OPTIONS.max_body_bytes,
    protected=PROTECTED,
    body_paths=BODY_PATHS,
    no_parameter_paths=NO_PARAMETER_PATHS,
)
