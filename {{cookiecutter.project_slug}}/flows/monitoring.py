"""Monitoring: one window of live traffic against the model's reference, start to finish.

Each step is a task around a function in the package (`monitoring.steps`), so
this file reads as the table of contents of a monitoring run. With no
parameters it judges the last complete window of the prediction log (a day by
default); `start`/`end` replay any window, e.g. the demo's simulated days.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from {{ cookiecutter.package_name }}.core import transient
from {{ cookiecutter.package_name }}.monitoring import steps, window
from {{ cookiecutter.package_name }}.monitoring.assessment import assess_reduced
from {{ cookiecutter.package_name }}.monitoring.report import artifacts
from {{ cookiecutter.package_name }}.monitoring.report.html import report_path as report_file
from {{ cookiecutter.package_name }}.settings import get_settings

# NO_CACHE: inputs are data frames, models and reports; never cache or hash them.
# Steps that can run twice with the same effect (reads, the history's upsert per window, the
# cooldown-deduplicated alerts, a report overwritten) retry a passing fault (a lost connection, a
# database restarting: `transient`) with backoff; others say why they do not.
RETRY = transient.TASK_RETRY

choose_window = task(name="choose-window", cache_policy=NO_CACHE, **RETRY)(window.resolve_window)
load_reference = task(name="load-reference-profile", cache_policy=NO_CACHE, **RETRY)(steps.window_model)
# The window and the labelled answers, read in pages and reduced to counts and scores as they come.
read_window = task(name="read-prediction-log", cache_policy=NO_CACHE, **RETRY)(steps.read_window)
# Pure computation on data in memory: a retry would fail the same way.
measure = task(name="measure-drift-and-performance", cache_policy=NO_CACHE)(assess_reduced)
# One row per (model, version, window): a retried or repeated store replaces it, never adds one.
store = task(name="store-history", cache_policy=NO_CACHE, **RETRY)(steps.store)
decide_retraining = task(name="check-retraining-rules", cache_policy=NO_CACHE, **RETRY)(steps.decide_retraining)
# A delivered alert is recorded, and the cooldown suppresses its repeat: a retry sends no duplicate.
send_alerts = task(name="send-alerts", cache_policy=NO_CACHE, **RETRY)(steps.send_alerts)
# No retries: the event starts a training run, and a retry after the event went out but before the
# history recorded it would start a second one. A failed run says so; rerunning the window asks again.
request_retraining = task(name="request-retraining", cache_policy=NO_CACHE)(steps.request_retraining)
write_report = task(name="write-report", cache_policy=NO_CACHE, **RETRY)(steps.publish_report)


@flow(name="monitoring")
def monitoring(start: datetime | None = None, end: datetime | None = None) -> dict[str, Any]:
    """Judge the window [start, end) (UTC): feature, schema and score drift, realized and
    estimated performance; store it, alert, ask for retraining when the rules say so, and
    write the HTML report. Default: the last complete window of the prediction log."""
    settings = get_settings()
    logger = get_run_logger()

    span = choose_window(settings, start, end)
    model = load_reference(settings, span)
    data = read_window(settings, span, model)
    assessment = measure(settings, model, data)
    logger.info("%s: %d answers against %s v%s", span.label, assessment.rows, model.name, model.version)
    store(settings, assessment, str(flow_run.get_id() or ""))

    decision = decide_retraining(settings, assessment)
    report_path = report_file(settings, span)
    outcomes = send_alerts(settings, assessment, decision, report_path)
    incident = request_retraining(settings, assessment, decision)
    write_report(settings, assessment)

    create_markdown_artifact(
        key=artifacts.SUMMARY_KEY,
        markdown=artifacts.markdown(assessment, decision, outcomes, str(report_path), incident),
        description=f"monitoring {span.label}",
    )
    create_table_artifact(
        key=artifacts.FEATURES_KEY,
        table=artifacts.feature_table(assessment),
        description=f"feature drift {span.label}",
    )
    return steps.result(assessment, decision, outcomes, incident, report_path)


if __name__ == "__main__":
    monitoring()
