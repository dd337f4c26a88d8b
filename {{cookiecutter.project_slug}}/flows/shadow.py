"""Shadow evaluation: the challenger against the champion on live, labelled requests.

Reads the requests both models scored from the prediction log, compares them
overall and per segment, records the decision and its evidence on the model
versions and as Prefect artifacts, then promotes, rejects or keeps waiting. The
logic is in `promotion/shadow_steps.py` and `promotion/shadow_statistics.py`.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from {{ cookiecutter.package_name }}.core import transient
from {{ cookiecutter.package_name }}.core.contract import load_contract
from {{ cookiecutter.package_name }}.promotion import shadow_steps as steps
from {{ cookiecutter.package_name }}.promotion.aliases import recover
from {{ cookiecutter.package_name }}.settings import get_settings

# Inputs are data frames and clients: never cache or hash them.
# Reads and the evidence (tags overwritten, one history row per decision) retry a passing fault.
RETRY = transient.TASK_RETRY
read_pairs = task(name="read-paired-requests", cache_policy=NO_CACHE, **RETRY)(steps.read_pairs)
# Pure statistics on data in memory: a retry would fail the same way.
evaluate = task(name="evaluate-challenger", cache_policy=NO_CACHE)(steps.evaluate)
record = task(name="record-evidence", cache_policy=NO_CACHE, **RETRY)(steps.record)
# No retries: it moves aliases. A run killed midway leaves the promotion's intent, which the next
# promotion, rollback, training gate or monitoring run completes or undoes (`promotion.aliases`).
act = task(name="promote-or-reject", cache_policy=NO_CACHE)(steps.act)


@flow(name="shadow-evaluation")
def shadow_evaluation(window_days: int | None = None, apply: bool | None = None) -> dict[str, Any]:
    """Evaluate the challenger now. `window_days` and `apply` override the settings
    (shadow_evaluation.window_days and .auto_promote) for this run."""
    settings = get_settings()
    logger = get_run_logger()
    contract = load_contract(settings.contract_file)
    client = steps.connect(settings)
    recover(client, settings.mlflow.registered_model_name)  # a promotion killed midway is settled first
    models = steps.lineup(client, settings.mlflow.registered_model_name)
    if not models.ready:
        logger.info("nothing to evaluate: champion %s, challenger %s", models.champion, models.challenger)
        return {"decision": None, "reason": "no challenger in shadow", "champion": models.champion}

    start, end = steps.window(settings, days=window_days)
    paired = read_pairs(settings, models, contract, start, end)
    evidence = evaluate(paired, models, contract, settings, start, end)
    logger.info("v%s vs v%s: %s (%s)", models.challenger, models.champion, evidence.decision, evidence.reason)
    record(client, evidence, settings)
    create_markdown_artifact(
        key="shadow-evaluation",
        markdown=steps.markdown(evidence),
        description=f"v{models.challenger} vs v{models.champion}: {evidence.decision}",
    )
    create_table_artifact(
        key="shadow-evaluation-segments",
        table=steps.table_rows(evidence),
        description=f"v{models.challenger} vs v{models.champion}, overall and per segment",
    )
    moved = None
    if settings.shadow_evaluation.auto_promote if apply is None else apply:
        # With canary.enabled, "promote" starts the canary (flows/canary.py judges it).
        moved = act(client, evidence, f"shadow-evaluation flow run {flow_run.get_name() or 'local'}", settings)
    return {
        "decision": evidence.decision,
        "reason": evidence.reason,
        "champion": models.champion,
        "challenger": models.challenger,
        "applied": moved is not None,
        "aliases": steps.aliases(client, models.model_name),
        "evidence": evidence.to_dict(),
    }


if __name__ == "__main__":
    shadow_evaluation()
