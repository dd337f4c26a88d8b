"""Helpers for the monitoring tests (imported as `tests.monitoring_support`).

A reference profile fitted without training (the demo world's true fraud
probability stands in for a model's score), prediction-log rows made from the
demo generator, and local receivers for alert delivery: an HTTP server and an
SMTP server (aiosmtpd), both on 127.0.0.1 and stopped on exit.
"""

from __future__ import annotations

import json
import socket
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pandas as pd

from {{ cookiecutter.package_name }}.core.contract import Contract, load_contract
from {{ cookiecutter.package_name }}.core.metrics import evaluate
from {{ cookiecutter.package_name }}.data.demo_world import TrafficShift, TransactionGenerator
from {{ cookiecutter.package_name }}.data.tables import prepare_frame
from {{ cookiecutter.package_name }}.model.bundle import load_bundle
from {{ cookiecutter.package_name }}.model.reference_profile import fit_profile
from {{ cookiecutter.package_name }}.monitoring.assessment import Assessment
from {{ cookiecutter.package_name }}.monitoring.drift_report import DriftReport, FeatureDrift
from {{ cookiecutter.package_name }}.monitoring.monitored_model import MonitoredModel
from {{ cookiecutter.package_name }}.monitoring.performance import (
    EstimatedMetric,
    MetricComparison,
    PerformanceEstimate,
    PerformanceReport,
)
from {{ cookiecutter.package_name }}.monitoring.schema_drift import SchemaEvent
from {{ cookiecutter.package_name }}.monitoring.window import Window
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.stores import registry
from {{ cookiecutter.package_name }}.stores.prediction_log import PredictionLog, from_settings
from {{ cookiecutter.package_name }}.stores.prediction_log_schema import CHAMPION
from {{ cookiecutter.package_name }}.stores.prediction_rows import PredictionRow
from tests.support.drift_data import project_contract
from tests.support.project import logged_labels

LIVE_START = datetime(2026, 4, 1, tzinfo=UTC).replace(tzinfo=None)  # naive UTC, the prediction log's form
THRESHOLD = 0.1
MODEL = "fraud-detection-test"
# An upstream change: a new column, larger amounts, riskier devices, more online traffic.
UPSTREAM_CHANGE = TrafficShift(
    amount_scale=1.8, device_risk_shift=0.2, online_share=0.4, extra_columns=("account_type",)
)


@cache
def demo_profile() -> dict[str, Any]:
    """A classifier's reference profile: 20k demo transactions, scored by their true fraud
    probability (a well-calibrated "model"), with holdout metrics and a calibration map."""
    contract = project_contract()
    raw = TransactionGenerator(seed=7).sample(20_000, datetime(2026, 1, 1, tzinfo=UTC), days=30)
    frame = prepare_frame(raw[[*contract.columns]], contract)
    scores = raw["fraud_probability"].to_numpy(dtype=float)
    performance = evaluate(contract.task, frame[contract.target].to_numpy(), scores, THRESHOLD)
    return fit_profile(frame, contract, scores=scores, performance=performance, threshold=THRESHOLD)


def traffic(rows: int, day: int, shift: TrafficShift | None = None, seed: int = 7) -> pd.DataFrame:
    """A day of demo transactions (with the hidden fraud probability and the label)."""
    start = datetime(2026, 4, 1, tzinfo=UTC) + timedelta(days=day)
    return TransactionGenerator(seed=seed).sample(rows, start, shift=shift or TrafficShift(), id_prefix=f"d{day}")


def records(frame: pd.DataFrame, contract: Contract, extra: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Request records as a caller sends them: JSON types, nulls for missing values."""
    columns = [
        c for c in (contract.id_column, contract.timestamp_column, *contract.feature_names, *extra) if c in frame
    ]
    found: list[dict[str, Any]] = json.loads(frame[columns].to_json(orient="records", date_format="iso"))
    return found


def log_answers(
    prediction_log: PredictionLog,
    found: Sequence[dict[str, Any]],
    scores: Sequence[float] | np.ndarray,
    day_start: datetime,
    version: str = "1",
    model_name: str = MODEL,
    unknown: Sequence[str] = (),
    span: timedelta = timedelta(days=1),
) -> list[str]:
    """Write one answer per record, spread over `span` from `day_start`; returns the
    request ids. `unknown` names fields the service would report as unknown. `scores` holds
    a score per record or (multiclass) a row of every class's probability."""
    ids = [uuid.uuid4().hex for _ in found]
    step = span / max(len(found), 1)
    rows = [
        PredictionRow(
            request_id=ids[i],
            role=CHAMPION,
            logged_at=day_start + step * i,
            occurred_at=day_start + step * i,
            model_name=model_name,
            model_version=version,
            record_id=str(record.get("transaction_id")),
            features=record,
            score=float(np.max(scores[i])),  # a multiclass model's: the answered class's probability
            decision=None if np.ndim(scores[i]) else bool(scores[i] >= THRESHOLD),
            probabilities=np.asarray(scores[i], dtype=float).tolist() if np.ndim(scores[i]) else None,
            latency_ms=0.5,
            schema_events=[{"kind": "unknown_field", "field": name} for name in unknown if name in record] or None,
        )
        for i, record in enumerate(found)
    ]
    for start in range(0, len(rows), 500):
        prediction_log.record(rows[start : start + 500])
    return ids


def log_champion_traffic(
    settings: Settings, rows: int, days: Sequence[TrafficShift | None] = (None,), labelled_days: int = 1
) -> None:
    """Score a day of requests per entry of `days` (from LIVE_START, shifted as given) with the
    champion's own bundle and log the answers; the first `labelled_days` get their labels."""
    client = registry.connect(settings)
    name = settings.mlflow.registered_model_name
    champion = registry.version_by_alias(client, name, registry.CHAMPION)
    assert champion is not None
    spec = load_contract(settings.contract_file)
    prediction_log = from_settings(settings)
    with registry.fetched_bundle(client, champion) as folder:
        bundle = load_bundle(folder)
        for day, shift in enumerate(days):
            frame = traffic(rows, day, shift)
            extra = shift.extra_columns if shift is not None else ()
            found = records(frame, spec, extra)
            ids = log_answers(
                prediction_log,
                found,
                bundle.score_records(found),
                LIVE_START + timedelta(days=day),
                version=str(champion.version),
                model_name=name,
                unknown=extra,
            )
            if day < labelled_days:
                prediction_log.add_labels(zip(ids, logged_labels(frame, spec), strict=True), source="test")
    prediction_log.close()


# --- local receivers for alert delivery --------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HttpReceiver:
    url: str
    requests: list[Received] = field(default_factory=list)
    status: int = 200


@contextmanager
def http_receiver(status: int = 200) -> Iterator[HttpReceiver]:
    """A local HTTP server that records every POST and answers `status`."""
    state = HttpReceiver("", status=status)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            state.requests.append(Received(self.path, dict(self.headers.items()), self.rfile.read(length)))
            self.send_response(state.status)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *_args: Any) -> None:  # quiet
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Mailbox:
    port: int
    messages: list[Any] = field(default_factory=list)  # email.message.Message
    logins: list[tuple[str, str]] = field(default_factory=list)  # (login, password) as the client sent them


