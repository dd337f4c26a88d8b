"""Which failures the flows retry: lost connections and databases that went away, however deep
MLflow or SQLAlchemy wrapped them; never a clear error of the project's own."""

from __future__ import annotations

import sqlalchemy as sa

from {{ cookiecutter.package_name }}.core.transient import is_transient
from {{ cookiecutter.package_name }}.errors import ProjectError


def wrapped(cause: BaseException) -> RuntimeError:
    """`cause` raised again as a library would: `raise RuntimeError(...) from cause`."""
    try:
        try:
            raise cause
        except BaseException as err:
            raise RuntimeError("API request failed") from err
    except RuntimeError as outer:
        return outer


def test_lost_connections_and_gone_databases_are_transient_other_errors_are_not() -> None:
    """A refused connection (also wrapped), a timeout and SQLAlchemy's OperationalError are worth
    a retry; a malformed input, a failed check or a bug fail the same way every time."""
    # Given the errors a flow step can end with
    gone = sa.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    # When each is judged / Then only the passing faults are transient
    assert is_transient(ConnectionRefusedError(111, "Connection refused"))
    assert is_transient(wrapped(ConnectionResetError()))
    assert is_transient(TimeoutError())
    assert is_transient(wrapped(gone))
    assert not is_transient(ProjectError("data/train.csv: not a CSV file"))
    assert not is_transient(ValueError("a bug"))
    assert not is_transient(FileNotFoundError("data/train.csv"))
