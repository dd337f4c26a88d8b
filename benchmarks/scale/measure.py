"""Measurements that run inside a baked project's environment (its `.venv/bin/python`).

`run.py` calls this script once per measurement, each in a fresh process, so that the peak
RSS it reports (`ru_maxrss` of the process itself) is the whole process's, imports included:

    python measure.py train --rows N --state S --out trained.json              (a champion, trained on demo data)
    python measure.py generate --rows N --data F.parquet --out generated.json   (demo records, written in row groups)
    python measure.py score --mode whole|streamed|onnx --data F.parquet --state S --out result.json

Modes: `whole` is batch scoring as it was before it streamed (the whole file read, scored as one
frame and written; kept here as the baseline, not in the package); `streamed` is the package's
`score_file`; `onnx` is bare onnxruntime on the same encoded matrices, chunk by chunk, timing
only `session.run` (the limit: reading, encoding and writing are left out).
It imports the default bake's package, `fraud_detection`.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time
from datetime import timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("onnxruntime", "numpy", "pandas", "pyarrow")
GENERATE_CHUNK = 500_000  # rows generated and written at a time: the generator holds no more


def environment() -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"python": platform.python_version(), "packages": versions}


def peak_rss_mib() -> float:
    """The process's peak resident set so far (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def train(rows: int, state: Path) -> dict[str, Any]:
    """A champion in `state`'s registry: the training steps on `rows` demo rows, without Prefect
    (its temporary server is slow to start on a busy machine, and adds nothing here)."""
    from fraud_detection.settings import Settings
    from fraud_detection.training import gate
    from fraud_detection.training import steps as pipeline

    start = time.perf_counter()
    settings = Settings(state_dir=state, demo_rows=rows)
    contract = pipeline.load_project_contract(settings)
    frame = pipeline.load_training_data(settings, contract)
    split = pipeline.split(frame, contract, settings)
    booster, encoding = pipeline.fit(split, contract, settings)
    evaluation = pipeline.evaluate_holdout(booster, encoding, split, contract, settings)
    onnx_bytes = pipeline.export(booster, encoding, settings)
    parity = pipeline.check_parity(onnx_bytes, encoding, split, evaluation, contract, settings)
    registered = pipeline.log_and_register(
        settings=settings, contract=contract, frame=frame, data=split, encoding=encoding, evaluation=evaluation,
        onnx_bytes=onnx_bytes, parity=parity, booster_params={"num_trees": booster.num_trees()},
        run_tags={"trigger": "benchmark"},
    )  # fmt: skip
    decision = gate.gate(registered, evaluation, split, contract, settings, "benchmark")
    assert decision.alias == "champion", f"the benchmark's model was not made champion: {decision}"
    return {"rows": rows, "trees": booster.num_trees(), "seconds": round(time.perf_counter() - start, 3)}


def generate(rows: int, out: Path) -> dict[str, Any]:
    """`rows` demo transactions without their label, a row group per generated chunk."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from fraud_detection.core.contract import load_contract
    from fraud_detection.data.demo_world import DEMO_START, TransactionGenerator
    from fraud_detection.settings import get_settings

    contract = load_contract(get_settings().contract_file)
    generator = TransactionGenerator.for_contract(contract)
    columns = [c for c in contract.columns if c != contract.target]
    start = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    writer: pq.ParquetWriter | None = None
    for index, first in enumerate(range(0, rows, GENERATE_CHUNK)):
        n = min(GENERATE_CHUNK, rows - first)
        day = DEMO_START + timedelta(days=index)  # a day per chunk: its own seed and its own ids
        frame = generator.sample(n, day, days=1.0, id_prefix=f"bench{index}")[columns]
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if writer is None:
            writer = pq.ParquetWriter(partial, table.schema)
        writer.write_table(table)
    assert writer is not None
    writer.close()
    partial.replace(out)
    return {"rows": rows, "seconds": round(time.perf_counter() - start, 3), "mib": round(out.stat().st_size / 2**20, 1)}


def _champion(settings: Any) -> tuple[Any, Any, Any]:
    """The champion's version, an open registry client, and the contract."""
    from fraud_detection.core.contract import load_contract
    from fraud_detection.stores import registry

    client = registry.connect(settings)
    version = registry.version_by_alias(client, settings.mlflow.registered_model_name, "champion")
    assert version is not None, "train a champion first"
    return client, version, load_contract(settings.contract_file)