@contextmanager
def smtp_server(login_required: bool = False) -> Iterator[Mailbox]:
    """A local SMTP server (aiosmtpd, plain SMTP) that keeps every message it receives; with
    `login_required`, a client must log in first (any login passes, and is kept)."""
    from email import message_from_bytes

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    mailbox = Mailbox(free_port())

    class Handler:
        async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
            mailbox.messages.append(message_from_bytes(envelope.content))
            return "250 Message accepted for delivery"

    def authenticator(_server: Any, _session: Any, _envelope: Any, _mechanism: str, data: Any) -> AuthResult:
        if isinstance(data, LoginPassword):
            mailbox.logins.append((data.login.decode(), data.password.decode()))
        return AuthResult(success=True)

    # A login over plain SMTP: only ever on 127.0.0.1, in tests.
    auth: dict[str, Any] = (
        {"authenticator": authenticator, "auth_required": True, "auth_require_tls": False} if login_required else {}
    )
    controller = Controller(Handler(), hostname="127.0.0.1", port=mailbox.port, **auth)
    controller.start()
    try:
        yield mailbox
    finally:
        controller.stop()


def fraud_scores(frame: pd.DataFrame) -> np.ndarray:
    """The demo world's own probability: what a perfect model of the reference world scores."""
    return frame["fraud_probability"].to_numpy(dtype=float)


# --- assessments built by hand, for the rules, alerts and history tests -------------------------

PROFILE_STUB: dict[str, Any] = {
    "task": "binary_classification",
    "primary_metric": "average_precision",
    "performance": {"average_precision": 0.5},
    "segments": ["channel"],
}


def drift_report(drifted: Sequence[str] = (), stable: int = 4, schema: Sequence[SchemaEvent] = ()) -> DriftReport:
    """A report whose verdicts are given: `drifted` features drifted, `stable` others did not."""
    features = [
        FeatureDrift(
            name,
            "numeric",
            "numeric",
            "drifted",
            reasons=("distribution",),
            wasserstein=0.4,
            mean_reference=1.0,
            mean_current=1.4,
        )
        for name in drifted
    ]
    features += [FeatureDrift(f"stable_{i}", "numeric", "numeric", "stable") for i in range(stable)]
    return DriftReport(rows=1000, features=tuple(features), schema=tuple(schema))


def realized(value: float, n: int = 5000, reliable: bool = True, baseline: float = 0.5) -> PerformanceReport:
    return PerformanceReport(
        task="binary_classification",
        primary_metric="average_precision",
        threshold=THRESHOLD,
        n_labelled=n,
        reliable=reliable,
        overall=(MetricComparison("average_precision", value, baseline),),
    )


def estimate(value: float, lower: float, upper: float, baseline: float = 0.5) -> PerformanceEstimate:
    return PerformanceEstimate(
        n=3000,
        band=0.9,
        threshold=THRESHOLD,
        primary_metric="average_precision",
        metrics=(EstimatedMetric("average_precision", value, lower, upper, baseline),),
    )


def assessment(
    day: int = 0,
    drift: DriftReport | None = None,
    version: str = "1",
    rows: int = 1000,
    refused: int = 0,
    refused_events: Sequence[SchemaEvent] = (),
    performance: PerformanceReport | None = None,
    band: tuple[float, float] | None = None,
    predicted: PerformanceEstimate | None = None,
    model: str = MODEL,
) -> Assessment:
    """An assessment of day `day` after LIVE_START with the given findings."""
    start = LIVE_START + timedelta(days=day)
    return Assessment(
        run_id=uuid.uuid4().hex,
        started_at=datetime.now(UTC).replace(tzinfo=None),
        window=Window(start, start + timedelta(days=1)),
        model=MonitoredModel(model, version, PROFILE_STUB, "champion"),
        rows=rows,
        scored_rows=rows,
        refused_requests=refused,
        drift=drift or drift_report(),
        refused_events=tuple(refused_events),
        realized=performance,
        realized_bands={"": band} if band is not None else {},
        estimate=predicted,
        labelled_rows=performance.n_labelled if performance is not None else 0,
        performance_start=start - timedelta(days=6) if performance is not None else None,
        edge_events={},
    )
