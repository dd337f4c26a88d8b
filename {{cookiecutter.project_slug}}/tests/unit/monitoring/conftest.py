"""Fixtures the monitoring tests share (`settings` comes from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.stores.monitoring_history import History


@pytest.fixture
def history(settings: Settings) -> Iterator[History]:
    """The monitoring history beside the test's settings, closed after the test."""
    opened = History.from_settings(settings)
    yield opened
    opened.close()
