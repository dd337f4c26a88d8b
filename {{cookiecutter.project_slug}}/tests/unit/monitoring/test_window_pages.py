"""A monitoring window read in pages equals the whole-window read: the same drift statistics,
p-values and verdicts, schema events, estimates and realized metrics, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from {{ cookiecutter.package_name }}.data.demo_world import TrafficShift
from {{ cookiecutter.package_name }}.monitoring import steps
from {{ cookiecutter.package_name }}.monitoring.assessment import Assessment, assess, assess_reduced
from {{ cookiecutter.package_name }}.monitoring.monitored_model import MonitoredModel
from {{ cookiecutter.package_name }}.monitoring.window import Window, load_window
from {{ cookiecutter.package_name }}.monitoring.window_pages import window_versions
from {{ cookiecutter.package_name }}.settings import Settings
from {{ cookiecutter.package_name }}.stores.prediction_log import from_settings
from {{ cookiecutter.package_name }}.stores.sql import utcnow
from tests.support.drift_data import project_contract
from tests.support.monitoring import LIVE_START, MODEL, demo_profile, fraud_scores, log_answers, records, traffic
from tests.support.postgres import scratch_schema
from tests.support.project import make_settings

DAY = timedelta(days=1)
PAGE_ROWS = 97  # many pages, the last one short
# Summed per page rather than in one pass: equal up to the last bits of a float64.
SUMMED = frozenset({"wasserstein", "mean_current"})


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """Settings with small pages, whose prediction log is SQLite or a PostgreSQL schema of this test's own."""
    state = tmp_path / "state"
    monitoring = {"window_chunk_rows": PAGE_ROWS}
    if request.param == "sqlite":
        yield make_settings(state, monitoring=monitoring)
        return
    with scratch_schema("pages") as (url, schema):
        yield make_settings(state, monitoring=monitoring, prediction_log={"url": url, "db_schema": schema})


def _same(whole: Any, paged: Any, path: str = "") -> None:
    """Equal, recursively: NaN equals NaN; the per-page sums equal within 1e-12."""
    if dataclasses.is_dataclass(whole) and not isinstance(whole, type):
        _same(dataclasses.asdict(whole), dataclasses.asdict(paged), path)
    elif isinstance(whole, dict):
        assert list(whole) == list(paged), path
        for key in whole:
            _same(whole[key], paged[key], f"{path}.{key}")
    elif isinstance(whole, list | tuple):
        assert len(whole) == len(paged), path
        for i, (a, b) in enumerate(zip(whole, paged, strict=True)):
            _same(a, b, f"{path}[{i}]")
    elif isinstance(whole, float) and path.rsplit(".", 1)[-1] in SUMMED:
        assert math.isclose(whole, paged, rel_tol=1e-12) or (math.isnan(whole) and math.isnan(paged)), path
    elif isinstance(whole, float):
        assert whole == paged or (math.isnan(whole) and math.isnan(paged)), (path, whole, paged)
    else:
        assert whole == paged, (path, whole, paged)


def _log_day(settings: Settings, day: int, rename: bool) -> Window:
    """A day of answers (two versions, an unknown field; with `rename`, a feature renamed
    upstream and amounts sent as text), about 60% of them labelled."""
    contract = project_contract()
    frame = traffic(1500, day, TrafficShift(extra_columns=("account_type",)), seed=day)
    found = records(frame, contract, ["account_type"])
    if rename:
        found = [{("age" if k == "customer_age" else k): v for k, v in r.items()} for r in found]
        for record in found[::3]:
            record["amount"] = str(record["amount"])
    start = LIVE_START + day * DAY
    prediction_log = from_settings(settings)
    try:
        first = log_answers(prediction_log, found[:1200], fraud_scores(frame)[:1200], start, unknown=["account_type"])
        log_answers(
            prediction_log, found[1200:], fraud_scores(frame)[1200:], start + DAY / 2, version="2", span=DAY / 2
        )
        labels = frame["is_fraud"].to_numpy()[:1200]
        prediction_log.add_labels(
            [(request, float(label)) for request, label in zip(first, labels, strict=True) if hash(request) % 5 < 3],
            "test",
        )
    finally:
        prediction_log.close()
    return Window(start, start + DAY)


def _both(settings: Settings, model: MonitoredModel, window: Window) -> tuple[Assessment, Assessment]:
    now = utcnow()
    whole = steps.with_labels(settings, model, load_window(settings, window))
    paged = steps.read_window(settings, window, model)
    return (assess(settings, model, whole, "run", now), assess_reduced(settings, model, paged, "run", now))


def test_a_window_read_in_pages_gives_the_whole_reads_assessment(backend: Settings) -> None:
    """Given two days of answers with labels (the second with a feature renamed upstream and
    numbers sent as text), read in pages of 97 rows, every statistic, p-value, verdict, schema
    event, estimate and realized metric equals the whole-window read's (an empty window's too)."""
    # Given two logged days and the version-1 model
    model = MonitoredModel(MODEL, "1", demo_profile(), "champion")
    plain, renamed = _log_day(backend, 0, rename=False), _log_day(backend, 1, rename=True)

    # When each window is assessed both ways
    found = {window: _both(backend, model, window) for window in (plain, renamed, Window(LIVE_START - DAY, LIVE_START))}

    # Then the assessments are the same, and they covered a rename, labels and no data
    for whole, paged in found.values():
        _same(whole, paged)
    assert ("renamed", "customer_age") in {(e.kind, e.column) for e in found[renamed][0].drift.schema}
    realized = found[plain][0].realized
    assert realized is not None
    assert realized.n_labelled > 500
    assert found[Window(LIVE_START - DAY, LIVE_START)][1].status == "no_data"


def test_the_database_counts_the_versions_a_window_holds(backend: Settings) -> None:
    """The versions' answers are counted in the database, in order of first answer, without
    reading the rows."""
    # Given a day answered by version 1, then version 2
    window = _log_day(backend, 0, rename=False)

    # When the versions are counted
    found = window_versions(backend, window)

    # Then the counts are the rows each answered
    assert list(found.items()) == [("1", 1200), ("2", 300)]
