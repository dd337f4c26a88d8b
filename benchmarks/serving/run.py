"""Benchmark the serving path against `mlflow models serve` and a bare BentoML endpoint.

    .venv/bin/python benchmarks/serving/run.py              # from the template's root (make install first)

It bakes the default project into build/serving (an existing bake keeps its environment) and
runs `make install` there (both through scripts/bake.py; `--project` measures an installed
bake instead), then `measure.py` with the baked Python: a fresh registry with the benchmark's
model as champion and again as challenger, the servers one after another on loopback with the
same worker count, each driven by `loadgen.py`. Raw numbers go to results.json, a readable
account to results.md (next to this file unless --results-dir says otherwise). About 10
minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import (
    BUILD,
    TEMPLATE,
    Record,
    add_project_arguments,
    bake,
    baked_project,
    header,
    log,
    machine_section,
    measure_env,
    read_json,
    start_record,
    timed_run,
    write_results,
)

HERE = Path(__file__).resolve().parent
SERVERS = ("full", "logonly", "lean", "mlflow", "echo", "study")


def bake_baseline(commit: str, build_dir: Path) -> Path:
    """The default project as the template baked it at `commit` (its code only: the baseline
    server runs in the current bake's environment, so compare commits with the same lock)."""
    source, out = build_dir / "baseline-template", build_dir / "baseline"
    for stale in (source, out):
        subprocess.run(["rm", "-rf", str(stale)], check=True)
    source.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(TEMPLATE), "archive", commit], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(source)], input=archive.stdout, check=True)
    log(f"baking the template of {commit} into {out}")
    return bake(out, template=source)


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


def render(result: Record) -> str:
    config, runs = result["config"], result["runs"]
    shadow = next((r["shadow"] for r in runs if r.get("shadow")), None)
    lines = [
        *header("Serving", result, "benchmarks/serving/run.py"),
        *machine_section(result),
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
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_project_arguments(parser, BUILD / "serving", HERE)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per run")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up per server")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved runs per server and scenario")
    parser.add_argument("--max-requests", type=int, default=20_000)
    parser.add_argument("--rows", type=int, default=40_000, help="training rows for the benchmark's model")
    parser.add_argument("--only", nargs="*", choices=SERVERS, help="the servers to run (default: all)")
    parser.add_argument(
        "--baseline", metavar="COMMIT", help="also serve the full path as the template baked it at COMMIT, side by side"
    )
    args = parser.parse_args()
    project, setup = baked_project(args)
    build = args.build_dir.resolve()
    settings = {k: getattr(args, k) for k in ("workers", "duration", "warmup", "rounds", "max_requests", "rows")}
    record = start_record({**settings, "only": args.only, "baseline": args.baseline})
    record["setup"] = setup
    out = build / "bench" / "measure.json"
    command: list[str | Path] = [project / ".venv" / "bin" / "python", HERE / "measure.py", "--project", project]
    command += ["--work", build / "bench", "--out", out]
    command += [f"--{k.replace('_', '-')}={v}" for k, v in settings.items()]
    if args.only:
        command += ["--only", *args.only]
    if args.baseline:
        command += ["--baseline", bake_baseline(args.baseline, build)]
    timed_run(command, cwd=project, env=measure_env())
    record.update(read_json(out))
    write_results(args.results_dir, record, render)


if __name__ == "__main__":
    main()
