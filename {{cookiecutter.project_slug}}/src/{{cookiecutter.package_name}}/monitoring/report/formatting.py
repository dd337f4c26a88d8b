"""The report's values as the template shows them: numbers as text, rows with attribute access,
and the charts, the only markup built in Python."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import pandas as pd
from markupsafe import Markup

Badge = tuple[str, str]  # its text and its tone (a CSS class: bad, ok, warn, muted)


def number(value: Any, fmt: str = "{:.3f}") -> str:
    """A nullable number (the database's NULL comes back as None or NaN); a dash when missing."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return fmt.format(value)


def text(value: Any) -> str:
    """A nullable text cell."""
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def finite(value: Any) -> float | None:
    return float(value) if value is not None and isinstance(value, int | float) and math.isfinite(value) else None


def yes_no(flag: Any) -> str:
    return "yes" if flag else "no"


def records(frame: pd.DataFrame) -> list[Any]:
    """A frame's rows with attribute access (values untyped, as they come from the database)."""
    return [SimpleNamespace(**{str(k): v for k, v in row.items()}) for row in frame.to_dict("records")]


def x_labels(windows: pd.DataFrame) -> list[str]:
    """The windows' starts: days when every window is whole days long, else with the time."""
    daily = all(
        (e - s).total_seconds() % 86_400 == 0
        for s, e in zip(windows["window_start"], windows["window_end"], strict=True)
    )
    return [f"{s:%m-%d}" if daily else f"{s:%m-%d %H:%M}" for s in windows["window_start"]]


def edge_ticks(edges: list[float], bins: int) -> list[tuple[int, str]]:
    """A few bin edges to name under a histogram of quantile bins."""
    return [(i, f"{edges[i - 1]:.3g}") for i in (bins // 10, bins // 2, 9 * bins // 10) if 0 < i <= len(edges)]


def chart(svg: str) -> Markup:
    """An inline SVG chart from `svg.py`, inserted as it is: that module escapes the text it
    draws, and nothing else in the report is taken as markup."""
    return Markup(svg)  # noqa: S704 - svg.py's output, whose text is escaped there
