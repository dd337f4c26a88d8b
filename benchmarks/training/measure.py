"""Measurements that run inside a baked project's environment (its `.venv/bin/python`).

`run.py` bakes the default project, writes the demo data and calls this script once
per measurement, each in a fresh process (so imports, caches and peak memory start
from zero) and with a fresh state folder (so MLflow starts with an empty registry):

    python measure.py imports --out imports.json          (what every measurement imports, timed)
    python measure.py steps   --data D.parquet --state S --out steps.json [--model-dir M]
    python measure.py flow    --data D.parquet --state S --out flow.json
    python measure.py predict --state S --model-dir M --data D.parquet --out predict.json
    python measure.py fit-threads --data D.parquet --state S --out threads.json [--threads 1,2]
    python measure.py category-levels --data D.parquet --state S --out levels.json [--levels 256,64,32,16]
    python measure.py profile --data D.parquet --state S --out profile.txt

It imports the default bake's package, `fraud_detection`; the environment variables that keep
the libraries quiet are set by `run.py` (`common.measure_env`).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import platform
import pstats
import resource
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = (
    "prefect", "mlflow", "great-expectations", "lightgbm", "onnxruntime", "onnxmltools", "onnx",
    "numpy", "pandas", "pyarrow", "scikit-learn", "pydantic",
)  # fmt: skip
MIB = 1024 * 1024


# --- memory ----------------------------------------------------------------------------------------


def _status_kib(field_name: str, pid: int | str = "self") -> int | None:
    """A `VmRSS`/`VmHWM` line of /proc/<pid>/status, in KiB (None off Linux or for a gone process)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_mib() -> float:
    kib = _status_kib("VmRSS")
    return round(kib / 1024, 1) if kib is not None else float("nan")


def peak_rss_mib() -> float:
    """The high-water mark of this process's RSS since start, or since the last `reset_peak`."""
    kib = _status_kib("VmHWM")
    if kib is None:  # not Linux: ru_maxrss never resets
        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return round(kib / 1024, 1)


def reset_peak() -> bool:
    """Reset the RSS high-water mark (Linux: write 5 to /proc/self/clear_refs)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


# --- timing ----------------------------------------------------------------------------------------


@dataclass
class Recorder:
    """Wall time, RSS after and peak RSS during each named block."""

    steps: dict[str, dict[str, float]] = field(default_factory=dict)
    peak_resets: bool = True

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        gc.collect()
        self.peak_resets = reset_peak() and self.peak_resets
        start, cpu_start = time.perf_counter(), time.process_time()
        yield
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        self.steps[name] = {
            "seconds": round(seconds, 3),
            "cpu_seconds": round(cpu, 3),  # this process, all threads: wall >> cpu means it waited
            "rss_after_mib": rss_mib(),
            "peak_rss_mib": peak_rss_mib(),
            "load_1min": round(os.getloadavg()[0], 2),  # other processes on the machine
        }
        print(
            f"  {name:<24} {seconds:8.2f} s  cpu {cpu:8.2f} s  peak {self.steps[name]['peak_rss_mib']:6.0f} MiB"
            f"  load {self.steps[name]['load_1min']:.1f}",
            flush=True,
        )


def environment() -> dict[str, Any]:
    """What the baked environment runs: Python and the packages that matter here."""
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


def project_settings(state: Path, data: Path) -> Any:
    """The baked project's settings (its contract and suite) with all state in `state`."""
    from fraud_detection.settings import Settings

    return Settings(state_dir=state, data_path=data)  # the rest from the environment


# --- steps: each pipeline function called directly ----------------------------------------------------


def import_heavy(recorder: Recorder) -> None:
    """Import what the steps import lazily, so that step times are work, not imports."""
    with recorder.step("import:package"):
        import fraud_detection.training.steps  # noqa: F401
    with recorder.step("import:great_expectations"):
        import great_expectations  # noqa: F401
    with recorder.step("import:mlflow"):
        import mlflow.onnx  # noqa: F401
    with recorder.step("import:onnx_tools"):
        import onnxmltools  # noqa: F401
        import onnxruntime  # noqa: F401


