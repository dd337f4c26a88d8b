"""Canary evaluation: the canary's answers against the champion's since the canary started.

Reads both models' answers from the prediction log, judges them with the guards (error rate,
p99 latency, score distribution, realized performance once labelled), records the verdict on
the version and in the monitoring history, then rolls back (with an alert that carries the
evidence), completes the promotion, or keeps waiting. The logic is in
`promotion/canary_steps.py` and `promotion/canary_guards.py`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from {{ cookiecutter.package_name }}.core import transient
from {{ cookiecutter.package_name }}.core.contract import load_contract
from {{ cookiecutter.package_name }}.monitoring.canary_alert import alert_rollback
from {{ cookiecutter.package_name }}.promotion import canary_steps as steps
from {{ cookiecutter.package_name }}.promotion.aliases import recover
from {{ cookiecutter.package_name }}.settings import get_settings

# Inputs are data frames and clients: never cache or hash them.
RETRY = transient.TASK_RETRY
read_answers = task(name="read-canary-answers", cache_policy=NO_CACHE, **RETRY)(steps.read_answers)
evaluate = task(name="judge-canary", cache_policy=NO_CACHE)(steps.evaluate)
record = task(name="record-canary-verdict", cache_policy=NO_CACHE, **RETRY)(steps.record)
# No retries: it moves aliases (see flows/shadow.py).
act = task(name="rollback-or-complete", cache_policy=NO_CACHE)(steps.act)


@flow(name="canary-evaluation")
def canary_evaluation(apply: bool = True) -> dict[str, Any]:
    """Judge the running canary now; `apply=False` records the verdict without moving aliases."""
    settings = get_settings()
    logger = get_run_logger()
    contract = load_contract(settings.contract_file)
    client = steps.connect(settings)
    name = settings.mlflow.registered_model_name
    recover(client, name)  # an alias move killed midway is settled first
    settled = steps.settle(client, name)
    if settled:
        logger.info(settled)
    found = steps.state(client, name)
    if not found.running or found.started_at is None:
        logger.info("no canary running: %s", found.as_dict())
        return {"decision": None, "reason": "no canary running", **found.as_dict()}

    now = datetime.now(UTC)
    frame = read_answers(settings, found, now)
    evidence = evaluate(frame, found, contract, settings, now)
    logger.info("canary v%s vs v%s: %s (%s)", found.canary, found.champion, evidence.decision, evidence.reason)
    record(client, evidence, settings)
    create_markdown_artifact(
        key="canary-evaluation", markdown=steps.markdown(evidence), description=f"canary v{found.canary}"
    )
    create_table_artifact(key="canary-guards", table=steps.summary(evidence), description="the canary's guards")
    moved = act(client, evidence, f"canary-evaluation flow run {flow_run.get_name() or 'local'}") if apply else None
    aliases = steps.aliases(client, name)
    alert = None
    if moved is not None and evidence.decision == steps.ROLLBACK:
        alert = alert_rollback(settings, evidence.to_dict(), aliases)
    return {
        "decision": evidence.decision,
        "reason": evidence.reason,
        "applied": moved is not None,
        "alert": alert,
        "aliases": aliases,
        "evidence": evidence.to_dict(),
    }


if __name__ == "__main__":
    canary_evaluation()
