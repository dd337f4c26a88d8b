"""The test PostgreSQL server (TEST_POSTGRES_URL): a skip that says why when none answers,
and schemas and databases of a test's own, dropped afterwards. A test that must stop or
kill its database starts a cluster of its own instead (`private_cluster`)."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from {{ cookiecutter.package_name }}.demo.processes import free_port

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


@dataclass
class PrivateCluster:
    """A PostgreSQL cluster of one test's own (`private_cluster`), which the test may stop,
    kill and start again: never the shared test server."""

    directory: Path
    port: int
    binaries: Path

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        """Start the cluster and wait until it accepts connections (after crash recovery, when
        it was killed)."""
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c max_connections=30"
        self._pg_ctl("-w", "-t", "60", "-o", options, "-l", str(self.directory / "server.log"), "start")

    def kill(self) -> None:
        """`pg_ctl -m immediate stop`: every backend quits at once, as in a crash; committed
        work is recovered from the WAL at the next start."""
        self._pg_ctl("-m", "immediate", "stop")

    def _pg_ctl(self, *args: str) -> None:
        command = [*_as_postgres(), str(self.binaries / "pg_ctl"), "-D", str(self.directory / "data"), *args]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            server_log = self.directory / "server.log"
            tail = server_log.read_text(errors="replace")[-2000:] if server_log.exists() else ""
            raise AssertionError(f"pg_ctl {' '.join(args)} failed: {done.stderr.strip()}\n{tail}")


def _postgres_binaries() -> Path | None:
    """The newest installed server's bin folder (Debian keeps them off PATH), or None."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _as_postgres() -> list[str]:
    """initdb and the server refuse to run as root: as root, run them as the postgres user."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


@contextmanager
def private_cluster() -> Iterator[PrivateCluster]:
    """A new PostgreSQL cluster in a temporary folder on a free port, started (trust
    authentication, user postgres), killed and deleted afterwards. Skips, saying why, when
    no `initdb` is installed (or, as root, there is no postgres user to run it)."""
    binaries = _postgres_binaries()
    if binaries is None:
        pytest.skip("no PostgreSQL server binaries (initdb) under /usr/lib/postgresql/*/bin or on PATH")
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no postgres user to run initdb as")
    # Not under pytest's tmp_path: as root, that folder is closed to the postgres user.
    directory = Path(tempfile.mkdtemp(prefix="private-pg-"))
    if os.geteuid() == 0:
        os.chown(directory, owner.pw_uid, owner.pw_gid)
    cluster = PrivateCluster(directory, free_port(), binaries)
    try:
        initdb = [*_as_postgres(), str(binaries / "initdb"), "-D", str(directory / "data"), "-A", "trust"]
        done = subprocess.run([*initdb, "-U", "postgres"], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise AssertionError(f"initdb failed: {done.stderr.strip()}")
        cluster.start()
        yield cluster
    finally:
        with contextlib.suppress(AssertionError):
            cluster.kill()
        shutil.rmtree(directory, ignore_errors=True)
