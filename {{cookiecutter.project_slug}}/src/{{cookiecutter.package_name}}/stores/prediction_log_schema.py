"""The prediction log's tables and their migrations.

The answers are in `predictions`: the champion's (role `champion`) and, during a canary, the
canary's (role `canary`, the records it answered instead); the challenger's shadow scores in `shadow_scores`;
labels that arrive later in `labels`; refused requests in `rejections`. A release that changes a
table adds a step to `MIGRATIONS`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from .sql import (
    Migration,
    json_type,
    version_table,
)

if TYPE_CHECKING:
    pass

CHAMPION, CHALLENGER, CANARY = "champion", "challenger", "canary"
# A record the canary was picked for but failed to score: the champion answered it (its version
# and scores), and the canary's guard counts it as the canary's error.
CANARY_FAILED = "canary_failed"
# The roles whose rows are answers the callers got: drift and the labels' join read them all.
ANSWERED = (CHAMPION, CANARY, CANARY_FAILED)


SCHEMA_VERSION = 4


# The columns version 4 added (to both tables).
V4_COLUMNS = ("probabilities",)
# The index version 1 had and version 2 dropped.
V1_LOGGED_AT_INDEX = "ix_predictions_logged_at_role"

metadata = sa.MetaData()


schema_versions = version_table(metadata, "prediction_log_version")


predictions = sa.Table(
    "predictions",
    metadata,
    sa.Column("request_id", sa.String(36), primary_key=True),
    # Always champion since version 3 (challenger rows are in shadow_scores); kept in the key
    # so that the tables need no rebuild.
    sa.Column("role", sa.String(16), primary_key=True),
    sa.Column("logged_at", sa.DateTime, nullable=False),  # UTC, naive: SQLite keeps no zone
    # When the event happened (the record's timestamp, else logged_at): windows are by event
    # time, so late deliveries, backfills and replays land on the day they belong to.
    sa.Column("occurred_at", sa.DateTime, nullable=False),
    sa.Column("model_name", sa.String(200), nullable=False),
    sa.Column("model_version", sa.String(32), nullable=False),
    sa.Column("record_id", sa.String(128), index=True),  # the caller's id column, when sent
    sa.Column("features", json_type(), nullable=False),  # the record as received, unknown fields included
    # Multiclass: the answered (most probable) class's probability; else P(positive) or the prediction.
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("decision", sa.Boolean),  # null for regression and multiclass
    sa.Column("latency_ms", sa.Float, nullable=False),  # contract check + encoding + scoring
    sa.Column("schema_events", json_type(none_as_null=True)),  # SQL NULL when the record was clean
    # Multiclass: every class's probability, in the contract's order (SQL NULL for the other tasks).
    sa.Column("probabilities", json_type(none_as_null=True)),
    sa.Index("ix_predictions_occurred_at_role", "occurred_at", "role"),
)


# The challenger's score for a request the champion answered. Only what the challenger adds:
# on SQLite a row costs per B-tree it enters, and the predictions table has four, so the
# shadow's rows there cost its thread (and the next answer's commit, which waited behind
# them) as much as the champion's own.
shadow_scores = sa.Table(
    "shadow_scores",
    metadata,
    sa.Column("request_id", sa.String(36), primary_key=True),  # the champion's row of the same request
    sa.Column("logged_at", sa.DateTime, nullable=False),
    sa.Column("model_name", sa.String(200), nullable=False),
    sa.Column("model_version", sa.String(32), nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("decision", sa.Boolean),
    sa.Column("latency_ms", sa.Float, nullable=False),
    sa.Column("probabilities", json_type(none_as_null=True)),  # multiclass, as in predictions
)


labels = sa.Table(
    "labels",
    metadata,
    sa.Column("request_id", sa.String(36), primary_key=True),
    sa.Column("label", sa.Float, nullable=False),
    sa.Column("labelled_at", sa.DateTime, nullable=False),
    sa.Column("source", sa.String(200), nullable=False),
)


rejections = sa.Table(
    "rejections",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("received_at", sa.DateTime, nullable=False, index=True),
    sa.Column("occurred_at", sa.DateTime, nullable=False, index=True),  # the body's first timestamp, else received_at
    sa.Column("endpoint", sa.String(64), nullable=False),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("detail", json_type()),
    sa.Column("body", json_type()),  # the request as received, so a fixed upstream can replay it
)


def _drop_logged_at_index(connection: sa.Connection) -> None:
    """v2: no query reads by `logged_at` (windows go by event time), and keeping the index
    cost every logged row an extra B-tree insert. Challenger rows written from v2 on carry
    JSON null as features; the rows already logged stay as they are."""
    schema = (connection.get_execution_options().get("schema_translate_map") or {}).get(None)
    prefix = f'"{schema}".' if schema else ""
    connection.exec_driver_sql(f"DROP INDEX IF EXISTS {prefix}{V1_LOGGED_AT_INDEX}")


def _move_shadow_rows(connection: sa.Connection) -> None:
    """v3: the challenger's rows move from `predictions` to the narrow `shadow_scores` (which
    create_all has just made)."""
    columns = [c.name for c in shadow_scores.columns if c.name not in V4_COLUMNS]  # what a v3 table had
    moved = sa.select(*(predictions.c[name] for name in columns)).where(predictions.c.role == CHALLENGER)
    connection.execute(shadow_scores.insert().from_select(columns, moved))
    connection.execute(predictions.delete().where(predictions.c.role == CHALLENGER))


def _add_probabilities(connection: sa.Connection) -> None:
    """v4: multiclass answers keep every class's probability; older rows have none (NULL)."""
    schema = (connection.get_execution_options().get("schema_translate_map") or {}).get(None)
    prefix = f'"{schema}".' if schema else ""
    kind = json_type().compile(dialect=connection.dialect)
    for table in (predictions, shadow_scores):
        # A log older than v3 got shadow_scores from create_all just now, with the column.
        present = {c["name"] for c in sa.inspect(connection).get_columns(table.name, schema=schema)}
        for name in V4_COLUMNS:
            if name not in present:
                # The names are this module's constants; ALTER TABLE takes no bound parameters.
                connection.exec_driver_sql(f"ALTER TABLE {prefix}{table.name} ADD COLUMN {name} {kind}")


# version -> (description, step run inside the upgrading transaction). Version 1 is the
# first schema, created by create_all; a new release adds its step here and creates the
# new schema directly for a new log.
MIGRATIONS: dict[int, Migration] = {
    2: ("drop the unused logged_at index; challenger rows without features", _drop_logged_at_index),
    3: ("challenger rows move to the narrow shadow_scores table", _move_shadow_rows),
    4: ("multiclass answers keep every class's probability", _add_probabilities),
}
