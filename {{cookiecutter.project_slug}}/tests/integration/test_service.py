"""The service in-process (BentoML's ASGI app under Starlette's TestClient): answers, the
bad-input matrix, the prediction log, feedback, the API key and the OpenAPI document."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import bentoml
import jsonschema  # type: ignore[import-untyped]
import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from {{ cookiecutter.package_name }}.core.contract import load_contract
from {{ cookiecutter.package_name }}.core.metrics import primary_metric
from {{ cookiecutter.package_name }}.model.bundle import load_bundle
from {{ cookiecutter.package_name }}.settings import ENV_PREFIX, Settings
from {{ cookiecutter.package_name }}.stores import registry
from {{ cookiecutter.package_name }}.stores.prediction_log import PredictionLog
from {{ cookiecutter.package_name }}.stores.prediction_log_schema import SCHEMA_VERSION
from {{ cookiecutter.package_name }}.stores.sql import utcnow
from tests.support.postgres import scratch_schema
from tests.support.project import ALL_TIME, PROJECT_ROOT, Trained
from tests.support.service import load_service, private_registry, service_env, transactions

JSON = {"content-type": "application/json"}


def bundle_task(served: Served) -> str:
    """The task of the model the service runs (the bake's problem type)."""
    return load_contract(PROJECT_ROOT / "contract.yaml").task


class Served:
    def __init__(self, client: TestClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings

    def log(self) -> PredictionLog:
        return PredictionLog(self.settings.prediction_log_url)

    def window(self, roles: tuple[str, ...] = ("champion",)) -> Any:
        prediction_log = self.log()
        try:
            return prediction_log.window(*ALL_TIME, roles)
        finally:
            prediction_log.close()


@pytest.fixture(scope="module")
def served(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One service for the read-mostly tests of this module, on a private copy of the registry."""
    settings = private_registry(trained, tmp_path_factory.mktemp("service") / "state")
    with pytest.MonkeyPatch.context() as monkeypatch:
        module = load_service(monkeypatch, service_env(settings, max_records=50, max_body_bytes=200_000))
        with TestClient(module.ModelService.to_asgi(), raise_server_exceptions=False) as client:
            yield Served(client, settings)


def test_predicts_one_record_and_a_batch_with_the_champion(served: Served, trained: Trained) -> None:
    """One record or a list: per record a score equal to the champion's own, the decision at its
    threshold, the version and a fresh request id; every answer is in the log."""
    # Given realistic records and the champion's bundle
    records = transactions(20)
    client = registry.connect(trained.settings)
    champion = registry.version_by_alias(client, trained.settings.mlflow.registered_model_name, "champion")
    assert champion is not None
    with registry.fetched_bundle(client, champion) as folder:
        bundle = load_bundle(folder)
        scored = bundle.score_records(records)
    # (a multiclass answer's score is its class's probability, the most probable one)
    expected = (scored.max(axis=1) if scored.ndim == 2 else scored).tolist()

    # When one record and then the batch are posted
    single = served.client.post("/predict", json={"records": records[0]})
    batch = served.client.post("/predict", json={"records": records})

    # Then each answers per record with the champion's scores and decisions
    assert single.status_code == 200
    assert batch.status_code == 200
    assert len(single.json()["predictions"]) == 1
    answer = batch.json()
    assert answer["model_version"] == trained.version
    predictions = answer["predictions"]
    assert [p["score"] for p in predictions] == pytest.approx(expected, abs=1e-6)
    threshold = bundle.threshold
    assert [p["decision"] for p in predictions] == [None if threshold is None else s >= threshold for s in expected]
    assert [p["record_id"] for p in predictions] == [r["transaction_id"] for r in records]
    assert len({p["request_id"] for p in predictions}) == 20

    # And the log holds every answered request with its features as received
    logged = served.window()
    ids = {p["request_id"] for p in predictions} | {single.json()["predictions"][0]["request_id"]}
    assert ids <= set(logged["request_id"])
    row = logged.set_index("request_id").loc[predictions[0]["request_id"]]
    assert row["merchant_id"] == records[0]["merchant_id"]  # as received, before normalisation
    assert row["score"] == pytest.approx(predictions[0]["score"])


def _raw(body: str) -> dict[str, Any]:
    return {"content": body.encode(), "headers": JSON}


GOOD = transactions(1)[0]
MISSING_AMOUNT = {k: v for k, v in GOOD.items() if k != "amount"}

BAD_INPUTS: dict[str, tuple[dict[str, Any], int, str]] = {
    "missing field": ({"json": {"records": MISSING_AMOUNT}}, 400, "amount"),
    "wrong type": ({"json": {"records": {**GOOD, "amount": "twelve"}}}, 400, "amount"),
    "forbidden null": ({"json": {"records": [GOOD, {**GOOD, "channel": None}]}}, 400, "channel"),
    "NaN": (
        _raw(json.dumps({"records": GOOD}).replace('"amount": ' + json.dumps(GOOD["amount"]), '"amount": NaN')),
        400,
        "amount",
    ),
    "Infinity": (_raw(json.dumps({"records": {**GOOD, "amount": 1e999}})), 400, "amount"),
    "malformed JSON": (_raw('{"records": [{"amount": 1,}'), 400, "JSON"),
    "empty body": (_raw(""), 400, "empty"),
    "no records key": ({"json": {"rows": [GOOD]}}, 400, "records"),
    "records not an object": ({"json": {"records": 42}}, 400, "records"),
    "empty list": ({"json": {"records": []}}, 400, "empty"),
    "wrong content type": (
        {"content": json.dumps({"records": GOOD}).encode(), "headers": {"content-type": "text/csv"}},
        415,
        "application/json",
    ),
    "form post": ({"data": {"records": "x"}}, 415, "application/json"),
    "oversized batch": ({"json": {"records": [GOOD] * 51}}, 413, "limit is 50"),
    "oversized body": ({"json": {"records": GOOD, "padding": "x" * 250_000}}, 413, "limit is 200000"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_gets_a_clear_4xx_never_a_500(served: Served, case: str) -> None:
    """Each bad request of the matrix gets its 4xx with a JSON reason naming what is wrong;
    never a 500, never a traceback."""
    # Given a bad request from the matrix
    request, status, named = BAD_INPUTS[case]

    # When it is posted
    response = served.client.post("/predict", **request)

    # Then the status is the right 4xx and the body explains it without a traceback
    assert response.status_code == status, response.text
    body = response.json()
    assert named in json.dumps(body)
    assert "error" in body
    assert "Traceback" not in response.text
    assert 'File "' not in response.text


def test_contract_rejections_are_kept_for_monitoring(served: Served) -> None:
    """A request refused at the contract is stored with its body and reason, so nothing is lost."""
    # Given a record whose amount is a string
    served.client.post("/predict", json={"records": {**GOOD, "amount": "kept-for-replay"}})

    # When monitoring reads the rejections
    prediction_log = served.log()
    rejections = prediction_log.rejection_window(*ALL_TIME)
    prediction_log.close()

    # Then the body is there as received
    bodies = [json.dumps(b) for b in rejections["body"]]
    assert any("kept-for-replay" in b for b in bodies)


def test_unknown_fields_and_unusual_values_are_served_and_recorded(served: Served) -> None:
    """An upstream team adds `account_type`; a category never seen, an out-of-range amount and
    shouting case arrive: all served, all recorded as schema events in the answer and the log."""
    # Given records carrying each oddity
    odd = {**GOOD, "account_type": "business", "card_type": "Virtual", "amount": 99_999.0, "channel": " ONLINE "}

    # When they are posted
    response = served.client.post("/predict", json={"records": [odd]})

    # Then the answer is a prediction with events, and the log has the same events and the new field
    assert response.status_code == 200
    prediction = response.json()["predictions"][0]
    kinds = {(e["kind"], e["field"]) for e in prediction["schema_events"]}
    assert {
        ("unknown_field", "account_type"),
        ("unseen_category", "card_type"),
        ("out_of_range", "amount"),
        ("normalised", "channel"),
    } <= kinds
    logged = served.window().set_index("request_id").loc[prediction["request_id"]]
    assert logged["account_type"] == "business"
    assert {(e["kind"], e["field"]) for e in logged["schema_events"]} == kinds


def test_feedback_joins_labels_and_reports_unknown_ids(served: Served) -> None:
    """Labels by request id join the log; unknown ids come back; a label that is not 0/1 is refused."""
    # Given two answered requests
    answered = served.client.post("/predict", json={"records": transactions(2, seed=5)}).json()["predictions"]
    first, second = (p["request_id"] for p in answered)

    # When labels arrive (one known id twice, one unknown), and one invalid label
    one = served.client.post("/feedback", json={"labels": {"request_id": first, "label": 0}})
    many = served.client.post(
        "/feedback", json={"labels": [{"request_id": first, "label": 1}, {"request_id": "nope", "label": 0}]}
    )
    impossible = 2 if bundle_task(served) == "binary_classification" else "two"
    invalid = served.client.post("/feedback", json={"labels": [{"request_id": second, "label": impossible}]})

    # Then the known ids are stored (the later label wins), the unknown reported, the invalid named
    assert one.json() == {"accepted": 1, "unknown": []}
    assert many.json() == {"accepted": 1, "unknown": ["nope"]}
    assert invalid.status_code == 400
    assert invalid.json()["detail"][0]["loc"] == ["labels", 0, "label"]
    labels = served.window().set_index("request_id")["label"]
    assert labels[first] == 1.0
    assert labels.isna()[second]


def test_metadata_health_and_readiness(served: Served, trained: Trained) -> None:
    """/metadata names the model, version, alias, training time, contract and metrics; probes answer."""
    # Given the running service; When its metadata and probes are read
    meta = served.client.get("/metadata").json()
    probes = [served.client.get(path).status_code for path in ("/livez", "/healthz", "/readyz")]

    # Then they describe the champion from the registry, and the service is alive and ready
    assert meta["model_name"] == trained.settings.mlflow.registered_model_name
    assert meta["model_version"] == trained.version
    assert meta["alias"] == "champion"
    assert meta["trained_at"]
    assert meta["contract_hash"]
    assert meta["metrics"][primary_metric(bundle_task(served)).name] > 0
    assert meta["shadowing"] is False
    assert meta["champion"]["source"] == "registry"
    assert meta["registry"]["reachable"] is True
    assert meta["prediction_log"]["enabled"] is True
    assert meta["prediction_log"]["schema_version"] == SCHEMA_VERSION
    assert meta["prediction_log"]["writable"] is True
    assert meta["prediction_log"]["last_error"] is None
    assert probes == [200, 200, 200]


def test_openapi_describes_every_endpoint_truthfully(served: Served) -> None:
    """The OpenAPI document lists every endpoint, and real answers validate against it."""
    # Given the document and real answers
    spec = served.client.get("/docs.json").json()
    predict = served.client.post("/predict", json={"records": transactions(2)}).json()
    refused = served.client.post("/predict", json={"records": MISSING_AMOUNT}).json()
    meta = served.client.get("/metadata").json()

    # Then each endpoint is there with the answers it really gives
    paths = spec["paths"]
    assert {"/predict", "/feedback", "/metadata", "/reload", "/livez", "/readyz", "/healthz"} <= set(paths)
    responses = paths["/predict"]["post"]["responses"]
    assert {"200", "400", "413", "415", "503"} <= set(responses)
    assert "get" in paths["/metadata"]
    record_schema = paths["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert "records" in json.dumps(record_schema)

    # And the answers validate against their documented schemas
    def validate(instance: Any, schema: dict[str, Any]) -> None:
        # "$ref": "#/components/..." resolves against the document root, so carry the components along.
        jsonschema.validate(instance, {**schema, "components": spec["components"]})

    validate(predict, responses["200"]["content"]["application/json"]["schema"])
    validate(refused, responses["400"]["content"]["application/json"]["schema"])
    validate(meta, paths["/metadata"]["get"]["responses"]["200"]["content"]["application/json"]["schema"])


@pytest.mark.parametrize("path", ["/reload", "/predict", "/feedback"])
def test_a_body_that_is_not_an_object_gets_the_documented_400(served: Served, path: str) -> None:
    """`[null, null]` (what a fuzzer sends) is a 400 whose body is the one the endpoint's
    document promises: for /reload, which takes no parameters, `detail` is one line naming the
    body and what was expected; /predict and /feedback list each problem."""
    # Given the OpenAPI document
    spec = served.client.get("/docs.json").json()

    # When an array of nulls is posted
    response = served.client.post(path, **_raw("[null, null]"))

    # Then it is a 400 that validates against the documented answer
    assert response.status_code == 400, response.text
    documented = spec["paths"][path]["post"]["responses"]["400"]["content"]["application/json"]["schema"]
    jsonschema.validate(response.json(), {**documented, "components": spec["components"]})
    if path == "/reload":
        assert response.json()["detail"] == "body: expected a JSON object or no body, got an array"


def test_reload_ignores_an_empty_object(served: Served, trained: Trained) -> None:
    """/reload takes no parameters: `{}` (or no body) reloads and answers the metadata."""
    # Given the running service; When /reload is posted an empty object and nothing
    with_object = served.client.post("/reload", json={})
    without_body = served.client.post("/reload")

    # Then both reload and answer what is served
    assert (with_object.status_code, without_body.status_code) == (200, 200)
    assert with_object.json()["model_version"] == trained.version


@contextmanager
def unwritable_log(folder: Path) -> Iterator[None]:
    """Point the running service's prediction log at a SQLite file it cannot open (in a folder
    that does not exist), as a lost volume would leave it; point it back on the way out."""
    prediction_log = bentoml.get_current_service().predictor.log
    working = prediction_log.engine
    prediction_log.engine = sa.create_engine(f"sqlite:///{folder / 'missing' / 'predictions.db'}")
    try:
        yield
    finally:
        prediction_log.engine.dispose()
        prediction_log.engine = working


def test_while_the_log_cannot_be_written_the_service_is_alive_but_not_ready(
    trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the prediction log cannot be written, /predict is a 503 with Retry-After, /readyz
    fails (with Retry-After) so that a load balancer routes elsewhere, /livez stays 200 (a
    restart would not help), and /metadata says the log is not writable, why and since when.
    Once the log can be written again, readiness returns without any request to /predict."""
    # Given a service of its own
    settings = private_registry(trained, tmp_path / "state")
    module = load_service(monkeypatch, service_env(settings))
    with TestClient(module.ModelService.to_asgi(), raise_server_exceptions=False) as client:
        assert client.get("/readyz").status_code == 200
        # When its log cannot be written
        with unwritable_log(tmp_path):
            answer = client.post("/predict", json={"records": transactions(2)})
            ready, live = client.get("/readyz"), client.get("/livez")
            down = client.get("/metadata").json()
        # And when it can again
        ready_again = client.get("/readyz")
        up = client.get("/metadata").json()
        answer_again = client.post("/predict", json={"records": transactions(2)})

    # Then it refused to answer and told the client when to retry
    assert answer.status_code == 503
    assert "prediction log cannot be written" in answer.json()["error"]
    assert answer.headers["retry-after"] == "5"
    # And it was alive but not ready, and said so in /metadata
    assert (live.status_code, ready.status_code) == (200, 503)
    assert ready.headers["retry-after"] == "5"
    assert down["ready"] is False
    assert down["prediction_log"]["writable"] is False
    assert "unable to open database file" in down["prediction_log"]["last_error"]
    assert down["prediction_log"]["since"] is not None
    # And once the log was back it was ready again, the reason kept for the operator
    assert ready_again.status_code == 200
    assert "retry-after" not in ready_again.headers
    assert up["ready"] is True
    assert up["prediction_log"]["writable"] is True
    assert up["prediction_log"]["since"] >= down["prediction_log"]["since"]
    assert up["prediction_log"]["last_error"] == down["prediction_log"]["last_error"]
    assert answer_again.status_code == 200


def test_api_key_when_configured(trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With an API key set, predict/feedback/metadata need it; probes do not; the document says so."""
    # Given a service with an API key
    settings = private_registry(trained, tmp_path / "state")
    module = load_service(monkeypatch, service_env(settings, api_key="let-me-in"))
    with TestClient(module.ModelService.to_asgi(), raise_server_exceptions=False) as client:
        # When requests come with and without the key
        body = {"records": transactions(1)}
        without = client.post("/predict", json=body)
        with_key = client.post("/predict", json=body, headers={"x-api-key": "let-me-in"})
        bearer_meta = client.get("/metadata", headers={"authorization": "Bearer let-me-in"})
        meta_without = client.get("/metadata")
        ready = client.get("/readyz")
        spec = client.get("/docs.json").json()

    # Then only keyed requests pass, probes stay open, and the document shows the scheme
    assert (without.status_code, meta_without.status_code) == (401, 401)
    assert (with_key.status_code, bearer_meta.status_code, ready.status_code) == (200, 200, 200)
    assert "ApiKey" in spec["components"]["securitySchemes"]
    assert "401" in spec["paths"]["/predict"]["post"]["responses"]


def test_unknown_fields_rejected_when_configured(
    trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With reject_unknown_fields, a record with `account_type` is a 400 naming it."""
    # Given a strict service
    settings = private_registry(trained, tmp_path / "state")
    module = load_service(monkeypatch, service_env(settings, reject_unknown_fields=True))
    with TestClient(module.ModelService.to_asgi(), raise_server_exceptions=False) as client:
        # When a record with an unknown field is posted
        response = client.post("/predict", json={"records": [{**GOOD, "account_type": "business"}]})

    # Then it is refused at that field
    assert response.status_code == 400
    assert response.json()["detail"][0]["loc"] == ["records", 0, "account_type"]


def test_serving_imports_no_training_libraries(trained: Trained, tmp_path: Path) -> None:
    """Loading the service and answering a request imports neither LightGBM, Prefect nor Great Expectations."""
    # Given a fresh interpreter pointed at a registry with a champion
    settings = private_registry(trained, tmp_path / "state")
    script = "\n".join(
        [
            "import json, sys",
            f"sys.path.insert(0, {str(PROJECT_ROOT)!r})",
            "from starlette.testclient import TestClient",
            "from services.service import ModelService",
            "with TestClient(ModelService.to_asgi()) as client:",
            f"    status = client.post('/predict', json=dict(records={transactions(1)!r})).status_code",
            "loaded = set(m.split('.')[0] for m in sys.modules)",
            "heavy = sorted(loaded & set(['lightgbm', 'prefect', 'great_expectations']))",
            "print(json.dumps(dict(status=status, heavy=heavy)))",
        ]
    )
    # When it serves one request
    env = {**service_env(settings), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path
    )

    # Then it answered, and none of the training libraries were imported
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"status": 200, "heavy": []}


@pytest.mark.postgres
def test_the_log_on_postgresql(trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the prediction log on PostgreSQL (requests then run off the event loop), answers and
    labels land there, in the configured schema."""
    # Given a service whose log is a schema of its own on the test server
    with scratch_schema("svc") as (url, schema):
        settings = private_registry(trained, tmp_path / "state")
        env = {
            **service_env(settings),
            f"{ENV_PREFIX}PREDICTION_LOG__URL": url,
            f"{ENV_PREFIX}PREDICTION_LOG__DB_SCHEMA": schema,
        }
        module = load_service(monkeypatch, env)
        with TestClient(module.ModelService.to_asgi()) as client:
            # When records are scored and one is labelled
            answer = client.post("/predict", json={"records": transactions(3)}).json()
            first = answer["predictions"][0]["request_id"]
            feedback = client.post("/feedback", json={"labels": {"request_id": first, "label": 1}}).json()
            meta = client.get("/metadata").json()
        prediction_log = PredictionLog(url, db_schema=schema)
        frame = prediction_log.window(*ALL_TIME)
        prediction_log.close()

    # Then the log in PostgreSQL holds the three answers and the label
    assert feedback == {"accepted": 1, "unknown": []}
    assert set(frame["request_id"]) == {p["request_id"] for p in answer["predictions"]}
    assert frame.set_index("request_id")["label"][first] == 1.0
    assert meta["prediction_log"]["url"].startswith("postgresql+psycopg://")


def test_answers_are_logged_on_the_day_their_events_happened(served: Served) -> None:
    """The log files an answer under its record's event time (replays and late deliveries land
    on their own day); a record without one counts as happening now."""
    # Given one record from a past day and one without a timestamp
    past, undated = transactions(2)
    past["event_time"] = "2025-06-01T12:00:00Z"
    undated.pop("event_time", None)

    # When both are served
    answer = served.client.post("/predict", json={"records": [past, undated]})
    assert answer.status_code == 200
    ids = [p["request_id"] for p in answer.json()["predictions"]]

    # Then the past one is in that day's window and the undated one in today's
    prediction_log = served.log()
    try:
        that_day = prediction_log.window(datetime(2025, 6, 1, tzinfo=UTC), datetime(2025, 6, 2, tzinfo=UTC))
        today = prediction_log.window(utcnow() - timedelta(minutes=5), utcnow() + timedelta(minutes=1))
    finally:
        prediction_log.close()
    assert ids[0] in set(that_day["request_id"])
    assert ids[1] in set(today["request_id"])
    assert ids[0] not in set(today["request_id"])
