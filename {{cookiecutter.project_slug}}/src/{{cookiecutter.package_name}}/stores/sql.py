"""What the project's SQL stores share: engines for SQLite (WAL) and PostgreSQL, a JSON column
type, and versioned schemas that a later release can migrate.

The prediction log and the monitoring history are two stores in one database; each keeps
its own version table, created and migrated by `prepare_schema`.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from ..errors import ProjectError

log = logging.getLogger(__name__)
Migration = tuple[str, Callable[[sa.Connection], None]]  # description, step run inside the upgrade


def utcnow() -> datetime:
    """Now in UTC, naive: SQLite keeps no time zone, so every stored time is naive UTC."""
    return datetime.now(UTC).replace(tzinfo=None)


def json_type(*, none_as_null: bool = False) -> sa.types.TypeEngine[Any]:
    """JSON (JSONB on PostgreSQL). `none_as_null`: Python's None is stored as SQL NULL rather
    than as JSON's null."""
    return sa.JSON(none_as_null=none_as_null).with_variant(postgresql.JSONB(none_as_null=none_as_null), "postgresql")


def finite(value: Any) -> Any:
    """JSON has no NaN or infinity (PostgreSQL refuses them): such values become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


def dumps(value: Any) -> str:
    """Compact JSON, with null for NaN and infinity. orjson writes the prediction log's
    features about 10x faster than the standard library (on the service's hot path); what
    it refuses (an integer beyond 64 bits, a key that is not a string) goes the slow way."""
    try:
        return orjson.dumps(value).decode()  # NaN and infinity become null, as `finite` makes them
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(finite(value), allow_nan=False, separators=(",", ":"))


def display_url(url: str) -> str:
    """The URL without its password, for logs, errors and /metadata."""
    return sa.engine.make_url(url).render_as_string(hide_password=True)


def create_engine(url: str, sqlite_pragmas: Mapping[str, str] | None = None) -> sa.Engine:
    """An engine for `url`. SQLite files are created with their folder and opened in WAL mode
    (readers never block writers), with `sqlite_pragmas` set on every connection."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(parsed, json_serializer=dumps, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    # timeout: writers from several processes wait for each other instead of failing.
    engine = sa.create_engine(parsed, json_serializer=dumps, connect_args={"timeout": 30})
    pragmas = {"journal_mode": "WAL", **(sqlite_pragmas or {})}

    @sa.event.listens_for(engine, "connect")
    def _pragmas(connection: Any, _record: Any) -> None:
        cursor = connection.cursor()
        for name, value in pragmas.items():
            cursor.execute(f"PRAGMA {name}={value}")
        cursor.close()

    return engine


def version_table(metadata: sa.MetaData, name: str) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("applied_at", sa.DateTime, nullable=False),
        sa.Column("description", sa.String(200), nullable=False),
    )


def _stamp(connection: sa.Connection, versions: sa.Table, version: int, description: str) -> None:
    exists = connection.execute(sa.select(versions.c.version).where(versions.c.version == version)).first()
    if exists is None:
        connection.execute(versions.insert().values(version=version, applied_at=utcnow(), description=description))


def prepare_schema(
    *,
    engine: sa.Engine,
    raw_engine: sa.Engine,
    db_schema: str | None,
    metadata: sa.MetaData,
    versions: sa.Table,
    version: int,
    migrations: Mapping[int, Migration],
    what: str,
    url: str,
    error: type[ProjectError],
) -> None:
    """Create the store's tables (in `db_schema` on PostgreSQL), stamp a new store with
    `version`, migrate an older one step by step, and refuse one written by a newer release."""
    if db_schema and engine.dialect.name == "postgresql":
        with raw_engine.begin() as connection:
            connection.execute(sa.schema.CreateSchema(db_schema, if_not_exists=True))
    try:
        metadata.create_all(engine)
    except sa.exc.DBAPIError:  # another process created the tables between our check and our CREATE
        metadata.create_all(engine)
    with engine.begin() as connection:
        found = connection.execute(sa.select(sa.func.max(versions.c.version))).scalar()
        if found is None:
            _stamp(connection, versions, version, "first schema")
            return
        if found > version:
            raise error(
                f"the {what} at {display_url(url)} has schema version {found}, written by a newer release; "
                f"this release knows version {version} and will not write to it"
            )
        for step_version in range(found + 1, version + 1):
            description, step = migrations[step_version]
            step(connection)
            _stamp(connection, versions, step_version, description)
            log.info("%s migrated to schema version %d: %s", what, step_version, description)


def schema_version(engine: sa.Engine, versions: sa.Table) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.select(sa.func.max(versions.c.version))).scalar_one())


# Keeps IN (...) lists and multi-row statements under every driver's parameter limit.
CHUNK = 500


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
