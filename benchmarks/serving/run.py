"""Benchmark the serving path against `mlflow models serve` and a bare BentoML endpoint.

    .venv/bin/python benchmarks/serving/run.py              # from the template's root (make install first)

It bakes the default project into build/serving (an existing bake keeps its environment),
runs `make install` there, then `measure.py` with the baked Python: a fresh registry with
the benchmark's model as champion and again as challenger, the servers one after another
on loopback with the same worker count, each driven by `loadgen.py`. Raw numbers go to
results.json, a readable account to results.md (next to this file unless --results-dir
says otherwise). About 10 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE.parents[1]
SLUG = "fraud-detection"


def bake(build_dir: Path) -> Path:
    subprocess.run([sys.executable, str(TEMPLATE / "scripts" / "bake.py"), "--output-dir", str(build_dir)], check=True)
    project = build_dir / SLUG
    uv = Path(sys.executable).with_name("uv")
    subprocess.run(["make", "install", f"UV={uv}", "PYTHON=python3"], cwd=project, check=True)
    return project


def bake_baseline(commit: str, build_dir: Path) -> Path:
    """The default project as the template baked it at `commit` (its code only: the baseline
    server runs in the current bake's environment, so compare commits with the same lock)."""
    source, out = build_dir / "baseline-template", build_dir / "baseline"
    for stale in (source, out):
        subprocess.run(["rm", "-rf", str(stale)], check=True)
    source.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(TEMPLATE), "archive", commit], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)
    subprocess.run([sys.executable, str(source / "scripts" / "bake.py"), "--output-dir", str(out)], check=True)
    return out / SLUG


