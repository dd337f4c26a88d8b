"""Small inline SVG charts for the monitoring report.

Hand-written SVG rather than matplotlib images: a chart is one or two paths of
rounded coordinates (1-3 KB), so a report with fifty features stays far under a
megabyte, scales crisply, needs no fonts or scripts, and opens offline. Styling
lives in the report's stylesheet (classes below), not in every element.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 330, 120
LEFT, RIGHT, TOP, BOTTOM = 38, 8, 16, 22

# The classes the report's stylesheet defines.
STYLE = """
svg.plot{background:#fff;border:1px solid #e3e6ea;border-radius:4px}
svg.plot text{font:9px sans-serif;fill:#495057}
svg.plot .ax{stroke:#adb5bd;stroke-width:.6;fill:none}
svg.plot .ref{fill:#ced4da}
svg.plot .cur{fill:none;stroke:#d9480f;stroke-width:1.4}
svg.plot .curbar{fill:#d9480f;opacity:.85}
svg.plot .s0{fill:none;stroke:#1c7ed6;stroke-width:1.5}
svg.plot .s1{fill:none;stroke:#d9480f;stroke-width:1.5}
svg.plot .s2{fill:none;stroke:#7048e8;stroke-width:1.5}
svg.plot .band{fill:#1c7ed6;opacity:.15}
svg.plot .thr{stroke:#e03131;stroke-width:1;stroke-dasharray:4 3}
svg.plot .base{stroke:#2f9e44;stroke-width:1;stroke-dasharray:2 2}
svg.plot .mk{fill:#e03131}
svg.plot .dot{fill:#1c7ed6}
svg.plot .k0{fill:#1c7ed6}svg.plot .k1{fill:#d9480f}svg.plot .k2{fill:#7048e8}
svg.spark{vertical-align:middle}
svg.spark .s0{fill:none;stroke:#1c7ed6;stroke-width:1}
svg.spark .mk{fill:#e03131}
"""


def _n(value: float) -> str:
    """A coordinate: one decimal is sub-pixel at these sizes, and keeps the file small."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _svg(plot_id: str, label: str, body: str, width: int = WIDTH, height: int = HEIGHT, css: str = "plot") -> str:
    return (
        f'<svg class="{css}" data-plot="{escape(plot_id)}" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{escape(label)}">{body}</svg>'
    )


@dataclass(frozen=True)
class _Scale:
    low: float
    high: float
    pixel_low: float
    pixel_high: float

    def __call__(self, value: float) -> float:
        span = self.high - self.low or 1.0
        return self.pixel_low + (value - self.low) / span * (self.pixel_high - self.pixel_low)


def _y_scale(values: Sequence[float], height: int, floor_zero: bool = True) -> _Scale:
    finite = [v for v in values if _finite(v)]
    low = min([*finite, 0.0] if floor_zero else finite or [0.0])
    high = max(finite or [1.0])
    if high <= low:
        high = low + (abs(low) or 1.0)
    pad = (high - low) * 0.08
    return _Scale(low if floor_zero and low >= 0 else low - pad, high + pad, height - BOTTOM, TOP)


def _frame(y: _Scale, width: int, height: int, fmt: str, title: str) -> str:
    """Axes, the y range's two ends, and the title."""
    return (
        f'<path class="ax" d="M{LEFT} {TOP}V{height - BOTTOM}H{width - RIGHT}"/>'
        f'<text x="{LEFT - 3}" y="{_n(y.pixel_low)}" text-anchor="end">{escape(fmt.format(y.low))}</text>'
        f'<text x="{LEFT - 3}" y="{_n(y.pixel_high + 7)}" text-anchor="end">{escape(fmt.format(y.high))}</text>'
        f'<text x="{LEFT}" y="10">{escape(title)}</text>'
    )


def histogram(
    plot_id: str,
    title: str,
    reference: Sequence[float],
    current: Sequence[float],
    labels: Sequence[str] | None = None,
    ticks: Sequence[tuple[int, str]] = (),
) -> str:
    """Reference (grey bars) against current (orange) shares on the same bins. With
    `labels` (categories) current is drawn as bars beside the reference's; otherwise
    (numeric bins) as a step line over them, with `ticks` naming a few bin edges."""
    total_ref, total_cur = sum(reference) or 1.0, sum(current) or 1.0
    ref = [v / total_ref for v in reference]
    cur = [v / total_cur for v in current]
    height = HEIGHT + (24 if labels else 0)
    bottom = height - BOTTOM - (24 if labels else 0)
    y = _Scale(0.0, max([*ref, *cur, 1e-9]) * 1.1, bottom, TOP)
    n = max(len(ref), 1)
    step = (WIDTH - LEFT - RIGHT) / n
    body = [
        f'<path class="ax" d="M{LEFT} {TOP}V{_n(bottom)}H{WIDTH - RIGHT}"/>',
        f'<text x="{LEFT - 3}" y="{_n(bottom)}" text-anchor="end">0%</text>',
        f'<text x="{LEFT - 3}" y="{TOP + 7}" text-anchor="end">{y.high:.0%}</text>',
        f'<text x="{LEFT}" y="10">{escape(title)}</text>',
    ]
    if labels:
        width = step * 0.42
        ref_bars = "".join(
            f"M{_n(LEFT + i * step + step * 0.08)} {_n(bottom)}v{_n(y(v) - bottom)}h{_n(width)}V{_n(bottom)}z"
            for i, v in enumerate(ref)
        )
        cur_bars = "".join(
            f"M{_n(LEFT + i * step + step * 0.5)} {_n(bottom)}v{_n(y(v) - bottom)}h{_n(width)}V{_n(bottom)}z"
            for i, v in enumerate(cur)
        )
        body.append(f'<path class="ref" d="{ref_bars}"/><path class="curbar" d="{cur_bars}"/>')
        for i, label in enumerate(labels):
            x = LEFT + (i + 0.5) * step
            body.append(f'<text transform="translate({_n(x)} {_n(bottom + 4)}) rotate(40)">{escape(label[:12])}</text>')
    else:
        ref_bars = "".join(
            f"M{_n(LEFT + i * step)} {_n(bottom)}V{_n(y(v))}h{_n(step)}V{_n(bottom)}z" for i, v in enumerate(ref)
        )
        line = (
            f"M{LEFT} {_n(y(cur[0]) if cur else bottom)}"
            + "".join(f"H{_n(LEFT + i * step)}V{_n(y(v))}" for i, v in enumerate(cur))
            + f"H{_n(LEFT + n * step)}"
        )
        body.append(f'<path class="ref" d="{ref_bars}"/><path class="cur" d="{line}"/>')
        for index, text in ticks:
            body.append(
                f'<text x="{_n(LEFT + index * step)}" y="{height - 8}" text-anchor="middle">{escape(text)}</text>'
            )
    legend_x = WIDTH - RIGHT - 110
    body.append(
        f'<rect class="ref" x="{legend_x}" y="3" width="8" height="8"/>'
        f'<text x="{legend_x + 11}" y="10">reference</text>'
        f'<rect class="curbar" x="{legend_x + 58}" y="3" width="8" height="8"/>'
        f'<text x="{legend_x + 69}" y="10">current</text>'
    )
    return _svg(plot_id, title, "".join(body), height=height)


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]
    lower: Sequence[float | None] | None = None  # an uncertainty band around the values
    upper: Sequence[float | None] | None = None


def _path(points: Sequence[tuple[float, float] | None]) -> str:
    """A polyline that breaks where a point is missing."""
    parts: list[str] = []
    pen_up = True
    for point in points:
        if point is None:
            pen_up = True
            continue
        parts.append(f"{'M' if pen_up else 'L'}{_n(point[0])} {_n(point[1])}")
        pen_up = False
    return "".join(parts)


def line_chart(
    plot_id: str,
    title: str,
    x_labels: Sequence[str],
    series: Sequence[Series],
    thresholds: Sequence[tuple[float, str]] = (),
    baselines: Sequence[tuple[float, str]] = (),
    marks: Sequence[bool] | None = None,
    fmt: str = "{:.2f}",
) -> str:
    """Values per window (x is the window's order), with dashed threshold (red) and
    baseline (green) lines, an optional band per series, and red dots where `marks`."""
    n = len(x_labels)
    everything: list[float] = [v for s in series for v in (*s.values, *(s.lower or ()), *(s.upper or ())) if _finite(v)]  # type: ignore[misc]
    everything += [v for v, _ in (*thresholds, *baselines)]
    y = _y_scale(everything, HEIGHT)
    x = _Scale(0.0, max(n - 1, 1), LEFT + 4, WIDTH - RIGHT - 4)
    body = [_frame(y, WIDTH, HEIGHT, fmt, title)]

    def point(i: int, value: float | None) -> tuple[float, float] | None:
        return (x(i), y(value)) if _finite(value) else None  # type: ignore[arg-type]

    for index, item in enumerate(series):
        if item.lower is not None and item.upper is not None:
            top = [point(i, v) for i, v in enumerate(item.upper)]
            low = [point(i, v) for i, v in enumerate(item.lower)]
            pairs = [(t, b) for t, b in zip(top, low, strict=True) if t is not None and b is not None]
            if pairs:
                outline = [t for t, _ in pairs] + [b for _, b in reversed(pairs)]
                body.append(f'<path class="band" d="{_path(outline)}z"/>')
        body.append(f'<path class="s{index % 3}" d="{_path([point(i, v) for i, v in enumerate(item.values)])}"/>')
        dots = [point(i, v) for i, v in enumerate(item.values)]
        if n <= 40:
            body.extend(f'<circle class="k{index % 3}" cx="{_n(p[0])}" cy="{_n(p[1])}" r="1.8"/>' for p in dots if p)
        body.append(
            f'<rect class="k{index % 3}" x="{LEFT + 6 + 90 * index}" y="{HEIGHT - 9}" width="8" height="3"/>'
            f'<text x="{LEFT + 17 + 90 * index}" y="{HEIGHT - 5}">{escape(item.name[:16])}</text>'
        )
    for lines, css in ((thresholds, "thr"), (baselines, "base")):
        for value, label in lines:
            level = _n(y(value))
            body.append(
                f'<path class="{css}" d="M{LEFT} {level}H{WIDTH - RIGHT}"/>'
                f'<text x="{WIDTH - RIGHT - 2}" y="{level}" text-anchor="end" dy="-2">{escape(label)}</text>'
            )
    if marks is not None and series:
        body.extend(
            f'<circle class="mk" cx="{_n(p[0])}" cy="{_n(p[1])}" r="3"/>'
            for p, marked in zip((point(i, v) for i, v in enumerate(series[0].values)), marks, strict=False)
            if p is not None and marked
        )
    if n:
        picks = sorted({0, n // 2, n - 1})
        body.extend(
            f'<text x="{_n(x(i))}" y="{HEIGHT - 13}" text-anchor="middle">{escape(x_labels[i])}</text>' for i in picks
        )
    return _svg(plot_id, title, "".join(body))


def sparkline(plot_id: str, values: Sequence[float | None], marks: Sequence[bool], width: int = 90) -> str:
    """A feature's effect size over the recent windows; red dots where it drifted."""
    height = 18
    y = _y_scale([v for v in values if v is not None], height + BOTTOM + TOP - 4)
    y = _Scale(y.low, y.high, height - 2, 2)
    x = _Scale(0.0, max(len(values) - 1, 1), 2, width - 2)
    points = [(x(i), y(v)) if _finite(v) else None for i, v in enumerate(values)]  # type: ignore[arg-type]
    dots = "".join(
        f'<circle class="mk" cx="{_n(p[0])}" cy="{_n(p[1])}" r="1.6"/>'
        for p, marked in zip(points, marks, strict=False)
        if p is not None and marked
    )
    body = f'<path class="s0" d="{_path(points)}"/>{dots}'
    return _svg(plot_id, "effect size over recent windows", body, width=width, height=height, css="spark")


def intervals(
    plot_id: str,
    title: str,
    labels: Sequence[str],
    centres: Sequence[float | None],
    lower: Sequence[float | None],
    upper: Sequence[float | None],
    fmt: str = "{:+.3f}",
) -> str:
    """A difference with its confidence interval per item (shadow decisions), around zero."""
    values = [v for v in (*centres, *lower, *upper) if _finite(v)]
    y = _y_scale([*values, 0.0], HEIGHT, floor_zero=False)  # type: ignore[list-item]
    x = _Scale(0.0, max(len(labels) - 1, 1), LEFT + 10, WIDTH - RIGHT - 10)
    body = [_frame(y, WIDTH, HEIGHT, fmt, title), f'<path class="base" d="M{LEFT} {_n(y(0.0))}H{WIDTH - RIGHT}"/>']
    for i, (centre, low, high) in enumerate(zip(centres, lower, upper, strict=True)):
        if _finite(low) and _finite(high):
            body.append(f'<path class="s0" d="M{_n(x(i))} {_n(y(low))}V{_n(y(high))}"/>')  # type: ignore[arg-type]
        if _finite(centre):
            body.append(f'<circle class="dot" cx="{_n(x(i))}" cy="{_n(y(centre))}" r="2.5"/>')  # type: ignore[arg-type]
        body.append(f'<text x="{_n(x(i))}" y="{HEIGHT - 8}" text-anchor="middle">{escape(labels[i][:14])}</text>')
    return _svg(plot_id, title, "".join(body))
