"""The soak benchmark: the service at a steady rate for 10 minutes; its memory, latency, WAL and
log must stay where the first minute put them.

    make install                                             # the template's environment
    .venv/bin/python benchmarks/reliability/soak.py          # bakes build/bench-soak; ~12 min
    .venv/bin/python benchmarks/reliability/soak.py --project build/dev/fraud-detection --quick

It bakes the default project (or measures `--project`), then runs `load_measure.py soak` with
the baked Python: the load benchmark's service (one worker, shadow on, SQLite log of its own)
and body mix (75% single-record, 20% of 100 records, 5% bad), sent by
`benchmarks/serving/loadgen.py --rate` over 16 connections for 10 periods of 60 s, each
connection on a fixed schedule. The rate: `--rate`, else half the one-worker throughput that
load-results/results.json recorded. After each minute: the RSS of the server and all its
processes, p50/p99 of that minute, the SQLite WAL's and the log's sizes. Checks (exit status 1
when one fails): no 5xx and no connection error; RSS at the end within 10% of RSS after the
warm-up (the first minute, from a cold start); p99 of the last minute at most 2x the first's;
the WAL bounded (its largest size in the second half at most 1.25x the first half's + 1 MiB);
the log linear in records (the bytes it grew per record answered, minute by minute, within
1.5x of each other); a clean stop, then one log row per record answered 200. `--quick`: three
periods of 10 s.
"""

from __future__ import annotations

import argparse
import itertools
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
LOAD_RESULTS = HERE / "load-results" / "results.json"


def log_growth(periods: list[dict[str, Any]]) -> list[float]:
    """Bytes the log grew per record answered, period by period (from the second period: the
    first grows an empty file's tables and indexes from nothing)."""
    growth = []
    for before, after in itertools.pairwise(periods):
        records = after["records_answered"] - before["records_answered"]
        if records:
            growth.append(round((after["log_mib"] - before["log_mib"]) * 2**20 / records, 1))
    return growth


