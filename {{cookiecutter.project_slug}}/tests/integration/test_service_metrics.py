"""The operators' metrics on a real `bentoml serve` with two workers: the counters of answers,
refusals and schema events summed over both workers, the version each alias serves and the
latest monitoring results, scraped from /metrics and read by Prometheus' text parser."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from {{ cookiecutter.package_name }}.core.contract import load_contract
from {{ cookiecutter.package_name }}.stores.monitoring_history import History
from tests.support.metrics import history_run, record_history_run, samples, value
from tests.support.project import Trained
from tests.support.service import private_registry, running_server, service_env, transactions

pytestmark = pytest.mark.slow

P = "{{ cookiecutter.package_name }}"
JSON = {"content-type": "application/json"}


def test_metrics_count_answers_refusals_and_events_and_show_the_model_and_monitoring(
    trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every request counts once whichever worker took it: answers by version, refusals by
    reason (contract, too many records, the gateway's not-JSON, BentoML's malformed body),
    schema events of served and refused records by kind; the champion's version is a gauge,
    and the newest monitoring run's figures are gauges labelled with the version it judged."""
    monkeypatch.setenv("BENTOML_DO_NOT_TRACK", "true")
    # Given a registry copy, a monitoring run in the history, and a server with two workers
    settings = private_registry(trained, tmp_path / "state")
    name = settings.mlflow.registered_model_name
    with History.from_settings(settings) as history:
        record_history_run(history, history_run(name, trained.version))
    contract = load_contract(settings.contract_file)
    numeric = next(f.name for f in contract.features if f.type == "numeric")
    good = transactions(5)
    good[0]["not_in_the_contract"] = "x"  # served, with an unknown_field event
    mistyped = {**good[1], numeric: "a lot"}
    env = service_env(settings, workers=2, max_records=5)
    with running_server(env, tmp_path / "server.log") as server, httpx.Client(base_url=server.url) as http:
        # When good and bad requests arrive
        answers = [http.post("/predict", json={"records": good[:3]}), http.post("/predict", json={"records": good[3:]})]
        request_id = answers[0].json()["predictions"][0]["request_id"]
        feedback = http.post("/feedback", json={"labels": [{"request_id": request_id, "label": 1}]})
        contract_refusals = [
            http.post("/predict", json={"records": [{numeric: 1.0}]}),
            http.post("/predict", json={"records": [mistyped]}),
        ]
        too_many = http.post("/predict", json={"records": transactions(6)})
        not_json = http.post("/predict", content=b"a,b\n1,2", headers={"content-type": "text/csv"})
        malformed = http.post("/predict", content=b'{"records": [{"amount": 1,}', headers=JSON)
        exposition = http.get("/metrics").text

    # Then each answer is what it should be
    assert [a.status_code for a in answers] == [200, 200]
    assert feedback.status_code == 200
    assert [r.status_code for r in contract_refusals] == [400, 400]
    assert (too_many.status_code, not_json.status_code, malformed.status_code) == (413, 415, 400)
    found = samples(exposition)
    # and the counters sum both workers' requests
    assert value(found, f"{P}_answered_requests_total", endpoint="/predict") == 2
    assert value(found, f"{P}_answered_requests_total", endpoint="/feedback") == 1
    assert value(found, f"{P}_answered_records_total", alias="champion", version=trained.version) == 5
    refused = {
        reason: value(found, f"{P}_refused_requests_total", endpoint="/predict", reason=reason)
        for reason in ("contract", "too_many_records", "not_json", "malformed_body")
    }
    assert refused == {"contract": 2, "too_many_records": 1, "not_json": 1, "malformed_body": 1}
    assert value(found, f"{P}_schema_events_total", source="served", kind="unknown_field") == 1
    problems = [p["type"] for r in contract_refusals for p in r.json()["detail"]]
    assert value(found, f"{P}_schema_events_total", source="refused", kind="missing_field") == problems.count("missing")
    assert value(found, f"{P}_schema_events_total", source="refused", kind="type_mismatch") == 1
    # and the model's state and the monitoring run are gauges
    version = trained.version
    assert value(found, f"{P}_model_version_info", alias="champion", version=version) == 1
    assert value(found, f"{P}_model_age_days", alias="champion", version=version) is not None
    assert value(found, f"{P}_prediction_log_writable") == 1
    expected = {
        "drifted_features_ratio": 0.25,
        "prediction_drift": 1,
        "prediction_drift_psi": 0.3,
        "window_rows": 1200,
    }
    for metric, figure in expected.items():
        assert value(found, f"{P}_monitoring_{metric}", version=version) == pytest.approx(figure), metric
    band = {
        m: value(found, f"{P}_monitoring_{m}", version=version, metric="roc_auc")
        for m in ("realized_metric", "estimated_metric", "estimated_metric_lower", "estimated_metric_upper")
    }
    assert band == pytest.approx(
        {
            "realized_metric": 0.81,
            "estimated_metric": 0.8,
            "estimated_metric_lower": 0.75,
            "estimated_metric_upper": 0.85,
        }
    )
    assert value(found, f"{P}_monitoring_schema_events", version=version, kind="added") == 1
    assert value(found, f"{P}_monitoring_refresh_ok") == 1
    # and BentoML's own metrics are still there
    assert any(n.startswith("bentoml_service_request_total") for n, _ in found), json.dumps(
        sorted({n for n, _ in found})
    )
