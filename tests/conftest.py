"""Baking helpers for the template's tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from cookiecutter.main import cookiecutter

from tests.matrix import TEMPLATE


def bake(output_dir: Path, answers: dict[str, str]) -> Path:
    """Bake the template with `answers` (non-interactive) and return the project folder."""
    return Path(cookiecutter(str(TEMPLATE), no_input=True, extra_context=answers, output_dir=str(output_dir)))


@pytest.fixture(scope="session")
def default_bake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bake(tmp_path_factory.mktemp("default"), {})
