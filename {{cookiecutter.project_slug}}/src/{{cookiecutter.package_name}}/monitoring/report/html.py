"""The monitoring report: one self-contained HTML file per window, from the history tables.

It opens offline (inline CSS and inline SVG charts, no scripts, fonts or links
to fetch) and stays small (about 3 KB per feature), so it can be mailed,
attached to a ticket or archived. Sections: the verdicts, alerts, retraining,
drift over time, the score distribution, performance over time (realized, and
estimated with its band), schema events, every feature (reference against
current, and its effect size over the recent windows), and the shadow
evaluation decisions.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from ..report import svg as svgplot

if TYPE_CHECKING:
    from ...settings import Settings
    from ...stores.monitoring_history import History
    from ..window import Window
from .report_data import ReportData, gather
from .sections import (
    _alerts,
    _drift_over_time,
    _features,
    _performance,
    _retraining,
    _schema,
    _scores,
    _shadow,
    _verdicts,
)

CSS = """
body{font:13px/1.45 system-ui,sans-serif;color:#212529;margin:0;background:#f8f9fa}
main{max-width:1080px;margin:0 auto;padding:16px 24px}
h1{font-size:20px;margin:8px 0}h2{font-size:16px;margin:22px 0 8px;border-bottom:1px solid #dee2e6}
table{border-collapse:collapse;background:#fff;margin:6px 0;font-size:12px}
th,td{border:1px solid #dee2e6;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f1f3f5}
.badge{display:inline-block;border-radius:10px;padding:1px 8px;margin:2px;font-size:12px;background:#e9ecef}
.bad{background:#ffe3e3;color:#c92a2a}.ok{background:#d3f9d8;color:#2b8a3e}.warn{background:#fff3bf;color:#8f6a00}
.grid{display:flex;flex-wrap:wrap;gap:8px}.card{background:#fff;padding:4px}
.muted{color:#868e96}.small{font-size:11px}
"""


def report_path(settings: Settings, window: Window) -> Path:
    """Where a window's report goes: <state dir>/reports/ (a rerun replaces it)."""
    return settings.var_dir / "reports" / f"monitoring-{window.slug}.html"


# --- sections ------------------------------------------------------------------------------------


def render(data: ReportData) -> str:
    run = data.run
    title = f"Monitoring: {run['model_name']} v{run['model_version']}, {run['window_start']:%Y-%m-%d %H:%M} UTC"
    body = "".join(
        [
            f"<h1>{escape(title)}</h1>",
            (
                f"<p class='small muted'>Generated {data.generated_at:%Y-%m-%d %H:%M} UTC, "
                f"run {escape(str(run['run_id']))}</p>"
            ),
            _verdicts(data),
            _alerts(data),
            _retraining(data),
            _drift_over_time(data),
            _scores(data),
            _performance(data),
            _schema(data),
            _features(data),
            _shadow(data),
        ]
    )
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{escape(title)}</title>"
        f"<style>{CSS}{svgplot.STYLE}</style></head><body><main>{body}</main></body></html>"
    )


def write_report(history: History, run_id: str, settings: Settings, path: Path) -> Path:
    """Render the run's report into `path` (written whole, then moved into place)."""
    html = render(gather(history, run_id, settings))
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_suffix(".html.tmp")
    staged.write_text(html, encoding="utf-8")
    staged.replace(path)
    return path
