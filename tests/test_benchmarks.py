"""The benchmarks still run against the project the template bakes today.

The template's code and the benchmarks' `run.py` are type-checked by `make lint`; the code
that runs inside a baked project's environment (each `measure.py` and the servers it starts)
imports the baked package, so it is type-checked here, against the default bake's
environment, and run end to end at tiny sizes through its `run.py`. A module renamed in the
package fails these tests (mypy names the import) rather than the next benchmark run.

These tests share the default bake's environment with its own checks (`default_project`,
`DEFAULT_BAKE_LANE`); `fraud_detection` imports that name no module of the template's
package are also caught without a bake, by the fast test at the end.
"""

from __future__ import annotations

import ast
import json
import math
import os
import re
import shutil
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bake import TEMPLATE, baked_env, run
from tests.matrix import DEFAULT_BAKE_LANE
from training.run import STEPS

BENCHMARKS = TEMPLATE / "benchmarks"
# What runs in a baked project's (or Evidently's) environment; the template's mypy config
# excludes exactly these, and the first test checks them against the baked environment.
BAKED_MODULES = (
    "training/measure.py",
    "drift/measure.py",
    "drift/evidently_run.py",
    "serving/measure.py",
    "serving/echo_service.py",
    "scale/measure.py",
    "scale/window_measure.py",
    "reliability/load_measure.py",
)
PACKAGE = TEMPLATE / "{{cookiecutter.project_slug}}" / "src" / "{{cookiecutter.package_name}}"


def run_benchmark(name: str, project: Path, tmp_path: Path, *options: str) -> tuple[dict[str, Any], str]:
    """`benchmarks/NAME/run.py --project PROJECT` (the template's Python, as documented) with
    its build and results in `tmp_path`; the results.json and results.md it wrote."""
    results = tmp_path / "results"
    command: list[str | Path] = [sys.executable, BENCHMARKS / name / "run.py", "--project", project]
    run([*command, "--build-dir", tmp_path / "build", "--results-dir", results, *options], TEMPLATE, dict(os.environ))
    record = json.loads((results / "results.json").read_text(encoding="utf-8"))
    return record, (results / "results.md").read_text(encoding="utf-8")


def numbers(value: Any, path: str = "") -> Iterator[tuple[str, float]]:
    """Every number in a JSON value, with its path (`sizes/40k/flow/flow_seconds`)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from numbers(item, f"{path}/{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from numbers(item, f"{path}/{index}")
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield path, float(value)


def at(record: dict[str, Any], path: str) -> Any:
    value: Any = record
    for key in path.split("/"):
        value = value[int(key)] if isinstance(value, list) else value[key]
    return value


def assert_positive(record: dict[str, Any], *paths: str) -> None:
    for path in paths:
        value = at(record, path)
        assert isinstance(value, int | float), f"{path} = {value!r}"
        assert value > 0, f"{path} = {value!r}"


def assert_stamped(record: dict[str, Any], markdown: str, title: str) -> None:
    """The record every benchmark writes (common.py): stamped, every number finite."""
    assert {"date", "finished", "machine", "template_commit", "command", "load_before", "load_after"} <= set(record)
    assert_positive(record, "machine/logical_cpus", "machine/memory_gib", "total_seconds")
    assert record["environment"]["python"]
    assert [path for path, value in numbers(record) if not math.isfinite(value)] == []
    assert markdown.startswith(f"# {title} benchmark: results\n")
    assert "## Machine" in markdown


@DEFAULT_BAKE_LANE
@pytest.mark.slow
def test_benchmark_code_for_baked_environments_type_checks_against_the_default_bake(
    default_project: Path, tmp_path: Path
) -> None:
    """Each measure.py (and the servers and scripts beside it) passes the baked project's own
    mypy and config, with the baked package and its tests' helpers on the path."""
    # Given a copy of the benchmarks' code (so the baked project's own checks never see it)
    for source in BENCHMARKS.rglob("*.py"):
        copy = tmp_path / source.relative_to(TEMPLATE)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, copy)
    path = os.pathsep.join(str(p) for p in (default_project / "src", default_project, tmp_path / "benchmarks/serving"))

    # When the baked environment's mypy checks it with the project's config (and its cache,
    # warm once the project's `make lint` ran) / Then it finds nothing
    mypy: list[str | Path] = [default_project / ".venv/bin/mypy", "--config-file", default_project / "pyproject.toml"]
    mypy += ["--cache-dir", default_project / ".mypy_cache"]
    files = [f"benchmarks/{module}" for module in BAKED_MODULES]
    run([*mypy, *files], tmp_path, baked_env(MYPYPATH=path))


