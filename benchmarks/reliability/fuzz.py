"""The fuzz benchmark: many more generated hostile cases against the service than its test sends.

    make install                                             # the template's environment
    .venv/bin/python benchmarks/reliability/fuzz.py          # bakes build/bench-fuzz; 5,000 per operation and mode
    .venv/bin/python benchmarks/reliability/fuzz.py --project build/dev/fraud-detection --max-examples 500

It bakes the default project (or measures `--project`), then runs the baked project's own
`python -m tests.support.fuzz` in its environment: a model trained into a fresh registry,
`fraud-detection serve` with two API keys, and schemathesis against the OpenAPI document the
server serves, with the checks of tests/integration/test_service_fuzz.py (no 5xx, status
codes, content types, headers and bodies as documented, no traceback in a body, protected
operations refuse a request without a key), derandomized: a rerun sends the same cases.
Results go to fuzz-results/results.json and results.md beside this script (or --results-dir).

The cases grow with --max-examples by about 3.3 per step over the coverage phase's ~1,100:
1,000 gave 4,435 cases in 6.5 minutes on a busy 2-core machine (load 6); the default 5,000
gives about 18,000, roughly half an hour there.
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


def render(record: Record) -> str:
    found: dict[str, Any] = record["fuzz"]
    failures = found["failures"]
    lines = [
        *header("Fuzz", record, "benchmarks/reliability/fuzz.py"),
        *machine_section(record),
        "Rerun from the template: `make install && .venv/bin/python benchmarks/reliability/fuzz.py` (see its "
        "docstring).",
        "",
        "## Generated cases against a real server",
        "",
        "| cases | operations tried | failures | errors | keys in the server log | schemathesis run |",
        "|---|---|---|---|---|---|",
        f"| {found['cases']:,} | {found['operations_tested']} of {found['operations_total']} | {len(failures)} | "
        f"{len(found['errors'])} | {found['keys_in_server_log']} | {found['seconds']:,} s |",
        "",
        f"Settings: {record['settings']['max_examples']:,} cases per operation and generation mode (valid and "
        "invalid) in schemathesis's fuzzing phase, plus its coverage phase's boundary cases; derandomized.",
        "",
    ]
    for failure in failures:
        lines.append(f"- {failure.get('code')} {failure.get('title')}: {', '.join(failure.get('operations', []))}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_project_arguments(parser, BUILD / "bench-fuzz", HERE / "fuzz-results")
    parser.add_argument("--max-examples", type=int, default=5000, help="cases per operation and mode (fuzzing)")
    args = parser.parse_args()
    record = start_record({"max_examples": args.max_examples})
    project, setup = baked_project(args)
    record["setup"] = setup
    work = args.build_dir.resolve() / "fuzz-work"
    work.mkdir(parents=True, exist_ok=True)
    out = work / "report.json"
    python = project / ".venv" / "bin" / "python"
    command: list[str | Path] = [python, "-m", "tests.support.fuzz", "--work", work, "--out", out]
    record["process_seconds"] = timed_run(
        [*command, "--max-examples", str(args.max_examples)], cwd=project, env=measure_env()
    )
    record["fuzz"] = read_json(out)
    log(f"{record['fuzz']['cases']} cases, {len(record['fuzz']['failures'])} failures")
    write_results(args.results_dir, record, render)


if __name__ == "__main__":
    main()
