"""Drift benchmark measurements that run inside a baked project's environment.

`run.py` calls this script with the baked project's `.venv/bin/python`, each
measurement in a fresh process (so that imports, caches and peak memory start
from zero):

    python measure.py generate --rows 1000000 --out DIR     reference.parquet, current.parquet, truth.json
    python measure.py engine   --data DIR --out engine.json  the project's drift engine
    python measure.py scipy    --data DIR --out scipy.json   scipy's tests on the raw rows
    python measure.py trials   --trials 100 --out trials.json  false-alarm and power rates

It imports the default bake's package, `fraud_detection`.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import statistics
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

NUMERIC, CATEGORICAL, LEVELS = 40, 10, 20
MIB = 1024 * 1024
# The drift injected into the 1M-row current table: clear enough that every method should see it.
INJECTED = {
    "num_0": "normal: mean +0.25 SD",
    "num_5": "lognormal (5% nulls): values x1.5",
    "num_10": "Poisson: rate 4 -> 5",
    "num_15": "beta (5% nulls): 15% of values replaced by uniform(0.6, 1)",
    "cat_0": "level_00: +20 percentage points of share",
    "cat_5": "a new level with 10% of rows",
}
PACKAGES = ("numpy", "pandas", "pyarrow", "scipy")


# --- memory ---------------------------------------------------------------------------------------------


def _status_kib(name: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_mib() -> float:
    kib = _status_kib("VmRSS")
    return kib / 1024 if kib is not None else float("nan")


def peak_rss_mib() -> float:
    kib = _status_kib("VmHWM")
    return kib / 1024 if kib is not None else float("nan")


def reset_peak() -> None:
    """Reset the RSS high-water mark (Linux: 5 into /proc/self/clear_refs)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def measure(function: Callable[[], Any], repeats: int = 3) -> tuple[Any, dict[str, float]]:
    """Best and median wall time over `repeats` plain runs, then one traced run for memory:
    tracemalloc's peak (numpy and Python allocations) and the growth of the RSS peak."""
    times = []
    result = None
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    gc.collect()
    reset_peak()
    before = rss_mib()
    tracemalloc.start()
    function()
    _, traced = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return result, {
        "load_1min": round(os.getloadavg()[0], 2),  # other processes competing for the cores
        "seconds_best": round(min(times), 3),
        "seconds_median": round(statistics.median(times), 3),
        "traced_peak_mib": round(traced / MIB, 1),
        "rss_peak_growth_mib": round(peak_rss_mib() - before, 1),
    }


def environment() -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"python": platform.python_version(), "packages": versions}


