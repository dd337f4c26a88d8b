"""A drift report as a terminal table (the `drift` command's output).

It reads in an 80-column terminal and in a log file (without a terminal rich assumes 80
columns): the value columns keep their width and every digit, and only the long texts (a
feature's name, the reasons for a verdict, a schema event's detail) wrap onto more lines,
never cut short. So the table holds the numbers a verdict rests on; `drift --json` and the
HTML report hold the rest (the Jensen-Shannon distance, sample sizes, histograms).
"""

from __future__ import annotations

import math

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..drift_report import DriftReport, FeatureDrift

TYPES = {"numeric": "num", "integer": "int", "categorical": "cat", "boolean": "bool"}
REASONS = {"distribution": "dist", "missing_values": "nulls", "unseen_categories": "unseen"}
CORRECTIONS = {
    "bh": "corrected for the number of tests (Benjamini-Hochberg)",
    "holm": "corrected for the number of tests (Holm)",
    "none": "not corrected for the number of tests",
}


def _p_value(value: float) -> str:
    if not math.isfinite(value):
        return "-"
    return f"{value:.1e}" if value < 1e-3 else f"{value:.3f}"


def _number(value: float, digits: int = 2) -> str:
    return "-" if not math.isfinite(value) else f"{value:.{digits}f}"


def _shift(found: FeatureDrift) -> str:
    """The effect size in the units people read: reference standard deviations for a number,
    percentage points of the level whose share changed most for a category."""
    if found.kind == "numeric":
        return "-" if not math.isfinite(found.wasserstein) else f"{found.wasserstein:.2f} sd"
    return "-" if not math.isfinite(found.max_share_change) else f"{found.max_share_change * 100:.1f} pp"


def _percent(value: float, sign: bool = False) -> str:
    if not math.isfinite(value):
        return "-"
    return f"{value:+.1%}" if sign else f"{value:.1%}"


def _verdict(found: FeatureDrift) -> str:
    if found.status == "drifted":
        return f"[bold red]DRIFT[/] {' '.join(REASONS.get(r, r) for r in found.reasons)}"
    return {"stable": "[green]ok[/]", "missing": "[yellow]missing[/]", "no_data": "no data"}[found.status]


def _name(found: FeatureDrift, report: DriftReport) -> str:
    if found.feature == "score" and report.prediction and found is report.prediction.scores:
        return "[italic]model score[/]"
    name = found.feature if found.column in (None, found.feature) else f"{found.feature} (as {found.column})"
    return escape(name)


def feature_table(report: DriftReport) -> Table:
    """One row per feature: the test's adjusted p-value, PSI, the shift, the change in
    missing values, the share of unseen levels (when a feature has levels) and the verdict."""
    rows = [*report.features, *([report.prediction.scores] if report.prediction else [])]
    levels = any(found.kind == "categorical" for found in rows)
    table = Table(
        title=f"Feature drift ({report.rows:,} rows)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
        header_style="bold",
    )
    table.add_column("feature", overflow="fold", ratio=1, min_width=12)
    table.add_column("type", no_wrap=True)
    for header in ("p adj.", "PSI", "shift", "nulls", *(["unseen"] if levels else [])):
        table.add_column(header, justify="right", no_wrap=True)
    table.add_column("verdict", overflow="fold", min_width=7, max_width=12)  # more reasons: more lines
    for found in rows:
        unseen = [_percent(found.unseen_share) if found.kind == "categorical" else "-"] if levels else []
        table.add_row(
            _name(found, report),
            TYPES.get(found.type, found.type),
            _p_value(found.p_adjusted),
            _number(found.psi),
            _shift(found),
            _percent(found.null_rate_change, sign=True),
            *unseen,
            _verdict(found),
        )
    return table


def legend(report: DriftReport) -> str:
    """What the table's short headers and words mean (the categorical ones only when the
    table has a categorical feature)."""
    levels = any(found.kind == "categorical" for found in report.features)
    test = "KS (num, int) or chi-square (cat, bool) test" if levels else "KS test"
    correction = CORRECTIONS.get(report.settings.correction, report.settings.correction)
    shift = "Wasserstein distance in reference SDs" + (
        ", or the largest change of a level's share (pp)" if levels else ""
    )
    reasons = ["the distribution (dist)", "the missing values (nulls)", *(["new levels (unseen)"] if levels else [])]
    return (
        f"[dim]p adj.: {test}, {correction}. shift: {shift}. nulls: change in the share missing."
        + (" unseen: share of values the reference never had." if levels else "")
        + f" DRIFT: a significant test and a large effect, in {', '.join(reasons[:-1])} or {reasons[-1]}."
        " Every measure: --json.[/]"
    )


def render(report: DriftReport, console: Console | None = None, contract: str | None = None) -> None:
    """Print the report: which contract read the data, the feature table, the verdict, the schema."""
    console = console or Console()
    if contract:
        console.print(f"Contract: {escape(contract)}.", highlight=False)
    console.print(feature_table(report))
    console.print()
    console.print(legend(report), highlight=False)
    drifted = escape(", ".join(report.drifted_features)) or "none"
    console.print(
        f"{len(report.drifted_features)} of {report.scored} features drifted ({report.share_drifted:.0%}): {drifted}. "
        f"Dataset drift: {'[bold red]yes[/]' if report.dataset_drifted else 'no'} "
        f"(threshold {report.settings.dataset_drift_share:.0%}; alpha {report.settings.alpha}).",
        highlight=False,
    )
    if report.schema:
        # Each event's detail names its column, so the column needs no cell of its own.
        events = Table(
            title="Schema changes",
            title_justify="left",
            box=box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
            collapse_padding=True,
            header_style="bold",
        )
        events.add_column("change", no_wrap=True)
        events.add_column("detail", overflow="fold", ratio=1)
        for event in report.schema:
            events.add_row(event.kind, escape(event.detail))
        console.print(events)
    else:
        console.print("Schema: no changes.")
