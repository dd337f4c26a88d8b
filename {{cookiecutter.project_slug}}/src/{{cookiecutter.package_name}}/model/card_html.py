"""The model card as one self-contained HTML page (`model_card.html`).

Like the monitoring report: Jinja with autoescaping renders `templates/model_card.html.j2`
from the card's blocks (`model_card.blocks`, the same ones the Markdown is made of), and the
one chart, the reliability curve, is hand-written inline SVG (no plotting dependency, no
scripts or fonts to fetch; the only text it draws is numbers).
"""

from __future__ import annotations

from pathlib import Path

from markupsafe import Markup

from ..core.html_page import page_template
from .model_card import ModelCard, ReliabilityBin, blocks

TEMPLATES = Path(__file__).parent / "templates"
SIZE, PAD = 240, 30  # a square plot: probability against rate, both 0 to 1


def reliability_svg(bins: tuple[ReliabilityBin, ...]) -> str:
    """Observed against predicted per bin (dots joined by a line), over the diagonal a
    calibrated model would follow."""
    span = SIZE - 2 * PAD

    def x(value: float) -> str:
        return f"{PAD + value * span:.1f}"

    def y(value: float) -> str:
        return f"{SIZE - PAD - value * span:.1f}"

    points = " ".join(f"{x(b.predicted)},{y(b.observed)}" for b in bins)
    dots = "".join(f'<circle class="dot" cx="{x(b.predicted)}" cy="{y(b.observed)}" r="2.5"/>' for b in bins)
    ticks = "".join(
        f'<text x="{x(t)}" y="{SIZE - PAD + 12}" text-anchor="middle">{t:g}</text>'
        f'<text x="{PAD - 4}" y="{y(t)}" text-anchor="end" dy="3">{t:g}</text>'
        for t in (0, 0.5, 1)
    )
    return (
        f'<svg class="plot" data-plot="reliability" viewBox="0 0 {SIZE} {SIZE}" width="{SIZE}" height="{SIZE}" '
        f'role="img" aria-label="reliability curve">'
        f'<rect class="ax" x="{PAD}" y="{PAD}" width="{span}" height="{span}"/>'
        f'<line class="diag" x1="{x(0)}" y1="{y(0)}" x2="{x(1)}" y2="{y(1)}"/>'
        f'<polyline class="curve" points="{points}"/>{dots}{ticks}'
        f'<text x="{SIZE / 2}" y="{SIZE - 4}" text-anchor="middle">predicted</text>'
        f'<text x="10" y="{SIZE / 2}" text-anchor="middle" transform="rotate(-90 10 {SIZE / 2})">observed</text>'
        "</svg>"
    )


def render_html(card: ModelCard) -> str:
    return page_template(TEMPLATES, "model_card.html.j2").render(
        title=f"Model card: {card.model_name} version {card.version}",
        blocks=blocks(card)[1:],  # the title is the page's heading
        chart=Markup(reliability_svg(card.reliability)),  # noqa: S704 - numbers only, built above
    )