def _write(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")


# --- synthetic data with known truth ----------------------------------------------------------------------


def contract() -> Any:
    from fraud_detection.core.contract import parse_contract

    features: list[dict[str, Any]] = [{"name": f"num_{i}", "type": "numeric", "nullable": True} for i in range(NUMERIC)]
    features += [
        {"name": f"cat_{i}", "type": "categorical", "categories": [f"level_{k:02d}" for k in range(LEVELS)]}
        for i in range(CATEGORICAL)
    ]
    return parse_contract(
        {"task": "binary_classification", "target": "label", "id_column": "row_id", "timestamp_column": "ts",
         "features": features}
    )  # fmt: skip


def level_shares(column: int) -> np.ndarray:
    weights = 1.0 / np.arange(1, LEVELS + 1) ** (0.3 + 0.05 * (column % 5))
    return np.asarray(weights / weights.sum())


SDS = (2.0, float(np.sqrt((np.exp(0.64) - 1) * np.exp(6.64))), 2.0, float(np.sqrt(10 / (49 * 8))))


def numeric_column(i: int, n: int, rng: np.random.Generator, shift_sd: float = 0.0) -> np.ndarray:
    """Four families in turn: normal, lognormal, Poisson (ties), beta; 5% nulls in odd columns."""
    family = i % 4
    if family == 0:
        values = rng.normal(10.0, 2.0, n)
    elif family == 1:
        values = rng.lognormal(3.0, 0.8, n)
    elif family == 2:
        values = rng.poisson(4.0, n).astype(float)
    else:
        values = rng.beta(2.0, 5.0, n)
    values += shift_sd * SDS[family]
    if i % 2:
        values[rng.random(n) < 0.05] = np.nan
    return values


def categorical_column(i: int, n: int, rng: np.random.Generator, moved: float = 0.0) -> np.ndarray:
    shares = level_shares(i)
    if moved:
        shares = np.concatenate(([shares[0] + moved], shares[1:] * (1 - shares[0] - moved) / (1 - shares[0])))
    names = np.array([f"level_{k:02d}" for k in range(LEVELS)], dtype=object)
    return np.asarray(names[rng.choice(LEVELS, size=n, p=shares)])


def synthetic(
    n: int, seed: int, shift_sd: dict[str, float] | None = None, moved: dict[str, float] | None = None
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    shift_sd, moved = shift_sd or {}, moved or {}
    columns: dict[str, Any] = {
        f"num_{i}": numeric_column(i, n, rng, shift_sd.get(f"num_{i}", 0.0)) for i in range(NUMERIC)
    }
    for i in range(CATEGORICAL):
        columns[f"cat_{i}"] = categorical_column(i, n, rng, moved.get(f"cat_{i}", 0.0))
    return pd.DataFrame(columns)


def inject(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The benchmark's drifted current table (see INJECTED)."""
    rng = np.random.default_rng(seed)
    n = len(frame)
    frame["num_0"] += 0.25 * SDS[0]
    frame["num_5"] *= 1.5
    frame["num_10"] = rng.poisson(5.0, n).astype(float)
    replaced = (rng.random(n) < 0.15) & frame["num_15"].notna().to_numpy()
    frame.loc[replaced, "num_15"] = rng.uniform(0.6, 1.0, int(replaced.sum()))
    frame["cat_0"] = categorical_column(0, n, rng, moved=0.20)
    new = rng.random(n) < 0.10
    frame["cat_5"] = np.where(new, "level_new", frame["cat_5"].to_numpy()).astype(object)
    return frame


def generate(rows: int, out: Path) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    synthetic(rows, seed=1).to_parquet(out / "reference.parquet", index=False)
    inject(synthetic(rows, seed=2), seed=3).to_parquet(out / "current.parquet", index=False)
    truth = {
        "rows": rows,
        "numeric": NUMERIC,
        "categorical": CATEGORICAL,
        "levels": LEVELS,
        "injected": INJECTED,
        "numeric_columns": [f"num_{i}" for i in range(NUMERIC)],
        "categorical_columns": [f"cat_{i}" for i in range(CATEGORICAL)],
    }
    _write(out / "truth.json", truth)
    return truth


# --- the engine --------------------------------------------------------------------------------------------


def run_engine(data: Path) -> dict[str, Any]:
    from fraud_detection.model.reference_profile import compile_profile, fit_profile
    from fraud_detection.monitoring.drift import score_window

    reference = pd.read_parquet(data / "reference.parquet")
    start = time.perf_counter()
    profile = fit_profile(reference, contract())
    compiled = compile_profile(profile)
    fit_seconds = time.perf_counter() - start
    profile_bytes = len(json.dumps(profile))
    del reference
    gc.collect()
    current = pd.read_parquet(data / "current.parquet")
    data_mib = current.memory_usage(deep=True).sum() / MIB
    report, timing = measure(lambda: score_window(compiled, current))
    flagged = list(report.drifted_features)
    return {
        "tool": "engine",
        "fit_seconds": round(fit_seconds, 3),
        "profile_kib": round(profile_bytes / 1024, 1),
        "window_mib": round(data_mib, 1),
        "dtypes": sorted({str(t) for t in current.dtypes}),
        **timing,
        "flagged": flagged,
        "details": {
            f.feature: {
                key: value
                for key, value in f.to_dict().items()
                if key in ("test", "p_adjusted", "effects", "wasserstein", "js_distance", "psi", "max_share_change")
            }
            for f in report.features
            if f.drifted
        },
        "environment": environment(),
    }


# --- scipy on the raw rows -----------------------------------------------------------------------------------


def run_scipy(data: Path) -> dict[str, Any]:
    """Kolmogorov-Smirnov (scipy.stats.ks_2samp) on every numeric column's raw values, and the
    chi-square test of the 2 x k contingency table (scipy.stats.chi2_contingency) per categorical."""
    from fraud_detection.core.two_sample import adjust_p_values
    from scipy import stats

    reference = pd.read_parquet(data / "reference.parquet")
    current = pd.read_parquet(data / "current.parquet")
    data_mib = current.memory_usage(deep=True).sum() / MIB

    def tests() -> dict[str, float]:
        found: dict[str, float] = {}
        for name in reference.columns:
            if name.startswith("num_"):
                found[name] = float(stats.ks_2samp(reference[name].dropna(), current[name].dropna()).pvalue)
            else:
                table = pd.concat([reference[name].value_counts(), current[name].value_counts()], axis=1).fillna(0)
                found[name] = float(stats.chi2_contingency(table.to_numpy().T, correction=False).pvalue)
        return found

    p_values, timing = measure(tests, repeats=1)
    names = list(p_values)
    adjusted = adjust_p_values(np.array([p_values[n] for n in names]), "bh")
    return {
        "tool": "scipy",
        "window_mib": round(data_mib, 1),
        **timing,
        "flagged": [n for n, p in zip(names, adjusted, strict=True) if p < 0.05],
        "flagged_uncorrected": [n for n in names if p_values[n] < 0.05],
        "p_values": p_values,
        "environment": environment(),
    }


# --- repeated trials: false alarms and power -------------------------------------------------------------------


def _rates(flags: list[int], features: int) -> dict[str, float]:
    shares = np.asarray(flags) / features
    return {
        "mean_share_flagged": round(float(shares.mean()), 4),
        "max_share_flagged": round(float(shares.max()), 4),
        "trials_with_any_flag": round(float(np.mean(shares > 0)), 3),
        "trials_above_5_percent": round(float(np.mean(shares > 0.05)), 3),
    }


def synthetic_trials(trials: int, reference_rows: int) -> dict[str, Any]:
    from fraud_detection.model.reference_profile import compile_profile, fit_profile
    from fraud_detection.monitoring.drift import score_window
    from fraud_detection.settings import DriftSettings

    uncorrected = DriftSettings(correction="none")
    features = NUMERIC + CATEGORICAL
    null: dict[str, list[int]] = {"1k": [], "100k": [], "1k_uncorrected": [], "100k_uncorrected": []}
    numeric_hits: dict[str, list[bool]] = {"normal": [], "lognormal": [], "poisson": [], "beta": []}
    numeric_others: list[int] = []
    categorical_hits: list[bool] = []
    categorical_others: list[int] = []
    for trial in range(trials):
        seed = 10_000 + 10 * trial
        reference = compile_profile(fit_profile(synthetic(reference_rows, seed), contract()))
        for label, rows in (("1k", 1_000), ("100k", 100_000)):
            window = synthetic(rows, seed + 1 + (rows > 1_000))
            null[label].append(len(score_window(reference, window).drifted_features))
            loose = score_window(reference, window, settings=uncorrected)
            null[f"{label}_uncorrected"].append(len(loose.drifted_features))
        shifted = f"num_{trial % 4}"
        flagged = score_window(reference, synthetic(10_000, seed + 3, shift_sd={shifted: 0.2})).drifted_features
        numeric_hits[list(numeric_hits)[trial % 4]].append(shifted in flagged)
        numeric_others.append(len(set(flagged) - {shifted}))
        moved = f"cat_{trial % CATEGORICAL}"
        flagged = score_window(reference, synthetic(10_000, seed + 4, moved={moved: 0.10})).drifted_features
        categorical_hits.append(moved in flagged)
        categorical_others.append(len(set(flagged) - {moved}))
    all_numeric = [hit for hits in numeric_hits.values() for hit in hits]
    return {
        "trials": trials,
        "features": features,
        "reference_rows": reference_rows,
        "undrifted": {label: _rates(flags, features) for label, flags in null.items()},
        "power_numeric_0.2sd_10k": {
            "detected": round(float(np.mean(all_numeric)), 3),
            "by_family": {family: round(float(np.mean(h)), 3) for family, h in numeric_hits.items()},
            "other_features_flagged": _rates(numeric_others, features - 1),
        },
        "power_categorical_10pp_10k": {
            "detected": round(float(np.mean(categorical_hits)), 3),
            "other_features_flagged": _rates(categorical_others, features - 1),
        },
    }


def demo_trials(trials: int, reference_rows: int) -> dict[str, Any]:
    """Undrifted days of the demo world (the project's contract, real dependencies between features)."""
    from fraud_detection.core.contract import load_contract
    from fraud_detection.data.demo_world import TransactionGenerator
    from fraud_detection.model.reference_profile import compile_profile, fit_profile
    from fraud_detection.monitoring.drift import score_window
    from fraud_detection.settings import get_settings

    project = load_contract(get_settings().contract_file)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    flags: dict[str, list[int]] = {"1k": [], "100k": []}
    for trial in range(trials):
        world = TransactionGenerator(seed=7)
        reference = world.sample(reference_rows, start + timedelta(days=40 * trial), days=30)
        compiled = compile_profile(fit_profile(reference, project))
        for label, rows in (("1k", 1_000), ("100k", 100_000)):
            window = world.sample(rows, start + timedelta(days=40 * trial + 31 + (rows > 1_000)))
            flags[label].append(len(score_window(compiled, window).drifted_features))
    return {
        "trials": trials,
        "features": len(project.features),
        "reference_rows": reference_rows,
        "undrifted": {label: _rates(found, len(project.features)) for label, found in flags.items()},
    }


def run_trials(trials: int) -> dict[str, Any]:
    start = time.perf_counter()
    found: dict[str, Any] = {
        "synthetic": synthetic_trials(trials, reference_rows=20_000),
        "demo": demo_trials(trials, reference_rows=20_000),
    }
    found["seconds"] = round(time.perf_counter() - start, 1)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["generate", "engine", "scipy", "trials"])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--data", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--trials", type=int, default=100)
    args = parser.parse_args()
    if args.command == "generate":
        generate(args.rows, args.out)
        return
    if args.command == "trials":
        result = run_trials(args.trials)
    else:
        result = run_engine(args.data) if args.command == "engine" else run_scipy(args.data)
    _write(args.out, result)


if __name__ == "__main__":
    main()
