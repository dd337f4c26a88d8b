"""What the project's SQL stores share: engines for SQLite (WAL) and PostgreSQL, a JSON column
type, versioned schemas that a later release can migrate, and `SqlStore`, the base of both.

The prediction log and the monitoring history are two stores in one database; each keeps
its own version table, created and migrated by `prepare_schema` when the store is opened.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from ..errors import ProjectError

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)
Migration = tuple[str, Callable[[sa.Connection], None]]  # description, step run inside the upgrade


def utcnow() -> datetime:
    """Now in UTC, naive: SQLite keeps no time zone, so every stored time is naive UTC."""
    return datetime.now(UTC).replace(tzinfo=None)


def naive_utc(moment: datetime) -> datetime:
    """A moment as the stores keep it: UTC without a zone (a naive moment is taken as UTC)."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


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


def upsert(connection: sa.Connection, table: sa.Table, rows: list[dict[str, Any]], keys: list[str]) -> None:
    """Insert `rows`, replacing the rows with the same `keys`, in the caller's transaction."""
    dialect = connection.dialect.name
    if dialect in ("postgresql", "sqlite"):
        statement = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
        connection.execute(
            statement.on_conflict_do_update(
                index_elements=keys,
                set_={c.name: statement.excluded[c.name] for c in table.columns if c.name not in keys},
            ),
            rows,
        )
    else:  # other databases: delete then insert
        for row in rows:
            connection.execute(table.delete().where(*(table.c[k] == row[k] for k in keys)))
        connection.execute(table.insert(), rows)


class SqlStore:
    """One store's tables in one database: opened with its schema created or migrated, and
    refused (with `error`) when unreachable or written by a newer release.

    A subclass names its tables and their versions in the class attributes below. On
    PostgreSQL the tables live in `db_schema` (created when missing) when one is given.
    """

    what: ClassVar[str]  # the store's name in messages, e.g. "prediction log"
    metadata: ClassVar[sa.MetaData]
    versions: ClassVar[sa.Table]
    version: ClassVar[int]
    migrations: ClassVar[Mapping[int, Migration]]
    error: ClassVar[type[ProjectError]]

    def __init__(
        self, url: str, *, db_schema: str | None = None, sqlite_pragmas: Mapping[str, str] | None = None
    ) -> None:
        self.url = url
        self.db_schema = db_schema
        engine = create_engine(url, sqlite_pragmas)
        self._raw_engine = engine
        self.engine: sa.Engine = (
            engine.execution_options(schema_translate_map={None: db_schema}) if db_schema else engine
        )
        try:
            prepare_schema(
                engine=self.engine,
                raw_engine=engine,
                db_schema=db_schema,
                metadata=self.metadata,
                versions=self.versions,
                version=self.version,
                migrations=self.migrations,
                what=self.what,
                url=url,
                error=self.error,
            )
        except sa.exc.SQLAlchemyError as err:
            engine.dispose()
            raise self.error(f"cannot open the {self.what} at {display_url(url)}: {str(err).splitlines()[0]}") from None

    @property
    def display_url(self) -> str:
        """The URL without its password, for messages and /metadata."""
        return display_url(self.url)

    def schema_version(self) -> int:
        return schema_version(self.engine, self.versions)

    def check_writable(self) -> None:
        """Raise the database's error unless a write can start now: a delete of no row takes
        the write lock (SQLite refuses it on a read-only or unreachable file, PostgreSQL in a
        read-only transaction or when it is down) and changes nothing."""
        with self.engine.begin() as connection:
            connection.execute(self.versions.delete().where(sa.false()))

    def close(self) -> None:
        self._raw_engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _frame(self, statement: sa.Select[Any]) -> pd.DataFrame:
        import pandas as pd

        with self.engine.connect() as connection:
            result = connection.execute(statement)
            columns = [str(k) for k in list(result.keys())]
            records = [{str(k): v for k, v in row.items()} for row in result.mappings()]
        return pd.DataFrame.from_records(records, columns=columns)
