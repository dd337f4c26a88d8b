"""The test PostgreSQL server (TEST_POSTGRES_URL): a skip that says why when none answers,
and schemas and databases of a test's own, dropped afterwards."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def postgres_or_skip() -> str:
    """The test server's URL, or a skip that says why (no server answering there)."""
    engine = sa.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("select 1"))
    except sa.exc.OperationalError as err:
        pytest.skip(f"no PostgreSQL answers at TEST_POSTGRES_URL ({POSTGRES_URL}): {str(err).splitlines()[0]}")
    finally:
        engine.dispose()
    return POSTGRES_URL


@contextmanager
def scratch_schema(prefix: str) -> Iterator[tuple[str, str]]:
    """(url, schema): a schema name no other test uses; the schema is dropped afterwards."""
    url = postgres_or_skip()
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        yield url, schema
    finally:
        engine = sa.create_engine(url)
        with engine.begin() as connection:
            connection.execute(sa.text(f'drop schema if exists "{schema}" cascade'))
        engine.dispose()


@contextmanager
def scratch_database(prefix: str) -> Iterator[str]:
    """The URL of a new database on the test server, dropped afterwards (for stores, such as
    MLflow's, that take a database rather than a schema)."""
    url = postgres_or_skip()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'create database "{name}"'))
        try:
            yield str(sa.make_url(url).set(database=name).render_as_string(hide_password=False))
        finally:
            with admin.connect() as connection:
                connection.execute(sa.text(f'drop database if exists "{name}" with (force)'))
    finally:
        admin.dispose()