@DEFAULT_BAKE_LANE
@pytest.mark.slow
def test_training_benchmark_runs_every_measurement_at_40k_rows(default_project: Path, tmp_path: Path) -> None:
    """run.py and every measure.py mode it calls (imports, data, steps, flow, fit threads,
    prediction, category levels) on 40k rows (the fewest that reliably pass the gate)."""
    # Given the default bake's environment / When the benchmark runs at a tiny size
    record, markdown = run_benchmark(
        "training", default_project, tmp_path, "--sizes", "40000", "--reps", "1:20,1000:5", "--levels", "16"
    )

    # Then every measurement is there, timed, and the account is rendered
    assert_stamped(record, markdown, "Training")
    assert_positive(record, "setup/first_import_seconds", "setup/cached_import_seconds", "predict_process_seconds")
    size = record["sizes"]["40k"]
    assert_positive(size, "data_seconds", "steps_process_seconds", "flow_process_seconds", "steps/trees")
    assert_positive(size, "flow/flow_seconds", "flow/server_start_seconds", "flow/peak_rss_mib", "steps/peak_rss_mib")
    for direct, task in STEPS:
        assert_positive(size, f"steps/steps/{direct}/seconds", f"steps/steps/{direct}/peak_rss_mib")
        assert_positive(size, f"flow/tasks/{task}")  # the flow still has the task the table names
    assert [len(t["runs"]) for t in size["fit_threads"]] == [2, 2]
    assert all(run["seconds"] > 0 for t in size["fit_threads"] for run in t["runs"])
    predict = record["predict"]
    assert len(predict["cases"]) == 7 * 2  # seven cases, two batch sizes
    assert all(c["median_us"] > 0 and c["p99_us"] >= c["median_us"] and c["rows_per_s"] > 0 for c in predict["cases"])
    assert predict["max_abs_diff_10k_rows"] < 1e-3
    assert_positive(predict, "control_without_categoricals/batches/0/ort/median_us")
    assert_positive(record, "category_levels/levels/0/ort/median_us", "category_levels/levels/0/lightgbm/median_us")
    for section in ("## End to end", "## Per step", "## fit: LightGBM threads", "## Prediction", "Control:"):
        assert section in markdown


@DEFAULT_BAKE_LANE
@pytest.mark.slow
def test_drift_benchmark_runs_every_tool_and_trial_at_5k_rows(default_project: Path, tmp_path: Path) -> None:
    """run.py and measure.py's data generation, engine, scipy and trials (one per numeric
    family); Evidently's own environment is left out (it needs the network)."""
    # Given the default bake's environment / When the benchmark runs at a tiny size
    options = ("--rows", "5000", "--trials", "4", "--skip-evidently")
    record, markdown = run_benchmark("drift", default_project, tmp_path, *options)

    # Then each tool is timed and flags features, the trials give rates, the account is rendered
    assert_stamped(record, markdown, "Drift")
    assert_positive(record, "engine/seconds_best", "engine/fit_seconds", "engine/window_mib", "scipy/seconds_best")
    assert record["engine"]["flagged"]
    assert record["scipy"]["flagged"]
    assert [len(target) for target in record["targets"]] == [3, 3, 3]
    rates = [value for _, value in numbers(record["trials"]["synthetic"]["undrifted"])]
    assert rates
    assert all(0 <= rate <= 1 for rate in rates)
    assert_positive(record, "trials/seconds", "trials/demo/features")
    assert "## Repeated trials" in markdown


@DEFAULT_BAKE_LANE
@pytest.mark.slow
def test_scale_benchmark_scores_each_size_three_ways(default_project: Path, tmp_path: Path) -> None:
    """run.py and measure.py's data generation, the champion's training and the three scoring
    paths (whole file, streamed, bare onnxruntime) at two tiny sizes, with the targets judged."""
    # Given the default bake's environment / When the benchmark runs at tiny sizes
    options = ("--sizes", "3000", "6000", "--chunk-rows", "1000", "--train-rows", "40000")
    record, markdown = run_benchmark("scale", default_project, tmp_path, *options)

    # Then every path scored every row of both files, with its time and memory, and the targets are judged
    assert_stamped(record, markdown, "Scale")
    for name, rows in (("3k", 3000), ("6k", 6000)):
        for mode in ("whole", "streamed", "onnx"):
            assert record["sizes"][name][mode]["rows"] == rows
            assert_positive(record, f"sizes/{name}/{mode}/seconds", f"sizes/{name}/{mode}/peak_rss_mib")
    assert [len(target) for target in record["targets"]] == [3, 3, 3]
    assert "## Batch scoring of demo data" in markdown


