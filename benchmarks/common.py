"""What every benchmark's `run.py` shares: the baked project it measures, the environment its
measurements run in, the machine description, and the results (results.json + results.md).

A `run.py` runs in the template's environment; it bakes the default project and makes its
environment through `scripts/bake.py` (the helper the template's tests use), then runs its
`measure.py` with the baked project's Python, in `measure_env()`. The run's record starts with
`start_record` (date, machine, template commit, command, load) and is written by
`write_results`, whose results.md opens with `header` and `machine_section`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
# The one bake-and-install helper; what a run.py needs of it, it imports from here.
from bake import DEFAULT_SLUG as DEFAULT_SLUG
from bake import TEMPLATE as TEMPLATE
from bake import UV as UV
from bake import bake as bake
from bake import baked_env, install

BUILD = TEMPLATE / "build"
# Quiet, offline and comparable: no telemetry, no progress bars, no git probing by MLflow.
QUIET_ENV = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "GIT_PYTHON_REFRESH": "quiet",
    "BENTOML_DO_NOT_TRACK": "true",
}
Record = dict[str, Any]


def log(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", flush=True)


# --- the project measured, and the environment of its measurements -----------------------------------


def add_project_arguments(parser: argparse.ArgumentParser, build_dir: Path, results_dir: Path) -> None:
    """The options every run.py takes: where to bake, or which installed bake to measure, and
    where the results go."""
    parser.add_argument("--build-dir", type=Path, default=build_dir, help="where to bake (and work)")
    parser.add_argument("--results-dir", type=Path, default=results_dir, help="where results.json/.md go")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--no-bake", action="store_true", help="reuse the last bake in --build-dir and its .venv")
    source.add_argument("--project", type=Path, help="an installed bake of the default answers to measure instead")


def baked_project(args: argparse.Namespace, fresh: bool = False) -> tuple[Path, Record]:
    """The default project the run measures, with its `.venv`, and how long making it took.

    `--project`: that bake (installed first when it has no `.venv`); `--no-bake`: the last
    bake in `--build-dir`; otherwise a new bake there (`fresh`: earlier bakes and their
    environments removed first), installed by its `make install` with the template's uv
    (`scripts/bake.py`'s `bake` and `install`, timed apart)."""
    setup: Record = {}
    if args.project is not None:
        project = args.project.resolve()
        if not (project / ".venv" / "bin" / "python").exists():
            install(project, stream=True)
        return project, setup
    build = args.build_dir.resolve()
    if args.no_bake:
        return build / DEFAULT_SLUG, setup
    log(f"baking the default project into {build}")
    start = time.perf_counter()
    project = bake(build, fresh=fresh)
    setup["bake_seconds"] = round(time.perf_counter() - start, 3)
    log("making its environment (make install)")
    start = time.perf_counter()
    install(project, stream=True)
    setup["install_seconds"] = round(time.perf_counter() - start, 3)
    return project, setup


def measure_env(**extra: str) -> dict[str, str]:
    """The environment of the measured processes: a baked project's (`baked_env`), quiet, and
    allowed to cache bytecode (some CI images set PYTHONDONTWRITEBYTECODE: every import of the
    training stack would then compile it again)."""
    env = baked_env(**QUIET_ENV, **extra)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def timed_run(command: Sequence[str | Path], *, cwd: Path, env: dict[str, str] | None = None) -> float:
    """Run a command, its output streaming through; its wall seconds, or exit on failure."""
    args = [str(part) for part in command]
    print("+", " ".join(args), flush=True)
    start = time.perf_counter()
    result = subprocess.run(args, cwd=cwd, env=env if env is not None else measure_env(), check=False)
    if result.returncode != 0:
        sys.exit(f"failed ({result.returncode}): {' '.join(args)}")
    return round(time.perf_counter() - start, 3)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


# --- the machine and the record --------------------------------------------------------------------------


def _proc_field(path: str, prefix: str) -> str | None:
    """The value after `prefix` on the first matching line of a /proc file (None off Linux)."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith(prefix)), None)


def _os_name() -> str:
    release = Path("/etc/os-release")
    if not release.is_file():
        return platform.platform()
    fields = dict(line.split("=", 1) for line in release.read_text(encoding="utf-8").splitlines() if "=" in line)
    return f"{fields.get('PRETTY_NAME', '').strip(chr(34))} (kernel {platform.release()})"


def _virtualisation() -> str | None:
    try:
        out = subprocess.run(["systemd-detect-virt"], capture_output=True, text=True, check=False, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def machine() -> Record:
    """CPU, cores, memory, OS and virtualisation of this machine (Linux details from /proc)."""
    memory_kib = _proc_field("/proc/meminfo", "MemTotal")
    return {
        "cpu": _proc_field("/proc/cpuinfo", "model name") or platform.processor() or platform.machine(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_gib": round(int(memory_kib.split()[0]) / 1024 / 1024, 1) if memory_kib else None,
        "os": _os_name(),
        "virtualisation": _virtualisation(),
    }


def template_commit() -> str | None:
    """The template's commit, marked when the baked project's template differs from it."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=TEMPLATE, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "{{cookiecutter.project_slug}}"],
            cwd=TEMPLATE,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return f"{commit} (template modified)" if dirty else commit


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def start_record(settings: Record) -> Record:
    """A run's record as it starts: when, where, which template, the command and its settings."""
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "template_commit": template_commit(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "settings": settings,
        "load_before": load_average(),
    }


def finish_record(record: Record) -> Record:
    """The record with its end: the load average then and the run's length."""
    started = datetime.fromisoformat(record["date"])
    record["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    record["load_after"] = load_average()
    record["total_seconds"] = round((datetime.now(UTC) - started).total_seconds(), 1)
    return record


def write_results(results_dir: Path, record: Record, render: Callable[[Record], str]) -> Path:
    """results.json (the record, raw) and results.md (`render(record)`) in `results_dir`."""
    finish_record(record)
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / "results.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    markdown = results_dir / "results.md"
    markdown.write_text(render(record), encoding="utf-8")
    log(f"wrote {markdown} and results.json")
    return markdown


# --- the opening of every results.md ----------------------------------------------------------------


def header(title: str, record: Record, script: str) -> list[str]:
    """The title and the line saying when, how and from which template the results came."""
    return [
        f"# {title} benchmark: results",
        "",
        f"Recorded {record['date']} to {record['finished']} by `{record['command']}`"
        f" (template commit {record['template_commit']}).",
        f"Generated by `{script}`; do not edit by hand. Timings come from one run",
        "on a shared machine: read them as orders of magnitude and ratios, not promises.",
        "",
    ]


def machine_section(record: Record, notes: Sequence[str] = ()) -> list[str]:
    """`## Machine`: CPU, memory, OS, the measured environment's Python and packages, load."""
    m = record["machine"]
    lines = [
        "## Machine",
        "",
        f"- CPU: {m['cpu']}, {m['logical_cpus']} logical CPUs ({m['usable_cpus']} usable)"
        + (f", {m['virtualisation']} VM" if m.get("virtualisation") else ""),
        f"- Memory: {m['memory_gib']} GiB; OS: {m['os']}",
    ]
    environment = record.get("environment")
    if environment:
        packages = ", ".join(f"{k} {v}" for k, v in environment["packages"].items() if v is not None)
        lines.append(f"- Python {environment['python']}; {packages}")
    lines.append(
        f"- Load average (1/5/15 min) before: {record['load_before']}, after: {record['load_after']}"
        + "".join(f"; {note}" for note in notes)
        + "."
    )
    return [*lines, ""]
