"""The monitoring-window benchmark: a window of logged answers on PostgreSQL, read whole into
pandas against read in pages (the monitoring flow's path), each in its own process.

    make install                                                     # the template's environment
    .venv/bin/python benchmarks/scale/window_run.py --project build/dev/fraud-detection --sizes 1000000 5000000

Per size it creates a private database on the server (`bench_window_<pid>`, dropped afterwards),
logs that many answers over one day by COPY (30% of them labelled), and assesses the day in a
fresh process per path: `whole` (`load_window` + `with_labels` + `assess`) and `paged`
(`steps.read_window` + `assess_reduced`, pages of --chunk-rows). Each process reports its own
peak RSS (imports included) and the assessment's wall time; the two paths' p-values are compared.
Results go to window/results.json and window/results.md beside this script (the batch-scoring
benchmark owns results.md here).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

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
MEASURE = HERE / "window_measure.py"
TARGET_PAGED_RSS_MIB = 1024  # issue 16: the paged path's peak RSS under 1 GiB at 5M answers


def measure(project: Path, work: Path, args: argparse.Namespace) -> Record:
    python = project / ".venv" / "bin" / "python"
    env = measure_env(FRAUD_DETECTION_MONITORING__WINDOW_CHUNK_ROWS=str(args.chunk_rows))
    sizes: Record = {}
    for rows in args.sizes:
        db = work / f"db-{rows}.json"
        timed_run([python, MEASURE, "create", "--admin", args.admin, "--out", db], cwd=project, env=env)
        url, name = read_json(db)["url"], read_json(db)["name"]
        try:
            size: Record = {}
            generated = work / f"generated-{rows}.json"
            timed_run(
                [python, MEASURE, "generate", "--url", url, "--rows", str(rows), "--out", generated],
                cwd=project,
                env=env,
            )
            size["generate_seconds"] = read_json(generated)["seconds"]
            for mode in args.modes if rows <= args.whole_max_rows else [m for m in args.modes if m != "whole"]:
                out = work / f"{mode}-{rows}.json"
                wall = timed_run(
                    [python, MEASURE, "assess", "--mode", mode, "--url", url, "--out", out], cwd=project, env=env
                )
                size[mode] = {**read_json(out), "process_seconds": wall}
                log(f"{rows:,} {mode}: {size[mode]['seconds']} s, peak RSS {size[mode]['peak_rss_mib']} MiB")
            if "whole" in size and "paged" in size:
                size["same_p_values"] = size["whole"]["p_values"] == size["paged"]["p_values"]
            sizes[f"{rows:,}"] = size
        finally:
            timed_run([python, MEASURE, "drop", "--admin", args.admin, "--name", name], cwd=project, env=env)
    return {"sizes": sizes}


def _cell(entry: Record | None) -> str:
    if entry is None:
        return "not run"
    return f"{entry['seconds']:,} s, peak RSS {entry['peak_rss_mib']:,} MiB"


def markdown_report(results: Record) -> str:
    lines = [
        *header("Monitoring windows", results, "benchmarks/scale/window_run.py"),
        *machine_section(results),
        f"## One day of logged answers on PostgreSQL (pages of {results['settings']['chunk_rows']:,} rows)",
        "",
        "| answers | labelled | COPY | whole read (as before) | paged (the flow) | same p-values |",
        "|---|---|---|---|---|---|",
    ]
    for name, size in results["sizes"].items():
        labelled = (size.get("paged") or size.get("whole") or {}).get("labelled_rows", "?")
        lines.append(
            f"| {name} | {labelled:,} | {size['generate_seconds']:,} s | {_cell(size.get('whole'))} | "
            f"{_cell(size.get('paged'))} | {size.get('same_p_values', 'not compared')} |"
        )
    lines += [
        "",
        "- Peak RSS is each measuring process's own `ru_maxrss` (imports, the fitted reference profile and "
        "the data included; about 250 MiB before reading). Time is the read and the assessment, from the "
        "first query to the finished `Assessment` (the estimate's simulation and the realized bands included).",
        f"- Target: the paged path's peak RSS under {TARGET_PAGED_RSS_MIB} MiB at 5M answers.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_project_arguments(parser, BUILD / "bench-scale", HERE / "window")
    parser.add_argument("--work", type=Path, help="where the measurements' JSON goes")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--modes", nargs="+", choices=["whole", "paged"], default=["whole", "paged"])
    parser.add_argument("--whole-max-rows", type=int, default=1_000_000, help="larger windows are read paged only")
    parser.add_argument("--chunk-rows", type=int, default=50_000, help="monitoring.window_chunk_rows")
    parser.add_argument("--admin", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    project, setup = baked_project(args)
    work = (args.work or args.build_dir / "window-bench").resolve()
    work.mkdir(parents=True, exist_ok=True)
    settings = {"sizes": args.sizes, "modes": args.modes, "chunk_rows": args.chunk_rows}
    results = start_record(settings)
    results["setup"] = setup
    results.update(measure(project, work, args))
    markdown = write_results(args.results_dir, results, markdown_report)
    print(markdown.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
