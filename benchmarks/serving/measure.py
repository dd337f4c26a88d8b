"""Measure the serving path; runs with the baked project's Python (run.py calls it).

Every server runs the same ONNX model (the champion of a fresh registry) with the
same worker count, on loopback, driven by loadgen.py (closed loop, raw sockets, two
processes; its CPU per request is recorded next to the server's):

  full      this service: gateway, contract check, champion, prediction log (SQLite),
            shadow challenger (a second version holding `challenger`)
  logonly   the same with the shadow off
  lean      the same with the log and the shadow off
  mlflow    `mlflow models serve --env-manager local` of the same ONNX model (the client
            sends the encoded float matrix: no contract check, no log)
  echo      a bare BentoML endpoint that returns its body (BentoML's defaults)

plus the full path under BentoML's access-log / metrics / tracing settings, each
turned off alone and all together. The servers of a comparison run at the same time
and take turns, scenario by scenario, over several rounds in rotating order: on a
shared machine a noisy minute then hits all of them, and the medians compare like
with like. Each run is bounded by a request count and a duration, after a warm-up.

    python measure.py --project build/serving/fraud-detection --work build/serving/bench --out results.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil  # type: ignore[import-untyped]  # no stubs in the baked environment
from loadgen import TIME_MARK, UNIQUE_MARK  # run as a script from this folder, beside loadgen.py

HERE = Path(__file__).resolve().parent
LOADGEN = HERE / "loadgen.py"
SERVERS = ("full", "logonly", "lean", "mlflow", "echo", "study")  # `--only` picks from these
BASELINE = "log + shadow on, code of --baseline"
SCENARIOS = [(1, 1), (1, 16), (100, 1), (100, 16)]  # (records per request, concurrent connections)
STUDY_SCENARIOS = [(1, 1), (1, 16)]
# BentoML's defaults, then each setting off alone, then all off (the project's choice is
# access log off, metrics on, tracing off: the `full` server above).
STUDY = {
    "bentoml defaults (access log, metrics, tracing on)": {"ACCESS_LOG": "true", "METRICS": "true", "TRACING": "true"},
    "access log off": {"ACCESS_LOG": "false", "METRICS": "true", "TRACING": "true"},
    "metrics off": {"ACCESS_LOG": "true", "METRICS": "false", "TRACING": "true"},
    "tracing off": {"ACCESS_LOG": "true", "METRICS": "true", "TRACING": "false"},
    "all three off": {"ACCESS_LOG": "false", "METRICS": "false", "TRACING": "false"},
}


def log(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the registry and the request bodies ----------------------------------------------------------


def prepare(project: Path, state: Path, rows: int) -> dict[str, Any]:
    """Train a champion into a fresh registry, register its bundle again as `challenger`."""
    sys.path.insert(0, str(project))
    from fraud_detection.core.contract import load_contract
    from fraud_detection.data.demo_world import demo_frame
    from fraud_detection.data.tables import prepare_frame
    from fraud_detection.settings import Settings
    from fraud_detection.stores import registry
    from tests.support.project import train_version  # the baked project's own "every step, no Prefect"

    shutil.rmtree(state, ignore_errors=True)
    settings = Settings(project_root=project, state_dir=state, demo_rows=rows)
    contract = load_contract(settings.contract_file)
    frame = prepare_frame(demo_frame(contract, rows, 60), contract)
    registered = train_version(settings, frame, contract, reason="benchmark")
    client = registry.connect(settings)
    name = settings.mlflow.registered_model_name
    run = client.get_run(registered.run_id)
    shadow = client.create_model_version(name, source=f"{run.info.artifact_uri}/bundle", run_id=registered.run_id)
    client.set_registered_model_alias(name, registry.CHALLENGER, str(shadow.version))
    return {
        "name": name,
        "champion": registered.version,
        "challenger": str(shadow.version),
        "tracking_uri": settings.mlflow_tracking_uri,
    }


def write_bodies(project: Path, state: Path, bodies: Path) -> None:
    """Realistic records (as callers send them) for the service and the echo; the same
    records encoded as the float matrix for `mlflow models serve`."""
    from fraud_detection.core.contract import load_contract
    from fraud_detection.data.demo_world import TransactionGenerator
    from fraud_detection.model.bundle import load_bundle
    from fraud_detection.settings import Settings
    from fraud_detection.stores import registry

    settings = Settings(project_root=project, state_dir=state)
    timestamp_column = load_contract(settings.contract_file).timestamp_column
    frame = TransactionGenerator(seed=99).sample(100, datetime(2026, 4, 1, tzinfo=UTC), id_prefix="bench")
    frame = frame.drop(columns=["is_fraud", "settlement_hours", "fraud_probability"])
    records = json.loads(frame.to_json(orient="records", date_format="iso"))
    for i, record in enumerate(records):  # loadgen makes each id unique and each time current, per request
        record["transaction_id"] = f"bench-{UNIQUE_MARK.decode()}-{i:03d}"
        record[timestamp_column] = TIME_MARK.decode()
    client = registry.connect(settings)
    champion = registry.version_by_alias(client, settings.mlflow.registered_model_name, registry.CHAMPION)
    assert champion is not None
    with registry.fetched_bundle(client, champion) as folder:
        matrix = load_bundle(folder).encoding.transform_records(records)
    rows = [[None if np.isnan(v) else float(v) for v in row] for row in matrix]
    bodies.mkdir(parents=True, exist_ok=True)
    for size in (1, 100):
        (bodies / f"records-{size}.json").write_text(json.dumps({"records": records[0] if size == 1 else records}))
        (bodies / f"mlflow-{size}.json").write_text(json.dumps({"inputs": rows[:size]}))


# --- servers -------------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    command: list[str]
    env: dict[str, str]
    ready_path: str
    predict_path: str
    body_prefix: str
    cwd: Path


def family(pid: int) -> list[psutil.Process]:
    try:
        parent = psutil.Process(pid)
        return [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def cpu_seconds(pid: int) -> float:
    total = 0.0
    for process in family(pid):
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system
    return total


@contextlib.contextmanager
def running(
    server: Server, port: int, log_file: Path, *, stop_timeout_s: float = 20, stopped: dict[str, Any] | None = None
) -> Iterator[tuple[str, int]]:
    """Start a server in its own process group; stop it and every worker afterwards (SIGTERM,
    then SIGKILL to what is left after `stop_timeout_s`). `stopped`, when given, receives how
    the stop went: `killed` (processes that had to be killed), `exit_code` and `clean`."""
    command = [part.replace("{port}", str(port)) for part in server.command]
    with log_file.open("wb") as output:
        process = subprocess.Popen(
            command,
            cwd=server.cwd,
            env={**os.environ, **server.env},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    sys.exit(f"{server.name} exited with {process.returncode}; see {log_file}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(url + server.ready_path, timeout=2).status_code == 200:
                        break
                time.sleep(0.3)
            else:
                sys.exit(f"{server.name} did not become ready; see {log_file}")
            yield url, process.pid
        finally:
            members = family(process.pid)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            _, alive = psutil.wait_procs(members, timeout=stop_timeout_s)
            for survivor in alive:
                with contextlib.suppress(psutil.NoSuchProcess):
                    survivor.kill()
            exit_code = process.wait(timeout=stop_timeout_s)
            if stopped is not None:
                stopped.update(killed=len(alive), exit_code=exit_code, clean=not alive and exit_code == 0)


def load(url: str, body: Path, connections: int, duration_s: float, max_requests: int) -> dict[str, Any]:
    command = [
        sys.executable,
        str(LOADGEN),
        "--url",
        url,
        "--body",
        str(body),
        "--connections",
        str(connections),
        "--duration",
        str(duration_s),
        "--max-requests",
        str(max_requests),
        "--processes",
        "1" if connections == 1 else "2",
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@dataclass
class Running:
    server: Server
    variant: str
    url: str
    pid: int


def one_run(target: Running, batch: int, connections: int, args: argparse.Namespace) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    cpu_before = cpu_seconds(target.pid)
    body = args.bodies / f"{target.server.body_prefix}-{batch}.json"
    result = load(target.url + target.server.predict_path, body, connections, args.duration, args.max_requests)
    result["server_cpu_s"] = cpu_seconds(target.pid) - cpu_before
    result["load_average_1m"] = load_before
    return result


def summarise(target: Running, batch: int, connections: int, rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the rounds (robust to the bursts of a shared machine), totals for CPU."""
    requests = sum(r["requests"] for r in rounds)
    rates = [r["requests"] / r["seconds"] for r in rounds]
    return {
        "server": target.server.name,
        "variant": target.variant,
        "records_per_request": batch,
        "connections": connections,
        "rounds": len(rounds),
        "requests": requests,
        "requests_per_s": round(statistics.median(rates), 1),
        "records_per_s": round(statistics.median(rates) * batch, 1),
        "requests_per_s_rounds": [round(rate, 1) for rate in rates],
        "p50_ms": statistics.median(r["p50_ms"] for r in rounds),
        "p90_ms": statistics.median(r["p90_ms"] for r in rounds),
        "p99_ms": statistics.median(r["p99_ms"] for r in rounds),
        "p99_ms_rounds": [r["p99_ms"] for r in rounds],
        "max_ms": max(r["max_ms"] for r in rounds),
        "errors": sum(r["errors"] for r in rounds),
        "server_cpu_ms_per_request": round(1000 * sum(r["server_cpu_s"] for r in rounds) / max(requests, 1), 3),
        "client_cpu_ms_per_request": round(1000 * sum(r["client_cpu_s"] for r in rounds) / max(requests, 1), 3),
        "load_average_1m": round(statistics.median(r["load_average_1m"] for r in rounds), 2),
    }


