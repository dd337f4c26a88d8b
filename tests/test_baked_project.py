"""Each baked project passes its own checks: lint, types, the lock, and its tests.

The default bake runs everything a newcomer would (`make lint test`), in its own
environment. The other representative bakes run ruff, mypy and the fast tests,
sharing one environment per Python version: their locked dependencies are
identical, only the project package itself changes between them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import bake
from tests.matrix import DEFAULT_BAKE_LANE, Combination, lane, representatives

UV = str(Path(sys.executable).with_name("uv"))
pytestmark = pytest.mark.slow


def find_python(version: str) -> str | None:
    """An interpreter for `version`: on PATH, or installed by pyenv beside the current one."""
    candidates = [shutil.which(f"python{version}")]
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates += sorted(str(p) for p in pyenv_root.glob(f"versions/{version}.*/bin/python{version}"))
    for candidate in candidates:
        if candidate and subprocess.run([candidate, "--version"], capture_output=True, check=False).returncode == 0:
            return candidate
    return None


def clean_env(**extra: str) -> dict[str, str]:
    """The environment a baked project's commands see: not the template's virtualenv."""
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH", "UV_PROJECT_ENVIRONMENT"}}
    return {**env, "UV_PYTHON_DOWNLOADS": "never", **extra}


def check(command: list[str], cwd: Path, env: dict[str, str], timeout: int = 3600) -> None:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    output = (result.stdout + result.stderr)[-6000:]
    assert result.returncode == 0, f"`{' '.join(command)}` failed in {cwd}:\n{output}"


@DEFAULT_BAKE_LANE
def test_default_bake_passes_lint_lock_contract_and_every_test(default_bake: Path) -> None:
    """The default project, exactly as a newcomer runs it: `make lint test` and friends."""
    # Given the default bake and a Python 3.11+
    python = find_python("3.11") or sys.executable
    env = clean_env()
    make = ["make", f"UV={UV}", f"PYTHON={python}"]

    # When its own checks run / Then each passes
    check([*make, "install"], default_bake, env)
    check([*make, "lock-check"], default_bake, env)
    check([*make, "contract-check"], default_bake, env)
    check([*make, "lint"], default_bake, env)
    check([*make, "test"], default_bake, env)


@pytest.fixture(scope="session")
def shared_environments(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("environments")


@pytest.mark.parametrize(
    "combo", [pytest.param(c, marks=lane(c["python_version"]), id=c.id) for c in representatives()]
)
def test_representative_bake_passes_lint_types_and_fast_tests(
    tmp_path: Path, shared_environments: Path, combo: Combination
) -> None:
    """Every problem type and alert channel bakes a project that lints, type-checks and
    passes its fast tests (CI system, Python, license and names cycled across them)."""
    # Given the bake and an interpreter for its Python version
    python = find_python(combo["python_version"])
    if python is None:
        pytest.skip(f"no Python {combo['python_version']} interpreter on this machine (PATH or pyenv)")
    project = bake(tmp_path, combo.answers)
    environment = shared_environments / combo["python_version"]
    env = clean_env(UV_PROJECT_ENVIRONMENT=str(environment))
    bin_dir = environment / "bin"

    # When its environment is synced from the lock and its checks run / Then each passes
    # (bytecode compiled and the dependencies type-checked once per environment: later bakes
    # only swap the project package, and mypy's cache rechecks what changed; 88 s cold, 10 s
    # with the cache of a bake of the other problem type and package name)
    compile_bytecode = [] if environment.exists() else ["--compile-bytecode"]
    mypy_cache = shared_environments / f"mypy-cache-{combo['python_version']}"
    check([UV, "sync", "--frozen", *compile_bytecode, "--python", python], project, env)
    check([str(bin_dir / "ruff"), "check", "."], project, env)
    check([str(bin_dir / "ruff"), "format", "--check", "."], project, env)
    check([str(bin_dir / "mypy"), "--cache-dir", str(mypy_cache)], project, env)
    check([str(bin_dir / "pytest"), "-m", "not slow", "-q", "-x", "-p", "no:cacheprovider"], project, env)
