"""Commands for monitoring: a run now, and a degradation reported by hand."""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from .app import _print_json, _settings, _user_errors, app, load_flow, prefect_defaults

log = logging.getLogger(__name__)


@app.command("report-degradation")
def report_degradation(
    reason: Annotated[str, typer.Option(help="What is wrong; becomes the training run's reason.")],
    incident: Annotated[str, typer.Option(help="Incident id: repeats of one incident start one retraining.")],
    evidence: Annotated[str, typer.Option(help="A JSON object with the evidence.")] = "{}",
) -> None:
    """Send the degradation event by hand (what monitoring sends): the training deployment's
    automation starts a retraining. Needs PREFECT_API_URL (a server, or Prefect Cloud)."""
    from ..errors import ProjectError
    from ..monitoring.degradation_event import Degradation, emit_degradation

    settings = _settings()
    with _user_errors():
        if not os.environ.get("PREFECT_API_URL"):
            raise ProjectError("PREFECT_API_URL is not set: point it at the Prefect server the deployments live on")
        try:
            details = json.loads(evidence)
        except json.JSONDecodeError as err:
            raise ProjectError(f"--evidence is not JSON: {err}") from None
        if not isinstance(details, dict):
            raise ProjectError("--evidence must be a JSON object")
        sent = emit_degradation(Degradation(settings.mlflow.registered_model_name, reason, incident, details))
        if sent is None:
            raise ProjectError("Prefect did not send the event (is PREFECT_API_URL reachable?)")
        from prefect.events.worker import EventsWorker

        EventsWorker.drain_all(timeout=30)  # delivery is asynchronous: wait for it before exiting
    typer.echo(f"sent {sent.event} for incident {incident} (event {sent.id})")


def _instant(value: str, option: str) -> datetime:
    """An ISO date or date-time, read as UTC when it names no zone."""
    from ..errors import DataError

    try:
        found = datetime.fromisoformat(value)
    except ValueError:
        raise DataError(f"{option} {value!r} is not an ISO date or date-time, e.g. 2026-04-05T06:00") from None
    return found if found.tzinfo else found.replace(tzinfo=UTC)


@app.command()
def monitor(
    start: Annotated[str | None, typer.Option(help="Window start, ISO date(-time), UTC unless it says.")] = None,
    end: Annotated[str | None, typer.Option(help="Window end (exclusive); default: one window after --start.")] = None,
    day: Annotated[str | None, typer.Option(help="One UTC day, e.g. 2026-04-05 (instead of --start/--end).")] = None,
) -> None:
    """Run the monitoring flow: drift, performance, alerts, report. Default window: the last
    complete day of the prediction log."""
    from ..errors import DataError

    with _user_errors():
        if day is not None and (start or end):
            raise DataError("give --day, or --start/--end, not both")
        first = day or start
        begin = _instant(first, "--day" if day else "--start") if first else None
        finish = _instant(end, "--end") if end else (begin + timedelta(days=1) if day and begin else None)
    prefect_defaults(_settings().var_dir)
    monitoring = load_flow("monitoring", "monitoring")
    with _user_errors():
        result = monitoring(start=begin, end=finish)
    _print_json(result)
