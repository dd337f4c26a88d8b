"""The report's sections, each rendered from the gathered data."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pandas as pd

from ...stores.monitoring_history_schema import OVERALL
from ..report import svg as svgplot

if TYPE_CHECKING:
    pass
from .report_data import ReportData


def _f(value: Any, fmt: str = "{:.3f}") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return fmt.format(value)


def _rows(frame: pd.DataFrame) -> list[Any]:
    """A frame's rows with attribute access (values untyped, as they come from the database)."""
    return [SimpleNamespace(**{str(k): v for k, v in row.items()}) for row in frame.to_dict("records")]


def _text(value: Any) -> str:
    """A nullable text cell (the database's NULL comes back as None or NaN)."""
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _badge(text: str, tone: str = "") -> str:
    return f'<span class="badge {tone}">{escape(text)}</span>'


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], raw: bool = False) -> str:
    """A table; cells are escaped unless `raw` (they then hold markup built here)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c if raw else escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _x_labels(windows: pd.DataFrame) -> list[str]:
    daily = all(
        (e - s).total_seconds() % 86_400 == 0
        for s, e in zip(windows["window_start"], windows["window_end"], strict=True)
    )
    return [f"{s:%m-%d}" if daily else f"{s:%m-%d %H:%M}" for s in windows["window_start"]]


def _verdicts(data: ReportData) -> str:
    run = data.run
    badges = [
        _badge(f"dataset drift: {'yes' if run['dataset_drift'] else 'no'}", "bad" if run["dataset_drift"] else "ok"),
        _badge(f"{run['n_drifted']} of {run['n_scored']} features drifted", "warn" if run["n_drifted"] else "ok"),
    ]
    if run["prediction_drift"] is not None:
        badges.append(
            _badge(
                f"score drift: {'yes' if run['prediction_drift'] else 'no'}", "bad" if run["prediction_drift"] else "ok"
            )
        )
    badges.append(
        _badge(f"schema changed: {'yes' if run['schema_changed'] else 'no'}", "bad" if run["schema_changed"] else "ok")
    )
    if run["refused_requests"]:
        badges.append(_badge(f"{run['refused_requests']:,} requests refused", "warn"))
    if run["realized_primary"] is not None:
        tone = "bad" if data.floor.breached(run["realized_primary"]) else "ok"
        reliable = "" if run["realized_reliable"] else " (few labels)"
        badges.append(_badge(f"realized {run['primary_metric']} {_f(run['realized_primary'])}{reliable}", tone))
    if run["estimated_primary"] is not None:
        badges.append(
            _badge(
                f"estimated {run['primary_metric']} {_f(run['estimated_primary'])} "
                f"[{_f(run['estimated_lower'])}, {_f(run['estimated_upper'])}]",
                "muted",
            )
        )
    rules = run.get("retrain_rules") or []
    if rules:
        badges.append(_badge(f"retraining rules met: {', '.join(rules)}", "bad"))
    facts = _table(
        ["window", "model", "answers", "of them by this version", "labelled (performance period)", "status"],
        [
            [
                f"{run['window_start']:%Y-%m-%d %H:%M} to {run['window_end']:%Y-%m-%d %H:%M} UTC",
                f"{run['model_name']} v{run['model_version']}",
                f"{run['rows']:,}",
                f"{run['scored_rows']:,}",
                f"{run['labelled_rows']:,}"
                + (f" since {run['performance_start']:%Y-%m-%d}" if run["performance_start"] else ""),
                str(run["status"]),
            ]
        ],
    )
    return "<section>" + facts + "<p>" + "".join(badges) + "</p></section>"


def _alerts(data: ReportData) -> str:
    def rows(frame: pd.DataFrame, with_time: bool) -> list[list[str]]:
        return [
            ([f"{r.raised_at:%Y-%m-%d %H:%M}"] if with_time else [])
            + [str(r.severity), str(r.title), str(r.message), str(r.status), _text(r.delivery_detail)]
            for r in _rows(frame)
        ]

    now = (
        _table(["severity", "alert", "detail", "status", "why"], rows(data.alerts, False))
        if len(data.alerts)
        else "<p class='muted'>No alerts in this run.</p>"
    )
    recent = (
        _table(["raised", "severity", "alert", "detail", "status", "why"], rows(data.recent_alerts, True))
        if len(data.recent_alerts)
        else ""
    )
    plot = ""
    if len(data.window_alerts):
        found = data.window_alerts
        counts: dict[tuple[str, str], int] = {}
        for row in _rows(found):
            counts[(str(row.run_id), str(row.severity))] = counts.get((str(row.run_id), str(row.severity)), 0) + 1
        labels = _x_labels(data.windows)
        series = [
            svgplot.Series(s, [float(counts.get((str(i), s), 0)) for i in data.windows["run_id"]])
            for s in ("info", "warning", "critical")
            if s in set(found["severity"])
        ]
        plot = svgplot.line_chart("alerts", "alerts per window by severity", labels, series, fmt="{:.0f}")
    return f"<h2>Alerts</h2>{now}<h3 class='small muted'>Recent alerts</h3><div class='grid'>{plot}</div>{recent}"


def _retraining(data: ReportData) -> str:
    run = data.run
    met, emitted = run.get("retrain_rules") or [], run.get("retrain_emitted") or []
    if not met:
        return "<h2>Retraining</h2><p class='muted'>No retraining rule is met.</p>"
    sent = (
        f"Asked for retraining (incident {escape(str(run['retrain_incident_id'] or ''))}) because "
        f"{escape(', '.join(emitted))} started to hold."
        if emitted
        else "These rules were already met in the previous window: the retraining request was sent then."
    )
    return f"<h2>Retraining</h2><p>Rules met: {escape(', '.join(met))}. {sent}</p>"


def _drift_over_time(data: ReportData) -> str:
    w = data.windows
    labels = _x_labels(w)
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
    return (
        f"<h2>Drift over time</h2><div class='grid'>{share}{traffic}</div>"
        "<p class='small muted'>Red dots: dataset drift (left), windows with refused requests (right).</p>"
    )


def _scores(data: ReportData) -> str:
    prediction = data.prediction
    if not prediction or not prediction.get("histogram"):
        return "<h2>Score distribution</h2><p class='muted'>No scores in this window.</p>"
    hist = prediction["histogram"]
    edges = hist.get("edges") or []
    n = len(hist["reference"])
    ticks = [(i, f"{edges[i - 1]:.3g}") for i in (n // 10, n // 2, 9 * n // 10) if 0 < i <= len(edges)]
    plot = svgplot.histogram("scores", "score distribution", hist["reference"], hist["current"], ticks=ticks)
    w = data.windows
    by_run = {r.run_id: r for r in _rows(data.prediction_series)}
    means = [_num(getattr(by_run.get(i), "mean_current", None)) for i in w["run_id"]]
    drifted = [bool(getattr(by_run.get(i), "drifted", False)) for i in w["run_id"]]
    over = svgplot.line_chart(
        "scores-over-time",
        "mean score per window",
        _x_labels(w),
        [svgplot.Series("mean score", means)],
        fmt="{:.3f}",
        marks=drifted,
    )
    facts = (
        f"PSI {_f(prediction['psi'], '{:.3f}')}, KS p {_f(prediction['p_value'], '{:.2g}')}; flagged share "
        f"{_f(prediction['flag_rate_reference'], '{:.2%}')} at training, "
        f"{_f(prediction['flag_rate_current'], '{:.2%}')} now"
    )
    return f"<h2>Score distribution</h2><div class='grid'>{plot}{over}</div><p class='small'>{escape(facts)}</p>"


def _metric_series(
    frame: pd.DataFrame, kind: str, metric: str, run_ids: Sequence[str]
) -> dict[str, list[float | None]]:
    rows = (
        frame[(frame["kind"] == kind) & (frame["metric"] == metric) & (frame["segment"] == OVERALL)]
        if len(frame)
        else frame
    )
    by_run = {r.run_id: r for r in _rows(rows)}
    out: dict[str, list[float | None]] = {"value": [], "lower": [], "upper": [], "reliable": []}
    for run_id in run_ids:
        row = by_run.get(run_id)
        out["value"].append(getattr(row, "value", None))
        out["lower"].append(getattr(row, "lower", None))
        out["upper"].append(getattr(row, "upper", None))
        out["reliable"].append(getattr(row, "reliable", None))
    return out


def _performance(data: ReportData) -> str:
    w = data.windows
    ids = list(w["run_id"])
    metric = str(data.run["primary_metric"])
    realized = _metric_series(data.performance_series, "realized", metric, ids)
    estimated = _metric_series(data.performance_series, "estimated", metric, ids)
    series = [
        svgplot.Series("realized", realized["value"]),
        svgplot.Series("estimated", estimated["value"], estimated["lower"], estimated["upper"]),
    ]
    thresholds = [(data.floor.value, "floor")] if data.floor.value is not None else []
    baselines = [(data.floor.baseline, "training")] if data.floor.baseline is not None else []
    plot = svgplot.line_chart(
        "performance-over-time",
        f"{metric} per window (realized, estimated with band)",
        _x_labels(w),
        series,
        thresholds=thresholds,
        baselines=baselines,
    )
    current = data.performance
    rows = []
    for r in _rows(current.sort_values(["kind", "segment", "level", "metric"])) if len(current) else []:
        band = f" [{_f(r.lower)}, {_f(r.upper)}]" if r.kind == "estimated" else ""
        rows.append(
            [
                str(r.kind),
                f"{r.segment}={r.level}" if r.segment else "all",
                str(r.metric),
                _f(r.value) + band,
                _f(r.baseline),
                f"{r.n:,}",
                "yes" if r.reliable else "few labels",
            ]
        )
    table = (
        _table(["kind", "rows", "metric", "now", "training", "n", "reliable"], rows)
        if rows
        else "<p class='muted'>No labelled answers and no scores to estimate from.</p>"
    )
    note = (
        "<p class='small muted'>Realized metrics use the labelled answers of the performance period; the estimate "
        "(CBPE) uses this window's scores and the calibration fitted at training, so it sees covariate shift, "
        "not concept drift.</p>"
    )
    return f"<h2>Performance</h2><div class='grid'>{plot}</div>{note}{table}"


def _schema(data: ReportData) -> str:
    events = data.events
    edge = (data.run.get("summary") or {}).get("edge_events") or {}
    parts = ["<h2>Schema events</h2>"]
    if len(events):
        parts.append(
            _table(
                ["source", "column", "kind", "detail"],
                [[str(e.source), str(e.column_name), str(e.kind), str(e.detail)] for e in _rows(events)],
            )
        )
    else:
        parts.append("<p class='muted'>The window has the reference's columns and types.</p>")
    if edge:
        parts.append("<p class='small'>Recorded by the service per record:</p>")
        parts.append(_table(["event:field", "records"], [[k, f"{v:,}"] for k, v in edge.items()]))
    return "".join(parts)


def _effect(row: Any) -> float | None:
    value = row.wasserstein if row.kind == "numeric" else row.max_share_change
    return float(value) if value is not None and math.isfinite(value) else None


def _feature_plot(row: Any) -> str:
    hist = row.histogram
    if not hist:
        return ""
    levels = hist.get("levels")
    if levels:
        return svgplot.histogram(
            f"feature:{row.feature}", row.feature, hist["reference"], hist["current"], labels=levels
        )
    edges = hist.get("edges") or []
    n = len(hist["reference"])
    ticks = [(i, f"{edges[i - 1]:.3g}") for i in (n // 10, n // 2, 9 * n // 10) if 0 < i <= len(edges)]
    return svgplot.histogram(
        f"feature:{row.feature}",
        f"{row.feature} (reference quantile bins)",
        hist["reference"],
        hist["current"],
        ticks=ticks,
    )


def _features(data: ReportData) -> str:
    features = data.features
    if not len(features):
        return ""
    series = data.feature_series
    ids = list(data.windows["run_id"])
    order = features.assign(
        _rank=[0 if d else 1 for d in features["drifted"]],
        _effect=[-(e or 0.0) for e in (_effect(r) for r in _rows(features))],
    ).sort_values(["_rank", "_effect", "feature"])
    rows = []
    past: dict[tuple[str, str], Any] = {(p.feature, p.run_id): p for p in _rows(series)}
    for r in _rows(order):
        trend = [_effect(past[(r.feature, i)]) if (r.feature, i) in past else None for i in ids]
        marks = [bool(past[(r.feature, i)].drifted) if (r.feature, i) in past else False for i in ids]
        effect = (
            f"W {_f(r.wasserstein, '{:.2f}')} SD"
            if r.kind == "numeric"
            else f"Δshare {_f(r.max_share_change, '{:.1%}')}"
        )
        rows.append(
            [
                escape(str(r.feature)),
                escape(str(r.kind)),
                _badge(str(r.status), "bad" if r.drifted else "ok" if r.status == "stable" else "warn"),
                escape(", ".join(r.reasons or [])),
                escape(f"{_text(r.test)} p̃ {_f(r.p_adjusted, '{:.2g}')}"),
                escape(f"{effect}, PSI {_f(r.psi, '{:.2f}')}, JS {_f(r.js_distance, '{:.2f}')}"),
                escape(f"{_f(r.null_rate_reference, '{:.1%}')} → {_f(r.null_rate_current, '{:.1%}')}"),
                svgplot.sparkline(f"trend:{r.feature}", trend, marks),
            ]
        )
    table = _table(
        ["feature", "kind", "status", "why", "test (p adjusted)", "effect", "missing", "effect over time"],
        rows,
        raw=True,
    )
    plots = "".join(f"<div class='card'>{_feature_plot(r)}</div>" for r in _rows(order))
    return (
        f"<h2>Features</h2>{table}<h3 class='small muted'>Reference against current</h3><div class='grid'>{plots}</div>"
    )


def _shadow(data: ReportData) -> str:
    shadow = data.shadow
    if not len(shadow):
        return (
            "<h2>Shadow evaluation</h2><p class='muted'>No shadow-evaluation decision recorded yet for this model.</p>"
        )
    ordered = shadow.iloc[::-1]
    labels = [f"v{c} {d}" for c, d in zip(ordered["challenger_version"], ordered["decision"], strict=True)]
    plot = svgplot.intervals(
        "shadow-decisions",
        "challenger minus champion (primary metric, CI)",
        labels,
        [_num(v) for v in ordered["difference"]],
        [_num(v) for v in ordered["ci_lower"]],
        [_num(v) for v in ordered["ci_upper"]],
    )
    rows = []
    for r in _rows(shadow):
        segments = "; ".join(
            f"{s.get('segment')}={s.get('level')}: {s.get('verdict') or _f(s.get('difference'), '{:+.3f}')}"
            for s in (r.segments or [])[:6]
            if isinstance(s, Mapping)
        )
        rows.append(
            [
                f"{r.decided_at:%Y-%m-%d %H:%M}",
                f"v{_text(r.champion_version) or '–'} vs v{r.challenger_version}",
                str(r.decision),
                str(r.reason),
                f"{int(r.n):,}" if _num(r.n) is not None else "–",
                f"{_f(r.champion_value)} vs {_f(r.challenger_value)}",
                f"{_f(r.difference, '{:+.3f}')} [{_f(r.ci_lower, '{:+.3f}')}, {_f(r.ci_upper, '{:+.3f}')}]",
                segments,
            ]
        )
    table = _table(
        [
            "decided",
            "models",
            "decision",
            "reason",
            "labelled rows",
            "champion vs challenger",
            "difference [CI]",
            "segments",
        ],
        rows,
    )
    return f"<h2>Shadow evaluation</h2><div class='grid'>{plot}</div>{table}"


def _num(value: Any) -> float | None:
    return float(value) if value is not None and isinstance(value, int | float) and math.isfinite(value) else None
