"""The drift benchmark: the project's engine vs Evidently's DataDriftPreset vs scipy's tests.

    make install                                            # the template's environment (cookiecutter, uv)
    .venv/bin/python benchmarks/drift/run.py                # bakes build/bench-drift; ~10 minutes on 2 cores
    .venv/bin/python benchmarks/drift/run.py --project build/dev/fraud-detection --trials 20 --skip-evidently

On 1M rows x 50 features (40 numeric, 10 categorical with 20 levels; drift
injected in 6) it times each tool, measures its memory and records which
features it flags; then it repeats undrifted and drifted trials to measure the
engine's false-alarm rate and power. Results go to results.json and results.md
beside this script (or --results-dir). The bake and its environment are made through
scripts/bake.py (`--project` measures an installed bake instead). Needs Python 3.11+, make
and network access for the Evidently environment (made with the template's uv: Evidently
0.7 does not import with pandas 3).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import (
    BUILD,
    UV,
    Record,
    add_project_arguments,
    baked_project,
    header,
    machine_section,
    measure_env,
    read_json,
    start_record,
    timed_run,
    write_results,
)

HERE = Path(__file__).resolve().parent
MEASURE = HERE / "measure.py"
EVIDENTLY = ("evidently==0.7.*", "pandas<3", "pyarrow")
TARGET_SECONDS, TARGET_MEMORY_RATIO, TARGET_SPEEDUP = 2.0, 2.0, 100.0  # issue 4's targets


def evidently_python(work: Path) -> Path:
    """A virtual environment of its own for Evidently (pandas < 3), made with the template's uv."""
    venv = work / "evidently-venv"
    if not (venv / "bin" / "python").exists():
        timed_run([UV, "venv", "--quiet", "--python", sys.executable, venv], cwd=work)
    timed_run([UV, "pip", "install", "--quiet", "--python", venv / "bin" / "python", *EVIDENTLY], cwd=work)
    return venv / "bin" / "python"


def _flags(names: list[str]) -> str:
    return ", ".join(names) or "none"


def markdown_report(results: Record) -> str:
    lines = [
        *header("Drift", results, "benchmarks/drift/run.py"),
        *machine_section(results),
        "Rerun from the template: `make install && .venv/bin/python benchmarks/drift/run.py` (see its docstring).",
        "",
        *comparison_markdown(results),
        "Targets: "
        + "; ".join(f"{name}: {'met' if ok else 'MISSED'} ({detail})" for name, ok, detail in results["targets"])
        + ".",
        "",
        *trials_markdown(results["trials"]),
        "",
        *method_markdown(results.get("evidently")),
    ]
    return "\n".join(lines) + "\n"


def comparison_markdown(results: Record) -> list[str]:
    """The three tools on the same window: time, memory, and the features each flags."""
    engine, scipy_, evidently = results["engine"], results["scipy"], results.get("evidently")
    truth = sorted(results["truth"]["injected"])
    rows = results["truth"]["rows"]
    return [
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
    ]


def method_markdown(evidently: Record | None) -> list[str]:
    return [
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


def measure(project: Path, work: Path, args: argparse.Namespace) -> Record:
    """Each tool on the same data, then the repeated trials: one process each."""
    python, env = project / ".venv" / "bin" / "python", measure_env()
    data = work / f"data-{args.rows}"
    found: Record = {}
    if not (data / "truth.json").exists():
        timed_run([python, MEASURE, "generate", "--rows", str(args.rows), "--out", data], cwd=project, env=env)
    found["truth"] = read_json(data / "truth.json")
    for tool in ("engine", "scipy"):
        timed_run([python, MEASURE, tool, "--data", data, "--out", work / f"{tool}.json"], cwd=project, env=env)
        found[tool] = read_json(work / f"{tool}.json")
    if not args.skip_evidently:
        evidently: list[str | Path] = [
            evidently_python(work),
            HERE / "evidently_run.py",
            "--data",
            data,
            "--out",
            work / "evidently.json",
        ]
        timed_run(evidently, cwd=work)
        found["evidently"] = read_json(work / "evidently.json")
    trials: list[str | Path] = [python, MEASURE, "trials", "--trials", str(args.trials), "--out", work / "trials.json"]
    timed_run(trials, cwd=project, env=env)
    found["trials"] = read_json(work / "trials.json")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_project_arguments(parser, BUILD / "bench-drift", HERE)
    parser.add_argument("--work", type=Path, help="where data and the Evidently environment go")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--skip-evidently", action="store_true")
    args = parser.parse_args()
    project, setup = baked_project(args)
    work = (args.work or args.build_dir / "drift-bench").resolve()
    work.mkdir(parents=True, exist_ok=True)
    results = start_record({"rows": args.rows, "trials": args.trials, "evidently": not args.skip_evidently})
    results["setup"] = setup
    results.update(measure(project, work, args))
    results["environment"] = results["engine"]["environment"]
    results["targets"] = targets(results)
    markdown = write_results(args.results_dir, results, markdown_report)
    print(markdown.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