def start_all(stack: contextlib.ExitStack, group: list[tuple[Server, str]], args: argparse.Namespace) -> list[Running]:
    """Start every server of the group (stopped when `stack` closes), then warm each up:
    imports, caches, the first model calls."""
    targets = []
    for server, variant in group:
        log(f"starting {server.name} ({variant})")
        slug = variant.replace(" ", "-").replace("(", "").replace(")", "").replace(",", "")
        url, pid = stack.enter_context(running(server, free_port(), args.work / f"{server.name}-{slug}.log"))
        targets.append(Running(server, variant, url, pid))
    for target in targets:
        body = args.bodies / f"{target.server.body_prefix}-1.json"
        load(target.url + target.server.predict_path, body, 4, args.warmup, 10**9)
    return targets


def scenario(targets: list[Running], batch: int, connections: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    """One scenario in rounds, the servers taking turns in a rotating order; a row per server."""
    results: list[list[dict[str, Any]]] = [[] for _ in targets]
    for round_ in range(args.rounds):
        for i in [(i + round_) % len(targets) for i in range(len(targets))]:
            results[i].append(one_run(targets[i], batch, connections, args))
    rows = [summarise(target, batch, connections, found) for target, found in zip(targets, results, strict=True)]
    for row in rows:
        log(
            f"  {row['server']:>7} {batch:>3} records x {connections:>2}: {row['requests_per_s']:>7} req/s "
            f"(rounds {row['requests_per_s_rounds']}), p50 {row['p50_ms']:.2f} ms, p99 {row['p99_ms']:.2f} ms, "
            f"server CPU {row['server_cpu_ms_per_request']} ms/req, client CPU "
            f"{row['client_cpu_ms_per_request']} ms/req, errors {row['errors']}, load {row['load_average_1m']}"
        )
    return rows


def compare(
    group: list[tuple[Server, str]], scenarios: list[tuple[int, int]], args: argparse.Namespace
) -> list[dict[str, Any]]:
    """Start every server of the group, then run each scenario in rounds, the servers taking
    turns in a rotating order, so that a noisy minute on a shared machine hits them all."""
    rows = []
    with contextlib.ExitStack() as stack:
        targets = start_all(stack, group, args)
        for batch, connections in scenarios:
            rows += scenario(targets, batch, connections, args)
        for target in targets:
            if target.server.name == "full":
                shadow = httpx.get(target.url + "/metadata", timeout=10).json()["shadow"]
                rows.append({"server": "full", "variant": target.variant, "shadow": shadow})
    return rows


def service(name: str, project: Path, state: Path, workers: int, **settings: str) -> Server:
    env = {
        "FRAUD_DETECTION_STATE_DIR": str(state),
        "FRAUD_DETECTION_PROJECT_ROOT": str(project),
        "FRAUD_DETECTION_SERVICE__WORKERS": str(workers),
        "BENTOML_DO_NOT_TRACK": "true",
        "BENTOML_HOME": str(state / "bentoml"),
    }
    env.update({f"FRAUD_DETECTION_{key}": value for key, value in settings.items()})
    cli = str(Path(sys.executable).with_name("fraud-detection"))
    return Server(
        name, [cli, "serve", "--host", "127.0.0.1", "--port", "{port}"], env, "/readyz", "/predict", "records", project
    )


def environment() -> dict[str, Any]:
    """The baked environment's Python and the packages the servers run on."""
    packages = ("bentoml", "mlflow", "onnxruntime", "numpy", "pandas", "sqlalchemy", "orjson", "httpx")
    versions: dict[str, str | None] = {}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"python": platform.python_version(), "packages": versions}


