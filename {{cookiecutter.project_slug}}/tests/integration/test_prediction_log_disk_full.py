"""The SQLite prediction log runs out of room while the service answers: SQLite's own
`max_page_count` stands in for a full disk (both fail a write with SQLITE_FULL), set on every
connection the service's log hands out, and raised again as freed space would."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import bentoml
import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from {{ cookiecutter.package_name }}.core.contract import Contract
from {{ cookiecutter.package_name }}.stores.prediction_log import PredictionLog
from tests.support.project import Trained, id_column
from tests.support.service import load_service, private_registry, service_env, transactions

REFUSED = "the prediction log cannot be written: nothing was answered; retry"
ROOMY = 1 << 30  # pages: more than any test writes


@contextmanager
def page_limit() -> Iterator[list[int]]:
    """The running service's log gets `PRAGMA max_page_count` on every connection it takes from
    its pool (the writer's, the readiness probe's, the checkpointer's); the list's one item is
    the limit, which the test lowers to fill the database and raises to free it. SQLite never
    sets it below the database's current size."""
    prediction_log: PredictionLog = bentoml.get_current_service().predictor.log
    limit = [ROOMY]

    def limited(connection: Any, _record: Any, _proxy: Any) -> None:
        cursor = connection.cursor()
        cursor.execute(f"PRAGMA max_page_count={limit[0]}")
        cursor.close()

    sa.event.listen(prediction_log.engine, "checkout", limited)
    try:
        yield limit
    finally:
        sa.event.remove(prediction_log.engine, "checkout", limited)


def _records(contract: Contract, prefix: str, count: int) -> list[dict[str, Any]]:
    column = id_column(contract)
    return [{**record, column: f"{prefix}-{i}"} for i, record in enumerate(transactions(count))]


def test_a_full_sqlite_log_refuses_with_503_keeps_every_answer_and_recovers_without_a_restart(
    trained: Trained, contract: Contract, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    """When the log's database cannot grow, /predict answers 503 with Retry-After and the
    documented message, /readyz fails, /metadata says why, and the service's log says once, in
    one line, that the log is full and what to do. Nothing is corrupted and every answered
    request keeps its row; no refused one has a row. Once there is room again the service
    answers by itself, with no restart."""
    # Given a service answering onto a SQLite log
    settings = private_registry(trained, tmp_path / "state")
    module = load_service(monkeypatch, service_env(settings))
    answered: list[str] = []
    refused_records: list[str] = []
    with TestClient(module.ModelService.to_asgi(), raise_server_exceptions=False) as client:
        assert client.post("/predict", json={"records": _records(contract, "before", 5)}).status_code == 200
        with page_limit() as limit, caplog.at_level(logging.WARNING):
            answered += [
                p["request_id"]
                for p in client.post("/predict", json={"records": transactions(1)}).json()["predictions"]
            ]
            # When the database may not grow past its current size and requests keep coming
            limit[0] = 1
            refusals = []
            for n in range(200):
                records = _records(contract, f"full{n}", 20)
                answer = client.post("/predict", json={"records": records})
                if answer.status_code == 200:
                    answered += [p["request_id"] for p in answer.json()["predictions"]]
                    continue
                refusals.append(answer)
                refused_records += [r[id_column(contract)] for r in records]
                if len(refusals) == 3:
                    break
            ready_full = client.get("/readyz").status_code
            log_full = client.get("/metadata").json()["prediction_log"]
            # And room returns
            limit[0] = ROOMY
            ready_again = client.get("/readyz").status_code
            after = client.post("/predict", json={"records": _records(contract, "after", 5)})
            answered += [p["request_id"] for p in after.json()["predictions"]]
        lines = [r.getMessage() for r in caplog.records if "prediction log full" in r.getMessage()]

    with sqlite3.connect(settings.var_dir / "predictions.db") as database:
        integrity = database.execute("PRAGMA integrity_check").fetchall()
        logged = dict(database.execute("SELECT request_id, record_id FROM predictions").fetchall())

    # Then the full log refused requests with 503, saying when to retry
    assert len(refusals) == 3
    assert {(a.status_code, a.headers["retry-after"], a.json()["error"]) for a in refusals} == {(503, "5", REFUSED)}
    assert ready_full == 503
    assert log_full["writable"] is False
    assert "full" in log_full["last_error"]
    # and said so once, in one line that says what to do
    assert len(lines) == 1
    assert "\n" not in lines[0]
    assert "free space" in lines[0]
    # and once there was room it answered again without a restart
    assert (ready_again, after.status_code) == (200, 200)
    # and the database is sound, with every answered request and no refused one
    assert integrity == [("ok",)]
    assert set(answered) <= set(logged)
    assert set(refused_records).isdisjoint(logged.values())
