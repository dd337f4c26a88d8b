"""Benchmark the baked project's training: the flow under Prefect and each step on its own,
ONNX Runtime against LightGBM on the trained model, and peak memory, at 100k and 1M rows.

    .venv/bin/python benchmarks/training/run.py            # from the template's root (make install first)

It bakes the default project into build/bench-training (fresh), creates its environment
with `make install`, writes the demo data with the project's own `data` command, then
runs `measure.py` with the baked `.venv/bin/python`: one process per measurement, each
with a fresh state folder. Raw numbers go to results.json, a readable account to
results.md (both next to this file unless --results-dir says otherwise).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE.parents[1]
MEASURE = HERE / "measure.py"
SLUG = "fraud-detection"
# What every measurement imports; importing it once first writes the bytecode caches,
# so that the measured processes start like a second run on a developer's machine.
WARM_IMPORTS = "import fraud_detection.pipeline, prefect, great_expectations, mlflow.onnx, onnxmltools, onnxruntime"


def log(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", flush=True)


def timed_run(command: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> float:
    """Run a command (its output streams through); its wall time, or exit on failure."""
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, check=False)
    if result.returncode != 0:
        sys.exit(f"failed ({result.returncode}): {' '.join(command)}")
    return round(time.perf_counter() - start, 3)


def machine() -> dict[str, Any]:
    """CPU, cores, memory and OS of this machine (Linux details where /proc has them)."""
    cpu = platform.processor() or platform.machine()
    memory_gib = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    os_name = platform.platform()
    release = Path("/etc/os-release")
    if release.is_file():
        fields = dict(line.split("=", 1) for line in release.read_text().splitlines() if "=" in line)
        os_name = f"{fields.get('PRETTY_NAME', '').strip(chr(34))} (kernel {platform.release()})"
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable,
        "memory_gib": memory_gib,
        "os": os_name,
        "virtualisation": _virtualisation(),
    }


def _virtualisation() -> str | None:
    try:
        out = subprocess.run(["systemd-detect-virt"], capture_output=True, text=True, check=False, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def template_commit() -> str | None:
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


def child_env() -> dict[str, str]:
    """The measured processes' environment: this one, quiet, and allowed to cache bytecode."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # set on some CI images: every import would recompile
    env.update(
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false",
        GIT_PYTHON_REFRESH="quiet",
        BENTOML_DO_NOT_TRACK="true",
    )
    return env


