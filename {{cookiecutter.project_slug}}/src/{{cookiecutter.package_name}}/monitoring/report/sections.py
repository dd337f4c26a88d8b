"""The report's run-level sections, each as the values its part of the template shows.

Text stays text here (the template escapes it); charts come from `svg.py`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from ...stores.monitoring_history_schema import OVERALL
from . import svg as svgplot
from .formatting import Badge, chart, edge_ticks, finite, number, records, text, x_labels, yes_no
from .report_data import ReportData


def title(data: ReportData) -> str:
    run = data.run
    return f"Monitoring: {run['model_name']} v{run['model_version']}, {run['window_start']:%Y-%m-%d %H:%M} UTC"


def _flag(label: str, flag: Any) -> Badge:
    return f"{label}: {yes_no(flag)}", "bad" if flag else "ok"


def _drift_badges(run: Mapping[str, Any]) -> list[Badge]:
    badges = [
        _flag("dataset drift", run["dataset_drift"]),
        (f"{run['n_drifted']} of {run['n_scored']} features drifted", "warn" if run["n_drifted"] else "ok"),
    ]
    if run["prediction_drift"] is not None:
        badges.append(_flag("score drift", run["prediction_drift"]))
    badges.append(_flag("schema changed", run["schema_changed"]))
    if run["refused_requests"]:
        badges.append((f"{run['refused_requests']:,} requests refused", "warn"))
    return badges


def _performance_badges(data: ReportData) -> list[Badge]:
    run, metric = data.run, data.run["primary_metric"]
    badges = []
    if run["realized_primary"] is not None:
        reliable = "" if run["realized_reliable"] else " (few labels)"
        tone = "bad" if data.floor.breached(run["realized_primary"]) else "ok"
        badges.append((f"realized {metric} {number(run['realized_primary'])}{reliable}", tone))
    if run["estimated_primary"] is not None:
        band = f"[{number(run['estimated_lower'])}, {number(run['estimated_upper'])}]"
        badges.append((f"estimated {metric} {number(run['estimated_primary'])} {band}", "muted"))
    rules = run.get("retrain_rules") or []
    if rules:
        badges.append((f"retraining rules met: {', '.join(rules)}", "bad"))
    return badges


def _facts(run: Mapping[str, Any]) -> list[str]:
    """The window, the model, its answers and labels, and the run's status."""
    since = f" since {run['performance_start']:%Y-%m-%d}" if run["performance_start"] else ""
    return [
        f"{run['window_start']:%Y-%m-%d %H:%M} to {run['window_end']:%Y-%m-%d %H:%M} UTC",
        f"{run['model_name']} v{run['model_version']}",
        f"{run['rows']:,}",
        f"{run['scored_rows']:,}",
        f"{run['labelled_rows']:,}{since}",
        str(run["status"]),
    ]


def verdicts(data: ReportData) -> dict[str, Any]:
    return {"facts": _facts(data.run), "badges": _drift_badges(data.run) + _performance_badges(data)}


def _alert_rows(frame: pd.DataFrame, with_time: bool) -> list[list[str]]:
    return [
        ([f"{r.raised_at:%Y-%m-%d %H:%M}"] if with_time else [])
        + [str(r.severity), str(r.title), str(r.message), str(r.status), text(r.delivery_detail)]
        for r in records(frame)
    ]


def _alerts_chart(data: ReportData) -> str:
    """Alerts per window by severity (no chart when the windows raised none)."""
    found = data.window_alerts
    if not len(found):
        return ""
    counts = Counter((str(row.run_id), str(row.severity)) for row in records(found))
    series = [
        svgplot.Series(s, [float(counts.get((str(i), s), 0)) for i in data.windows["run_id"]])
        for s in ("info", "warning", "critical")
        if s in set(found["severity"])
    ]
    return svgplot.line_chart("alerts", "alerts per window by severity", x_labels(data.windows), series, fmt="{:.0f}")


def alerts(data: ReportData) -> dict[str, Any]:
    return {
        "now": _alert_rows(data.alerts, with_time=False),
        "recent": _alert_rows(data.recent_alerts, with_time=True),
        "chart": chart(_alerts_chart(data)),
    }


def retraining(data: ReportData) -> dict[str, Any]:
    run = data.run
    return {
        "met": run.get("retrain_rules") or [],
        "emitted": run.get("retrain_emitted") or [],
        "incident": str(run["retrain_incident_id"] or ""),
    }


def drift_over_time(data: ReportData) -> dict[str, Any]:
    w = data.windows
    labels = x_labels(w)
    share = svgplot.line_chart(
        "drift-over-time",
        "share of features drifted per window",
        labels,
        [svgplot.Series("share drifted", [float(v) for v in w["share_drifted"]])],
        thresholds=[(data.dataset_drift_share, "dataset drift")],
        marks=[bool(v) for v in w["dataset_drift"]],
        fmt="{:.0%}",
    )
    refused = [float(r) / max(float(r) + float(n), 1.0) for r, n in zip(w["refused_requests"], w["rows"], strict=True)]
    traffic = svgplot.line_chart(
        "traffic-over-time",
        "answers per window",
        labels,
        [svgplot.Series("answers", [float(v) for v in w["rows"]])],
        fmt="{:,.0f}",
        marks=[r > 0 for r in refused],
    )
    return {"charts": [chart(share), chart(traffic)]}


def _scores_over_time(data: ReportData) -> str:
    w = data.windows
    by_run = {r.run_id: r for r in records(data.prediction_series)}
    means = [finite(getattr(by_run.get(i), "mean_current", None)) for i in w["run_id"]]
    drifted = [bool(getattr(by_run.get(i), "drifted", False)) for i in w["run_id"]]
    return svgplot.line_chart(
        "scores-over-time",
        "mean score per window",
        x_labels(w),
        [svgplot.Series("mean score", means)],
        fmt="{:.3f}",
        marks=drifted,
    )


