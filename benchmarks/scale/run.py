"""The scale benchmark: batch scoring of large files, whole-file against streamed, with bare
onnxruntime as the limit.

    make install                                            # the template's environment (cookiecutter, uv)
    .venv/bin/python benchmarks/scale/run.py                # bakes build/bench-scale; 1M, 5M and 20M rows
    .venv/bin/python benchmarks/scale/run.py --project build/dev/fraud-detection --sizes 1000000 5000000

It trains a champion once on the demo data (the training steps, without Prefect), writes a Parquet file
of demo records per size (generated and written a row group at a time) and scores each file in
a fresh process per path: the whole file at once (batch scoring as it was), streamed (the
package's `score_file`), and bare onnxruntime on the same encoded chunks. Each process reports
its own peak RSS (imports included) and its wall time. Results go to results.json and
results.md beside this script (or --results-dir).
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
MEASURE = HERE / "measure.py"
MODES = ("whole", "streamed", "onnx")
# Issue 16's targets: the streamed path's peak RSS at the largest size at most this times its
# peak at the smallest, and its throughput at least this share of bare onnxruntime's.
TARGET_RSS_RATIO, TARGET_THROUGHPUT_SHARE = 1.2, 0.5
ENV_PREFIX = "FRAUD_DETECTION_"


def label(rows: int) -> str:
    return f"{rows // 1_000_000}M" if rows % 1_000_000 == 0 else f"{rows // 1000}k"


def measure(project: Path, work: Path, args: argparse.Namespace) -> Record:
    python = project / ".venv" / "bin" / "python"
    state = work / "state"
    found: Record = {"sizes": {}}
    env = measure_env(**{f"{ENV_PREFIX}SCORING__CHUNK_ROWS": str(args.chunk_rows)})
    trained = work / "trained.json"
    if not trained.exists():  # one champion for every size and path
        train: list[str | Path] = [python, MEASURE, "train", "--rows", str(args.train_rows), "--state", state]
        timed_run([*train, "--out", trained], cwd=project, env=env)
    found["trained"] = read_json(trained)
    for rows in args.sizes:
        data = work / f"demo-{rows}.parquet"
        size: Record = {}
        if not data.exists():
            generated = work / f"generated-{rows}.json"
            timed_run(
                [python, MEASURE, "generate", "--rows", str(rows), "--data", data, "--out", generated],
                cwd=project,
                env=env,
            )
            size["generate_seconds"] = read_json(generated)["seconds"]
        for mode in args.modes:
            out = work / f"{mode}-{rows}.json"
            command: list[str | Path] = [python, MEASURE, "score", "--mode", mode, "--data", data, "--state", state]
            command += ["--out", out]
            wall = timed_run(command, cwd=project, env=env)
            size[mode] = {**read_json(out), "process_seconds": wall}
            log(f"{label(rows)} {mode}: {size[mode]['seconds']} s, peak RSS {size[mode]['peak_rss_mib']} MiB")
        size["file_mib"] = round(data.stat().st_size / 2**20, 1)
        found["sizes"][label(rows)] = size
    return found


def targets(results: Record) -> list[tuple[str, bool, str]]:
    sizes = results["sizes"]
    names = list(sizes)
    found: list[tuple[str, bool, str]] = []
    if len(names) > 1 and all("streamed" in sizes[n] for n in names):
        small, large = sizes[names[0]]["streamed"], sizes[names[-1]]["streamed"]
        ratio = large["peak_rss_mib"] / small["peak_rss_mib"]
        found.append(
            (
                f"streamed peak RSS at {names[-1]} <= {TARGET_RSS_RATIO}x its peak at {names[0]}",
                ratio <= TARGET_RSS_RATIO,
                f"{large['peak_rss_mib']:,} / {small['peak_rss_mib']:,} MiB = {ratio:.2f}x",
            )
        )
    for name in names:
        if "streamed" in sizes[name] and "onnx" in sizes[name]:
            share = sizes[name]["streamed"]["rows_per_second"] / sizes[name]["onnx"]["rows_per_second"]
            found.append(
                (
                    f"streamed throughput at {name} >= {TARGET_THROUGHPUT_SHARE:.0%} of bare onnxruntime's",
                    share >= TARGET_THROUGHPUT_SHARE,
                    f"{share:.0%}",
                )
            )
    return found


def _cell(entry: dict[str, Any] | None) -> str:
    if entry is None:
        return "not run"
    return f"{entry['seconds']:,} s, {entry['rows_per_second']:,} rows/s, peak RSS {entry['peak_rss_mib']:,} MiB"


def markdown_report(results: Record) -> str:
    lines = [
        *header("Scale", results, "benchmarks/scale/run.py"),
        *machine_section(results),
        "Rerun from the template: `make install && .venv/bin/python benchmarks/scale/run.py` (see its docstring).",
        "",
        f"## Batch scoring of demo data (chunks of {results['settings']['chunk_rows']:,} rows)",
        "",
        "| rows | file | whole file (as before) | streamed (`score_file`) | bare onnxruntime (`session.run` only) |",
        "|---|---|---|---|---|",
    ]
    for name, size in results["sizes"].items():
        cells = " | ".join(_cell(size.get(mode)) for mode in MODES)
        lines.append(f"| {name} | {size['file_mib']:,} MiB Parquet | {cells} |")
    lines += [
        "",
        "Targets: "
        + (
            "; ".join(f"{name}: {'met' if ok else 'MISSED'} ({detail})" for name, ok, detail in results["targets"])
            or "none measured"
        )
        + ".",
        "",
        "## How it is measured",
        "",
        "- Each path runs in a fresh process; its peak RSS is the process's own `ru_maxrss` (imports, the model "
        "and the data included). Its time is the scoring from the registry lookup to the closed output file, "
        "after a warm-up that pays the once-per-process costs (imports of MLflow and onnxruntime, the registry's "
        "database, the bundle fetched and checked: `setup_seconds` in results.json, about 10 s here); the process's "
        "whole wall time is `process_seconds`.",
        "- Whole file: `read_table`, every row scored as one frame (`score_chunk`), `write_table`: batch scoring "
        "before it streamed. Streamed: `score_file` (Parquet record batches, chunk by chunk into a ParquetWriter).",
        "- Bare onnxruntime: the same chunks read and encoded (not timed), then only `session.run` on one thread "
        "is timed: the limit a scoring path could reach on this model.",
        "- One onnxruntime thread throughout, as the service and batch scoring run (identical floats).",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_project_arguments(parser, BUILD / "bench-scale", HERE)
    parser.add_argument("--work", type=Path, help="where the registry and the data files go")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 5_000_000, 20_000_000])
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--chunk-rows", type=int, default=100_000, help="scoring.chunk_rows of the streamed path")
    parser.add_argument("--train-rows", type=int, default=60_000, help="demo rows the champion is trained on")
    args = parser.parse_args()
    project, setup = baked_project(args)
    work = (args.work or args.build_dir / "scale-bench").resolve()
    work.mkdir(parents=True, exist_ok=True)
    settings = {"sizes": args.sizes, "modes": args.modes, "chunk_rows": args.chunk_rows, "train_rows": args.train_rows}
    results = start_record(settings)
    results["setup"] = setup
    results.update(measure(project, work, args))
    first = next(iter(results["sizes"].values()))
    results["environment"] = first[args.modes[0]]["environment"]
    results["targets"] = targets(results)
    markdown = write_results(args.results_dir, results, markdown_report)
    print(markdown.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
