"""The monitoring flow's steps, each a plain function (flows/monitoring.py wraps them as tasks).

Every step opens what it needs from the settings (the prediction log, the
history, the registry) and closes it again, so each also runs on its own, e.g.
from a notebook or the demo.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..monitoring import alerts as alerting
from ..monitoring import retrain_rules
from ..stores.monitoring_history import History
from .assessment import Assessment
from .history_rows import history_rows
from .monitored_model import MonitoredModel, champion_version, load_model, pick_from_counts, pick_version
from .report.html import report_path, write_report
from .window import Window, WindowData, labelled_rows
from .window_pages import ReducedWindow, labelled_pages, reduce_window, window_versions

if TYPE_CHECKING:
    from ..settings import Settings
    from .alerts import Outcome
    from .retrain_rules import RetrainDecision

log = logging.getLogger(__name__)


def reference_model(settings: Settings, data: WindowData) -> MonitoredModel:
    """The champion's profile, or that of the version that answered the window (a replay)."""
    champion = champion_version(settings)
    return load_model(settings, pick_version(data.served, champion), champion)


def window_model(settings: Settings, window: Window) -> MonitoredModel:
    """`reference_model` before reading the window: the versions' answers counted in the database."""
    champion = champion_version(settings)
    return load_model(settings, pick_from_counts(window_versions(settings, window), champion), champion)


def read_window(settings: Settings, window: Window, model: MonitoredModel) -> ReducedWindow:
    """The window's answers against the model, read in pages of `monitoring.window_chunk_rows`,
    with the model version's labelled answers of the performance period (ending with it)."""
    data = reduce_window(settings, window, model)
    start = window.end - timedelta(days=settings.monitoring.performance_days)
    return replace(data, labelled=labelled_pages(settings, model, start, window.end))


def with_labels(settings: Settings, model: MonitoredModel, data: WindowData) -> WindowData:
    """Add the model version's labelled answers of the performance period (ending with the window)."""
    end = data.window.end
    start = end - timedelta(days=settings.monitoring.performance_days)
    return replace(data, labelled=labelled_rows(settings, model.name, model.version, start, end))


def store(settings: Settings, assessment: Assessment, flow_run_id: str | None = None) -> None:
    rows = history_rows(assessment, settings, flow_run_id)
    with History.from_settings(settings) as history:
        history.record_run(**rows)


def decide_retraining(settings: Settings, assessment: Assessment) -> RetrainDecision:
    with History.from_settings(settings) as history:
        decision = retrain_rules.evaluate(history, assessment, settings)
        history.update_run(assessment.run_id, retrain_rules=[r.rule for r in decision.met])
    return decision


def send_alerts(
    settings: Settings, assessment: Assessment, decision: RetrainDecision, report: Path | None
) -> list[Outcome]:
    raised = alerting.raise_alerts(assessment, decision, settings)
    with History.from_settings(settings) as history:
        return alerting.process(history, assessment, raised, settings.alerts, str(report) if report else None)


def incident_id(assessment: Assessment, decision: RetrainDecision) -> str:
    """Names the incident this request opens: the model version, the window it started in
    and its rules (stable, so a rerun of the window is recognisably the same incident)."""
    rules = "+".join(sorted(r.rule for r in decision.new))
    return f"{assessment.model.name}-v{assessment.model.version}-{assessment.window.slug}-{rules}"[:200]


def request_retraining(settings: Settings, assessment: Assessment, decision: RetrainDecision) -> str | None:
    """Emit the degradation event for the rules that started to hold; returns the incident id
    (None when nothing new asks for retraining)."""
    if not decision.emit:
        return None
    from .degradation_event import Degradation, emit_degradation

    incident = incident_id(assessment, decision)
    realized = any(r.rule == retrain_rules.PERFORMANCE and r.evidence.get("kind") == "realized" for r in decision.new)
    event = emit_degradation(
        Degradation(
            model_name=assessment.model.name,
            reason=f"monitoring: {decision.reason}",
            incident_id=incident,
            evidence=decision.evidence(assessment),
            model_version=assessment.model.version,
            severity="critical" if realized else "warning",
        )
    )
    if event is None:
        log.warning("no Prefect API to send the degradation event to (incident %s): retraining not requested", incident)
    with History.from_settings(settings) as history:
        history.add_emitted(assessment.run_id, [r.rule for r in decision.new], incident)
    return incident


def publish_report(settings: Settings, assessment: Assessment) -> Path:
    path = report_path(settings, assessment.window)
    with History.from_settings(settings) as history:
        write_report(history, assessment.run_id, settings, path)
        history.update_run(assessment.run_id, report_path=str(path), finished_at=_now())
    return path


def _now() -> datetime:
    from ..stores.sql import utcnow

    return utcnow()


def result(
    assessment: Assessment,
    decision: RetrainDecision,
    outcomes: list[Outcome],
    incident: str | None,
    report: Path | None,
) -> dict[str, Any]:
    """What the flow returns: the verdicts in brief, JSON-able."""
    drift = assessment.drift
    return {
        "run_id": assessment.run_id,
        "window": assessment.window.to_dict(),
        "model_version": assessment.model.version,
        "status": assessment.status,
        "rows": assessment.rows,
        "refused_requests": assessment.refused_requests,
        "dataset_drift": drift.dataset_drifted,
        "drifted_features": list(drift.drifted_features),
        "prediction_drift": drift.prediction.drifted if drift.prediction is not None else None,
        "schema_events": [e.to_dict() for e in (*drift.schema, *assessment.refused_events)],
        "realized": assessment.realized.primary.to_dict() if assessment.realized is not None else None,
        "estimated": assessment.estimate.primary.to_dict() if assessment.estimate is not None else None,
        "retrain_rules": [r.rule for r in decision.met],
        "retraining_requested": incident,
        "alerts": [{"key": o.alert.key, "severity": o.alert.severity, "status": o.status} for o in outcomes],
        "report": str(report) if report else None,
    }
