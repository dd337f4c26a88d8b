"""Benchmark the baked project's training: the flow under Prefect and each step on its own,
ONNX Runtime against LightGBM on the trained model, and peak memory, at 100k and 1M rows.

    .venv/bin/python benchmarks/training/run.py            # from the template's root (make install first)

It bakes the default project into build/bench-training (fresh) and creates its environment
with `make install` (both through scripts/bake.py), writes the demo data with the project's
own `data` command, then runs `measure.py` with the baked `.venv/bin/python`: one process per
measurement, each with a fresh state folder. Raw numbers go to results.json, a readable
account to results.md (both next to this file unless --results-dir says otherwise).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import (
    BUILD,
    DEFAULT_SLUG,
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


def label(rows: int) -> str:
    return f"{rows // 1_000_000}M" if rows % 1_000_000 == 0 else f"{rows // 1000}k"


@dataclass(frozen=True)
class Bench:
    """Where the measurements run: the baked project, its Python, a work folder, the environment."""

    project: Path
    work: Path
    env: dict[str, str]

    @property
    def python(self) -> str:
        return str(self.project / ".venv" / "bin" / "python")

    def data(self, rows: int) -> Path:
        return self.work / "data" / f"demo-{label(rows)}.parquet"

    def measure(self, mode: str, out: Path, *options: str | Path, env: dict[str, str] | None = None) -> float:
        """`measure.py MODE ... --out OUT` with the baked Python; its wall seconds."""
        command = [self.python, MEASURE, mode, *options, "--out", out]
        return timed_run(command, cwd=self.project, env=env or self.env)


# --- the measurements, each in its own process ------------------------------------------------------


def measure_size(bench: Bench, rows: int, days: int, threads: bool) -> Record:
    """The demo data of `rows`, the steps called directly, the flow, and `fit` by thread count."""
    name, data = label(rows), bench.data(rows)
    result: Record = {"rows": rows}
    log(f"{name}: writing the demo data")
    cli = bench.project / ".venv" / "bin" / DEFAULT_SLUG
    result["data_seconds"] = timed_run(
        [cli, "data", "--rows", str(rows), "--days", str(days), "--out", data], cwd=bench.project, env=bench.env
    )
    for mode in ("steps", "flow"):
        log(f"{name}: {mode}")
        out = bench.work / f"{mode}-{name}.json"
        options: list[str | Path] = ["--data", data, "--state", bench.work / f"state-{mode}-{name}"]
        if mode == "steps":
            options += ["--model-dir", bench.work / f"model-{name}"]
        result[f"{mode}_process_seconds"] = bench.measure(mode, out, *options)
        result[mode] = read_json(out)
    if threads:
        result["fit_threads"] = [measure_threads(bench, rows, policy) for policy in (None, "PASSIVE")]
    return result


def measure_threads(bench: Bench, rows: int, policy: str | None) -> Record:
    """`fit` with 1 and 2 LightGBM threads, OMP_WAIT_POLICY unset or `policy`."""
    name = label(rows)
    log(f"{name}: fit with 1 and 2 threads, OMP_WAIT_POLICY={policy or 'unset'}")
    env = {k: v for k, v in bench.env.items() if k != "OMP_WAIT_POLICY"}
    if policy:
        env["OMP_WAIT_POLICY"] = policy
    out = bench.work / f"threads-{name}-{policy or 'unset'}.json"
    options: list[str | Path] = ["--data", bench.data(rows), "--state", bench.work / f"state-threads-{name}"]
    options += ["--threads", "1,2"]
    bench.measure("fit-threads", out, *options, env=env)
    return dict(read_json(out))


def measure_predict(bench: Bench, rows: int, reps: str) -> tuple[float, Record]:
    """ONNX Runtime against LightGBM on the `rows`-row model the steps measurement trained."""
    name = label(rows)
    log(f"prediction: ONNX Runtime vs LightGBM on the {name}-row model")
    out = bench.work / "predict.json"
    options: list[str | Path] = ["--data", bench.data(rows), "--state", bench.work / f"state-steps-{name}"]
    options += ["--model-dir", bench.work / f"model-{name}", "--reps", reps]
    seconds = bench.measure("predict", out, *options)
    return seconds, {"model_rows": rows, **read_json(out)}


def measure_levels(bench: Bench, rows: int, levels: str) -> Record:
    """ORT against LightGBM by `max_category_levels`, trained on `rows`."""
    log(f"ONNX Runtime vs LightGBM by max_category_levels, {label(rows)} rows")
    out = bench.work / "levels.json"
    options: list[str | Path] = ["--data", bench.data(rows), "--state", bench.work / "state-levels"]
    options += ["--levels", levels]
    bench.measure("category-levels", out, *options)
    return {"rows": rows, **read_json(out)}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_project_arguments(parser, BUILD / "bench-training", HERE)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000], help="rows of demo data")
    parser.add_argument("--days", type=int, default=90, help="days the demo data spans")
    parser.add_argument("--predict-size", type=int, help="whose model the prediction benchmark uses (default: largest)")
    parser.add_argument("--reps", default="1:3000,1000:300,100000:15", help="prediction: batch:repetitions,...")
    parser.add_argument("--levels", default="256,64,32,16", help="max_category_levels to compare")
    parser.add_argument("--skip-threads", action="store_true", help="skip the fit thread/OpenMP sensitivity runs")
    parser.add_argument("--skip-levels", action="store_true", help="skip ORT vs LightGBM by max_category_levels")
    parser.add_argument("--omp-wait-policy", help="set OMP_WAIT_POLICY (e.g. PASSIVE) for every measurement")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    project, setup = baked_project(args, fresh=True)
    record = start_record({"sizes": args.sizes, "days": args.days, "reps": args.reps, "levels": args.levels})
    env = measure_env(**({"OMP_WAIT_POLICY": args.omp_wait_policy} if args.omp_wait_policy else {}))
    record["omp_wait_policy"] = env.get("OMP_WAIT_POLICY", "unset")
    bench = Bench(project, args.build_dir.resolve() / "work", env)
    shutil.rmtree(bench.work, ignore_errors=True)
    bench.work.mkdir(parents=True)

    log("first import (compiles bytecode), then a second one (cached)")
    setup["first_import_seconds"] = bench.measure("imports", bench.work / "imports-1.json")
    setup["cached_import_seconds"] = bench.measure("imports", bench.work / "imports-2.json")
    record["setup"] = setup
    record["sizes"] = {label(rows): measure_size(bench, rows, args.days, not args.skip_threads) for rows in args.sizes}
    predict_rows = args.predict_size or max(args.sizes)
    record["predict_process_seconds"], record["predict"] = measure_predict(bench, predict_rows, args.reps)
    if not args.skip_levels:
        record["category_levels"] = measure_levels(bench, min(args.sizes), args.levels)
    record["environment"] = record["sizes"][label(args.sizes[0])]["steps"]["environment"]
    write_results(args.results_dir, record, render)


# --- the readable account: one function per section -------------------------------------------------

STEPS = [
    ("load", "load-training-data"),
    ("validate", "validate-data"),
    ("split", "split-data"),
    ("fit", "train-lightgbm"),
    ("evaluate_holdout", "evaluate-holdout"),
    ("export", "export-onnx"),
    ("check_parity", "check-parity"),
    ("log_and_register", "log-to-mlflow"),
    ("gate", "gate-and-alias"),
    ("write_model_card", "write-model-card"),
]
NONE = "-"
P99_NOTE = "p99 is the 99th percentile of the repetitions (with fewer than 100, close to the slowest)."
# Prediction: (ORT case, threads) against (LightGBM case, threads), one ratio column each.
RATIO_PAIRS = [
    (("ort: ModelBundle.score_matrix", 1), ("lgbm: Booster.predict float32", 1)),
    (("ort: InferenceSession.run", 1), ("lgbm: Booster.predict float32", 1)),
    (("ort: InferenceSession.run", 1), ("lgbm: Booster.predict float64", 1)),
    (("ort: ModelBundle.score_matrix", 2), ("lgbm: Booster.predict float32", 2)),
]


def _s(value: float | None) -> str:
    return NONE if value is None else f"{value:.2f}"


def _us(value: float) -> str:
    return f"{value / 1000:.2f} ms" if value >= 1000 else f"{value:.0f} µs"


def _mib(value: float) -> str:
    return f"{value:.0f}"


def row(title: str, values: Iterable[str]) -> str:
    return f"| {title} | " + " | ".join(values) + " |"


def _split_sizes(size: Record) -> str:
    split = size["steps"]["sizes"]
    return f"{size['rows']:,} ({split['train_rows']:,} / {split['valid_rows']:,} / {split['holdout_rows']:,})"


def _ap_auc(metrics: Record) -> str:
    return f"{metrics['average_precision']:.3f} / {metrics['roc_auc']:.3f}"


def _mibs(peaks: Record) -> str:
    return ", ".join(_mib(v) for v in peaks.values()) or NONE


def _sizes(r: Record) -> list[tuple[str, Record]]:
    return list(r["sizes"].items())


def _imports_seconds(steps: Record) -> float:
    return float(sum(v["seconds"] for k, v in steps.items() if k.startswith("import:")))


def end_to_end_section(r: Record) -> list[str]:
    names, sz = list(r["sizes"]), list(r["sizes"].values())
    flows, steps = [s["flow"] for s in sz], [s["steps"] for s in sz]
    lines = [
        "## End to end",
        "",
        "The `training` flow under a temporary Prefect server (`prefect_test_harness`), each size in a",
        "fresh process and a fresh state folder (empty MLflow registry). Imports happen before the",
        "server starts, so the flow time is the flow's own work plus Prefect's bookkeeping.",
        "",
        "| | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
        row("rows (train / valid / holdout)", [_split_sizes(s) for s in sz]),
        row("trees kept (early stopping)", [str(t["trees"]) for t in steps]),
        row("holdout average precision / ROC AUC", [_ap_auc(t["metrics"]) for t in steps]),
        row("write demo data (`data` command), s", [_s(s["data_seconds"]) for s in sz]),
        row("Prefect server start-up, s", [_s(f["server_start_seconds"]) for f in flows]),
        row("**flow run** (call to return), s", [f"**{_s(f['flow_seconds'])}**" for f in flows]),
        row("flow run, CPU s of the flow process", [_s(f["steps"]["flow"]["cpu_seconds"]) for f in flows]),
        row("sum of task runs (Prefect's record), s", [_s(f["tasks_seconds"]) for f in flows]),
        row("flow run as Prefect records it, s", [_s(f["flow_run"].get("total_run_time")) for f in flows]),
        row("sum of the steps called directly, s", [_s(t["steps_seconds"]) for t in steps]),
        row("imports (prefect + flow module + GX + MLflow), s", [_s(_imports_seconds(f["steps"])) for f in flows]),
        row("whole flow process (imports, server, flow, stop), s", [_s(s["flow_process_seconds"]) for s in sz]),
        row("peak RSS, steps process, MiB", [_mib(t["peak_rss_mib"]) for t in steps]),
        row("peak RSS, flow process, MiB", [_mib(f["peak_rss_mib"]) for f in flows]),
        row("peak RSS, Prefect server process, MiB", [_mibs(f["server_peak_rss_mib"]) for f in flows]),
    ]
    return [*lines, "", *setup_line(r["setup"]), ""]


def setup_line(setup: Record) -> list[str]:
    made = (
        f"bake {_s(setup['bake_seconds'])} s, `make install` {_s(setup['install_seconds'])} s (uv cache warm), "
        if "bake_seconds" in setup
        else ""
    )
    return [
        f"Setup: {made}first import of the training stack {_s(setup['first_import_seconds'])} s"
        f" (compiles bytecode), later imports {_s(setup['cached_import_seconds'])} s."
    ]


def per_step_section(r: Record) -> list[str]:
    names, steps = list(r["sizes"]), [s["steps"] for s in r["sizes"].values()]
    flows = [s["flow"] for s in r["sizes"].values()]
    lines = [
        "## Per step",
        "",
        "Wall seconds of each pipeline function called directly (fresh process, libraries imported",
        "beforehand), the CPU seconds of that call (all threads of the process; far below wall time",
        "means the step waited for the CPU), the same step as a Prefect task run inside the flow",
        "(wall), and the peak RSS during the direct call. `again:` rows repeat logging and the gate in",
        "the same registry, as a retraining does: the MLflow database exists and the gate scores the",
        "champion on the holdout.",
        "",
        "| step | " + " | ".join(f"{n} direct | {n} CPU | {n} task | {n} peak MiB" for n in names) + " |",
        "|---|" + "---:|---:|---:|---:|" * len(names),
    ]
    for direct, task in [*STEPS, ("again:log_and_register", None), ("again:gate", None)]:
        cells = []
        for t, f in zip(steps, flows, strict=True):
            step = t["steps"][direct]
            in_flow = NONE if task is None else _s(f["tasks"].get(task))
            cells += [_s(step["seconds"]), _s(step["cpu_seconds"]), in_flow, _mib(step["peak_rss_mib"])]
        lines.append(row(direct, cells))
    totals = []
    for t, f in zip(steps, flows, strict=True):
        cpu = sum(t["steps"][d]["cpu_seconds"] for d, _ in STEPS)
        totals += [f"**{_s(t['steps_seconds'])}**", f"**{_s(cpu)}**", f"**{_s(f['tasks_seconds'])}**", ""]
    lines.append(row("**total**", totals))
    return [*lines, "", *step_shares(r), ""]


def step_shares(r: Record) -> list[str]:
    """The four largest steps' shares of the direct steps' time, per size, and the import costs."""
    lines = ["Share of the direct steps:", ""]
    for name, size in _sizes(r):
        steps, total = size["steps"]["steps"], size["steps"]["steps_seconds"]
        ranked = sorted(((d, steps[d]["seconds"]) for d, _ in STEPS), key=lambda x: -x[1])
        lines.append(f"- {name}: " + ", ".join(f"{d} {v / total:.0%}" for d, v in ranked[:4]))
    imports = next(iter(r["sizes"].values()))["steps"]["steps"]
    costs = ", ".join(
        f"{k.removeprefix('import:')} {_s(v['seconds'])} s" for k, v in imports.items() if k.startswith("import:")
    )
    return [*lines, "", f"Import costs inside the steps process (bytecode cached): {costs}."]


def threads_section(r: Record) -> list[str]:
    sizes = _sizes(r)
    if not all("fit_threads" in s for _, s in sizes):
        return []
    identical = all(t["same_predictions_across_threads"] for _, s in sizes for t in s["fit_threads"])
    lines = [
        "## fit: LightGBM threads and OpenMP spinning",
        "",
        "The settings fix `num_threads` at 2. Each row is one `fit` call in a process that",
        "set `OMP_WAIT_POLICY` before loading LightGBM; load is the 1-minute load average then.",
        f"Predictions were bit-identical across thread counts in every run: {str(identical).lower()}.",
        "",
        "| rows | OMP_WAIT_POLICY | threads | wall s | CPU s | load |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name, size in sizes:
        for t in size["fit_threads"]:
            for run in t["runs"]:
                cells = [t["omp_wait_policy"], str(run["threads"]), _s(run["seconds"])]
                lines.append(row(name, [*cells, _s(run["cpu_seconds"]), _s(run["load_1min"])]))
    return [*lines, ""]


def prediction_section(p: Record) -> list[str]:
    lines = [
        "## Prediction: ONNX Runtime vs LightGBM, same model",
        "",
        f"The {label(p['model_rows'])}-row model (version {p['model_version']}, {p['trees']} trees,"
        f" {p['features']} features; ONNX tree nodes {p['onnx_nodes']}). Rows from the holdout, encoded"
        " once; float32 unless stated. Cases run interleaved, one call each in turn, so machine noise",
        "hits them alike. `ModelBundle.score_matrix` is what the service calls (ONNX session, 1 intra-op",
        f"thread); max |ORT - LightGBM| on 10k rows: {p['max_abs_diff_10k_rows']:.1e}.",
        "",
        "| batch | case | threads | median | p99 | rows/s | reps |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for c in p["cases"]:
        timings = [_us(c["median_us"]), _us(c["p99_us"]), f"{c['rows_per_s']:,}", str(c["reps"])]
        lines.append(row(f"{c['batch']:,}", [c["case"], str(c["threads"]), *timings]))
    return [*lines, "", P99_NOTE, ""]


def ratios_section(p: Record) -> list[str]:
    lines = [
        "Ratios ORT / LightGBM (below 1: ONNX Runtime is faster), median and p99:",
        "",
        "| batch | score_matrix / Booster f32 (1 thread) | InferenceSession / Booster f32 (1 thread)"
        " | InferenceSession / Booster f64 numpy (1 thread) | score_matrix / Booster f32 (2 threads) |",
        "|---:|---:|---:|---:|---:|",
    ]
    by = {(c["batch"], c["case"], c["threads"]): c for c in p["cases"]}
    for batch in sorted({c["batch"] for c in p["cases"]}):
        cells = []
        for (ort_case, ort_threads), (lgb_case, lgb_threads) in RATIO_PAIRS:
            o, g = by[(batch, ort_case, ort_threads)], by[(batch, lgb_case, lgb_threads)]
            cells.append(f"{o['median_us'] / g['median_us']:.2f} / {o['p99_us'] / g['p99_us']:.2f}")
        lines.append(row(f"{batch:,}", cells))
    return lines


def control_section(control: Record | None) -> list[str]:
    if not control:
        return []
    lines = [
        "",
        "Control: the same data and parameters with the category codes given to LightGBM as plain",
        f"numbers ({control['trees']} trees; ONNX tree nodes {control['onnx_nodes']}), 1 thread each:",
        "",
        "| batch | ORT median | LightGBM median | ratio median | ratio p99 |",
        "|---:|---:|---:|---:|---:|",
    ]
    for b in control["batches"]:
        o, g = b["ort"], b["lightgbm"]
        ratios = [f"{o['median_us'] / g['median_us']:.2f}", f"{o['p99_us'] / g['p99_us']:.2f}"]
        lines.append(row(f"{b['batch']:,}", [_us(o["median_us"]), _us(g["median_us"]), *ratios]))
    return lines


def levels_section(levels: Record | None) -> list[str]:
    if not levels:
        return []
    lines = [
        "",
        f"By `max_category_levels` (the merchant_id levels kept; the default is 64), trained on"
        f" {label(levels['rows'])} rows, 1 thread each, {levels['levels'][0]['batch']:,} holdout rows per call:",
        "",
        "| max_category_levels | trees | holdout AP | BRANCH_EQ nodes | ORT median | LightGBM median"
        " | ORT / LightGBM |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for level in levels["levels"]:
        o, g = level["ort"], level["lightgbm"]
        model = [str(level["trees"]), f"{level['average_precision']:.3f}", str(level["onnx_nodes"].get("BRANCH_EQ", 0))]
        timings = [_us(o["median_us"]), _us(g["median_us"]), f"{o['median_us'] / g['median_us']:.2f}"]
        lines.append(row(str(level["max_category_levels"]), [*model, *timings]))
    return lines


def render(r: Record) -> str:
    notes = [
        f"OMP_WAIT_POLICY {r['omp_wait_policy']}. Other work on the machine shows as wall time well above"
        " CPU time in the JSON (`cpu_seconds`, `load_1min` per step)"
    ]
    sections = [
        header("Training", r, "benchmarks/training/run.py"),
        machine_section(r, notes),
        end_to_end_section(r),
        per_step_section(r),
        threads_section(r),
        prediction_section(r["predict"]),
        ratios_section(r["predict"]),
        control_section(r["predict"].get("control_without_categoricals")),
        levels_section(r.get("category_levels")),
        [
            "",
            "## How to read this",
            "",
            "See benchmarks/README.md (Training) for the command, what each figure means and what the",
            "recorded run found.",
            "",
        ],
    ]
    return "\n".join(line for section in sections for line in section)


if __name__ == "__main__":
    main()
