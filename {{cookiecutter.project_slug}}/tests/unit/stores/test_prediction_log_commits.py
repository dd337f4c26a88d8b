"""How the prediction log's writes fail, and how a refused request's rows are taken out again:
a failure during COMMIT is in doubt (the rows may be there), one before it leaves nothing, and
`forget` deletes answers in the transaction of the next rows."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from {{ cookiecutter.package_name }}.stores.prediction_log import CommitInDoubt, PredictionLog
from {{ cookiecutter.package_name }}.stores.prediction_log_schema import CHALLENGER, CHAMPION, predictions, shadow_scores
from {{ cookiecutter.package_name }}.stores.prediction_rows import PredictionRow
from {{ cookiecutter.package_name }}.stores.sql import utcnow
from tests.support.postgres import scratch_schema


def row(request_id: str, role: str = CHAMPION) -> PredictionRow:
    now = utcnow()
    return PredictionRow(
        request_id=request_id,
        role=role,
        logged_at=now,
        occurred_at=now,
        model_name="fraud",
        model_version="1",
        record_id=f"record-{request_id}",
        features={"amount": 1.0} if role == CHAMPION else None,
        score=0.5,
        decision=False,
        latency_ms=0.1,
        schema_events=None,
    )


def ids(prediction_log: PredictionLog, table: sa.Table) -> set[str]:
    with prediction_log.engine.connect() as connection:
        return {str(found) for found in connection.execute(sa.select(table.c.request_id)).scalars()}


def test_forget_deletes_those_answers_in_the_transaction_of_the_next_rows(prediction_log: PredictionLog) -> None:
    """`forget` removes the champion rows of the given request ids (ids the log does not hold
    are ignored) while the new rows are written, and leaves every other row, shadow scores
    included."""
    # Given two answered requests, one with a shadow score
    prediction_log.record_batches([[row("kept"), row("refused")], [row("kept", CHALLENGER)]])

    # When the next rows are written, forgetting the refused request and one never logged
    prediction_log.record_batches([[row("next")]], forget={"refused", "never-logged"})
    # and then with nothing to write but something to forget
    prediction_log.record_batches([], forget={"next"})

    # Then only the kept request's rows remain
    assert ids(prediction_log, predictions) == {"kept"}
    assert ids(prediction_log, shadow_scores) == {"kept"}


@pytest.mark.postgres
def test_on_postgresql_a_failure_during_commit_is_in_doubt_and_one_before_it_is_not() -> None:
    """The connection lost at COMMIT raises CommitInDoubt (the service cannot know whether the
    server committed); a statement the database refuses raises the database's own error, and
    neither leaves the rows behind here (the server never got the COMMIT)."""
    with scratch_schema("predlog_commit") as (url, schema):
        prediction_log = PredictionLog(url, db_schema=schema)
        admin = sa.create_engine(url)
        try:
            prediction_log.record([row("first")])

            # Given a connection whose backend is terminated as it is about to commit
            def terminate(connection: Any) -> None:
                pid = connection.exec_driver_sql("select pg_backend_pid()").scalar_one()
                with admin.connect() as other:
                    other.execute(sa.text("select pg_terminate_backend(:pid)"), {"pid": pid})

            sa.event.listen(prediction_log._raw_engine, "commit", terminate)
            # When a write reaches COMMIT on it
            with pytest.raises(CommitInDoubt) as in_doubt:
                prediction_log.record([row("lost")])
            sa.event.remove(prediction_log._raw_engine, "commit", terminate)
            # And when a write is refused before COMMIT (the same request id again)
            with pytest.raises(sa.exc.IntegrityError) as refused:
                prediction_log.record([row("first")])

            # Then the first is in doubt, the second is the database's own error, and neither wrote a row
            assert "commit failed" in str(in_doubt.value)
            assert not isinstance(refused.value, CommitInDoubt)
            assert ids(prediction_log, predictions) == {"first"}
        finally:
            admin.dispose()
            prediction_log.close()
