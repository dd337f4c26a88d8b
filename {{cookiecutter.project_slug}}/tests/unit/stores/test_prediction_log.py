"""The prediction log on SQLite and on PostgreSQL: rows, labels, windows, schema version."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from {{ cookiecutter.package_name }}.stores.prediction_log import PredictionLog, PredictionLogError
from {{ cookiecutter.package_name }}.stores.prediction_log_schema import (
    CHALLENGER,
    CHAMPION,
    SCHEMA_VERSION,
    V1_LOGGED_AT_INDEX,
    predictions,
    schema_versions,
    shadow_scores,
)
from {{ cookiecutter.package_name }}.stores.prediction_rows import PredictionBatch, PredictionRow
from {{ cookiecutter.package_name }}.stores.sql import utcnow


def row(request_id: str, role: str = CHAMPION, at: datetime | None = None, **features: object) -> PredictionRow:
    return PredictionRow(
        request_id=request_id,
        role=role,
        logged_at=at or utcnow(),
        occurred_at=at or utcnow(),
        model_name="fraud",
        model_version="3" if role == CHAMPION else "4",
        record_id=f"tx-{request_id}",
        features={"amount": 12.5, "channel": " POS", **features},
        score=0.25 if role == CHAMPION else 0.75,
        decision=role != CHAMPION,
        latency_ms=0.4,
        schema_events=[{"kind": "normalised", "field": "channel"}] if role == CHAMPION else None,
    )


def test_window_returns_rows_with_features_expanded_and_labels_joined(prediction_log: PredictionLog) -> None:
    """A window holds the rows logged in it, features as columns, and the label once feedback joined it."""
    # Given two champion rows, one shadowed by the challenger, and one label
    now = utcnow()
    prediction_log.record([row("a", at=now - timedelta(seconds=2), account_type="business")])
    prediction_log.record([row("b", at=now - timedelta(seconds=1)), row("b", CHALLENGER, at=now)])
    result = prediction_log.add_labels([("a", 1)], source="test")

    # When monitoring reads the last minute, champion and challenger
    frame = prediction_log.window(now - timedelta(minutes=1), now + timedelta(seconds=1), roles=(CHAMPION, CHALLENGER))

    # Then every row is there in time order with its features, events, version and label; the challenger's
    # row carries its own score and version and its champion row's event time, caller's id and events
    assert result.accepted == 1
    assert result.unknown == []
    assert list(frame["request_id"]) == ["a", "b", "b"]
    assert list(frame["role"]) == [CHAMPION, CHAMPION, CHALLENGER]
    assert list(frame["model_version"]) == ["3", "3", "4"]
    assert list(frame["score"]) == [0.25, 0.25, 0.75]
    assert frame["amount"].tolist()[:2] == [12.5, 12.5]
    assert frame["amount"].isna().iloc[2]  # features are the champion row's
    assert frame["channel"].iloc[0] == " POS"  # as received, before normalisation
    assert frame["account_type"].iloc[0] == "business"
    assert frame["account_type"].isna().iloc[1]
    assert frame["occurred_at"].iloc[2] == frame["occurred_at"].iloc[1]
    assert frame["record_id"].iloc[2] == "tx-b"
    assert frame["schema_events"].iloc[0] == [{"kind": "normalised", "field": "channel"}]
    assert frame["schema_events"].iloc[2] == frame["schema_events"].iloc[1]
    assert frame["label"].iloc[0] == 1.0
    assert frame["label"].isna().iloc[1]
    assert list(frame["decision"]) == [False, False, True]


def test_a_batch_is_stored_as_sqlalchemy_stores_its_rows(prediction_log: PredictionLog) -> None:
    """Batches written column by column (the service's SQLite path) hold what SQLAlchemy's insert of their rows does."""
    # Given a champion batch (one record without an event time, one with an unknown field) and its challenger batch
    now = utcnow()
    champion = PredictionBatch(
        role=CHAMPION,
        model_name="fraud",
        model_version="3",
        logged_at=now,
        latency_ms=1.5,
        request_ids=["a", "b"],
        event_times=[now.replace(microsecond=0) - timedelta(hours=1), None],
        record_ids=["t1", None],
        features=[{"amount": 2.5, "channel": " POS"}, {"amount": None, "extra": float("nan")}],
        scores=[0.25, 0.75],
        decisions=[False, True],
        schema_events=[[], [{"kind": "unknown_field", "field": "extra"}]],
    )
    challenger = dataclasses.replace(
        champion, role=CHALLENGER, model_version="4", features=None, decisions=None, probabilities=[[0.25, 0.75]] * 2
    )

    # When the batches go through the log, and their rows, renamed, through SQLAlchemy's inserts
    prediction_log.record_batches([champion, challenger])
    renamed = [{**r, "request_id": f"{r['request_id']}-sa"} for batch in (champion, challenger) for r in batch]
    with prediction_log.engine.begin() as connection:
        connection.execute(predictions.insert(), renamed[:2])
        connection.execute(shadow_scores.insert(), [{c.name: r[c.name] for c in shadow_scores.c} for r in renamed[2:]])

    # Then both are stored alike, value for value as the database holds them (read as text), the
    # champion's rows in predictions and the challenger's in shadow_scores
    kept: dict[str, dict[str, dict[str, object]]] = {}
    with prediction_log.engine.connect() as connection:
        for table in (predictions, shadow_scores):
            as_text = [sa.cast(column, sa.Text).label(column.name) for column in table.c]
            for shape, query in (("raw", sa.select(*as_text)), ("typed", sa.select(table))):
                stored = connection.execute(query).mappings().all()
                assert len(stored) == 4
                by_id = {r["request_id"]: {k: v for k, v in r.items() if k != "request_id"} for r in stored}
                assert by_id["a"] == by_id["a-sa"]
                assert by_id["b"] == by_id["b-sa"]
                kept[f"{table.name} {shape}"] = by_id
    answers, shadow = kept["predictions typed"], kept["shadow_scores typed"]
    assert answers["b"]["occurred_at"] == now
    assert answers["b"]["features"] == {"amount": None, "extra": None}
    assert answers["a"]["schema_events"] is None
    assert shadow["a"] == {
        "logged_at": now,
        "model_name": "fraud",
        "model_version": "4",
        "score": 0.25,
        "decision": None,
        "latency_ms": 1.5,
        "probabilities": [0.25, 0.75],
    }
    assert answers["a"]["probabilities"] is None


def test_window_bounds_and_default_role(prediction_log: PredictionLog) -> None:
    """A window is [start, end) and, unless asked, only the champion's answers."""
    # Given rows an hour ago and now
    now = utcnow()
    prediction_log.record([row("old", at=now - timedelta(hours=1))])
    prediction_log.record([row("new", at=now), row("new", CHALLENGER, at=now)])

    # When reading the last ten minutes with an aware timestamp
    frame = prediction_log.window(datetime.now(UTC) - timedelta(minutes=10), datetime.now(UTC) + timedelta(seconds=5))

    # Then only the recent champion row comes back
    assert list(frame["request_id"]) == ["new"]
    assert list(frame["role"]) == [CHAMPION]


def test_labels_report_unknown_ids_and_replace_earlier_labels(prediction_log: PredictionLog) -> None:
    """Labels for ids the log does not know are reported back; a second label for an id replaces the first."""
    # Given one answered request
    prediction_log.record([row("known")])

    # When labels arrive twice for it, and once for an unknown id
    first = prediction_log.add_labels([("known", 0), ("nope", 1)], source="api")
    second = prediction_log.add_labels([("known", 1)], source="cli")
    frame = prediction_log.window(utcnow() - timedelta(minutes=1), utcnow() + timedelta(seconds=1))

    # Then the unknown id is reported, and the latest label is the one that counts
    assert (first.accepted, first.unknown) == (1, ["nope"])
    assert (second.accepted, second.unknown) == (1, [])
    assert frame["label"].iloc[0] == 1.0


def test_labels_can_join_by_the_callers_own_id(prediction_log: PredictionLog) -> None:
    """Labels keyed by the caller's id (the contract's id column) reach the request that carried it."""
    # Given a request the caller identified as tx-r1
    prediction_log.record([row("r1")])

    # When labels arrive keyed by the caller's id
    result = prediction_log.add_labels([("tx-r1", 1), ("tx-missing", 0)], source="bulk", key="record_id")

    # Then the request is labelled and the unknown caller id reported
    frame = prediction_log.window(utcnow() - timedelta(minutes=1), utcnow() + timedelta(seconds=1))
    assert (result.accepted, result.unknown) == (1, ["tx-missing"])
    assert frame["label"].iloc[0] == 1.0


def test_non_finite_values_in_unknown_fields_are_stored_as_null(prediction_log: PredictionLog) -> None:
    """An unknown field holding NaN (which JSON and PostgreSQL refuse) is logged as null, not lost."""
    # Given a record whose unknown field is NaN
    prediction_log.record([row("nan", extra_ratio=float("nan"))])

    # When it is read back
    frame = prediction_log.window(utcnow() - timedelta(minutes=1), utcnow() + timedelta(seconds=1))

    # Then the row is there and the field is missing rather than a broken JSON document
    assert frame["extra_ratio"].isna().all()
    assert frame["amount"].iloc[0] == 12.5


def test_a_failed_write_names_its_statement_and_keeps_nothing_of_the_transaction(
    prediction_log: PredictionLog,
) -> None:
    """A write that fails in the shadow table says so (not `predictions`), and the answers
    written in the same transaction are rolled back with it."""
    # Given a challenger score already logged for request "a"
    prediction_log.record([row("a"), row("a", CHALLENGER)])

    # When a transaction holds a new answer and a second score for "a"
    with pytest.raises(sa.exc.IntegrityError) as raised:
        prediction_log.record_batches([[row("b")], [row("a", CHALLENGER)]])

    # Then the error names the shadow table's insert, and "b" was not kept
    assert "shadow_scores" in str(raised.value.statement)
    frame = prediction_log.window(utcnow() - timedelta(minutes=1), utcnow() + timedelta(seconds=1))
    assert list(frame["request_id"]) == ["a"]


def test_rejections_keep_the_body_as_received(prediction_log: PredictionLog) -> None:
    """A request refused at the contract check is kept with its body and the reason."""
    # Given a refused request
    prediction_log.record_rejection(
        "/predict", 400, "records[0].amount: Field required", [{"loc": ["amount"]}], {"records": {"channel": "pos"}}
    )

    # When monitoring reads the rejections
    frame = prediction_log.rejection_window(utcnow() - timedelta(minutes=1), utcnow() + timedelta(seconds=1))

    # Then the reason and the body are there
    assert list(frame["status"]) == [400]
    assert frame["body"].iloc[0] == {"records": {"channel": "pos"}}


def test_schema_is_versioned_and_a_newer_log_is_refused(tmp_path: Path) -> None:
    """A new log is stamped with this release's schema version; a log from a newer release is refused."""
    # Given a fresh log
    url = f"sqlite:///{tmp_path / 'p.db'}"
    first = PredictionLog(url)
    assert first.schema_version() == SCHEMA_VERSION

    # When a newer release has stamped it with the next version
    with first.engine.begin() as connection:
        connection.execute(
            schema_versions.insert().values(version=SCHEMA_VERSION + 1, applied_at=utcnow(), description="future")
        )
    first.close()

    # Then opening it again fails with a one-line reason
    with pytest.raises(PredictionLogError, match="newer release"):
        PredictionLog(url)


def test_a_version_1_log_is_migrated_in_place(prediction_log: PredictionLog) -> None:
    """A log written by the first release (schema 1) is upgraded when opened: its rows stay, the index it no
    longer needs is dropped, and the new version is stamped."""
    # Given a log as version 1 left it: a row, the logged_at index, and version 1 as the latest stamp
    prediction_log.record([row("from-v1")])
    table = f'"{prediction_log.db_schema}".predictions' if prediction_log.db_schema else "predictions"
    with prediction_log.engine.begin() as connection:
        connection.exec_driver_sql(f"CREATE INDEX {V1_LOGGED_AT_INDEX} ON {table} (logged_at, role)")
        connection.execute(schema_versions.delete())
        connection.execute(schema_versions.insert().values(version=1, applied_at=utcnow(), description="first schema"))
    assert prediction_log.schema_version() == 1
    prediction_log.close()

    # When the current release opens it
    reopened = PredictionLog(prediction_log.url, db_schema=prediction_log.db_schema)
    try:
        indexes = {
            index["name"]
            for index in sa.inspect(reopened._raw_engine).get_indexes("predictions", schema=reopened.db_schema)
        }
        frame = reopened.window(utcnow() - timedelta(minutes=1), utcnow() + timedelta(seconds=1))
        version = reopened.schema_version()
    finally:
        reopened.close()

    # Then it is at this release's version, without the old index, and the row is still there
    assert version == SCHEMA_VERSION == 4
    assert V1_LOGGED_AT_INDEX not in indexes
    assert list(frame["request_id"]) == ["from-v1"]


def test_a_version_2_log_moves_its_shadow_rows_to_their_own_table(prediction_log: PredictionLog) -> None:
    """Opening a log that version 2 wrote moves the challenger's rows out of `predictions` into `shadow_scores`,
    and a window reads them as before."""
    # Given a log as version 2 left it: a champion row and its challenger row, both in predictions
    now = utcnow()
    with prediction_log.engine.begin() as connection:
        connection.execute(predictions.insert(), [row("r", at=now), {**row("r", CHALLENGER, at=now), "features": None}])
        connection.execute(schema_versions.delete())
        connection.execute(schema_versions.insert().values(version=2, applied_at=utcnow(), description="v2"))
    prediction_log.close()

    # When the current release opens it
    reopened = PredictionLog(prediction_log.url, db_schema=prediction_log.db_schema)
    try:
        with reopened.engine.connect() as connection:
            roles_left = connection.execute(sa.select(predictions.c.role)).scalars().all()
            moved = connection.execute(sa.select(shadow_scores)).mappings().all()
        frame = reopened.window(now - timedelta(minutes=1), now + timedelta(seconds=1), roles=(CHAMPION, CHALLENGER))
        version = reopened.schema_version()
    finally:
        reopened.close()

    # Then predictions holds the champion's row only, the challenger's score is in shadow_scores, and the window
    # pairs them as it did
    assert version == SCHEMA_VERSION
    assert roles_left == [CHAMPION]
    assert [(r["request_id"], r["model_version"], r["score"], r["decision"]) for r in moved] == [("r", "4", 0.75, True)]
    assert list(zip(frame["role"], frame["score"], strict=True)) == [(CHAMPION, 0.25), (CHALLENGER, 0.75)]


def test_reopening_keeps_rows(tmp_path: Path) -> None:
    """Opening an existing log (another worker, a restart) neither recreates nor loses anything."""
    # Given a log with one row
    url = f"sqlite:///{tmp_path / 'p.db'}"
    first = PredictionLog(url)
    first.record([row("kept")])
    first.close()

    # When it is opened again
    second = PredictionLog(url)
    frame = second.window(utcnow() - timedelta(minutes=1), utcnow() + timedelta(seconds=1))
    second.close()

    # Then the row is still there
    assert list(frame["request_id"]) == ["kept"]


def test_unreachable_database_is_a_one_line_error() -> None:
    """A log URL nothing answers at fails with the URL (password hidden) and the reason."""
    # Given a PostgreSQL URL on a closed port with a password
    url = "postgresql+psycopg://user:secret@127.0.0.1:9/nowhere?connect_timeout=2"

    # When the log is opened
    with pytest.raises(PredictionLogError) as raised:
        PredictionLog(url)

    # Then the message names the place without the password
    assert "127.0.0.1:9" in str(raised.value)
    assert "secret" not in str(raised.value)


def test_rejections_count_on_the_day_their_records_belong_to(prediction_log: PredictionLog) -> None:
    """A refusal carrying the records' event time is filed under it, like a served answer."""
    # Given a refusal of records from a past day
    then = datetime(2025, 6, 1, 12, tzinfo=UTC)
    prediction_log.record_rejection("/predict", 400, "bad", [], {"records": []}, occurred_at=then)

    # When that day and today are read
    that_day = prediction_log.rejection_window(then - timedelta(hours=12), then + timedelta(hours=12))
    today = prediction_log.rejection_window(utcnow() - timedelta(minutes=1), utcnow() + timedelta(seconds=1))

    # Then it counts on its own day only
    assert len(that_day) == 1
    assert today.empty


def wal_generation(database: Path) -> int:
    """The checkpoint sequence number in the WAL file's header: SQLite adds one each time it
    starts writing the file from its beginning again."""
    header = Path(f"{database}-wal").read_bytes()[:16]
    return int.from_bytes(header[12:16], "big") if len(header) == 16 else 0


def test_the_sqlite_wal_is_reused_from_its_start_while_writes_continue(tmp_path: Path) -> None:
    """Writes that never pause leave a passive checkpoint no moment to catch up, so SQLite
    would grow the WAL file for as long as traffic lasts; past its limit the checkpointer
    catches up with the writers held back, SQLite starts the file over, and every row stays
    readable."""
    # Given a log whose checkpointer restarts the WAL past 256 KiB
    limit = 256 * 1024
    database = tmp_path / "log.db"
    prediction_log = PredictionLog(f"sqlite:///{database}", checkpoint_every_s=0.01, wal_restart_bytes=limit)
    give_up = time.monotonic() + 60  # a bound on a broken checkpointer, not a timing check
    written, largest = 0, 0
    try:
        # When at least 20,000 rows are committed 20 at a time with no pause, until SQLite has
        # started the WAL over three times
        while (written < 20_000 or wal_generation(database) < 3) and time.monotonic() < give_up:
            prediction_log.record([row(f"{written + i}") for i in range(20)])
            written += 20
            largest = max(largest, prediction_log.wal_bytes())
        generation = wal_generation(database)
        start, end = utcnow() - timedelta(hours=1), utcnow() + timedelta(hours=1)
        stored = len(prediction_log.window(start, end))
        size = database.stat().st_size
    finally:
        prediction_log.close()

    # Then the WAL was started over mid-traffic and stayed within a few times the database it
    # feeds (without the catch-up pass the same writes grew it to ten times the database; with
    # it, smaller than the database on an idle machine and 1.14 times it in a CI run whose other
    # bakes starved the checkpointer thread),
    # and nothing was lost
    assert generation >= 3
    assert largest < 4 * size
    assert stored == written


def test_a_version_3_log_gains_the_class_probabilities(prediction_log: PredictionLog) -> None:
    """Opening a log that version 3 wrote adds the multiclass probabilities to both tables: the
    rows logged before have none, and a multiclass answer and its shadow score keep theirs."""
    # Given a log as version 3 left it: a champion row, no probabilities column, version 3 stamped
    now = utcnow()
    prediction_log.record([row("old", at=now)])
    schema = f'"{prediction_log.db_schema}".' if prediction_log.db_schema else ""
    with prediction_log.engine.begin() as connection:
        for table in ("predictions", "shadow_scores"):
            connection.exec_driver_sql(f"ALTER TABLE {schema}{table} DROP COLUMN probabilities")
        connection.execute(schema_versions.delete())
        connection.execute(schema_versions.insert().values(version=3, applied_at=utcnow(), description="v3"))
    prediction_log.close()

    # When the current release opens it and logs a three-class answer, shadowed
    reopened = PredictionLog(prediction_log.url, db_schema=prediction_log.db_schema)
    try:
        three = [0.2, 0.7, 0.1]
        reopened.record([{**row("new", at=now), "score": 0.7, "decision": None, "probabilities": three}])
        reopened.record([{**row("new", CHALLENGER, at=now), "decision": None, "probabilities": [0.1, 0.8, 0.1]}])
        frame = reopened.window(now - timedelta(minutes=1), now + timedelta(seconds=1), roles=(CHAMPION, CHALLENGER))
        version = reopened.schema_version()
    finally:
        reopened.close()

    # Then the old row has no probabilities and the new rows have theirs, in both tables
    assert version == SCHEMA_VERSION
    found = dict(zip(zip(frame["request_id"], frame["role"], strict=True), frame["probabilities"], strict=True))
    assert found == {("old", CHAMPION): None, ("new", CHAMPION): three, ("new", CHALLENGER): [0.1, 0.8, 0.1]}