def mlflow_server(model: dict[str, Any], project: Path, workers: int) -> Server:
    """`mlflow models serve` of the champion, from this environment."""
    venv_bin = Path(sys.executable).parent
    command = [str(venv_bin / "mlflow"), "models", "serve", "-m", f"models:/{model['name']}@champion"]
    command += ["--env-manager", "local", "-h", "127.0.0.1", "-p", "{port}", "-w", str(workers)]
    env = {"MLFLOW_TRACKING_URI": model["tracking_uri"], "PATH": f"{venv_bin}{os.pathsep}{os.environ['PATH']}"}
    return Server("mlflow", command, env, "/ping", "/invocations", "mlflow", project)


def echo_server(state: Path, workers: int) -> Server:
    """The bare BentoML endpoint (echo_service.py), BentoML's defaults."""
    command = [str(Path(sys.executable).with_name("bentoml")), "serve", "echo_service:Echo", "--working-dir", str(HERE)]
    command += ["--host", "127.0.0.1", "--port", "{port}"]
    env = {"BENCH_WORKERS": str(workers), "BENTOML_DO_NOT_TRACK": "true", "BENTOML_HOME": str(state / "bentoml")}
    return Server("echo", command, env, "/readyz", "/predict", "records", HERE)


def baseline_server(earlier: Path, state: Path, workers: int) -> Server:
    """The full path with an earlier bake's code, in this environment: its package ahead of the
    installed one on the path, and a prediction log of its own (a log this code has migrated is
    refused by older code)."""
    baseline_log = f"sqlite:///{state / 'baseline' / 'predictions.db'}"
    before = service("baseline", earlier.resolve(), state, workers, PREDICTION_LOG__URL=baseline_log)
    before.env["PYTHONPATH"] = str(earlier.resolve() / "src")
    return before


