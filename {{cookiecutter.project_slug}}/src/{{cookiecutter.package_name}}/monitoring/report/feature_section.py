"""The report's features section: a row per feature (drifted and most changed first) with
its effect over the recent windows, and its histogram against the reference's."""

from __future__ import annotations

import math
from typing import Any

from . import svg as svgplot
from .formatting import chart, edge_ticks, number, records, text
from .report_data import ReportData


def _effect(row: Any) -> float | None:
    value = row.wasserstein if row.kind == "numeric" else row.max_share_change
    return float(value) if value is not None and math.isfinite(value) else None


def _histogram(row: Any) -> str:
    hist = row.histogram
    if not hist:
        return ""
    levels = hist.get("levels")
    if levels:
        return svgplot.histogram(
            f"feature:{row.feature}", row.feature, hist["reference"], hist["current"], labels=levels
        )
    return svgplot.histogram(
        f"feature:{row.feature}",
        f"{row.feature} (reference quantile bins)",
        hist["reference"],
        hist["current"],
        ticks=edge_ticks(hist.get("edges") or [], len(hist["reference"])),
    )


def _tone(row: Any) -> str:
    return "bad" if row.drifted else "ok" if row.status == "stable" else "warn"


def _row(r: Any, trend: str) -> dict[str, Any]:
    effect = (
        f"W {number(r.wasserstein, '{:.2f}')} SD"
        if r.kind == "numeric"
        else f"Δshare {number(r.max_share_change, '{:.1%}')}"
    )
    return {
        "feature": str(r.feature),
        "kind": str(r.kind),
        "status": str(r.status),
        "tone": _tone(r),
        "why": ", ".join(r.reasons or []),
        "test": f"{text(r.test)} p̃ {number(r.p_adjusted, '{:.2g}')}",
        "effect": f"{effect}, PSI {number(r.psi, '{:.2f}')}, JS {number(r.js_distance, '{:.2f}')}",
        "missing": f"{number(r.null_rate_reference, '{:.1%}')} → {number(r.null_rate_current, '{:.1%}')}",
        "trend": chart(trend),
    }


def features(data: ReportData) -> dict[str, Any] | None:
    """The features' rows and histograms; None when the run scored no feature."""
    found = data.features
    if not len(found):
        return None
    ids = list(data.windows["run_id"])
    ordered = records(
        found.assign(
            _rank=[0 if d else 1 for d in found["drifted"]],
            _effect=[-(e or 0.0) for e in (_effect(r) for r in records(found))],
        ).sort_values(["_rank", "_effect", "feature"])
    )
    past: dict[tuple[str, str], Any] = {(p.feature, p.run_id): p for p in records(data.feature_series)}
    rows = []
    for r in ordered:
        earlier = [past.get((r.feature, i)) for i in ids]
        trend = [_effect(p) if p is not None else None for p in earlier]
        marks = [bool(p.drifted) if p is not None else False for p in earlier]
        rows.append(_row(r, svgplot.sparkline(f"trend:{r.feature}", trend, marks)))
    return {"rows": rows, "histograms": [chart(_histogram(r)) for r in ordered]}