def scores(data: ReportData) -> dict[str, Any] | None:
    """The score histogram against the reference's, the mean score per window and the flag
    rates; None when the window has no scores."""
    prediction = data.prediction
    if not prediction or not prediction.get("histogram"):
        return None
    hist = prediction["histogram"]
    ticks = edge_ticks(hist.get("edges") or [], len(hist["reference"]))
    histogram = svgplot.histogram("scores", "score distribution", hist["reference"], hist["current"], ticks=ticks)
    facts = (
        f"PSI {number(prediction['psi'], '{:.3f}')}, KS p {number(prediction['p_value'], '{:.2g}')}; flagged share "
        f"{number(prediction['flag_rate_reference'], '{:.2%}')} at training, "
        f"{number(prediction['flag_rate_current'], '{:.2%}')} now"
    )
    return {"charts": [chart(histogram), chart(_scores_over_time(data))], "facts": facts}


def schema(data: ReportData) -> dict[str, Any]:
    """The schema events of the window, and the events the service counted per record."""
    edge = (data.run.get("summary") or {}).get("edge_events") or {}
    return {
        "events": [[str(e.source), str(e.column_name), str(e.kind), str(e.detail)] for e in records(data.events)],
        "edge": [[k, f"{v:,}"] for k, v in edge.items()],
    }


def _metric_series(
    frame: pd.DataFrame, kind: str, metric: str, run_ids: Sequence[str]
) -> dict[str, list[float | None]]:
    rows = (
        frame[(frame["kind"] == kind) & (frame["metric"] == metric) & (frame["segment"] == OVERALL)]
        if len(frame)
        else frame
    )
    by_run = {r.run_id: r for r in records(rows)}
    out: dict[str, list[float | None]] = {"value": [], "lower": [], "upper": [], "reliable": []}
    for run_id in run_ids:
        row = by_run.get(run_id)
        for key, values in out.items():
            values.append(getattr(row, key, None))
    return out


def _performance_chart(data: ReportData) -> str:
    """The primary metric per window: realized, and estimated with its band."""
    ids = list(data.windows["run_id"])
    metric = str(data.run["primary_metric"])
    realized = _metric_series(data.performance_series, "realized", metric, ids)
    estimated = _metric_series(data.performance_series, "estimated", metric, ids)
    floor = data.floor
    return svgplot.line_chart(
        "performance-over-time",
        f"{metric} per window (realized, estimated with band)",
        x_labels(data.windows),
        [
            svgplot.Series("realized", realized["value"]),
            svgplot.Series("estimated", estimated["value"], estimated["lower"], estimated["upper"]),
        ],
        thresholds=[(floor.value, "floor" if floor.higher_is_better else "ceiling")] if floor.value is not None else [],
        baselines=[(floor.baseline, "training")] if floor.baseline is not None else [],
    )


def _performance_row(r: Any) -> list[str]:
    band = f" [{number(r.lower)}, {number(r.upper)}]" if r.kind == "estimated" else ""
    return [
        str(r.kind),
        f"{r.segment}={r.level}" if r.segment else "all",
        str(r.metric),
        number(r.value) + band,
        number(r.baseline),
        f"{r.n:,}",
        "yes" if r.reliable else "few labels",
    ]


def performance(data: ReportData) -> dict[str, Any]:
    current = data.performance
    ordered = current.sort_values(["kind", "segment", "level", "metric"]) if len(current) else current
    return {"chart": chart(_performance_chart(data)), "rows": [_performance_row(r) for r in records(ordered)]}


def _shadow_chart(shadow: pd.DataFrame) -> str:
    ordered = shadow.iloc[::-1]
    return svgplot.intervals(
        "shadow-decisions",
        "challenger minus champion (primary metric, CI)",
        [
            f"v{c} {_by(s)}: {d}"
            for c, d, s in zip(ordered["challenger_version"], ordered["decision"], ordered["source"], strict=True)
        ],
        [finite(v) for v in ordered["difference"]],
        [finite(v) for v in ordered["ci_lower"]],
        [finite(v) for v in ordered["ci_upper"]],
    )


def _by(source: object) -> str:
    """Who judged: replay (offline, on logged traffic), shadow evaluation (live traffic, never
    answered) or the canary (a share of live answers)."""
    return str(source) if source in ("replay", "canary") else "shadow"


def _shadow_row(r: Any) -> list[str]:
    segments = "; ".join(
        f"{s.get('segment')}={s.get('level')}: {s.get('verdict') or number(s.get('difference'), '{:+.3f}')}"
        for s in (r.segments or [])[:6]
        if isinstance(s, Mapping)
    )
    return [
        f"{r.decided_at:%Y-%m-%d %H:%M}",
        f"v{text(r.champion_version) or '–'} vs v{r.challenger_version}",
        _by(r.source),
        str(r.decision),
        str(r.reason),
        f"{int(r.n):,}" if finite(r.n) is not None else "–",
        f"{number(r.champion_value)} vs {number(r.challenger_value)}",
        f"{number(r.difference, '{:+.3f}')} [{number(r.ci_lower, '{:+.3f}')}, {number(r.ci_upper, '{:+.3f}')}]",
        segments,
    ]


def shadow(data: ReportData) -> dict[str, Any] | None:
    """The model's replay verdicts and shadow-evaluation decisions, newest first; None when
    there are none."""
    if not len(data.shadow):
        return None
    return {"chart": chart(_shadow_chart(data.shadow)), "rows": [_shadow_row(r) for r in records(data.shadow)]}