def figures(soak: dict[str, Any]) -> dict[str, Any]:
    periods = soak["periods"]
    first, last = periods[0], periods[-1]
    half = max(1, len(periods) // 2)
    return {
        "rss_after_warmup_mib": first["rss_mib"],
        "rss_end_mib": last["rss_mib"],
        "rss_change": round(last["rss_mib"] / first["rss_mib"] - 1, 4),
        "p99_first_ms": first["p99_ms"],
        "p99_last_ms": last["p99_ms"],
        "p99_ratio_last_to_first": round(last["p99_ms"] / first["p99_ms"], 3),
        "wal_max_first_half_mib": max(p["wal_mib"] for p in periods[:half]),
        "wal_max_second_half_mib": max(p["wal_mib"] for p in periods[half:] or periods),
        "log_bytes_per_record": log_growth(periods),
        "achieved_requests_per_s": round(soak["requests"] / (len(periods) * soak["period_s"]), 1),
    }


def checks(soak: dict[str, Any], found: dict[str, Any]) -> dict[str, bool]:
    periods, growth = soak["periods"], found["log_bytes_per_record"]
    return {
        "no_5xx": all(p["status_classes"].get("5xx", 0) == 0 for p in periods),
        "no_connection_errors": all(p["connection_errors"] == 0 for p in periods),
        "rss_end_within_10pct_of_after_warmup": abs(found["rss_change"]) <= 0.10,
        "p99_last_at_most_2x_first": found["p99_ratio_last_to_first"] <= 2.0,
        "wal_bounded": found["wal_max_second_half_mib"] <= 1.25 * found["wal_max_first_half_mib"] + 1.0,
        "log_linear_in_records": not growth or max(growth) <= 1.5 * min(growth),
        "stopped_cleanly": soak["stop"]["clean"],
        "log_rows_equal_records_answered": soak["log"]["rows"] == soak["records_answered"],
        "log_intact": soak["log"]["quick_check"] == "ok",
    }


def period_table(periods: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| period | requests | req/s | p50 / p99 (ms) | 2xx / 4xx / 5xx | RSS (MiB) | WAL (MiB) | log (MiB) "
        "| records answered | load (1 min) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in periods:
        c = p["status_classes"]
        lines.append(
            f"| {p['period']} | {p['requests']:,} | {p['requests_per_s']:,.1f} | {p['p50_ms']:.1f} / {p['p99_ms']:.1f} "
            f"| {c.get('2xx', 0):,} / {c.get('4xx', 0):,} / {c.get('5xx', 0):,} | {p['rss_mib']:,.1f} "
            f"| {p['wal_mib']:,.1f} | {p['log_mib']:,.1f} | {p['records_answered']:,} | {p['load_average_1m']} |"
        )
    return lines


def render(record: Record) -> str:
    soak, found = record["soak"], record["figures"]
    broken = [name for name, ok in record["checks"].items() if not ok]
    lines = [
        *header("Soak", record, "benchmarks/reliability/soak.py"),
        *machine_section(record, ["the service and the load generator share the machine's cores"]),
        "Rerun from the template: `make install && .venv/bin/python benchmarks/reliability/soak.py` (see its "
        "docstring).",
        "",
        f"## {len(soak['periods'])} periods of {soak['period_s']:.0f} s at {soak['rate']:,.0f} requests/s",
        "",
        f"Rate: {record['settings']['rate_reason']}. {soak['connections']} keep-alive connections of `loadgen.py "
        "--rate`, each on a fixed schedule, cycling over the load benchmark's 60 bodies (75% one record, 20% of 100 "
        "records, 5% bad: about 21 records per request); one worker, shadow on, a SQLite log of its own. Warm-up: "
        "the first period, from a cold start. RSS: the server and all its processes after each period.",
        "",
        *period_table(soak["periods"]),
        "",
        "## Figures and checks",
        "",
        f"- RSS after warm-up {found['rss_after_warmup_mib']:,.1f} MiB, at the end {found['rss_end_mib']:,.1f} MiB: "
        f"{100 * found['rss_change']:+.1f}% (bound ±10%)",
        f"- p99 first period {found['p99_first_ms']:.1f} ms, last {found['p99_last_ms']:.1f} ms: ratio "
        f"{found['p99_ratio_last_to_first']:.2f} (bound 2)",
        f"- WAL largest {found['wal_max_first_half_mib']:.1f} MiB in the first half, "
        f"{found['wal_max_second_half_mib']:.1f} MiB in the second",
        f"- log growth per record answered, period by period (bytes): {found['log_bytes_per_record']}",
        f"- achieved rate {found['achieved_requests_per_s']:,.1f} req/s; {soak['records_answered']:,} records answered "
        f"200, {soak['log']['rows']:,} rows in the log after a clean stop",
        f"- checks: {', '.join(record['checks'])}: "
        + ("all passed" if not broken else "**failed: " + ", ".join(broken) + "**"),
        "",
    ]
    return "\n".join(lines) + "\n"


def rate_of(args: argparse.Namespace) -> tuple[float, str]:
    """The soak's rate and why: `--rate`, or half the recorded one-worker load throughput."""
    if args.rate is not None:
        return args.rate, f"{args.rate:,.0f} requests/s, given by --rate"
    if not LOAD_RESULTS.is_file():
        sys.exit(f"no {LOAD_RESULTS}: run load.py first, or give --rate")
    one = next(run for run in read_json(LOAD_RESULTS)["runs"] if run["workers"] == 1)
    rate = round(one["requests_per_s"] / 2)
    return (
        rate,
        f"{rate:,} requests/s, half the {one['requests_per_s']:,.1f} req/s one worker served in the load benchmark",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_project_arguments(parser, BUILD / "bench-soak", HERE / "soak-results")
    parser.add_argument("--rate", type=float, help="requests per second (default: half the recorded 1-worker load)")
    parser.add_argument("--periods", type=int, default=10)
    parser.add_argument("--period-s", type=float, default=60.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--quick", action="store_true", help="three periods of 10 s (development)")
    args = parser.parse_args()
    periods, period_s = (3, 10.0) if args.quick else (args.periods, args.period_s)
    rate, reason = rate_of(args)
    settings = {"rate": rate, "rate_reason": reason, "periods": periods, "period_s": period_s}
    record = start_record({**settings, "connections": args.connections, "quick": args.quick})
    project, setup = baked_project(args)
    record["setup"] = setup
    work = args.build_dir.resolve() / "soak-work"
    out = work / "measure.json"
    command: list[str | Path] = [project / ".venv" / "bin" / "python", MEASURE, "soak", "--project", project]
    command += ["--work", work, "--out", out, "--rate", str(rate), "--periods", str(periods)]
    command += ["--period-s", str(period_s), "--connections", str(args.connections)]
    record["process_seconds"] = timed_run(command, cwd=project, env=measure_env())
    record.update(read_json(out))
    record["figures"] = figures(record["soak"])
    record["checks"] = checks(record["soak"], record["figures"])
    write_results(args.results_dir, record, render)
    broken = [name for name, ok in record["checks"].items() if not ok]
    if broken:
        sys.exit("soak benchmark checks failed: " + ", ".join(broken))
    log("every check passed")


if __name__ == "__main__":
    main()
