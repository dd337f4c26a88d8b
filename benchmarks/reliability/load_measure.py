"""The service under sustained load and at a steady rate; runs with the baked project's Python
(load.py and soak.py call it).

    python load_measure.py load --project P --work W --out load.json --workers 1 2 --requests 100000
    python load_measure.py soak --project P --work W --out soak.json --rate 150 --periods 10 --period-s 60

Both train a champion into a fresh registry and register it again as `challenger` (the
serving benchmark's `prepare`: the full path, shadow on), start `fraud-detection serve` with
a prediction log (SQLite) of the run's own, and drive it with `loadgen.py`, each connection
cycling over MIX: 45 single-record bodies, 12 of 100 records and 3 the service must refuse
(a wrong type, a missing required field, malformed JSON), 5% bad input. Every record carries a
transaction id no other request used and the current time (loadgen's marks). The service is
stopped with SIGTERM and must exit by itself; only then is its log read: the rows must be
exactly the records answered 200.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]  # no stubs in the baked environment

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "serving"))
from measure import environment, family, free_port, log, prepare, running, service, write_bodies  # noqa: E402

LOADGEN = HERE.parent / "serving" / "loadgen.py"
BAD_KINDS = ("wrong-type", "missing-field", "malformed-json")
# One cycle of 60 bodies: a 100-record body every 5th, a bad one every 20th (each kind once).
MIX = [
    f"bad-{BAD_KINDS[i // 20]}" if i % 20 == 10 else ("records-100" if i % 5 == 2 else "records-1") for i in range(60)
]
RECORDS = {"records-1": 1, "records-100": 100} | {f"bad-{kind}": 0 for kind in BAD_KINDS}


def write_bad_bodies(bodies: Path) -> None:
    """Bodies the service must refuse with a 4xx: a text where the contract wants a number, a
    required feature missing, JSON cut in the middle."""
    good = json.loads((bodies / "records-1.json").read_text())
    record = dict(good["records"])
    wrong = {"records": {**record, "amount": "a lot"}}
    missing = {"records": {key: value for key, value in record.items() if key != "amount"}}
    text = json.dumps(good)
    (bodies / "bad-wrong-type.json").write_text(json.dumps(wrong))
    (bodies / "bad-missing-field.json").write_text(json.dumps(missing))
    (bodies / "bad-malformed-json.json").write_text(text[: len(text) // 2])


def loadgen(url: str, bodies: Path, *, connections: int, requests: int, duration: float, rate: float | None) -> Any:
    """One loadgen.py run over MIX (a subprocess: its forked workers never copy this one)."""
    command = [sys.executable, str(LOADGEN), "--url", url, "--connections", str(connections)]
    command += ["--duration", str(duration), "--max-requests", str(requests), "--processes", "2"]
    command += [f"--body={bodies / f'{name}.json'}" for name in MIX]
    if rate:
        command += ["--rate", str(rate)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def answered_records(result: dict[str, Any]) -> int:
    """Records in the requests answered 200 (loadgen counts answers per body of MIX)."""
    return sum(counts.get("200", 0) * RECORDS[name] for name, counts in zip(MIX, result["by_body"], strict=True))


def status_classes(result: dict[str, Any]) -> dict[str, int]:
    classes: dict[str, int] = {}
    for status, count in result["status"].items():
        key = f"{status[0]}xx"
        classes[key] = classes.get(key, 0) + count
    return classes


def rss_bytes(pid: int) -> int:
    """Resident memory of the server and all its processes (shared pages counted in each)."""
    total = 0
    for process in family(pid):
        with contextlib.suppress(psutil.NoSuchProcess):
            total += process.memory_info().rss
    return total


class PeakRss:
    """The largest `rss_bytes` seen, sampled on a thread every half second."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.5):
            self.peak = max(self.peak, rss_bytes(self.pid))

    def __enter__(self) -> PeakRss:
        self.peak = rss_bytes(self.pid)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


@contextlib.contextmanager
def serving(
    project: Path, state: Path, work: Path, workers: int, name: str
) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """`fraud-detection serve` with `workers` workers and a log of its own at work/NAME.db;
    on leaving, SIGTERM to its group and a wait: `stop` says whether it exited by itself."""
    database = work / f"{name}.db"
    for stale in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        stale.unlink(missing_ok=True)
    server = service(name, project, state, workers, PREDICTION_LOG__URL=f"sqlite:///{database}")
    stop: dict[str, Any] = {"database": str(database)}
    # A clean stop (SIGTERM, every process out by itself) is one of the checks: wait up to 60 s.
    with running(server, free_port(), work / f"{name}.log", stop_timeout_s=60, stopped=stop) as (url, pid):
        yield url, pid, stop


def read_log(database: Path) -> dict[str, Any]:
    """What the stopped service's log holds, and its files' sizes."""
    wal = Path(f"{database}-wal")
    sizes = {"log_bytes": database.stat().st_size, "wal_bytes": wal.stat().st_size if wal.exists() else 0}
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as connection:
        rows = connection.execute("SELECT count(*), count(DISTINCT record_id) FROM predictions").fetchone()
        shadow = connection.execute("SELECT count(*) FROM shadow_scores").fetchone()[0]
        rejections = connection.execute("SELECT count(*) FROM rejections").fetchone()[0]
        integrity = connection.execute("PRAGMA quick_check").fetchone()[0]
    return {
        "rows": rows[0],
        "distinct_record_ids": rows[1],
        "shadow_rows": shadow,
        "rejections": rejections,
        "quick_check": integrity,
        **sizes,
    }


def file_size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


# --- load ------------------------------------------------------------------------------------------


