"""Monitoring-window measurements inside a baked project's environment (its `.venv/bin/python`).

`window_run.py` calls this script once per step, each in a fresh process, so that the peak RSS
a measuring process reports (`ru_maxrss` of the process itself, imports included) is its own:

    python window_measure.py create --admin URL --out db.json            (a private database bench_window_<pid>)
    python window_measure.py generate --url URL --rows N --out gen.json  (N logged answers by COPY, 30% labelled)
    python window_measure.py assess --mode whole|paged --url URL --out result.json
    python window_measure.py drop --admin URL --name NAME

`whole` is the window read whole into pandas and assessed (`load_window`, `with_labels`,
`assess`); `paged` is the monitoring flow's path (`steps.read_window`, `assess_reduced`) with
`monitoring.window_chunk_rows` from the environment. It imports the default bake's package.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

START = datetime(2026, 4, 1)  # naive UTC, the log's form
BASE_ROWS = 100_000  # distinct demo records, repeated with new ids and times up to N
MODEL = "fraud-detection"


def peak_rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def create(admin: str) -> dict[str, Any]:
    import sqlalchemy as sa

    name = f"bench_window_{os.getpid()}"
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text(f'create database "{name}"'))
    engine.dispose()
    return {"name": name, "url": sa.make_url(admin).set(database=name).render_as_string(hide_password=False)}


def drop(admin: str, name: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text(f'drop database if exists "{name}" with (force)'))
    engine.dispose()


def _contract() -> Any:
    """The project's contract, read as the binary fraud model (as the drift tests read it)."""
    from fraud_detection.core.contract import load_contract

    contract = load_contract(Path("contract.yaml"))
    if contract.is_multiclass:
        return contract.model_copy(update={"task": "binary_classification", "target": "is_fraud", "labels": None})
    return contract


def _base_records() -> tuple[list[str], Any, Any]:
    """Demo records as JSON text (as the service logs them), their fraud probability and label."""
    from fraud_detection.data.demo_world import TransactionGenerator

    contract = _contract()
    raw = TransactionGenerator(seed=11).sample(BASE_ROWS, datetime(2026, 4, 1, tzinfo=UTC), days=1)
    columns = [c for c in (contract.id_column, contract.timestamp_column, *contract.feature_names) if c in raw]
    found = json.loads(raw[columns].to_json(orient="records", date_format="iso"))
    return [json.dumps(r) for r in found], raw["fraud_probability"].to_numpy(), raw[contract.target].to_numpy()


def generate(url: str, rows: int) -> dict[str, Any]:
    """`rows` answers spread over one day, by COPY (the store's tables, created by the store)."""
    import psycopg
    from fraud_detection.stores.prediction_log import PredictionLog

    start = time.perf_counter()
    PredictionLog(url).close()  # its tables
    texts, scores, labels = _base_records()
    step = timedelta(days=1) / rows
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    columns = (
        "request_id, role, logged_at, occurred_at, model_name, model_version, record_id, features, score, decision, "
        "latency_ms"
    )
    with psycopg.connect(dsn) as connection, connection.cursor() as cursor:
        with cursor.copy(f"COPY predictions ({columns}) FROM STDIN") as copy:
            for i in range(rows):
                j = i % BASE_ROWS
                moment = START + step * i
                copy.write_row(
                    (
                        f"r{i:09d}",
                        "champion",
                        moment,
                        moment,
                        MODEL,
                        "1",
                        str(i),
                        texts[j],
                        float(scores[j]),
                        bool(scores[j] >= 0.5),
                        0.5,
                    )
                )
        with cursor.copy("COPY labels (request_id, label, labelled_at, source) FROM STDIN") as copy:
            for i in range(0, rows, 10):
                for k in range(i, min(i + 3, rows)):  # 30% labelled
                    copy.write_row((f"r{k:09d}", float(labels[k % BASE_ROWS]), START, "bench"))
        cursor.execute("ANALYZE")
    return {"rows": rows, "seconds": round(time.perf_counter() - start, 1)}


def _profile() -> dict[str, Any]:
    """The demo's reference profile, fitted as training fits it (20k rows, scored by the truth)."""
    from fraud_detection.core.metrics import evaluate
    from fraud_detection.data.demo_world import TransactionGenerator
    from fraud_detection.data.tables import prepare_frame
    from fraud_detection.model.reference_profile import fit_profile

    contract = _contract()
    raw = TransactionGenerator(seed=7).sample(20_000, datetime(2026, 1, 1, tzinfo=UTC), days=30)
    frame = prepare_frame(raw[[*contract.columns]], contract)
    scores = raw["fraud_probability"].to_numpy(dtype=float)
    performance = evaluate(contract.task, frame[contract.target].to_numpy(), scores, 0.5)
    return fit_profile(frame, contract, scores=scores, performance=performance, threshold=0.5)


def assess(mode: str, url: str, state: Path) -> dict[str, Any]:
    from fraud_detection.monitoring import steps
    from fraud_detection.monitoring.assessment import assess as assess_whole
    from fraud_detection.monitoring.assessment import assess_reduced
    from fraud_detection.monitoring.monitored_model import MonitoredModel
    from fraud_detection.monitoring.window import Window, load_window
    from fraud_detection.settings import Settings

    settings = Settings(state_dir=state, prediction_log={"url": url})
    model = MonitoredModel(MODEL, "1", _profile(), "champion")
    window = Window(START, START + timedelta(days=1))
    before = peak_rss_mib()
    start = time.perf_counter()
    if mode == "whole":
        found = assess_whole(settings, model, steps.with_labels(settings, model, load_window(settings, window)))
    else:
        found = assess_reduced(settings, model, steps.read_window(settings, window, model))
    seconds = time.perf_counter() - start
    return {
        "mode": mode,
        "rows": found.rows,
        "labelled_rows": found.labelled_rows,
        "seconds": round(seconds, 1),
        "peak_rss_mib": peak_rss_mib(),
        "peak_rss_before_read_mib": before,
        "chunk_rows": settings.monitoring.window_chunk_rows,
        "drifted": list(found.drift.drifted_features),
        "p_values": {f.feature: f.p_value for f in found.drift.features},
        "realized": found.realized.primary.current if found.realized is not None else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["create", "generate", "assess", "drop"])
    parser.add_argument("--admin", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--url")
    parser.add_argument("--name")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--mode", choices=["whole", "paged"], default="paged")
    parser.add_argument("--state", type=Path, help="the settings' state folder (default: a new temporary one)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.step == "drop":
        drop(args.admin, args.name)
        return
    found = (
        create(args.admin)
        if args.step == "create"
        else generate(args.url, args.rows)
        if args.step == "generate"
        else assess(args.mode, args.url, args.state or Path(tempfile.mkdtemp(prefix="bench-window-")))
    )
    text = json.dumps(found, indent=2)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
