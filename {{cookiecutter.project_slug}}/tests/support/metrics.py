"""Helpers for the operators' metrics tests: a monitoring history run as the monitoring flow
writes it, and a Prometheus exposition read with prometheus_client's own parser."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from {{ cookiecutter.package_name }}.stores.monitoring_history import History

WINDOW_END = datetime(2026, 4, 8, tzinfo=UTC).replace(tzinfo=None)  # naive UTC, as the history keeps moments


def history_run(model_name: str, version: str, **overrides: Any) -> dict[str, Any]:
    """A complete run's row of the monitoring history, with round figures to look for."""
    run = {
        "run_id": uuid.uuid4().hex,
        "started_at": WINDOW_END + timedelta(minutes=5),
        "finished_at": WINDOW_END + timedelta(minutes=6),
        "window_start": WINDOW_END - timedelta(days=1),
        "window_end": WINDOW_END,
        "model_name": model_name,
        "model_version": version,
        "status": "complete",
        "rows": 1200,
        "scored_rows": 1200,
        "refused_requests": 3,
        "labelled_rows": 400,
        "n_scored": 8,
        "n_drifted": 2,
        "share_drifted": 0.25,
        "dataset_drift": False,
        "drifted_features": ["amount", "merchant_category"],
        "prediction_drift": True,
        "schema_changed": True,
        "primary_metric": "roc_auc",
        "baseline_primary": 0.9,
        "realized_primary": 0.81,
        "realized_reliable": True,
        "estimated_primary": 0.8,
        "estimated_lower": 0.75,
        "estimated_upper": 0.85,
    }
    return {**run, **overrides}


def record_history_run(history: History, run: dict[str, Any], psi: float | None = 0.3) -> None:
    """Store `run` with a score-drift row and two schema events (one `added`, one `dropped`)."""
    events = [
        {"source": "served", "column_name": "device", "kind": "added", "detail": "column device is new", "data": {}},
        {"source": "served", "column_name": "amount", "kind": "dropped", "detail": "column amount is gone", "data": {}},
    ]
    prediction = {"status": "drifted", "drifted": bool(run["prediction_drift"]), "psi": psi}
    history.record_run(run, prediction=prediction, events=events)


def samples(exposition: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a text exposition, keyed by (sample name, labels), parsed by
    prometheus_client (which refuses a malformed exposition)."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


def value(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))