def run_steps(data: Path, state: Path, model_dir: Path | None) -> dict[str, Any]:
    """Every training step in the flow's order, timed one by one, without Prefect."""
    recorder = Recorder()
    start = time.perf_counter()
    import_heavy(recorder)
    from fraud_detection.training import gate
    from fraud_detection.training import steps as pipeline
    from fraud_detection.training.fit import lightgbm_params

    settings = project_settings(state, data)
    contract = pipeline.load_project_contract(settings)
    with recorder.step("load"):
        frame = pipeline.load_training_data(settings, contract)
    with recorder.step("validate"):
        pipeline.validate(frame, settings)
    with recorder.step("split"):
        split = pipeline.split(frame, contract, settings)
    with recorder.step("fit"):
        booster, encoding = pipeline.fit(split, contract, settings)
    with recorder.step("evaluate_holdout"):
        evaluation = pipeline.evaluate_holdout(booster, encoding, split, contract, settings)
    with recorder.step("export"):
        onnx_bytes = pipeline.export(booster, encoding, settings)
    with recorder.step("check_parity"):
        parity = pipeline.check_parity(onnx_bytes, encoding, split, evaluation, contract, settings)
    with recorder.step("log_and_register"):
        registered = pipeline.log_and_register(
            settings=settings, contract=contract, frame=frame, data=split, encoding=encoding,
            evaluation=evaluation, onnx_bytes=onnx_bytes, parity=parity,
            booster_params={**lightgbm_params(contract, settings.training, split.train[contract.target].to_numpy()),
                            "num_trees": booster.num_trees()},
            run_tags={"trigger": "benchmark"},
        )  # fmt: skip
    with recorder.step("gate"):
        decision = gate.gate(registered, evaluation, split, contract, settings, "benchmark")
    with recorder.step("write_model_card"):
        pipeline.write_model_card(
            settings=settings, contract=contract, frame=frame, data=split, booster=booster, encoding=encoding,
            evaluation=evaluation, parity=parity, registered=registered, decision=decision,
        )  # fmt: skip
    total = time.perf_counter() - start
    # A retraining meets an existing registry and a champion: logging skips the database's
    # creation, and the gate scores the champion on this holdout.
    with recorder.step("again:log_and_register"):
        again = pipeline.log_and_register(
            settings=settings, contract=contract, frame=frame, data=split, encoding=encoding,
            evaluation=evaluation, onnx_bytes=onnx_bytes, parity=parity, booster_params={},
            run_tags={"trigger": "benchmark-again"},
        )  # fmt: skip
    with recorder.step("again:gate"):
        again_decision = gate.gate(again, evaluation, split, contract, settings, "benchmark-again")
    if model_dir is not None:
        model_dir.mkdir(parents=True, exist_ok=True)
        booster.save_model(str(model_dir / "lightgbm.txt"))  # LightGBM's own text format
    step_names = [n for n in recorder.steps if ":" not in n]
    return {
        "rows": len(frame),
        "sizes": split.sizes(),
        "trees": booster.num_trees(),
        "onnx_bytes": len(onnx_bytes),
        "metrics": evaluation.metrics,
        "parity": parity.as_dict(),
        "version": registered.version,
        "alias": decision.alias,
        "again_alias": again_decision.alias,
        "steps": recorder.steps,
        "steps_seconds": round(sum(recorder.steps[n]["seconds"] for n in step_names), 3),
        "imports_seconds": round(sum(v["seconds"] for n, v in recorder.steps.items() if n.startswith("import:")), 3),
        "process_seconds": round(total, 3),
        "peak_rss_mib": max(v["peak_rss_mib"] for v in recorder.steps.values()),
        "peak_resets": recorder.peak_resets,
        "environment": environment(),
    }


# --- the flow under a temporary Prefect server --------------------------------------------------------


def _child_peaks() -> dict[str, float]:
    """Peak RSS of this process's live descendants (the temporary Prefect server), by pid."""
    import psutil  # type: ignore[import-untyped]  # no stubs in the baked environment

    found: dict[str, float] = {}
    for child in psutil.Process().children(recursive=True):
        kib = _status_kib("VmHWM", child.pid)
        if kib is not None:
            found[f"{child.pid} {' '.join(child.cmdline()[1:3])}"] = round(kib / 1024, 1)
    return found


