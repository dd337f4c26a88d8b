"""Fixtures shared by the template's tests. Baking and installing go through `scripts/bake.py`
(on the path through pytest's `pythonpath`), the helper `make bake`, `make demo` and the
benchmarks use too."""

from __future__ import annotations

from pathlib import Path

import pytest

from bake import bake, install


@pytest.fixture(scope="session")
def default_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default bake with its own `.venv` (`make install`), made once per process.

    The default bake's own checks and the benchmarks' smoke tests share it: both run in
    `DEFAULT_BAKE_LANE`, so one worker bakes and installs it once."""
    project = bake(tmp_path_factory.mktemp("default"), {})
    install(project)
    return project
