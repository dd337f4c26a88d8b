"""A drift report as a terminal table (the `drift` command's output)."""

from __future__ import annotations

import math

from rich.console import Console
from rich.table import Table

from ..drift_report import DriftReport, FeatureDrift


def _number(value: float, digits: int = 3) -> str:
    return "-" if not math.isfinite(value) else f"{value:.{digits}f}"


def _p_value(value: float) -> str:
    if not math.isfinite(value):
        return "-"
    return f"{value:.1e}" if value < 1e-3 else f"{value:.3f}"


def _change(value: float) -> str:
    return "-" if not math.isfinite(value) else f"{value:+.1%}"


def _verdict(found: FeatureDrift) -> str:
    if found.status == "drifted":
        return f"[bold red]DRIFT[/] ({', '.join(found.reasons)})"
    return {"stable": "[green]ok[/]", "missing": "[yellow]missing[/]", "no_data": "no data"}[found.status]


def feature_table(report: DriftReport) -> Table:
    table = Table(title=f"Feature drift ({report.rows:,} rows)", title_justify="left")
    for header in (
        "feature",
        "kind",
        "test",
        "p (adj.)",
        "PSI",
        "JS",
        "Wass. (SD)",
        "max share Δ",
        "null Δ",
        "unseen",
        "verdict",
    ):
        table.add_column(header, justify="left" if header in ("feature", "kind", "verdict") else "right")
    rows = [*report.features, *([report.prediction.scores] if report.prediction else [])]
    for found in rows:
        name = found.feature if found.column in (None, found.feature) else f"{found.feature} (as {found.column})"
        table.add_row(
            "[italic]model score[/]" if found.feature == "score" and report.prediction else name,
            found.type,
            found.test or "-",
            _p_value(found.p_adjusted),
            _number(found.psi),
            _number(found.js_distance),
            _number(found.wasserstein),
            _number(found.max_share_change),
            _change(found.null_rate_change),
            _change(found.unseen_share),
            _verdict(found),
        )
    return table


def render(report: DriftReport, console: Console | None = None) -> None:
    console = console or Console()
    console.print(feature_table(report))
    drifted = ", ".join(report.drifted_features) or "none"
    console.print(
        f"{len(report.drifted_features)} of {report.scored} features drifted ({report.share_drifted:.0%}): {drifted}. "
        f"Dataset drift: {'[bold red]yes[/]' if report.dataset_drifted else 'no'} "
        f"(threshold {report.settings.dataset_drift_share:.0%}; tests corrected with {report.settings.correction}, "
        f"alpha {report.settings.alpha})."
    )
    if report.schema:
        events = Table(title="Schema changes", title_justify="left")
        for header in ("column", "change", "detail"):
            events.add_column(header)
        for event in report.schema:
            events.add_row(event.column, event.kind, event.detail)
        console.print(events)
    else:
        console.print("Schema: no changes.")
