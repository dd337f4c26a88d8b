"""Which flow steps Prefect retries: the idempotent ones (reads, the history's upsert, alerts the
cooldown deduplicates, reports and evidence overwritten), on transient errors, with backoff; never
a step that registers a version, moves an alias or asks for retraining."""

from __future__ import annotations

from types import ModuleType

from flows import monitoring, scoring, shadow, training
from prefect import Task

from {{ cookiecutter.package_name }}.core import transient

RETRIED = {
    "read-prediction-log",
    "load-reference-profile",
    "store-history",
    "check-retraining-rules",
    "send-alerts",
    "write-report",
    "load-training-data",
    "read-fresh-labelled-rows",
    "load-partitions",
    "write-model-card",
    "read-paired-requests",
    "record-evidence",
    "score-file",
}
NEVER_RETRIED = {"log-to-mlflow", "gate-and-alias", "replay-challenger", "promote-or-reject", "request-retraining"}


def tasks(*modules: ModuleType) -> dict[str, Task[..., object]]:
    return {value.name: value for module in modules for value in vars(module).values() if isinstance(value, Task)}


def test_idempotent_steps_retry_transient_faults_and_moves_never_retry() -> None:
    """Read from the flows' own task objects: each idempotent step declares retries with backoff,
    only for transient errors; registering, alias moves and the retraining request declare none."""
    # Given the tasks of every flow
    found = tasks(monitoring, training, shadow, scoring)

    # Then the idempotent ones retry with backoff on transient errors only
    assert set(found) >= RETRIED, RETRIED - set(found)
    for name in RETRIED:
        step = found[name]
        assert step.retries == transient.RETRIES, name
        assert step.retry_delay_seconds == transient.RETRY_DELAYS_S, name
        assert step.retry_condition_fn is transient.retry_transient, name
    # And the non-idempotent ones do not retry at all
    for name in NEVER_RETRIED:
        assert found[name].retries == 0, name