def label(rows: int) -> str:
    return f"{rows // 1_000_000}M" if rows % 1_000_000 == 0 else f"{rows // 1000}k"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000], help="rows of demo data")
    parser.add_argument("--days", type=int, default=90, help="days the demo data spans")
    parser.add_argument("--build-dir", type=Path, default=TEMPLATE / "build" / "bench-training")
    parser.add_argument("--results-dir", type=Path, default=HERE)
    parser.add_argument("--predict-size", type=int, help="whose model the prediction benchmark uses (default: largest)")
    parser.add_argument("--reps", default="1:3000,1000:300,100000:15", help="prediction: batch:repetitions,...")
    parser.add_argument("--skip-threads", action="store_true", help="skip the fit thread/OpenMP sensitivity runs")
    parser.add_argument("--skip-levels", action="store_true", help="skip ORT vs LightGBM by max_category_levels")
    parser.add_argument("--omp-wait-policy", help="set OMP_WAIT_POLICY (e.g. PASSIVE) for every measurement")
    parser.add_argument("--no-bake", action="store_true", help="reuse the baked project and its environment")
    args = parser.parse_args()

    build = args.build_dir.resolve()
    project = build / SLUG
    work = build / "work"
    started = datetime.now(UTC)
    record: dict[str, Any] = {
        "date": started.isoformat(timespec="seconds"),
        "machine": machine(),
        "template_commit": template_commit(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "settings": {"sizes": args.sizes, "days": args.days, "reps": args.reps},
        "load_before": [round(x, 2) for x in os.getloadavg()],
        "setup": {},
    }
    env = child_env()
    if args.omp_wait_policy:
        env["OMP_WAIT_POLICY"] = args.omp_wait_policy
    record["omp_wait_policy"] = env.get("OMP_WAIT_POLICY", "unset")

    if not args.no_bake:
        log(f"baking the default project into {build}")
        record["setup"]["bake_seconds"] = timed_run(
            [sys.executable, str(TEMPLATE / "scripts" / "bake.py"), "--output-dir", str(build), "--fresh"], cwd=TEMPLATE
        )
        log("make install (the baked project's environment)")
        record["setup"]["install_seconds"] = timed_run(
            ["make", "install", f"UV={TEMPLATE / '.venv' / 'bin' / 'uv'}", "PYTHON=python3"], cwd=project
        )
    python = str(project / ".venv" / "bin" / "python")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)

    log("first import (compiles bytecode), then a second one (cached)")
    record["setup"]["first_import_seconds"] = timed_run([python, "-c", WARM_IMPORTS], cwd=project, env=env)
    record["setup"]["cached_import_seconds"] = timed_run([python, "-c", WARM_IMPORTS], cwd=project, env=env)

    sizes: dict[str, Any] = {}
    for rows in args.sizes:
        name = label(rows)
        data = work / "data" / f"demo-{name}.parquet"
        result: dict[str, Any] = {"rows": rows}
        log(f"{name}: writing the demo data")
        cli = str(project / ".venv" / "bin" / SLUG)
        result["data_seconds"] = timed_run(
            [cli, "data", "--rows", str(rows), "--days", str(args.days), "--out", str(data)], cwd=project, env=env
        )
        for mode in ("steps", "flow"):
            log(f"{name}: {mode}")
            out = work / f"{mode}-{name}.json"
            command = [python, str(MEASURE), mode, "--data", str(data), "--state", str(work / f"state-{mode}-{name}")]
            command += ["--out", str(out)]
            if mode == "steps":
                command += ["--model-dir", str(work / f"model-{name}")]
            result[f"{mode}_process_seconds"] = timed_run(command, cwd=project, env=env)
            result[mode] = json.loads(out.read_text())
        if not args.skip_threads:
            result["fit_threads"] = []
            for policy in (None, "PASSIVE"):
                log(f"{name}: fit with 1 and 2 threads, OMP_WAIT_POLICY={policy or 'unset'}")
                out = work / f"threads-{name}-{policy or 'unset'}.json"
                threads_env = {k: v for k, v in env.items() if k != "OMP_WAIT_POLICY"}
                if policy:
                    threads_env["OMP_WAIT_POLICY"] = policy
                state = work / f"state-threads-{name}"
                command = [python, str(MEASURE), "fit-threads", "--data", str(data), "--state", str(state)]
                timed_run([*command, "--threads", "1,2", "--out", str(out)], cwd=project, env=threads_env)
                result["fit_threads"].append(json.loads(out.read_text()))
        sizes[name] = result
    record["sizes"] = sizes

    predict_rows = args.predict_size or max(args.sizes)
    name = label(predict_rows)
    log(f"prediction: ONNX Runtime vs LightGBM on the {name}-row model")
    out = work / "predict.json"
    command = [python, str(MEASURE), "predict", "--data", str(work / "data" / f"demo-{name}.parquet")]
    command += ["--state", str(work / f"state-steps-{name}"), "--model-dir", str(work / f"model-{name}")]
    command += ["--reps", args.reps, "--out", str(out)]
    record["predict_process_seconds"] = timed_run(command, cwd=project, env=env)
    record["predict"] = {"model_rows": predict_rows, **json.loads(out.read_text())}
    if not args.skip_levels:
        name = label(min(args.sizes))
        log(f"ONNX Runtime vs LightGBM by max_category_levels, {name} rows")
        out = work / "levels.json"
        command = [python, str(MEASURE), "category-levels", "--data", str(work / "data" / f"demo-{name}.parquet")]
        command += ["--state", str(work / "state-levels"), "--out", str(out)]
        timed_run(command, cwd=project, env=env)
        record["category_levels"] = {"rows": min(args.sizes), **json.loads(out.read_text())}
    record["environment"] = sizes[label(args.sizes[0])]["steps"]["environment"]
    record["load_after"] = [round(x, 2) for x in os.getloadavg()]
    record["total_seconds"] = round((datetime.now(UTC) - started).total_seconds(), 1)

    args.results_dir.mkdir(parents=True, exist_ok=True)
    (args.results_dir / "results.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    (args.results_dir / "results.md").write_text(render(record), encoding="utf-8")
    log(f"wrote {args.results_dir / 'results.md'} and results.json")


# --- the readable account --------------------------------------------------------------------------

STEPS = [
    ("load", "load-data"),
    ("validate", "validate-data"),
    ("split", "split-by-time"),
    ("fit", "train-lightgbm"),
    ("evaluate_holdout", "evaluate-holdout"),
    ("export", "export-onnx"),
    ("check_parity", "check-parity"),
    ("log_and_register", "log-to-mlflow"),
    ("gate", "gate-and-alias"),
]


NONE = "-"


def _s(value: float | None) -> str:
    return NONE if value is None else f"{value:.2f}"


def _us(value: float) -> str:
    return f"{value / 1000:.2f} ms" if value >= 1000 else f"{value:.0f} µs"


def render(r: dict[str, Any]) -> str:
    m, env = r["machine"], r["environment"]
    names = list(r["sizes"])
    lines = [
        "# Training benchmark: results",
        "",
        f"Recorded {r['date']} by `{r['command']}` (template commit {r['template_commit']}).",
        "Generated by `benchmarks/training/run.py`; do not edit by hand. Timings come from one run",
        "on a shared machine: read them as orders of magnitude and ratios, not promises.",
        "",
        "## Machine",
        "",
        f"- CPU: {m['cpu']}, {m['logical_cpus']} logical CPUs ({m['usable_cpus']} usable)"
        + (f", {m['virtualisation']} VM" if m.get("virtualisation") else ""),
        f"- Memory: {m['memory_gib']} GiB; OS: {m['os']}",
        f"- Python {env['python']}; " + ", ".join(f"{k} {v}" for k, v in env["packages"].items() if v is not None),
        f"- Load average (1/5/15 min) before: {r['load_before']}, after: {r['load_after']};"
        f" OMP_WAIT_POLICY {r['omp_wait_policy']}. Other work on the machine shows as wall time well above"
        " CPU time in the JSON (`cpu_seconds`, `load_1min` per step).",
        "",
        "## End to end",
        "",
        "The `training` flow under a temporary Prefect server (`prefect_test_harness`), each size in a",
        "fresh process and a fresh state folder (empty MLflow registry). Imports happen before the",
        "server starts, so the flow time is the flow's own work plus Prefect's bookkeeping.",
        "",
        "| | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]

    def row(title: str, values: list[str]) -> None:
        lines.append(f"| {title} | " + " | ".join(values) + " |")

    sz = [r["sizes"][n] for n in names]
    row("rows (train / valid / holdout)", [
        f"{s['rows']:,} ({s['steps']['sizes']['train_rows']:,} / {s['steps']['sizes']['valid_rows']:,} / "
        f"{s['steps']['sizes']['holdout_rows']:,})" for s in sz
    ])  # fmt: skip
    row("trees kept (early stopping)", [str(s["steps"]["trees"]) for s in sz])
    row("holdout average precision / ROC AUC", [
        f"{s['steps']['metrics']['average_precision']:.3f} / {s['steps']['metrics']['roc_auc']:.3f}" for s in sz
    ])  # fmt: skip
    row("write demo data (`data` command), s", [_s(s["data_seconds"]) for s in sz])
    row("Prefect server start-up, s", [_s(s["flow"]["server_start_seconds"]) for s in sz])
    row("**flow run** (call to return), s", [f"**{_s(s['flow']['flow_seconds'])}**" for s in sz])
    row("flow run, CPU s of the flow process", [_s(s["flow"]["steps"]["flow"]["cpu_seconds"]) for s in sz])
    row("sum of task runs (Prefect's record), s", [_s(s["flow"]["tasks_seconds"]) for s in sz])
    row("flow run as Prefect records it, s", [_s(s["flow"]["flow_run"].get("total_run_time")) for s in sz])
    row("sum of the steps called directly, s", [_s(s["steps"]["steps_seconds"]) for s in sz])
    row("imports (prefect + flow module + GX + MLflow), s", [
        _s(sum(v["seconds"] for k, v in s["flow"]["steps"].items() if k.startswith("import:"))) for s in sz
    ])  # fmt: skip
    row("whole flow process (imports, server, flow, stop), s", [_s(s["flow_process_seconds"]) for s in sz])
    row("peak RSS, steps process, MiB", [f"{s['steps']['peak_rss_mib']:.0f}" for s in sz])
    row("peak RSS, flow process, MiB", [f"{s['flow']['peak_rss_mib']:.0f}" for s in sz])
    row("peak RSS, Prefect server process, MiB", [
        ", ".join(f"{v:.0f}" for v in s["flow"]["server_peak_rss_mib"].values()) or NONE for s in sz
    ])  # fmt: skip
    setup = r["setup"]
    lines += [
        "",
        f"Setup: bake {_s(setup.get('bake_seconds'))} s, `make install` {_s(setup.get('install_seconds'))} s"
        " (uv cache warm), first import of the training stack"
        f" {_s(setup['first_import_seconds'])} s (compiles bytecode), later imports"
        f" {_s(setup['cached_import_seconds'])} s.",
        "",
        "## Per step",
        "",
        "Wall seconds of each pipeline function called directly (fresh process, libraries imported",
        "beforehand), the CPU seconds of that call (all threads of the process; far below wall time",
        "means the step waited for the CPU), the same step as a Prefect task run inside the flow",
        "(wall), and the peak RSS during the direct call. `again:` rows repeat logging and the gate in",
        "the same registry, as a retraining does: the MLflow database exists and the gate scores the",
        "champion on the holdout.",
        "",
    ]
    header = "| step | " + " | ".join(f"{n} direct | {n} CPU | {n} task | {n} peak MiB" for n in names) + " |"
    lines += [header, "|---|" + "---:|---:|---:|---:|" * len(names)]
    for direct, task in STEPS:
        cells = []
        for s in sz:
            step = s["steps"]["steps"][direct]
            cells += [_s(step["seconds"]), _s(step["cpu_seconds"]), _s(s["flow"]["tasks"].get(task))]
            cells.append(f"{step['peak_rss_mib']:.0f}")
        row(direct, cells)
    for extra in ("again:log_and_register", "again:gate"):
        cells = []
        for s in sz:
            step = s["steps"]["steps"][extra]
            cells += [_s(step["seconds"]), _s(step["cpu_seconds"]), NONE, f"{step['peak_rss_mib']:.0f}"]
        row(extra, cells)
    cells = []
    for s in sz:
        cpu = sum(s["steps"]["steps"][d]["cpu_seconds"] for d, _ in STEPS)
        cells += [
            f"**{_s(s['steps']['steps_seconds'])}**",
            f"**{_s(cpu)}**",
            f"**{_s(s['flow']['tasks_seconds'])}**",
            "",
        ]
    row("**total**", cells)
    lines += ["", "Share of the direct steps:", ""]
    for n, s in zip(names, sz, strict=True):
        total = s["steps"]["steps_seconds"]
        ranked = sorted(((d, s["steps"]["steps"][d]["seconds"]) for d, _ in STEPS), key=lambda x: -x[1])
        lines.append(f"- {n}: " + ", ".join(f"{d} {v / total:.0%}" for d, v in ranked[:4]))
    lines.append("")
    imports = sz[0]["steps"]["steps"]
    lines.append(
        "Import costs inside the steps process (bytecode cached): "
        + ", ".join(f"{k.split(':', 1)[1]} {_s(v['seconds'])} s" for k, v in imports.items() if k.startswith("import:"))
        + "."
    )

    if all("fit_threads" in s for s in sz):
        lines += [
            "",
            "## fit: LightGBM threads and OpenMP spinning",
            "",
            "The settings fix `num_threads` at 2. Each row is one `fit` call in a process that",
            "set `OMP_WAIT_POLICY` before loading LightGBM; load is the 1-minute load average then.",
            "Predictions were bit-identical across thread counts in every run: "
            + str(all(t["same_predictions_across_threads"] for s in sz for t in s["fit_threads"])).lower()
            + ".",
            "",
            "| rows | OMP_WAIT_POLICY | threads | wall s | CPU s | load |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for n, s in zip(names, sz, strict=True):
            for t in s["fit_threads"]:
                for run in t["runs"]:
                    row(n, [t["omp_wait_policy"], str(run["threads"]), _s(run["seconds"]),
                            _s(run["cpu_seconds"]), _s(run["load_1min"])])  # fmt: skip

    p = r["predict"]
    lines += [
        "",
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
        row(f"{c['batch']:,}", [c["case"], str(c["threads"]), _us(c["median_us"]), _us(c["p99_us"]),
                                f"{c['rows_per_s']:,}", str(c["reps"])])  # fmt: skip
    lines += [
        "",
        "p99 is the 99th percentile of the repetitions (with fewer than 100, close to the slowest).",
        "",
        "Ratios ORT / LightGBM (below 1: ONNX Runtime is faster), median and p99:",
        "",
        "| batch | score_matrix / Booster f32 (1 thread) | InferenceSession / Booster f32 (1 thread)"
        " | InferenceSession / Booster f64 numpy (1 thread) | score_matrix / Booster f32 (2 threads) |",
        "|---:|---:|---:|---:|---:|",
    ]
    by = {(c["batch"], c["case"], c["threads"]): c for c in p["cases"]}
    pairs = [
        (("ort: ModelBundle.score_matrix", 1), ("lgbm: Booster.predict float32", 1)),
        (("ort: InferenceSession.run", 1), ("lgbm: Booster.predict float32", 1)),
        (("ort: InferenceSession.run", 1), ("lgbm: Booster.predict float64", 1)),
        (("ort: ModelBundle.score_matrix", 2), ("lgbm: Booster.predict float32", 2)),
    ]
    for batch in sorted({c["batch"] for c in p["cases"]}):
        cells = []
        for (oc, ot), (lc, lt) in pairs:
            o, g = by[(batch, oc, ot)], by[(batch, lc, lt)]
            cells.append(f"{o['median_us'] / g['median_us']:.2f} / {o['p99_us'] / g['p99_us']:.2f}")
        row(f"{batch:,}", cells)
    control = p.get("control_without_categoricals")
    if control:
        lines += [
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
            row(f"{b['batch']:,}", [_us(o["median_us"]), _us(g["median_us"]), *ratios])
    levels = r.get("category_levels")
    if levels:
        lines += [
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
            row(str(level["max_category_levels"]), [
                str(level["trees"]), f"{level['average_precision']:.3f}", str(level["onnx_nodes"].get("BRANCH_EQ", 0)),
                _us(o["median_us"]), _us(g["median_us"]), f"{o['median_us'] / g['median_us']:.2f}",
            ])  # fmt: skip
    lines += [
        "",
        "## How to read this",
        "",
        "See benchmarks/README.md (Training) for the command, what each figure means and what the",
        "recorded run found.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