def score_whole(settings: Any, data: Path, out: Path) -> int:
    """Batch scoring before it streamed: read the whole file, score it as one frame, write it."""
    from fraud_detection.data.tables import read_table, write_table
    from fraud_detection.model.bundle import load_bundle
    from fraud_detection.serving.batch_scoring import BATCH_THREADS, score_chunk
    from fraud_detection.stores import registry

    client, version, contract = _champion(settings)
    with registry.fetched_bundle(client, version) as folder:
        bundle = load_bundle(folder, BATCH_THREADS, contract.hash)
        scored = score_chunk(bundle, contract, read_table(data), 0, str(version.version))
    write_table(scored, out)
    return len(scored)


def score_streamed(settings: Any, data: Path, out: Path) -> int:
    from fraud_detection.serving.batch_scoring import score_file

    _, _, contract = _champion(settings)
    return score_file(settings, contract, data, out).rows


def score_onnx(settings: Any, data: Path) -> tuple[int, float]:
    """Bare onnxruntime on the encoded chunks: rows, and the seconds inside `session.run` only."""
    import numpy as np
    from fraud_detection.data.table_chunks import read_chunks
    from fraud_detection.model.bundle import load_bundle
    from fraud_detection.serving.batch_scoring import BATCH_THREADS, features_frame, text_columns
    from fraud_detection.stores import registry

    client, version, contract = _champion(settings)
    rows, inside = 0, 0.0
    with registry.fetched_bundle(client, version) as folder:
        bundle = load_bundle(folder, BATCH_THREADS, contract.hash)
        for chunk in read_chunks(data, settings.scoring.chunk_rows, text_columns(contract)):
            matrix = np.ascontiguousarray(bundle.encoding.transform(features_frame(chunk.frame, contract)))
            start = time.perf_counter()
            bundle.session.run([bundle.output_name], {"input": matrix})
            inside += time.perf_counter() - start
            rows += len(matrix)
    return rows, inside


def warm_up(settings: Any) -> float:
    """The fixed cost every path pays once per process (imports of MLflow and onnxruntime, the
    registry's database, the bundle fetched and checked), paid before the timing starts so that
    the figures are of scoring; its seconds are recorded apart."""
    from fraud_detection.model.bundle import load_bundle
    from fraud_detection.serving.batch_scoring import BATCH_THREADS
    from fraud_detection.stores import registry

    start = time.perf_counter()
    client, version, contract = _champion(settings)
    with registry.fetched_bundle(client, version) as folder:
        load_bundle(folder, BATCH_THREADS, contract.hash)
    return time.perf_counter() - start


def score(mode: str, data: Path, state: Path) -> dict[str, Any]:
    from fraud_detection.settings import Settings

    settings = Settings(state_dir=state)
    out = state / f"scores-{mode}.parquet"
    setup_seconds = warm_up(settings)
    start = time.perf_counter()
    scoring_seconds: float | None = None
    if mode == "whole":
        rows = score_whole(settings, data, out)
    elif mode == "streamed":
        rows = score_streamed(settings, data, out)
    else:
        rows, scoring_seconds = score_onnx(settings, data)
    seconds = time.perf_counter() - start
    out.unlink(missing_ok=True)
    return {
        "mode": mode,
        "rows": rows,
        "seconds": round(seconds, 3),
        "setup_seconds": round(setup_seconds, 3),
        "onnx_seconds": round(scoring_seconds, 3) if scoring_seconds is not None else None,
        "rows_per_second": round(rows / (scoring_seconds or seconds)),
        "peak_rss_mib": peak_rss_mib(),
        "chunk_rows": settings.scoring.chunk_rows,
        "environment": environment(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["train", "generate", "score"])
    parser.add_argument("--rows", type=int)
    parser.add_argument("--mode", choices=["whole", "streamed", "onnx"])
    parser.add_argument("--data", type=Path)
    parser.add_argument("--state", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.what == "train":
        if args.rows is None or args.state is None:
            parser.error("train needs --rows and --state")
        payload = train(args.rows, args.state)
    elif args.what == "generate":
        if args.rows is None or args.data is None:
            parser.error("generate needs --rows and --data")
        payload = generate(args.rows, args.data)
    else:
        if args.mode is None or args.data is None or args.state is None:
            parser.error("score needs --mode, --data and --state")
        payload = score(args.mode, args.data, args.state)
    args.out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