def _task_durations(flow_run_id: Any) -> tuple[dict[str, float], dict[str, float]]:
    """Task run durations as Prefect recorded them, and the flow run's own timings."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(flow_run_id)
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    tasks: dict[str, float] = {}
    for run in sorted(runs, key=lambda r: r.start_time or r.expected_start_time or 0):
        name = run.task_key.split("-")[0] if not run.name else run.name.rsplit("-", 1)[0]
        if run.start_time and run.end_time:
            tasks[name] = round((run.end_time - run.start_time).total_seconds(), 3)
    timing = {"total_run_time": round(flow_run.total_run_time.total_seconds(), 3)}
    if flow_run.start_time and flow_run.end_time:
        timing["start_to_end"] = round((flow_run.end_time - flow_run.start_time).total_seconds(), 3)
    return tasks, timing


def run_flow(data: Path, state: Path) -> dict[str, Any]:
    """The `training` flow end to end under `prefect_test_harness` (a temporary server)."""
    os.environ["FRAUD_DETECTION_STATE_DIR"] = str(state)
    os.environ["FRAUD_DETECTION_DATA_PATH"] = str(data)
    os.environ["PREFECT_HOME"] = str(state / "prefect")
    (state / "prefect").mkdir(parents=True, exist_ok=True)
    os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"
    recorder = Recorder()
    start = time.perf_counter()
    with recorder.step("import:prefect"):
        import prefect  # noqa: F401
        from prefect.flows import load_flow_from_entrypoint
        from prefect.testing.utilities import prefect_test_harness
    from fraud_detection.settings import get_settings

    project_root = get_settings().project_root
    with recorder.step("import:flow_module"):
        training: Any = load_flow_from_entrypoint(f"{project_root / 'flows' / 'training.py'}:training")
    import_heavy(recorder)

    harness = prefect_test_harness(server_startup_timeout=180)
    with recorder.step("server_start"):
        harness.__enter__()
    try:
        with recorder.step("flow"):
            state_ = training(reason="benchmark", return_state=True)
        result = state_.result()
        flow_run_id = state_.state_details.flow_run_id
        tasks, flow_timing = _task_durations(flow_run_id)
        server_peaks = _child_peaks()
    finally:
        with recorder.step("server_stop"):
            harness.__exit__(None, None, None)
    return {
        "result": {k: result[k] for k in ("version", "alias", "passed", "reason")},
        "steps": recorder.steps,
        "flow_seconds": recorder.steps["flow"]["seconds"],
        "server_start_seconds": recorder.steps["server_start"]["seconds"],
        "tasks": tasks,
        "tasks_seconds": round(sum(tasks.values()), 3),
        "flow_run": flow_timing,
        "process_seconds": round(time.perf_counter() - start, 3),
        "peak_rss_mib": max(v["peak_rss_mib"] for v in recorder.steps.values()),
        "server_peak_rss_mib": server_peaks,
    }


# --- ONNX Runtime against LightGBM on the same model ---------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    engine: str  # "onnxruntime" or "lightgbm"
    threads: int
    call: Callable[[Any], Any]
    make_input: Callable[[int], Any]


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {
        "median_us": round(statistics.median(ordered) * 1e6, 2),
        "p99_us": round(p99 * 1e6, 2),
        "min_us": round(ordered[0] * 1e6, 2),
        "reps": len(ordered),
    }


def holdout_matrix(encoding: Any, holdout: Any, rows: int) -> Any:
    """`rows` encoded holdout rows (float32, contiguous), the holdout tiled when it is smaller."""
    import numpy as np

    matrix = encoding.transform(holdout.iloc[: max(rows, len(holdout))])
    if len(matrix) < rows:
        matrix = np.tile(matrix, (int(np.ceil(rows / len(matrix))), 1))
    return np.ascontiguousarray(matrix[:rows])


def predict_cases(bundle: Any, bundle_2t: Any, session: Any, booster: Any, matrix32: Any) -> list[Case]:
    """ONNX Runtime (as the service calls it, and bare) and LightGBM, by input type and threads."""
    import numpy as np
    import pandas as pd

    matrix64 = matrix32.astype(np.float64)
    columns = list(bundle.encoding.features)

    def rows32(n: int) -> Any:
        return matrix32[:n]

    def rows64(n: int) -> Any:
        return matrix64[:n]

    def frame_rows(n: int) -> Any:
        return pd.DataFrame(matrix32[:n], columns=columns)

    def raw_ort(x: Any) -> Any:
        return session.run(["probabilities"], {"input": x})[0]

    def lgbm(threads: int) -> Callable[[Any], Any]:
        return lambda x: booster.predict(x, num_threads=threads)

    return [
        Case("ort: ModelBundle.score_matrix", "onnxruntime", 1, bundle.score_matrix, rows32),
        Case("ort: InferenceSession.run", "onnxruntime", 1, raw_ort, rows32),
        Case("ort: ModelBundle.score_matrix", "onnxruntime", 2, bundle_2t.score_matrix, rows32),
        Case("lgbm: Booster.predict float32", "lightgbm", 1, lgbm(1), rows32),
        Case("lgbm: Booster.predict float64", "lightgbm", 1, lgbm(1), rows64),
        Case("lgbm: Booster.predict float32", "lightgbm", 2, lgbm(2), rows32),
        Case("lgbm: Booster.predict DataFrame", "lightgbm", 1, lgbm(1), frame_rows),
    ]


def time_interleaved(cases: list[Case], batch: int, reps: int) -> list[dict[str, Any]]:
    """Each case on `batch` rows, `reps` times, one call of each in turn (after a warm-up)."""
    inputs = [case.make_input(batch) for case in cases]
    samples: list[list[float]] = [[] for _ in cases]
    for _ in range(max(3, reps // 20)):  # warm up
        for case, x in zip(cases, inputs, strict=True):
            case.call(x)
    for _ in range(reps):
        for i, (case, x) in enumerate(zip(cases, inputs, strict=True)):
            t0 = time.perf_counter()
            case.call(x)
            samples[i].append(time.perf_counter() - t0)
    return [
        {"batch": batch, "case": case.name, "engine": case.engine, "threads": case.threads, **_percentiles(timings),
         "rows_per_s": round(batch / statistics.median(timings))}
        for case, timings in zip(cases, samples, strict=True)
    ]  # fmt: skip


def run_predict(
    state: Path, model_dir: Path, data: Path, repetitions: dict[int, int], with_control: bool = True
) -> dict[str, Any]:
    """Score the same rows with the registered ONNX model and the LightGBM booster it was
    exported from, interleaving the cases so that machine noise hits them all alike."""
    import lightgbm as lgb
    import numpy as np
    from fraud_detection.model.bundle import load_bundle, onnxruntime_session
    from fraud_detection.stores import registry
    from fraud_detection.training import steps as pipeline

    settings = project_settings(state, data)
    contract = pipeline.load_project_contract(settings)
    client = registry.connect(settings)
    champion = registry.version_by_alias(client, settings.mlflow.registered_model_name, registry.CHAMPION)
    if champion is None:
        raise SystemExit(f"no champion in {state}: run the steps measurement first")
    bundle = load_bundle(registry.download_bundle(client, champion, model_dir / "bundle"))
    bundle_2t = load_bundle(model_dir / "bundle", threads=2)
    raw_session = onnxruntime_session(str(model_dir / "bundle" / "model.onnx"), threads=1)
    booster = lgb.Booster(model_file=str(model_dir / "lightgbm.txt"))
    split = pipeline.split(pipeline.load_training_data(settings, contract), contract, settings)
    matrix32 = holdout_matrix(bundle.encoding, split.holdout, max(repetitions))

    # Same model, same rows: the two engines must agree before their speed means anything.
    ort_scores = bundle.score_matrix(matrix32[:10_000])
    lgb_scores = booster.predict(matrix32[:10_000])
    cases = predict_cases(bundle, bundle_2t, raw_session, booster, matrix32)
    results: list[dict[str, Any]] = []
    for batch, reps in sorted(repetitions.items()):
        results += time_interleaved(cases, batch, reps)
        print(f"  batch {batch}: done ({reps} repetitions)", flush=True)
    control = _control(booster, bundle.encoding, split, contract, settings, repetitions) if with_control else None
    return {
        "model_version": champion.version,
        "trees": booster.num_trees(),
        "features": len(bundle.encoding.features),
        "max_abs_diff_10k_rows": float(np.max(np.abs(ort_scores - lgb_scores))),
        "onnx_nodes": onnx_node_modes(model_dir / "bundle" / "model.onnx"),
        "cases": results,
        "control_without_categoricals": control,
        "environment": environment(),
    }


def onnx_node_modes(model: Path | bytes) -> dict[str, int]:
    """How many tree nodes of each kind the ONNX graph holds (BRANCH_EQ: one category test)."""
    import onnx

    graph = onnx.load(str(model)) if isinstance(model, Path) else onnx.load_from_string(model)
    counts: dict[str, int] = {}
    for node in graph.graph.node:
        for attribute in node.attribute:
            if attribute.name == "nodes_modes":
                for mode in attribute.strings:
                    counts[mode.decode()] = counts.get(mode.decode(), 0) + 1
    return counts


def _control(
    booster: Any, encoding: Any, split: Any, contract: Any, settings: Any, repetitions: dict[int, int]
) -> dict[str, Any]:
    """The cause, isolated: the same data and parameters with the category codes given to
    LightGBM as plain numbers (so the ONNX graph has no BRANCH_EQ chains); ORT/LightGBM again."""
    import lightgbm as lgb
    import numpy as np
    from fraud_detection.model.bundle import onnxruntime_session
    from fraud_detection.training.fit import lightgbm_params
    from fraud_detection.training.onnx_export import to_onnx

    y = split.train[contract.target].to_numpy(dtype=float)
    params = {**lightgbm_params(contract, settings.training, y), "num_threads": 1}
    train_set = lgb.Dataset(encoding.transform(split.train), label=y, categorical_feature=[])
    control = lgb.train(params, train_set, num_boost_round=booster.num_trees())
    onnx_bytes = to_onnx(control, encoding.n_features, settings.training.onnx_opset)
    session = onnxruntime_session(onnx_bytes, threads=1)
    matrix = np.ascontiguousarray(encoding.transform(split.holdout))
    largest = max(repetitions)
    if len(matrix) < largest:
        matrix = np.tile(matrix, (int(np.ceil(largest / len(matrix))), 1))
    out: list[dict[str, Any]] = []
    for batch, reps in sorted(repetitions.items()):
        x = matrix[:batch]
        reps = max(5, reps // 3)
        ort_t: list[float] = []
        lgb_t: list[float] = []
        for _ in range(reps):
            t0 = time.perf_counter()
            session.run(["probabilities"], {"input": x})
            t1 = time.perf_counter()
            control.predict(x, num_threads=1)
            t2 = time.perf_counter()
            ort_t.append(t1 - t0)
            lgb_t.append(t2 - t1)
        out.append({"batch": batch, "ort": _percentiles(ort_t), "lightgbm": _percentiles(lgb_t)})
    return {"trees": control.num_trees(), "onnx_nodes": onnx_node_modes(onnx_bytes), "threads": 1, "batches": out}


# --- fit: LightGBM's thread count, with the machine as it is ---------------------------------------------


def run_fit_threads(data: Path, state: Path, threads: list[int], rounds: int) -> dict[str, Any]:
    """The `fit` step with each thread count in turn (`rounds` times), as the settings allow.

    LightGBM parallelises with OpenMP. Run it once with OMP_WAIT_POLICY unset and once with
    PASSIVE (the caller sets the variable: it is read when the OpenMP runtime loads) to see
    what spinning threads cost when other processes want the same cores."""
    import numpy as np
    from fraud_detection.training import steps as pipeline

    settings = project_settings(state, data)
    contract = pipeline.load_project_contract(settings)
    split = pipeline.split(pipeline.load_training_data(settings, contract), contract, settings)
    runs: list[dict[str, Any]] = []
    scores: dict[int, Any] = {}
    for _ in range(rounds):
        for count in threads:
            tuned = settings.model_copy(
                update={"training": settings.training.model_copy(update={"num_threads": count})}
            )
            gc.collect()
            start, cpu_start = time.perf_counter(), time.process_time()
            booster, encoding = pipeline.fit(split, contract, tuned)
            runs.append({
                "threads": count,
                "seconds": round(time.perf_counter() - start, 3),
                "cpu_seconds": round(time.process_time() - cpu_start, 3),
                "trees": booster.num_trees(),
                "load_1min": round(os.getloadavg()[0], 2),
            })  # fmt: skip
            print(f"  threads {count}: {runs[-1]['seconds']:.2f} s (load {runs[-1]['load_1min']:.1f})", flush=True)
            scores.setdefault(count, booster.predict(encoding.transform(split.holdout), num_threads=1))
    first = scores[threads[0]]
    return {
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "unset"),
        "runs": runs,
        "same_predictions_across_threads": all(bool(np.array_equal(first, other)) for other in scores.values()),
    }


# --- why ONNX Runtime is slower here: categorical levels -------------------------------------------------


def run_category_levels(data: Path, state: Path, levels: list[int], batch: int, reps: int) -> dict[str, Any]:
    """Train with each `max_category_levels` (1 thread), export, and time ORT against LightGBM
    on the same holdout rows. Each kept level of an open categorical (merchant_id) is a code;
    a LightGBM categorical split becomes a chain of BRANCH_EQ nodes, one per category code."""
    from fraud_detection.model.bundle import onnxruntime_session
    from fraud_detection.training import steps as pipeline

    settings = project_settings(state, data)
    contract = pipeline.load_project_contract(settings)
    split = pipeline.split(pipeline.load_training_data(settings, contract), contract, settings)
    found: list[dict[str, Any]] = []
    for count in levels:
        training = settings.training.model_copy(update={"max_category_levels": count, "num_threads": 1})
        tuned = settings.model_copy(update={"training": training})
        booster, encoding = pipeline.fit(split, contract, tuned)
        evaluation = pipeline.evaluate_holdout(booster, encoding, split, contract, tuned)
        onnx_bytes = pipeline.export(booster, encoding, tuned)
        session = onnxruntime_session(onnx_bytes, threads=1)
        x = encoding.transform(split.holdout.iloc[:batch])
        ort_t: list[float] = []
        lgb_t: list[float] = []
        for _ in range(reps):
            t0 = time.perf_counter()
            session.run(["probabilities"], {"input": x})
            t1 = time.perf_counter()
            booster.predict(x, num_threads=1)
            t2 = time.perf_counter()
            ort_t.append(t1 - t0)
            lgb_t.append(t2 - t1)
        found.append({
            "max_category_levels": count,
            "trees": booster.num_trees(),
            "average_precision": round(evaluation.metrics["average_precision"], 4),
            "onnx_nodes": onnx_node_modes(onnx_bytes),
            "batch": len(x),
            "ort": _percentiles(ort_t),
            "lightgbm": _percentiles(lgb_t),
        })  # fmt: skip
        ratio = found[-1]["ort"]["median_us"] / found[-1]["lightgbm"]["median_us"]
        print(f"  max_category_levels {count}: ORT/LightGBM {ratio:.2f}", flush=True)
    return {"threads": 1, "levels": found}


# --- profile: where a slow step spends its time ---------------------------------------------------------


def run_profile(data: Path, state: Path, out: Path, steps: list[str]) -> None:
    """cProfile the named steps (load, validate, fit, log_and_register, gate, ...) after a plain run
    of the steps before them; writes the top functions by cumulative time."""
    from fraud_detection.training import gate
    from fraud_detection.training import steps as pipeline

    recorder = Recorder()
    import_heavy(recorder)
    settings = project_settings(state, data)
    contract = pipeline.load_project_contract(settings)
    report = io.StringIO()
    context: dict[str, Any] = {}

    def maybe_profile(name: str, call: Callable[[], Any]) -> Any:
        if name not in steps:
            return call()
        profiler = cProfile.Profile()
        value = profiler.runcall(call)
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).sort_stats("cumulative").print_stats(40)
        report.write(f"==== {name} ====\n{stream.getvalue()}\n")
        return value

    context["frame"] = maybe_profile("load", lambda: pipeline.load_training_data(settings, contract))
    frame = context["frame"]
    maybe_profile("validate", lambda: pipeline.validate(frame, settings))
    split = pipeline.split(frame, contract, settings)
    booster, encoding = maybe_profile("fit", lambda: pipeline.fit(split, contract, settings))
    evaluation = maybe_profile(
        "evaluate_holdout", lambda: pipeline.evaluate_holdout(booster, encoding, split, contract, settings)
    )
    onnx_bytes = maybe_profile("export", lambda: pipeline.export(booster, encoding, settings))
    parity = maybe_profile(
        "check_parity", lambda: pipeline.check_parity(onnx_bytes, encoding, split, evaluation, contract, settings)
    )
    registered = maybe_profile(
        "log_and_register",
        lambda: pipeline.log_and_register(
            settings=settings, contract=contract, frame=frame, data=split, encoding=encoding, evaluation=evaluation,
            onnx_bytes=onnx_bytes, parity=parity, booster_params={}, run_tags={"trigger": "profile"},
        ),
    )  # fmt: skip
    maybe_profile("gate", lambda: gate.gate(registered, evaluation, split, contract, settings, "profile"))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report.getvalue(), encoding="utf-8")


def run_imports() -> dict[str, Any]:
    """What every measurement imports, each import timed (the first run compiles bytecode)."""
    recorder = Recorder()
    with recorder.step("import:prefect"):
        import prefect  # noqa: F401
    import_heavy(recorder)
    return {"steps": recorder.steps, "environment": environment()}


def _pairs(text: str) -> dict[int, int]:
    """`1:3000,1000:300` as {batch: repetitions}."""
    return {int(b): int(r) for b, r in (item.split(":") for item in text.split(","))}


def _ints(text: str) -> list[int]:
    return [int(n) for n in text.split(",")]


def _need(args: argparse.Namespace, *names: str) -> None:
    missing = [f"--{n.replace('_', '-')}" for n in names if getattr(args, n) is None]
    if missing:
        sys.exit(f"{args.mode} needs {', '.join(missing)}")


# What each mode needs beyond --out, and what it runs (given the parsed arguments).
MODES: dict[str, tuple[tuple[str, ...], Callable[[argparse.Namespace], dict[str, Any] | None]]] = {
    "imports": ((), lambda a: run_imports()),
    "steps": (("data", "state"), lambda a: run_steps(a.data, a.state, a.model_dir)),
    "flow": (("data", "state"), lambda a: run_flow(a.data, a.state)),
    "predict": (
        ("data", "state", "model_dir"),
        lambda a: run_predict(a.state, a.model_dir, a.data, _pairs(a.reps), with_control=not a.no_control),
    ),
    "fit-threads": (("data", "state"), lambda a: run_fit_threads(a.data, a.state, _ints(a.threads), a.rounds)),
    "category-levels": (
        ("data", "state"),
        lambda a: run_category_levels(a.data, a.state, _ints(a.levels), batch=10_000, reps=15),
    ),
    "profile": (("data", "state"), lambda a: run_profile(a.data, a.state, a.out, a.profile_steps.split(","))),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=list(MODES))
    parser.add_argument("--data", type=Path, help="the demo data as Parquet")
    parser.add_argument("--state", type=Path, help="a fresh folder for MLflow and Prefect state")
    parser.add_argument("--out", type=Path, required=True, help="where the JSON (or profile text) goes")
    parser.add_argument("--model-dir", type=Path, help="steps: save the booster here; predict: read it")
    parser.add_argument("--reps", default="1:3000,1000:300,100000:15", help="predict: batch:repetitions,...")
    parser.add_argument("--no-control", action="store_true", help="predict: skip the model without categoricals")
    parser.add_argument("--threads", default="1,2", help="fit-threads: thread counts to try")
    parser.add_argument("--rounds", type=int, default=1, help="fit-threads: how often to try each")
    parser.add_argument("--levels", default="256,64,32,16", help="category-levels: max_category_levels to try")
    parser.add_argument("--profile-steps", default="load,validate,log_and_register,gate", help="profile: steps")
    args = parser.parse_args()
    needs, run = MODES[args.mode]
    _need(args, *needs)
    args.state = args.state.resolve() if args.state else None
    args.data = args.data.resolve() if args.data else None
    result = run(args)
    if result is not None:
        _write(args.out, result)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
