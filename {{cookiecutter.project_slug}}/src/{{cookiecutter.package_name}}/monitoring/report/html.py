"""The monitoring report: one self-contained HTML file per window, from the history tables.

It opens offline (inline CSS and inline SVG charts, no scripts, fonts or links
to fetch) and stays small (about 3 KB per feature), so it can be mailed,
attached to a ticket or archived. Sections: the verdicts, alerts, retraining,
drift over time, the score distribution, performance over time (realized, and
estimated with its band), schema events, every feature (reference against
current, and its effect size over the recent windows), and the shadow
evaluation decisions.

The page is `templates/report.html.j2`, rendered by Jinja with autoescaping: the
sections' modules give it values (text and numbers as text), and only the charts
(`svg.py`, which escapes the text it draws) go in as markup.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from markupsafe import Markup

from ...core.html_page import page_template
from . import feature_section, sections
from . import svg as svgplot
from .report_data import ReportData, gather

if TYPE_CHECKING:
    from ...settings import Settings
    from ...stores.monitoring_history import History
    from ..window import Window

TEMPLATES = Path(__file__).parent / "templates"


def report_path(settings: Settings, window: Window) -> Path:
    """Where a window's report goes: <state dir>/reports/ (a rerun replaces it)."""
    return settings.var_dir / "reports" / f"monitoring-{window.slug}.html"


def render(data: ReportData) -> str:
    return page_template(TEMPLATES, "report.html.j2").render(
        title=sections.title(data),
        generated=f"{data.generated_at:%Y-%m-%d %H:%M}",
        run_id=str(data.run["run_id"]),
        chart_style=Markup(svgplot.STYLE),  # noqa: S704 - the charts' classes, a constant of svg.py
        verdicts=sections.verdicts(data),
        alerts=sections.alerts(data),
        retraining=sections.retraining(data),
        drift=sections.drift_over_time(data),
        scores=sections.scores(data),
        performance=sections.performance(data),
        schema=sections.schema(data),
        features=feature_section.features(data),
        shadow=sections.shadow(data),
    )


def write_report(history: History, run_id: str, settings: Settings, path: Path) -> Path:
    """Render the run's report into `path` (written whole, then moved into place)."""
    html = render(gather(history, run_id, settings))
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_suffix(".html.tmp")
    staged.write_text(html, encoding="utf-8")
    staged.replace(path)
    return path
