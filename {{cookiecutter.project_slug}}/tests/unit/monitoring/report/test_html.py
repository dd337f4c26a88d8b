"""The HTML report: self-contained, small for 50 features, holding every plot it promises, and
shown by a real browser offline with every chart on screen."""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from markupsafe import escape

from {{ cookiecutter.package_name }}.core.metrics import evaluate
from {{ cookiecutter.package_name }}.model.reference_profile import fit_profile
from {{ cookiecutter.package_name }}.monitoring import alerts
from {{ cookiecutter.package_name }}.monitoring.assessment import assess
from {{ cookiecutter.package_name }}.monitoring.history_rows import history_rows
from {{ cookiecutter.package_name }}.monitoring.monitored_model import MonitoredModel
from {{ cookiecutter.package_name }}.monitoring.report.html import render, report_path, write_report
from {{ cookiecutter.package_name }}.monitoring.report.report_data import gather
from {{ cookiecutter.package_name }}.monitoring.retrain_rules import evaluate as decide
from {{ cookiecutter.package_name }}.monitoring.window import Labelled, Window, WindowData
from {{ cookiecutter.package_name }}.settings import AlertSettings, Settings
from {{ cookiecutter.package_name }}.stores.monitoring_history import History, ShadowDecision
from tests.support.browser import look_at
from tests.support.drift_data import labelled_scores, synthetic_contract, synthetic_frame
from tests.support.project import make_settings

NUMERIC, CATEGORICAL = 40, 10
START = datetime(2026, 4, 1, tzinfo=UTC).replace(tzinfo=None)
MEGABYTE = 1_000_000


@cache
def wide_profile() -> dict[str, Any]:
    """A classifier's profile over 40 numeric and 10 twenty-level categorical features."""
    contract = synthetic_contract(NUMERIC, CATEGORICAL)
    frame = synthetic_frame(5000, seed=1, numeric=NUMERIC, categorical=CATEGORICAL)
    scores, labels = labelled_scores(5000, seed=1)
    frame["label"] = labels
    performance = evaluate(contract.task, labels, scores, 0.1)
    return fit_profile(frame, contract, scores=scores, performance=performance, threshold=0.1)


def served(frame: pd.DataFrame, scores: np.ndarray, at: datetime) -> pd.DataFrame:
    """A window as the prediction log returns it: the records' fields, then the log's columns."""
    meta = pd.DataFrame(
        {
            "request_id": [uuid.uuid4().hex for _ in range(len(frame))],
            "logged_at": at,
            "role": "champion",
            "model_name": "wide",
            "model_version": "1",
            "record_id": None,
            "score": scores,
            "decision": scores >= 0.1,
            "latency_ms": 0.5,
            "schema_events": [[] for _ in range(len(frame))],
            "label": np.nan,
            "labelled_at": None,
        }
    )
    return pd.concat([frame.reset_index(drop=True), meta], axis=1)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Settings]:
    """Eight daily windows of the wide model, the last four drifting, with alerts and two
    shadow decisions stored; the report of the last one."""
    settings = make_settings(tmp_path_factory.mktemp("report") / "state", alerts=AlertSettings(channel="none"))
    model = MonitoredModel("wide", "1", wide_profile(), "champion")
    with History.from_settings(settings) as history:
        for day in range(8):
            shift = {f"num_{i}": 0.4 for i in range(0, 14)} if day >= 4 else {}
            frame = synthetic_frame(
                2000,
                seed=10 + day,
                numeric=NUMERIC,
                categorical=CATEGORICAL,
                mean_shift_sd=shift,
                share_shift={"cat_1": 0.15} if day >= 4 else {},
            )
            scores, labels = labelled_scores(2000, seed=10 + day, prevalence_shift=0.8 if day >= 6 else 0.0)
            start = START + timedelta(days=day)
            window = Window(start, start + timedelta(days=1))
            labelled = Labelled(frame, scores, labels.astype(float), start - timedelta(days=6), window.end)
            data = WindowData(window, served(frame, scores, start), pd.DataFrame(), labelled)
            found = assess(settings, model, data)
            history.record_run(**history_rows(found, settings))
            decision = decide(history, found, settings)
            history.update_run(found.run_id, retrain_rules=[r.rule for r in decision.met])
            alerts.process(history, found, alerts.raise_alerts(found, decision, settings), settings.alerts)
        for version, verdict in (("2", "reject"), ("3", "promote")):
            history.record_shadow_decision(
                ShadowDecision(
                    decided_at=start - timedelta(days=int(version)),
                    model_name="wide",
                    challenger_version=version,
                    champion_version="1",
                    decision=verdict,
                    reason="worse on cat_0=level_03" if verdict == "reject" else "better overall",
                    n=4000,
                    primary_metric="average_precision",
                    champion_value=0.4,
                    challenger_value=0.42,
                    difference=0.02,
                    ci_lower=-0.01,
                    ci_upper=0.05,
                    segments=[{"segment": "cat_0", "level": "level_03", "verdict": "worse"}],
                )
            )
        history.record_shadow_decision(  # a replay's verdict on a fourth version, before shadow
            ShadowDecision(
                decided_at=start - timedelta(hours=1),
                model_name="wide",
                challenger_version="4",
                champion_version="3",
                decision="worse",
                reason="worse on cat_1=level_07 (replayed)",
                n=1500,
                primary_metric="average_precision",
                difference=-0.03,
                ci_lower=-0.05,
                ci_upper=-0.01,
                source="replay",
            )
        )
        history.record_shadow_decision(  # a canary's rollback of a fifth version (no labels yet: no metric)
            ShadowDecision(
                decided_at=start - timedelta(minutes=30),
                model_name="wide",
                challenger_version="5",
                champion_version="3",
                decision="rollback",
                reason="score_psi breached: PSI 0.912",
                n=600,
                source="canary",
            )
        )
        path = write_report(history, found.run_id, settings, report_path(settings, window))
    return path, settings


