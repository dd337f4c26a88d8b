"""The service's container requirements stay in step with the lock file."""

from __future__ import annotations

import re
import tomllib
from collections import Counter
from importlib import metadata

from tests.support.project import PROJECT_ROOT

REQUIREMENTS = PROJECT_ROOT / "services" / "requirements.txt"


def pins() -> dict[str, str]:
    found = {}
    for raw in REQUIREMENTS.read_text().splitlines():
        line = raw.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            found[re.sub(r"\[.*\]", "", name)] = version
    return found


def test_service_requirements_pin_the_locked_versions() -> None:
    """services/requirements.txt (what `bentoml build` puts in the container) pins each package
    at the version this environment, installed from uv.lock, runs the tests with."""
    # Given the pins; When each is compared with the installed version
    stale = {
        name: (pinned, metadata.version(name)) for name, pinned in pins().items() if metadata.version(name) != pinned
    }

    # Then none differs (after a relock, copy the new versions into services/requirements.txt)
    assert stale == {}


def test_service_requirements_leave_out_the_training_stack() -> None:
    """The serving image gets onnxruntime, not LightGBM, Prefect or Great Expectations."""
    # Given the pins; Then the runtime is there and the training libraries are not
    names = set(pins())
    assert {"bentoml", "onnxruntime", "mlflow", "sqlalchemy"} <= names
    assert names.isdisjoint({"lightgbm", "prefect", "great-expectations", "onnxmltools"})


def test_every_package_is_locked_at_one_version_for_every_python() -> None:
    """uv.lock gives each package one version, so a 3.11, 3.12 or 3.13 project (and the
    container pinned from services/requirements.txt) run the same code; a release that
    drops a supported Python is capped in pyproject's constraint-dependencies instead."""
    # Given the lock
    packages = tomllib.loads((PROJECT_ROOT / "uv.lock").read_text(encoding="utf-8"))["package"]

    # When the versions of each package are counted
    versions = Counter(package["name"] for package in packages)

    # Then no package forks by Python version
    assert {name: count for name, count in versions.items() if count > 1} == {}
