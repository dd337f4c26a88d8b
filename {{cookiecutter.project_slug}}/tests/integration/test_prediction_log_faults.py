"""The prediction log's database fails under a real `{{ cookiecutter.project_slug }} serve`: a PostgreSQL
cluster of the test's own killed mid-traffic and started again. What the clients see (503
with Retry-After while it is down, answers again once it is back, by itself) and what the log
keeps (every answered request, no refused one)."""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from {{ cookiecutter.package_name }}.core.contract import Contract
from {{ cookiecutter.package_name }}.settings import ENV_PREFIX
from {{ cookiecutter.package_name }}.stores.prediction_log import PredictionLog
from {{ cookiecutter.package_name }}.stores.prediction_log_schema import predictions
from tests.support.postgres import private_cluster
from tests.support.project import Trained, id_column
from tests.support.service import private_registry, running_server, service_env, transactions, wait_until

pytestmark = pytest.mark.slow

REFUSED = "the prediction log cannot be written: nothing was answered; retry"
CLIENTS = 4
RECORDS_PER_REQUEST = 2


@dataclass(frozen=True)
class Seen:
    """One request as its client saw it."""

    status: int
    record_ids: list[str]
    request_ids: list[str]  # the answer's (200 only)
    retry_after: str | None
    error: str | None
    at: float  # monotonic, when the answer arrived


class Clients:
    """CLIENTS threads posting requests of RECORDS_PER_REQUEST records, each with record ids of
    its own, until stopped; a client that sees a 503 waits a moment, as one honouring
    Retry-After would (shorter, so the outage stays short)."""

    def __init__(self, url: str, records: list[dict[str, Any]], id_field: str) -> None:
        self.url, self.records, self.id_field = url, records, id_field
        self.seen: list[Seen] = []
        self.failures: list[str] = []  # transport errors: the server must always answer
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._loop, args=(n,)) for n in range(CLIENTS)]

    def __enter__(self) -> Clients:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(60)

    def count(self, status: int, after: float = 0.0) -> int:
        return sum(1 for s in list(self.seen) if s.status == status and s.at >= after)

    def _loop(self, client: int) -> None:
        with httpx.Client(timeout=30) as http:
            i = 0
            while not self.stop.is_set():
                ids = [f"fault-{client}-{i}-{k}" for k in range(RECORDS_PER_REQUEST)]
                body = [
                    {**self.records[(i * RECORDS_PER_REQUEST + k) % len(self.records)], self.id_field: ids[k]}
                    for k in range(RECORDS_PER_REQUEST)
                ]
                i += 1
                try:
                    response = http.post(f"{self.url}/predict", json={"records": body})
                except httpx.HTTPError as err:
                    self.failures.append(f"{type(err).__name__}: {err}")
                    continue
                answer = response.json()
                request_ids = [p["request_id"] for p in answer["predictions"]] if response.status_code == 200 else []
                error = answer.get("error") if response.status_code != 200 else None
                at = time.monotonic()
                self.seen.append(
                    Seen(response.status_code, ids, request_ids, response.headers.get("retry-after"), error, at)
                )
                if response.status_code == 503:
                    time.sleep(0.02)


def _logged(url: str) -> list[tuple[str, str | None]]:
    """(request id, record id) of every champion row in the log."""
    prediction_log = PredictionLog(url)
    try:
        with prediction_log.engine.connect() as connection:
            rows = connection.execute(sa.select(predictions.c.request_id, predictions.c.record_id)).all()
    finally:
        prediction_log.close()
    return [(str(request_id), record_id) for request_id, record_id in rows]


def _status(url: str) -> int:
    return httpx.get(url, timeout=30).status_code


def test_postgres_killed_mid_traffic_loses_no_answer_and_logs_no_refusal(
    trained: Trained, contract: Contract, tmp_path: Path, record_property: Any
) -> None:
    """The log's PostgreSQL is killed (`pg_ctl -m immediate stop`) under four clients and
    started again a few seconds later. While it is down every /predict is a 503 with
    Retry-After and the documented message, /readyz is not ready and /metadata says the log
    is not writable; after the restart the service answers again by itself. Every answer a
    client saw as 200 has its row, and no refused request (503) has one, not even one whose
    commit reached the server as it was killed."""
    with private_cluster() as cluster:
        # Given a served champion whose prediction log is on the test's own PostgreSQL
        settings = private_registry(trained, tmp_path / "state")
        env = {**service_env(settings, workers=1), f"{ENV_PREFIX}PREDICTION_LOG__URL": cluster.url}
        with (
            running_server(env, tmp_path / "server.log") as server,
            Clients(server.url, transactions(200), id_column(contract)) as clients,
        ):
            assert wait_until(lambda: clients.count(200) >= 20, timeout=60)

            # When the database is killed mid-traffic ...
            cluster.kill()
            killed = time.monotonic()
            assert wait_until(lambda: clients.count(503, after=killed) >= 10, timeout=60)
            ready_down = _status(f"{server.url}/readyz")
            log_down = httpx.get(f"{server.url}/metadata", timeout=30).json()["prediction_log"]
            time.sleep(2)  # the outage goes on under traffic

            # ... and started again
            cluster.start()
            restarted = time.monotonic()
            assert wait_until(lambda: clients.count(200, after=restarted) >= 20, timeout=60)
            assert wait_until(lambda: _status(f"{server.url}/readyz") == 200, timeout=30)
            log_up = httpx.get(f"{server.url}/metadata", timeout=30).json()["prediction_log"]
        seen, failures = list(clients.seen), list(clients.failures)
        logged = _logged(cluster.url)

    answered = [s for s in seen if s.status == 200]
    refused = [s for s in seen if s.status == 503]
    logged_requests = {request_id for request_id, _ in logged}
    logged_records = [record_id for _, record_id in logged]
    first_after = min((s.at for s in answered if s.at >= restarted), default=restarted)
    missing = {r for s in answered for r in s.request_ids} - logged_requests
    refused_logged = {r for s in refused for r in s.record_ids} & set(logged_records)
    figures = {
        "answered": len(answered),
        "refused": len(refused),
        "answered_missing": len(missing),
        "refused_logged": len(refused_logged),
        "outage_s": round(restarted - killed, 1),
        "recovery_s": round(first_after - restarted, 2),
    }
    for name, value in figures.items():
        record_property(name, value)
    sys.stderr.write(f"postgres killed mid-traffic: {figures}\n")

    # Then the clients only ever saw answers and 503s that say what to do
    assert failures == []
    assert {s.status for s in seen} == {200, 503}
    assert {(s.retry_after, s.error) for s in refused} == {("5", REFUSED)}
    # and the outage showed in readiness and /metadata, and its end too
    assert ready_down == 503
    assert log_down["writable"] is False
    assert log_down["last_error"]
    assert log_down["since"] is not None
    assert log_up["writable"] is True
    # and every answer is logged, no refused request is, and none is logged twice
    assert missing == set()
    assert refused_logged == set()
    assert len(logged_records) == len(set(logged_records))