def fmt(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"


def find(runs: list[dict[str, Any]], server: str, variant: str, batch: int, connections: int) -> dict[str, Any] | None:
    for run in runs:
        if "requests" in run and (run["server"], run["variant"], run["records_per_request"], run["connections"]) == (
            server,
            variant,
            batch,
            connections,
        ):
            return run
    return None


HEADLINE = [
    ("full", "log + shadow on", "this service, full path (contract check, log, shadow)"),
    ("baseline", "log + shadow on, code of --baseline", "the same full path, code of the --baseline commit"),
    (
        "process",
        "log written by a process beside the worker, shadow on",
        "this service, full path, log written by a process beside the worker",
    ),
    ("logonly", "log on, shadow off", "this service, log on, shadow off"),
    ("lean", "log + shadow off", "this service, log and shadow off"),
    ("mlflow", "mlflow models serve", "`mlflow models serve --env-manager local`"),
    ("echo", "bentoml defaults", "bare BentoML endpoint that echoes (BentoML defaults)"),
]


def headline_table(runs: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| server | records/request | throughput at 16 (req/s) | records/s at 16 | p50 / p99 at 1 (ms) "
        "| p50 / p99 at 16 (ms) | server CPU per request (ms) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for server, variant, label in HEADLINE:
        for batch in (1, 100):
            one, many = find(runs, server, variant, batch, 1), find(runs, server, variant, batch, 16)
            if one is None or many is None:
                continue
            lines.append(
                f"| {label} | {batch} | {fmt(many['requests_per_s'])} | {fmt(many['records_per_s'], 0)} "
                f"| {fmt(one['p50_ms'], 2)} / {fmt(one['p99_ms'], 2)} | {fmt(many['p50_ms'], 1)} / "
                f"{fmt(many['p99_ms'], 1)} | {fmt(many['server_cpu_ms_per_request'], 2)} |"
            )
    return lines


def study_table(runs: list[dict[str, Any]]) -> list[str]:
    variants = [r["variant"] for r in runs if r["server"] == "study" and r.get("connections") == 16]
    if not variants:
        return []
    base = find(runs, "study", variants[0], 1, 16)
    lines = [
        "| BentoML settings (full path, 1 record) | throughput at 16 (req/s) | vs defaults | p50 / p99 at 1 (ms) "
        "| server CPU per request (ms) |",
        "|---|---:|---:|---:|---:|",
    ]
    for variant in variants:
        many, one = find(runs, "study", variant, 1, 16), find(runs, "study", variant, 1, 1)
        if many is None or one is None or base is None:
            continue
        gain = 100 * (many["requests_per_s"] / base["requests_per_s"] - 1)
        lines.append(
            f"| {variant} | {fmt(many['requests_per_s'])} | {gain:+.0f}% | {fmt(one['p50_ms'], 2)} / "
            f"{fmt(one['p99_ms'], 2)} | {fmt(many['server_cpu_ms_per_request'], 2)} |"
        )
    return lines


def targets(runs: list[dict[str, Any]]) -> list[str]:
    lines = []
    for batch in (1, 100):
        full, mlflow = (
            find(runs, "full", "log + shadow on", batch, 16),
            find(runs, "mlflow", "mlflow models serve", batch, 16),
        )
        if full and mlflow:
            ratio = full["requests_per_s"] / mlflow["requests_per_s"]
            verdict = "met" if ratio >= 1 else "not met"
            lines.append(
                f"- full path throughput ≥ mlflow's, {batch} record(s) per request: {fmt(full['requests_per_s'])} vs "
                f"{fmt(mlflow['requests_per_s'])} req/s ({ratio:.2f}x): **{verdict}**"
            )
    for batch in (1, 100):
        full = find(runs, "full", "log + shadow on", batch, 1)
        if full:
            verdict = "met" if full["p99_ms"] < 10 else "not met"
            lines.append(
                f"- full path p99 at concurrency 1 < 10 ms, {batch} record(s): {fmt(full['p99_ms'], 2)} ms: "
                f"**{verdict}**"
            )
    return lines


def client_table(runs: list[dict[str, Any]]) -> list[str]:
    runs = [run for run in runs if "requests" in run]
    lines = [
        "| server | records/request | connections | client CPU per request (ms) | server CPU per request (ms) "
        "| errors | 1-min load average |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        lines.append(
            f"| {run['server']} ({run['variant']}) | {run['records_per_request']} | {run['connections']} "
            f"| {fmt(run['client_cpu_ms_per_request'], 3)} | {fmt(run['server_cpu_ms_per_request'], 3)} "
            f"| {run['errors']} | {run['load_average_1m']} |"
        )
    return lines


def write_markdown(result: dict[str, Any], path: Path) -> None:
    machine, config, runs = result["machine"], result["config"], result["runs"]
    shadow = next((r["shadow"] for r in runs if r.get("shadow")), None)
    lines = [
        "# Serving benchmark: results",
        "",
        f"Recorded {result['started']} to {result['finished']} on {machine['cpu']}, {machine['logical_cpus']} "
        f"logical CPUs, {machine['memory_gib']} GiB, {machine['os']}, Python {machine['python']}. "
        f"{config['workers']} worker per server; each run is bounded by {config['max_requests']:,} requests and "
        f"{config['duration_s']:.0f} s, after a {config['warmup_s']:.0f} s warm-up; client: {config['client']}. "
        f"The servers of a table run side by side and take turns, {config['rounds']} rounds per scenario in "
        "rotating order; figures are the medians of the rounds (the machine is shared, its load average is "
        "in the last table).",
        "",
        "Every server serves the same ONNX model (the champion of a fresh registry, 40k-row demo model). "
        "Requests are realistic records as callers send them (1 per request, or 100), each with a transaction id "
        "no other request used and the current time as its event time; `mlflow models serve` gets "
        "the same records already encoded as the float matrix it expects, so it skips the contract check and "
        "the encoding the service does.",
        "",
        "## Headline",
        "",
        *headline_table(runs),
        "",
        "## Targets",
        "",
        *targets(runs),
        "",
        "## What BentoML's access log, metrics and tracing cost",
        "",
        *study_table(runs),
        "",
        "## Client and server CPU per request",
        "",
        "The load generator's CPU per request is far below the server's in every run, so the client is not what "
        "limits throughput.",
        "",
        *client_table(runs),
        "",
    ]
    if shadow:
        lines += ["Shadow counters of the full path after its runs: " + json.dumps(shadow), ""]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build-dir", type=Path, default=TEMPLATE / "build" / "serving")
    parser.add_argument("--results-dir", type=Path, default=HERE)
    parser.add_argument("--no-bake", action="store_true", help="reuse the last bake and its environment")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved runs per server and scenario")
    parser.add_argument("--max-requests", type=int, default=20_000)
    parser.add_argument("--only", nargs="*", help="full process logonly lean mlflow echo study")
    parser.add_argument(
        "--baseline", metavar="COMMIT", help="also serve the full path as the template baked it at COMMIT, side by side"
    )
    args = parser.parse_args()
    project = args.build_dir / SLUG if args.no_bake else bake(args.build_dir)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    raw = args.results_dir / "results.json"
    command = [
        str(project / ".venv" / "bin" / "python"),
        str(HERE / "measure.py"),
        "--project",
        str(project),
        "--work",
        str(args.build_dir / "bench"),
        "--out",
        str(raw),
        "--workers",
        str(args.workers),
        "--duration",
        str(args.duration),
        "--max-requests",
        str(args.max_requests),
        "--rounds",
        str(args.rounds),
    ]
    if args.only:
        command += ["--only", *args.only]
    if args.baseline:
        command += ["--baseline", str(bake_baseline(args.baseline, args.build_dir))]
    subprocess.run(command, check=True)
    write_markdown(json.loads(raw.read_text()), args.results_dir / "results.md")
    print(f"wrote {args.results_dir / 'results.md'}")


if __name__ == "__main__":
    main()