def headline_group(
    chosen: set[str], project: Path, state: Path, model: dict[str, Any], args: argparse.Namespace
) -> list[tuple[Server, str]]:
    """The servers compared side by side in the headline table, in its order."""
    workers = args.workers
    candidates: list[tuple[str, Callable[[], Server], str]] = [
        ("full", lambda: service("full", project, state, workers), "log + shadow on"),
        ("logonly", lambda: service("logonly", project, state, workers, SERVICE__SHADOW="false"), "log on, shadow off"),
        (
            "lean",
            lambda: service("lean", project, state, workers, PREDICTION_LOG__ENABLED="false", SERVICE__SHADOW="false"),
            "log + shadow off",
        ),
        ("mlflow", lambda: mlflow_server(model, project, workers), "mlflow models serve"),
        ("echo", lambda: echo_server(state, workers), "bentoml defaults"),
    ]
    group = [(make(), variant) for name, make, variant in candidates if name in chosen]
    if args.baseline is not None:
        group.insert(1 if "full" in chosen else 0, (baseline_server(args.baseline, state, workers), BASELINE))
    return group


def study_group(project: Path, state: Path, workers: int) -> list[tuple[Server, str]]:
    """The full path under each of BentoML's access-log / metrics / tracing settings."""
    return [
        (service("study", project, state, workers, **{f"SERVICE__{k}": v for k, v in toggles.items()}), variant)
        for variant, toggles in STUDY.items()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per run (upper bound)")
    parser.add_argument("--rounds", type=int, default=3, help="runs per server and scenario, interleaved")
    parser.add_argument("--max-requests", type=int, default=20_000, help="answers per run (upper bound)")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--rows", type=int, default=40_000, help="training rows for the benchmark's model")
    parser.add_argument("--only", nargs="*", choices=SERVERS, help="the servers to run (default: all)")
    parser.add_argument("--baseline", type=Path, help="an earlier bake of the project: its full path runs too")
    args = parser.parse_args()
    project = args.project.resolve()
    args.work = args.work.resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    args.bodies = args.work / "bodies"
    state = args.work / "state"
    log("training the benchmark's model")
    model = prepare(project, state, args.rows)
    write_bodies(project, state, args.bodies)
    chosen = set(args.only or SERVERS)
    group = headline_group(chosen, project, state, model, args)
    runs = compare(group, SCENARIOS, args) if group else []
    if "study" in chosen:
        runs += compare(study_group(project, state, args.workers), STUDY_SCENARIOS, args)
    result = {
        "environment": environment(),
        "model": model,
        "config": {
            "workers": args.workers,
            "duration_s": args.duration,
            "max_requests": args.max_requests,
            "rounds": args.rounds,
            "warmup_s": args.warmup,
            "client": "loadgen.py (closed loop, keep-alive)",
        },
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
