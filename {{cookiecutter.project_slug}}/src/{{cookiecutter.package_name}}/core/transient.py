"""Which failures a retry can cure: a connection refused or reset, a timeout, a database
restarting. The flows retry their idempotent steps on these only (`retry_condition_fn`): a
malformed file, a failed check or a bug fails the same way on every try, and retrying it
would only delay the clear error by the whole backoff."""

from __future__ import annotations

from typing import Any

# Backoff of an idempotent flow step: a restarting database or registry is back within minutes.
RETRIES = 3
RETRY_DELAYS_S: list[float] = [10.0, 30.0, 90.0]

# SQLAlchemy's errors for a database that went away, named so that this module imports nothing.
_DATABASE_GONE = {
    ("sqlalchemy.exc", "OperationalError"),
    ("sqlalchemy.exc", "DisconnectionError"),
    ("sqlalchemy.exc", "InterfaceError"),
}


def is_transient(err: BaseException) -> bool:
    """Whether `err`, or an error it was raised from (MLflow and requests wrap the socket's),
    is a lost connection, a timeout or a database that went away."""
    seen: set[int] = set()
    found: BaseException | None = err
    while found is not None and id(found) not in seen:
        seen.add(id(found))
        if isinstance(found, (ConnectionError, TimeoutError)):
            return True
        if any((kind.__module__, kind.__name__) in _DATABASE_GONE for kind in type(found).__mro__):
            return True
        found = found.__cause__ or found.__context__
    return False


def retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect's `retry_condition_fn`: retry a failed task only when its error is transient."""
    try:
        found = state.result(raise_on_failure=False)
    except Exception:  # a result that cannot be read is no evidence of a passing fault
        return False
    return isinstance(found, BaseException) and is_transient(found)


# What a flow gives each idempotent task: `task(..., **transient.TASK_RETRY)`. Steps that move an
# alias or start a run take none (their flows say why).
TASK_RETRY: dict[str, Any] = {
    "retries": RETRIES,
    "retry_delay_seconds": RETRY_DELAYS_S,
    "retry_condition_fn": retry_transient,
}
