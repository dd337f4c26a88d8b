"""The load benchmark: 100,000 requests at concurrency 64 against the service with one worker,
then with two, mixed bodies with 5% bad input; nothing may fail and nothing may be lost.

    make install                                             # the template's environment
    .venv/bin/python benchmarks/reliability/load.py          # bakes build/bench-load; ~15 min on 2 cores
    .venv/bin/python benchmarks/reliability/load.py --project build/dev/fraud-detection --quick

It bakes the default project (or measures `--project`), then runs `load_measure.py load` with
the baked Python: a champion and a shadow challenger in a fresh registry, `fraud-detection
serve` (SERVICE__WORKERS=1, then 2) with a SQLite prediction log of its own, warmed up for 5 s,
then driven by `benchmarks/serving/loadgen.py` (closed loop, 64 keep-alive connections, each
cycling over 60 bodies: 45 single-record, 12 of 100 records, 3 bad ones). The checks: no 5xx,
no connection error, every bad body refused with a 4xx, the service stops by itself on
SIGTERM, and its log then holds exactly one row per record answered 200 (warm-up included),
each record id once. Results go to load-results/ beside this script (or --results-dir); the
exit status is 1 when a check fails. `--quick`: 2,000 requests per worker count (~3 minutes).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import (
    BUILD,
    Record,
    add_project_arguments,
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
MEASURE = HERE / "load_measure.py"


def fmt(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def run_table(runs: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| workers | requests | req/s | records/s | p50 / p99 (ms) | 2xx / 4xx / 5xx | connection errors "
        "| log rows = records answered 200 | peak RSS (MiB) | load average before → after |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for run in runs:
        classes, logged = run["status_classes"], run["log"]
        same = "yes" if run["checks"]["log_rows_equal_records_answered"] else "**no**"
        lines.append(
            f"| {run['workers']} | {run['requests']:,} | {fmt(run['requests_per_s'], 1)} | {fmt(run['records_per_s'])} "
            f"| {fmt(run['p50_ms'], 1)} / {fmt(run['p99_ms'], 1)} | {classes.get('2xx', 0):,} / "
            f"{classes.get('4xx', 0):,} / {classes.get('5xx', 0):,} | {run['connection_errors']} "
            f"| {same}: {logged['rows']:,} = {run['records_answered']:,} | {fmt(run['peak_rss_mib'], 1)} "
            f"| {run['load_average_before']} → {run['load_average_after']} |"
        )
    return lines


def check_lines(runs: list[dict[str, Any]]) -> list[str]:
    lines = []
    for run in runs:
        broken = [name for name, ok in run["checks"].items() if not ok]
        verdict = "all passed" if not broken else "**failed: " + ", ".join(broken) + "**"
        lines.append(f"- {run['workers']} worker(s): {', '.join(run['checks'])}: {verdict}")
    return lines


def render(record: Record) -> str:
    runs, settings = record["runs"], record["settings"]
    lines = [
        *header("Load", record, "benchmarks/reliability/load.py"),
        *machine_section(record, ["the service and the load generator share the machine's cores"]),
        "Rerun from the template: `make install && .venv/bin/python benchmarks/reliability/load.py` (see its "
        "docstring).",
        "",
        "## 100,000 requests at concurrency 64, mixed bodies, 5% bad input"
        if not settings["quick"]
        else "## A quick run (--quick)",
        "",
        f"{settings['requests']:,} requests per worker count from `loadgen.py` (closed loop, "
        f"{settings['connections']} keep-alive connections over 2 client processes), after a "
        f"{settings['warmup_s']:.0f} s warm-up whose answers are logged and counted too. Each connection cycles "
        "over 60 bodies: 45 of one record, 12 of 100 records, 3 bad (a text for `amount`, `amount` missing, "
        "JSON cut in half): 75% / 20% / 5% of the requests, about 21 records per request. Every record has a "
        "transaction id no other request used and the current time. The service: `fraud-detection serve` with "
        "`FRAUD_DETECTION_SERVICE__WORKERS`, the full path (contract check, champion, SQLite prediction log, "
        "shadow challenger), its log read after it stopped by itself on SIGTERM. RSS: the server and all its "
        "processes, sampled every 0.5 s.",
        "",
        *run_table(runs),
        "",
        "## Checks",
        "",
        *check_lines(runs),
        "",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_project_arguments(parser, BUILD / "bench-load", HERE / "load-results")
    parser.add_argument("--requests", type=int, default=100_000, help="requests per worker count")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--quick", action="store_true", help="2,000 requests per worker count (development)")
    args = parser.parse_args()
    requests = 2_000 if args.quick else args.requests
    warmup_s = 2.0 if args.quick else 5.0
    settings = {
        "requests": requests,
        "connections": args.connections,
        "workers": args.workers,
        "warmup_s": warmup_s,
        "quick": args.quick,
    }
    record = start_record(settings)
    project, setup = baked_project(args)
    record["setup"] = setup
    work = args.build_dir.resolve() / "load-work"
    out = work / "measure.json"
    command: list[str | Path] = [project / ".venv" / "bin" / "python", MEASURE, "load", "--project", project]
    command += ["--work", work, "--out", out, "--requests", str(requests), "--connections", str(args.connections)]
    command += ["--warmup-s", str(warmup_s), "--workers", *[str(w) for w in args.workers]]
    record["process_seconds"] = timed_run(command, cwd=project, env=measure_env())
    record.update(read_json(out))
    write_results(args.results_dir, record, render)
    broken = [
        f"{run['workers']} worker(s): {name}" for run in record["runs"] for name, ok in run["checks"].items() if not ok
    ]
    if broken:
        sys.exit("load benchmark checks failed: " + "; ".join(broken))
    log("every check passed")


if __name__ == "__main__":
    main()