def test_the_report_for_fifty_features_is_under_a_megabyte(report: tuple[Path, Settings]) -> None:
    """A report with 50 features (histograms, trends) and eight windows of history stays
    under 1 MB, in the state directory's reports folder."""
    # Given the report of the last window
    path, settings = report

    # When its size is read
    size = path.stat().st_size

    # Then it is small, and where the documentation says
    assert size < MEGABYTE
    assert path.parent == settings.var_dir / "reports"
    assert path.name == "monitoring-20260408T0000-20260409T0000.html"


def test_the_report_opens_offline(report: tuple[Path, Settings]) -> None:
    """Nothing in the report is fetched: no scripts, stylesheets, fonts, images or links to
    other places; every chart is inline SVG that parses as XML."""
    # Given the report's text
    html = report[0].read_text(encoding="utf-8")

    # When it is searched for references to anything outside it
    outside = re.findall(r"https?://|<script|<link|<img|<iframe|@import|url\(|src=|href=", html, flags=re.I)
    charts = re.findall(r"<svg\b.*?</svg>", html, flags=re.S)

    # Then there are none, and each chart is well-formed
    assert outside == []
    assert html.startswith("<!DOCTYPE html>")
    assert len(charts) >= 100
    for chart in charts:
        ET.fromstring(chart)  # noqa: S314 - the report under test, not untrusted input


def test_the_report_holds_every_plot(report: tuple[Path, Settings]) -> None:
    """Reference against current for every feature and the scores, drift, scores and
    performance over time, alerts per window, and the shadow decisions; the drifted features
    come first."""
    # Given the report's text
    html = report[0].read_text(encoding="utf-8")

    # When its charts are listed
    plots = re.findall(r'data-plot="([^"]+)"', html)

    # Then each promised chart is there
    features = [f"num_{i}" for i in range(NUMERIC)] + [f"cat_{i}" for i in range(CATEGORICAL)]
    assert {f"feature:{name}" for name in features} <= set(plots)
    assert {f"trend:{name}" for name in features} <= set(plots)
    assert {
        "scores",
        "drift-over-time",
        "scores-over-time",
        "performance-over-time",
        "alerts",
        "shadow-decisions",
    } <= set(plots)
    order = [p.removeprefix("feature:") for p in plots if p.startswith("feature:")]
    assert set(order[:3]) <= {f"num_{i}" for i in range(14)} | {"cat_1"}
    assert "worse on cat_0=level_03" in html
    assert "dataset drift" in html
    # the replay's verdict, told from shadow's decisions by who judged
    assert "worse on cat_1=level_07 (replayed)" in html
    assert "<td>replay</td><td>worse</td>" in html
    # and the canary's rollback, by the canary
    assert "<td>canary</td><td>rollback</td>" in html


def test_text_from_the_history_is_shown_as_text_never_as_markup(report: tuple[Path, Settings]) -> None:
    """A feature name, an alert or a shadow decision's reason holding markup is escaped: the
    page shows it as text and runs nothing. Only the charts go in as markup (they escape
    their own text)."""
    # Given the last window's data, with a script in a feature's name, an alert and a reason
    _, settings = report
    with History.from_settings(settings) as history:
        run_id = str(history.windows("wide", 30)["run_id"].iloc[-1])
        data = gather(history, run_id, settings)
    script = "<script>alert('x')</script>"
    features = data.features.assign(feature=[script, *data.features["feature"].iloc[1:]])
    found_alerts = data.alerts.assign(title=script)
    shadow = data.shadow.assign(reason=script)

    # When the report is rendered
    html = render(replace(data, features=features, alerts=found_alerts, recent_alerts=found_alerts, shadow=shadow))

    # Then no script element is in the page; the feature's row, the alert and the reason show it as text
    assert "<script" not in html
    shown = f"<td>{escape(script)}</td>"
    assert f"<tr><td>{escape(script)}</td>" in html  # the features table's first column
    assert html.count(shown) >= 1 + 2 * len(found_alerts) + len(shadow)
    assert len(re.findall(r"<svg\b", html)) >= 100


def test_the_report_renders_in_a_browser_offline_with_every_chart_visible(
    report: tuple[Path, Settings], tmp_path: Path
) -> None:
    """Opened in headless Chromium with the network off, the report logs no console error,
    asks for nothing outside itself, and draws each of its charts with a size on screen."""
    # Given the report of the last window and its number of charts
    path = report[0]
    charts_in_page = len(re.findall(r"<svg\b", path.read_text(encoding="utf-8")))

    # When a browser opens it
    seen = look_at(path, tmp_path / "monitoring-report.png")

    # Then nothing went wrong, nothing was fetched, and every chart is visible
    assert seen.problems == []
    assert seen.outside == []
    assert len(seen.charts) == charts_in_page >= 100
    assert seen.hidden_charts == 0
    assert all(width > 0 and height > 0 for width, height in seen.charts), seen.charts  # sparklines are 90x18
    assert seen.screenshot.stat().st_size > 10_000
