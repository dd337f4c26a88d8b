"""Each baked project passes its own checks: lint, types, the lock, and its tests.

The default bake runs everything a newcomer would (`make lint test`), in its own
environment. The other representative bakes run ruff, mypy and the fast tests,
sharing one environment per Python version: their locked dependencies are
identical, only the project package itself changes between them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bake import UV, bake, baked_env, find_python, install, project_python, run
from tests.matrix import (
    ANSWER_TESTS,
    DEFAULT_BAKE_LANE,
    DEMO_OUTCOME_TESTS,
    Combination,
    lane,
    representatives,
    runs_whole_fast_suite,
)

pytestmark = pytest.mark.slow


@DEFAULT_BAKE_LANE
def test_default_bake_passes_lint_lock_contract_and_every_test(default_project: Path) -> None:
    """The default project, exactly as a newcomer runs it: `make install lint test` and friends."""
    # Given the default bake, installed by its `make install` (the fixture)
    make = ["make", f"UV={UV}", f"PYTHON={project_python(default_project)}"]
    # (its whole-demo tests judge `make demo`'s run in tests/test_demo.py instead of running
    # the same 12-minute demo a second time here; the demo's Ctrl-C test still runs here)
    env = baked_env(PYTEST_ADDOPTS=f"--ignore={DEMO_OUTCOME_TESTS}")

    # When its own checks run / Then each passes
    for target in ("lock-check", "contract-check", "lint", "test"):
        run([*make, target], default_project, env)


@pytest.fixture(scope="session")
def shared_environments(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("environments")


@pytest.mark.parametrize(
    "combo", [pytest.param(c, marks=lane(c["python_version"]), id=c.id) for c in representatives()]
)
def test_representative_bake_passes_lint_types_and_fast_tests(
    tmp_path: Path, shared_environments: Path, combo: Combination
) -> None:
    """Every problem type and alert channel bakes a project that lints and type-checks, and
    passes its fast tests: all of them once per problem type and Python version, the tests its
    other answers reach otherwise (CI system, Python, license and names cycled across them)."""
    # Given the bake and an interpreter for its Python version
    python = find_python(combo["python_version"])
    if python is None:
        pytest.skip(f"no Python {combo['python_version']} interpreter on this machine (PATH or pyenv)")
    project = bake(tmp_path, combo.answers)

    # When its environment is synced from the lock and its checks run / Then each passes
    # (bytecode compiled and the dependencies type-checked once per environment: later bakes
    # only swap the project package, and mypy's cache rechecks what changed; 88 s cold, 10 s
    # with the cache of a bake of the other problem type and package name)
    environment = shared_environments / combo["python_version"]
    bin_dir = install(project, python, environment)
    mypy_cache = shared_environments / f"mypy-cache-{combo['python_version']}"
    env = baked_env(UV_PROJECT_ENVIRONMENT=str(environment))
    run([bin_dir / "ruff", "check", "."], project, env)
    run([bin_dir / "ruff", "format", "--check", "."], project, env)
    run([bin_dir / "mypy", "--cache-dir", mypy_cache], project, env)
    tests = [] if runs_whole_fast_suite(combo) else list(ANSWER_TESTS)
    run([bin_dir / "pytest", "-m", "not slow", "-q", "-x", "-p", "no:cacheprovider", *tests], project, env)


# The default bake's long tests run in its own test above; the other problem types' here, one
# bake each, one per lane. Each gets its own .venv (from uv's cache), as a newcomer's: some of
# the long tests run the project's `make` targets, which use it. Their demo (tests/e2e, 11
# to 33 minutes each) is left out: `make test` would pass the hour on a slower machine. Run
# them by hand (`make demo` in a bake of that problem type) after changing a demo scenario.
LONG_SUITES = [("regression", "3.12"), ("multiclass_classification", "3.11")]
# Slow tests whose subject does not change with the problem type (a database or the registry
# going away under the service, fuzzing the HTTP API, malformed files, the deployments on a
# Prefect server, flow runs and the Prefect server killed mid-run, the production backends, the
# operators' metrics, the secrets sweep): the default bake runs them; here they would add more
# than ten minutes per bake to `make test`.
SAME_IN_EVERY_PROBLEM_TYPE = (
    "tests/integration/test_prediction_log_faults.py",
    "tests/integration/test_registry_outage.py",
    "tests/integration/test_service_fuzz.py",
    "tests/integration/test_malformed_files.py",
    "tests/integration/test_deployments.py",
    "tests/integration/test_backends.py",
    "tests/integration/test_service_metrics.py",
    "tests/integration/test_secrets_sweep.py",
    "tests/integration/test_killed_flow_runs.py",
)


@pytest.mark.parametrize(
    ("problem_type", "python_version"),
    [pytest.param(p, v, marks=lane(v), id=p) for p, v in LONG_SUITES],
)
def test_each_problem_type_passes_its_long_tests(tmp_path: Path, problem_type: str, python_version: str) -> None:
    """A regression and a multiclass bake pass their slow tests too: the flows on a live
    Prefect server, the service over HTTP and from a built Bento, PostgreSQL, the label-free
    estimates on shifted data, shadow evaluation and promotion."""
    # Given the bake and its environment
    python = find_python(python_version)
    if python is None:
        pytest.skip(f"no Python {python_version} interpreter on this machine (PATH or pyenv)")
    project = bake(tmp_path, {"problem_type": problem_type, "python_version": python_version})
    bin_dir = install(project, python)

    # When its slow tests run / Then they pass
    ignore = [f"--ignore={path}" for path in ("tests/e2e", *SAME_IN_EVERY_PROBLEM_TYPE)]
    run([bin_dir / "pytest", "-m", "slow", "-q", "-p", "no:cacheprovider", *ignore], project, baked_env())
