"""Evidently's DataDriftPreset on the benchmark tables, run in its own environment.

Evidently 0.7 does not import with pandas 3, so `run.py` makes a separate
virtual environment (pandas < 3, evidently 0.7.*) with uv and runs this script
there; the data arrive as Parquet and the result leaves as JSON:

    python evidently_run.py --data DIR --out evidently.json
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

# Installed only in the Evidently environment run.py makes: type-checked without it.
from evidently import DataDefinition, Dataset, Report  # type: ignore[import-not-found]
from evidently.presets import DataDriftPreset  # type: ignore[import-not-found]

MIB = 1024 * 1024


def _status_mib(name: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def drifted(metric: dict[str, Any]) -> bool:
    """ValueDrift results carry their method and threshold: p-value methods drift below it,
    distances at or above it (as Evidently's own DriftedColumnsCount counts them)."""
    config = metric["config"]
    value, threshold = float(metric["value"]), float(config["threshold"])
    return value < threshold if "p_value" in config["method"].lower() else value >= threshold


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    truth = json.loads((args.data / "truth.json").read_text(encoding="utf-8"))
    reference = pd.read_parquet(args.data / "reference.parquet")
    current = pd.read_parquet(args.data / "current.parquet")
    window_mib = current.memory_usage(deep=True).sum() / MIB
    definition = DataDefinition(
        numerical_columns=truth["numeric_columns"], categorical_columns=truth["categorical_columns"]
    )
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # reset the RSS high-water mark
    before = _status_mib("VmRSS")
    start = time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    result = snapshot.dict()
    seconds = time.perf_counter() - start
    peak_growth = _status_mib("VmHWM") - before
    columns = [m for m in result["metrics"] if m["config"].get("type", "").endswith(":ValueDrift")]
    count = next(m for m in result["metrics"] if m["metric_name"].startswith("DriftedColumnsCount"))
    flagged = [m["config"]["column"] for m in columns if drifted(m)]
    assert len(flagged) == int(count["value"]["count"]), "flags disagree with Evidently's own count"
    payload = {
        "tool": "evidently",
        "seconds": round(seconds, 1),
        "load_1min": round(os.getloadavg()[0], 2),
        "rss_peak_growth_mib": round(peak_growth, 1),
        "window_mib": round(window_mib, 1),
        "flagged": flagged,
        "methods": sorted({m["config"]["method"] for m in columns}),
        "values": {m["config"]["column"]: m["value"] for m in columns},
        "environment": {
            "python": platform.python_version(),
            "packages": {name: metadata.version(name) for name in ("evidently", "pandas", "numpy", "scipy")},
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
