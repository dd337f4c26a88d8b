"""The prediction log on each database the project supports, for the tests of what writes it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.stores.prediction_log import PredictionLog
from tests.support.postgres import scratch_schema


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def prediction_log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PredictionLog]:
    """An empty log on SQLite, or in a PostgreSQL schema of this test's own (dropped afterwards)."""
    if request.param == "sqlite":
        opened = PredictionLog(f"sqlite:///{tmp_path / 'predictions.db'}")
        yield opened
        opened.close()
        return
    with scratch_schema("predlog") as (url, schema):
        opened = PredictionLog(url, db_schema=schema)
        yield opened
        opened.close()
