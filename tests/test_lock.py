"""The baked project's lock installs from wheels on every Python the template offers.

The baked project's own tests check that the lock holds one version of each package (no fork
by Python version); this checks the other half of "the same lock on 3.11, 3.12 and 3.13": a
package with no wheel for one of them would be compiled from its source on that Python, in CI
and in the container, where the other versions install a tested binary.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlparse

import pytest
from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import parse_wheel_filename

from bake import TEMPLATE
from tests.matrix import CHOICES

LOCK = TEMPLATE / "{{cookiecutter.project_slug}}" / "uv.lock"
# Linux x86_64 with glibc up to Debian bookworm's 2.36 (the CI and container images are newer).
LINUX = [f"manylinux_2_{minor}_x86_64" for minor in range(36, 4, -1)] + [
    "manylinux2014_x86_64",
    "manylinux2010_x86_64",
    "manylinux1_x86_64",
    "linux_x86_64",
]


def supported_tags(version: str) -> set[Tag]:
    """The wheel tags CPython `version` ("3.13") installs on Linux x86_64."""
    numbers = tuple(int(part) for part in version.split("."))
    interpreter = f"cp{numbers[0]}{numbers[1]}"
    return {
        *cpython_tags(python_version=numbers, platforms=LINUX),
        *compatible_tags(python_version=numbers, interpreter=interpreter, platforms=LINUX),
    }


def wheel_tags(package: dict[str, Any]) -> Iterable[frozenset[Tag]]:
    for wheel in package.get("wheels", []):
        filename = wheel.get("filename") or urlparse(wheel["url"]).path.rsplit("/", 1)[-1]
        yield parse_wheel_filename(filename)[3]


def packages_without_wheel(version: str) -> list[str]:
    """The lock's packages that CPython `version` on Linux would build from source; packages
    with no Linux wheel for any Python and no source (pywin32) are not installed there at all."""
    every_linux_tag = set().union(*(supported_tags(v) for v in CHOICES["python_version"]))
    tags = supported_tags(version)
    missing = []
    for package in tomllib.loads(LOCK.read_text(encoding="utf-8"))["package"]:
        wheels = list(wheel_tags(package))
        from_index = "registry" in package["source"]  # the project itself is built, as it must be
        installed_on_linux = "sdist" in package or any(w & every_linux_tag for w in wheels)
        if from_index and installed_on_linux and not any(w & tags for w in wheels):
            missing.append(f"{package['name']} {package['version']}")
    return missing


@pytest.mark.parametrize("version", CHOICES["python_version"])
def test_every_locked_package_has_a_linux_wheel_for_each_offered_python(version: str) -> None:
    """Each package the baked lock pins has a Linux x86_64 wheel for every `python_version`
    choice, so no offered Python compiles a dependency the others install ready-made."""
    # Given the baked project's lock and an offered Python
    # When its packages' wheels are matched against what that CPython installs on Linux
    missing = packages_without_wheel(version)

    # Then every package has one
    assert missing == [], f"no wheel for Python {version} on Linux x86_64 (would build from source): {missing}"