@DEFAULT_BAKE_LANE
@pytest.mark.slow
def test_serving_benchmark_serves_every_scenario_from_three_servers(default_project: Path, tmp_path: Path) -> None:
    """run.py and measure.py with real servers for a moment each: this service's full path,
    `mlflow models serve` and the bare BentoML endpoint, driven by loadgen.py, every scenario
    answered without an error (BentoML's settings study is left out: five more servers)."""
    # Given the default bake's environment / When the benchmark runs briefly
    options = ["--only", "full", "mlflow", "echo", "--rounds", "1", "--duration", "0.5", "--warmup", "0.5"]
    record, markdown = run_benchmark("serving", default_project, tmp_path, *options, "--max-requests", "200")

    # Then each server answered each scenario, and the account is rendered
    assert_stamped(record, markdown, "Serving")
    runs = [r for r in record["runs"] if "requests" in r]
    assert sorted((r["server"], r["records_per_request"], r["connections"]) for r in runs) == sorted(
        (server, batch, connections)
        for server in ("full", "mlflow", "echo")
        for batch, connections in ((1, 1), (1, 16), (100, 1), (100, 16))
    )
    for r in runs:
        assert r["errors"] == 0, r
        assert_positive(r, "requests", "requests_per_s", "p50_ms", "server_cpu_ms_per_request")
        assert r["p99_ms"] >= r["p50_ms"]
    shadow = next(r["shadow"] for r in record["runs"] if r.get("shadow"))
    assert shadow["completed"] > 0
    assert shadow["failed"] == 0
    assert "## Headline" in markdown
    assert "`mlflow models serve --env-manager local`" in markdown


# --- without a bake --------------------------------------------------------------------------------------


def package_module(module: str) -> Path | None:
    """The template's file for `fraud_detection.<...>` (module or package), or None."""
    parts = module.split(".")[1:]
    base = PACKAGE.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def top_level_names(source: Path) -> set[str]:
    """What a module defines or imports at its top level (its importable names)."""
    names: set[str] = set()
    for node in ast.parse(source.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names |= {alias.asname or alias.name.split(".")[0] for alias in node.names}
    return names


def missing_imports(source: Path) -> list[str]:
    """`fraud_detection` imports in `source` that name no module or name of the template's package."""
    missing = []
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        wanted: list[tuple[str, str | None]]
        if isinstance(node, ast.Import):
            wanted = [(alias.name, None) for alias in node.names if alias.name.startswith("fraud_detection")]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("fraud_detection"):
            wanted = [(str(node.module), alias.name) for alias in node.names]
        else:
            continue
        for module, name in wanted:
            found = package_module(module)
            if found is None:
                missing.append(f"{source.name}:{node.lineno}: no module {module}")
            elif name and name not in top_level_names(found) and package_module(f"{module}.{name}") is None:
                missing.append(f"{source.name}:{node.lineno}: {module} has no {name}")
    return missing


@pytest.mark.parametrize("module", BAKED_MODULES)
def test_benchmark_imports_name_modules_the_package_has(module: str) -> None:
    """A module or name renamed in the package shows up here in a second, before any bake."""
    # Given a benchmark module that runs in a baked environment / When its package imports
    # are looked up in the template's package / Then each is found
    assert missing_imports(BENCHMARKS / module) == []


def test_the_checks_cover_every_benchmark_module() -> None:
    """Every benchmark module is type-checked in one environment or the other: the template's
    mypy config excludes exactly the modules checked against the baked environment."""
    # Given the template's mypy exclusion / When matched against every benchmark module
    config = tomllib.loads((TEMPLATE / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
    modules = sorted(str(p.relative_to(BENCHMARKS)) for p in BENCHMARKS.rglob("*.py"))
    excluded = [m for m in modules if any(re.search(e, f"benchmarks/{m}") for e in config["exclude"])]

    # Then the excluded ones are those the baked check runs, and benchmarks/ is checked
    assert sorted(excluded) == sorted(BAKED_MODULES)
    assert "benchmarks" in config["files"]
