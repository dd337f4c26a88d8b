"""The drift benchmark: the project's engine vs Evidently's DataDriftPreset vs scipy's tests.

    make install                                            # the template's environment (cookiecutter, uv)
    .venv/bin/python benchmarks/drift/run.py                # bakes build/bench-drift; ~10 minutes on 2 cores
    .venv/bin/python benchmarks/drift/run.py --project build/dev/fraud-detection --trials 20 --skip-evidently

On 1M rows x 50 features (40 numeric, 10 categorical with 20 levels; drift
injected in 6) it times each tool, measures its memory and records which
features it flags; then it repeats undrifted and drifted trials to measure the
engine's false-alarm rate and power. Results go to results.json and results.md
beside this script. Needs Python 3.11+, make and network access for the
Evidently environment (made with uv: Evidently 0.7 does not import with pandas 3).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE.parents[1]
EVIDENTLY = ("evidently==0.7.*", "pandas<3", "pyarrow")
TARGET_SECONDS, TARGET_MEMORY_RATIO, TARGET_SPEEDUP = 2.0, 2.0, 100.0  # issue 4's targets


def sh(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    subprocess.run([str(a) for a in args], cwd=cwd, check=True, env={**os.environ, **(env or {})})


def find_uv() -> str:
    found = shutil.which("uv") or (TEMPLATE / ".venv" / "bin" / "uv")
    if not Path(found).exists():
        sys.exit("uv not found: run `make install` in the template (it installs uv into .venv)")
    return str(found)


def baked_project(project: Path | None, uv: str) -> Path:
    """The project whose engine is measured: the given bake, or a fresh default bake."""
    if project is None:
        out = TEMPLATE / "build" / "bench-drift"
        sh(sys.executable, TEMPLATE / "scripts" / "bake.py", "--output-dir", out)
        project = out / "fraud-detection"
    project = project.resolve()
    sh("make", "install", f"UV={uv}", f"PYTHON={sys.executable}", cwd=project)
    return project


def evidently_python(work: Path, uv: str) -> Path:
    venv = work / "evidently-venv"
    if not (venv / "bin" / "python").exists():
        sh(uv, "venv", "--quiet", "--python", sys.executable, venv)
    sh(uv, "pip", "install", "--quiet", "--python", venv / "bin" / "python", *EVIDENTLY)
    return venv / "bin" / "python"


def machine() -> dict[str, Any]:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    memory = next(
        (int(line.split()[1]) // 1024 for line in Path("/proc/meminfo").read_text().splitlines()
         if line.startswith("MemTotal")),
        None,
    )  # fmt: skip
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_mib": memory,
        "os": platform.platform(),
        "load_1min_at_start": round(os.getloadavg()[0], 2),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _flags(names: list[str]) -> str:
    return ", ".join(names) or "none"


def markdown(results: dict[str, Any]) -> str:
    engine, scipy_, evidently = results["engine"], results["scipy"], results.get("evidently")
    truth = sorted(results["truth"]["injected"])
    rows = results["truth"]["rows"]
    host = results["machine"]
    lines = [
        "# Drift benchmark: results",
        "",
        f"Recorded {host['date']} on {host['cpu']} ({host['cores']} cores, {host['memory_mib']:,} MiB RAM, "
        f"{host['os']}; load {host['load_1min_at_start']} at start).",
        "",
        "Rerun from the template: `make install && .venv/bin/python benchmarks/drift/run.py` (see its docstring).",
        "",
        f"## {rows:,} rows x {results['truth']['numeric'] + results['truth']['categorical']} features, "
        f"drift injected in {len(truth)}",
        "",
        "Reference and current tables have the same size; drift injected in the current one:",
        "",
        *[f"- `{name}`: {what}" for name, what in results["truth"]["injected"].items()],
        "",
        "| | engine (this project) | scipy on raw rows | Evidently DataDriftPreset |",
        "|---|---|---|---|",
        f"| time to score the window | **{engine['seconds_best']} s** (median {engine['seconds_median']} s; "
        f"profile fitted once in {engine['fit_seconds']} s) | {scipy_['seconds_best']} s | "
        + (f"{evidently['seconds']} s |" if evidently else "not run |"),
        f"| memory beyond the data | {engine['traced_peak_mib']} MiB allocated at peak (tracemalloc); "
        f"RSS peak +{engine['rss_peak_growth_mib']} MiB | RSS peak +{scipy_['rss_peak_growth_mib']} MiB | "
        + (f"RSS peak +{evidently['rss_peak_growth_mib']:,} MiB |" if evidently else "- |"),
        f"| flagged | {_flags(engine['flagged'])} | {_flags(scipy_['flagged'])} (BH-corrected); uncorrected "
        f"p < 0.05: {_flags(scipy_['flagged_uncorrected'])} | "
        + (f"{_flags(evidently['flagged'])} |" if evidently else "- |"),
        f"| same as injected | {sorted(engine['flagged']) == truth} | {sorted(scipy_['flagged']) == truth} | "
        + (f"{sorted(evidently['flagged']) == truth} |" if evidently else "- |"),
        "",
        f"The window (the current table) takes {engine['window_mib']} MiB in pandas 3 ({', '.join(engine['dtypes'])})"
        + (f"; {evidently['window_mib']} MiB in Evidently's pandas 2 (object strings)" if evidently else "")
        + f". The fitted profile is {engine['profile_kib']} KiB of JSON. Load average while measuring (2 = both "
        f"cores busy): engine {engine['load_1min']}, scipy {scipy_['load_1min']}"
        + (f", Evidently {evidently['load_1min']}." if evidently else "."),
        "",
        "Targets: "
        + "; ".join(f"{name}: {'met' if ok else 'MISSED'} ({detail})" for name, ok, detail in results["targets"])
        + ".",
        "",
    ]
    lines += trials_markdown(results["trials"])
    lines += [
        "",
        "## How it is measured",
        "",
        "- Each tool runs in a fresh process on the same Parquet files; the engine fits the reference profile once "
        "(not timed in the window's figure) and scores the window three times (best and median shown).",
        "- The engine's memory is the peak of numpy and Python allocations while scoring (tracemalloc), beyond the "
        "window itself; RSS growth can read 0 when freed pages from loading the data are reused. Evidently's and "
        "scipy's figures are the growth of the process's peak RSS while they run.",
        "- scipy: `ks_2samp` on each numeric column's raw values (its asymptotic p-value at this size), "
        "`chi2_contingency` on each categorical's 2 x k table, then Benjamini-Hochberg as the engine does.",
        "- Evidently picks its method per column by type and size (here: "
        + (", ".join(evidently["methods"]) if evidently else "not run")
        + ", each at its default threshold); a column is flagged when Evidently says it drifted.",
        "- The machine is shared: timings vary with its load (recorded beside each figure).",
    ]
    return "\n".join(lines) + "\n"


def trials_markdown(trials: dict[str, Any]) -> list[str]:
    synthetic, demo = trials["synthetic"], trials["demo"]
    lines = [
        f"## Repeated trials ({synthetic['trials']} each; reference {synthetic['reference_rows']:,} rows, "
        f"refitted every trial)",
        "",
        "Undrifted windows (share of features flagged per trial):",
        "",
        "| data | window | mean share flagged | worst trial | trials with any flag | trials above 5% |",
        "|---|---|---|---|---|---|",
    ]
    for name, found, features in (
        ("synthetic", synthetic["undrifted"], synthetic["features"]),
        ("demo world", demo["undrifted"], demo["features"]),
    ):
        for window, rates in found.items():
            label = window.replace("_uncorrected", " (no correction)")
            lines.append(
                f"| {name} ({features} features) | {label} | {rates['mean_share_flagged']:.2%} | "
                f"{rates['max_share_flagged']:.1%} | {rates['trials_with_any_flag']:.0%} | "
                f"{rates['trials_above_5_percent']:.0%} |"
            )
    numeric, categorical = synthetic["power_numeric_0.2sd_10k"], synthetic["power_categorical_10pp_10k"]
    by_family = ", ".join(f"{family} {rate:.0%}" for family, rate in numeric["by_family"].items())
    lines += [
        "",
        "Power at 10,000 rows (one feature drifted per trial):",
        "",
        "| drift | detected | other features flagged (mean share) |",
        "|---|---|---|",
        f"| numeric mean +0.2 SD ({by_family}) | {numeric['detected']:.0%} | "
        f"{numeric['other_features_flagged']['mean_share_flagged']:.2%} |",
        f"| one level +10 percentage points | {categorical['detected']:.0%} | "
        f"{categorical['other_features_flagged']['mean_share_flagged']:.2%} |",
        "",
        f"Trials took {trials['seconds']} s.",
    ]
    return lines


def targets(results: dict[str, Any]) -> list[tuple[str, bool, str]]:
    engine, evidently = results["engine"], results.get("evidently")
    truth = sorted(results["truth"]["injected"])
    ratio = (engine["window_mib"] + engine["traced_peak_mib"]) / engine["window_mib"]
    found = [
        ("under 2 s", engine["seconds_best"] < TARGET_SECONDS, f"{engine['seconds_best']} s"),
        (
            "under 2x the window's memory",
            ratio < TARGET_MEMORY_RATIO,
            f"window + engine peak = {ratio:.2f}x the window",
        ),
        ("flags exactly the injected features", sorted(engine["flagged"]) == truth, _flags(engine["flagged"])),
    ]
    if evidently:
        speedup = evidently["seconds"] / engine["seconds_best"]
        found.append(("100x faster than Evidently", speedup >= TARGET_SPEEDUP, f"{speedup:,.0f}x"))
        found.append(
            ("same features as Evidently", sorted(evidently["flagged"]) == sorted(engine["flagged"]), "compared sets")
        )
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", type=Path, help="an installed bake to measure (default: bake build/bench-drift)")
    parser.add_argument("--work", type=Path, help="where data and the Evidently environment go")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--skip-evidently", action="store_true")
    parser.add_argument("--out", type=Path, default=HERE, help="where results.json and results.md are written")
    args = parser.parse_args()
    os.environ.setdefault("UV_PYTHON_DOWNLOADS", "never")
    uv = find_uv()
    project = baked_project(args.project, uv)
    python = project / ".venv" / "bin" / "python"
    work = (args.work or project.parent / "drift-bench").resolve()
    data = work / f"data-{args.rows}"
    measure = HERE / "measure.py"
    results: dict[str, Any] = {"machine": machine()}
    if not (data / "truth.json").exists():
        sh(python, measure, "generate", "--rows", args.rows, "--out", data)
    results["truth"] = json.loads((data / "truth.json").read_text(encoding="utf-8"))
    for tool in ("engine", "scipy"):
        sh(python, measure, tool, "--data", data, "--out", work / f"{tool}.json", cwd=project)
        results[tool] = json.loads((work / f"{tool}.json").read_text(encoding="utf-8"))
    if not args.skip_evidently:
        sh(evidently_python(work, uv), HERE / "evidently_run.py", "--data", data, "--out", work / "evidently.json")
        results["evidently"] = json.loads((work / "evidently.json").read_text(encoding="utf-8"))
    sh(python, measure, "trials", "--trials", args.trials, "--out", work / "trials.json", cwd=project)
    results["trials"] = json.loads((work / "trials.json").read_text(encoding="utf-8"))
    results["targets"] = targets(results)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    (args.out / "results.md").write_text(markdown(results), encoding="utf-8")
    print((args.out / "results.md").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