def load_run(args: argparse.Namespace, state: Path, workers: int) -> dict[str, Any]:
    """`args.requests` requests at `args.connections` against `workers` workers, after a warm-up."""
    name = f"load-{workers}w"
    with serving(args.project, state, args.work, workers, name) as (url, pid, stop):
        warmup = loadgen(
            url + "/predict", args.bodies, connections=4, requests=10**9, duration=args.warmup_s, rate=None
        )
        load_before = os.getloadavg()
        with PeakRss(pid) as rss:
            result = loadgen(
                url + "/predict",
                args.bodies,
                connections=args.connections,
                requests=args.requests,
                duration=3600.0,
                rate=None,
            )
        load_after = os.getloadavg()
        rss_end = rss_bytes(pid)
    logged = read_log(Path(stop["database"]))
    expected = answered_records(warmup) + answered_records(result)
    classes = status_classes(result)
    run = {
        "workers": workers,
        "connections": args.connections,
        **{key: result[key] for key in ("requests", "seconds", "p50_ms", "p90_ms", "p99_ms", "max_ms", "mean_ms")},
        "requests_per_s": round(result["requests"] / result["seconds"], 1),
        "records_per_s": round(answered_records(result) / result["seconds"], 1),
        "status": result["status"],
        "status_classes": classes,
        "connection_errors": result["connection_errors"],
        "client_cpu_s": result["client_cpu_s"],
        "warmup_requests": warmup["requests"],
        "records_answered": expected,
        "refused_answers": classes.get("4xx", 0) + status_classes(warmup).get("4xx", 0),
        "peak_rss_mib": round(rss.peak / 2**20, 1),
        "end_rss_mib": round(rss_end / 2**20, 1),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "stop": stop,
        "log": logged,
    }
    run["checks"] = {
        "no_5xx": classes.get("5xx", 0) == 0 and status_classes(warmup).get("5xx", 0) == 0,
        "no_connection_errors": result["connection_errors"] == 0 and warmup["connection_errors"] == 0,
        "bad_input_refused_4xx": all(
            set(counts) <= {str(s) for s in range(400, 500)}
            for name, counts in zip(MIX, result["by_body"], strict=True)
            if name.startswith("bad-")
        ),
        "stopped_cleanly": stop["clean"],
        "log_rows_equal_records_answered": logged["rows"] == expected,
        "log_record_ids_unique": logged["distinct_record_ids"] == logged["rows"],
        "log_intact": logged["quick_check"] == "ok",
    }
    log(
        f"{workers} worker(s): {run['requests_per_s']} req/s, {run['records_per_s']} records/s, p50 {run['p50_ms']} "
        f"ms, p99 {run['p99_ms']} ms, status {result['status']}, log rows {logged['rows']} vs {expected} answered, "
        f"checks {run['checks']}"
    )
    return run


# --- soak ------------------------------------------------------------------------------------------


def soak_run(args: argparse.Namespace, state: Path) -> dict[str, Any]:
    """`args.periods` periods of `args.period_s` at `args.rate` requests per second, one worker;
    after each: RSS, latency of the period, WAL and log sizes."""
    periods = []
    totals = [0, 0]  # records answered 200, requests
    with serving(args.project, state, args.work, 1, "soak") as (url, pid, stop):
        database = Path(stop["database"])
        for number in range(1, args.periods + 1):
            result = loadgen(
                url + "/predict",
                args.bodies,
                connections=args.connections,
                requests=10**9,
                duration=args.period_s,
                rate=args.rate,
            )
            totals[0] += answered_records(result)
            totals[1] += result["requests"]
            period = {
                "period": number,
                "requests": result["requests"],
                "requests_per_s": round(result["requests"] / result["seconds"], 1),
                "p50_ms": result["p50_ms"],
                "p99_ms": result["p99_ms"],
                "status_classes": status_classes(result),
                "connection_errors": result["connection_errors"],
                "rss_mib": round(rss_bytes(pid) / 2**20, 1),
                "wal_mib": round(file_size(Path(f"{database}-wal")) / 2**20, 2),
                "log_mib": round(file_size(database) / 2**20, 2),
                "records_answered": totals[0],
                "load_average_1m": round(os.getloadavg()[0], 2),
            }
            periods.append(period)
            log(f"period {number}: {json.dumps(period)}")
    return {
        "rate": args.rate,
        "connections": args.connections,
        "period_s": args.period_s,
        "periods": periods,
        "records_answered": totals[0],
        "requests": totals[1],
        "stop": stop,
        "log": read_log(database),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("load", "soak"))
    parser.add_argument("--project", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=40_000, help="training rows for the benchmark's model")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="load: the worker counts, in turn")
    parser.add_argument("--requests", type=int, default=100_000, help="load: requests per worker count")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--warmup-s", type=float, default=5.0, help="load: seconds of warm-up (logged too)")
    parser.add_argument("--rate", type=float, default=100.0, help="soak: requests per second")
    parser.add_argument("--periods", type=int, default=10, help="soak: periods (minutes)")
    parser.add_argument("--period-s", type=float, default=60.0, help="soak: seconds per period")
    args = parser.parse_args()
    args.project = args.project.resolve()
    args.work = args.work.resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    args.bodies = args.work / "bodies"
    state = args.work / "state"
    log("training the benchmark's model")
    model = prepare(args.project, state, args.rows)
    write_bodies(args.project, state, args.bodies)
    write_bad_bodies(args.bodies)
    result: dict[str, Any] = {"environment": environment(), "model": model, "mix": MIX}
    if args.mode == "load":
        result["runs"] = [load_run(args, state, workers) for workers in args.workers]
    else:
        result["soak"] = soak_run(args, state)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
