"""Server-side SVG chart of an enterprise's emissions by month (no JavaScript)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import NamedTuple

from markupsafe import Markup

#: Bar colour per record status.
STATUS_COLOURS = {"draft": "#9aa5b1", "submitted": "#f0b429", "verified": "#3ebd93", "rejected": "#e12d39",
                  "confirmed": "#2680c2"}


def nice_ceiling(x: float) -> float:
    """Smallest 1/2/5 × 10^k ≥ ``x`` (axis top); 1 for x ≤ 0."""
    if x <= 0:
        return 1.0
    k = 10.0 ** math.floor(math.log10(x))
    for m in (1, 2, 5, 10):
        if m * k >= x * (1 - 1e-12):
            return m * k
    return 10 * k   # pragma: no cover


class MonthBar(NamedTuple):
    """One bar: the period label (``YYYY-MM``), emissions in kgCO2, and the record's status."""

    label: str
    kg: int
    status: str


def emissions_chart_svg(bars: Sequence[MonthBar], width: int = 720, height: int = 260) -> Markup:
    """An inline ``<svg>`` bar chart of emissions (tCO2 on the y axis) by month.

    Args:
        bars: in display order; ``kg`` in kgCO2 (shown as tCO2 with 3 decimals).
    Returns:
        safe markup (every label escaped) with ``role="img"``, a ``<title>``, and one ``<rect>``
        per bar carrying ``data-period`` and ``data-kg`` (for tests and tooltips).
    """
    left, right, top, bottom = 64, 16, 24, 44
    pw, ph = width - left - right, height - top - bottom
    top_t = nice_ceiling(max((b.kg for b in bars), default=0) / 1000)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" aria-labelledby="chart-title">',
             '<title id="chart-title">Emissions by month, tCO2</title>',
             f'<text x="{left}" y="14" font-size="12" fill="#333">Emissions by month (tCO2)</text>']
    for i in range(5):
        v = top_t * i / 4
        y = top + ph - ph * i / 4
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e4e7eb"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" fill="#52606d">{v:g}</text>')
    if not bars:
        parts.append(f'<text x="{left + pw / 2}" y="{top + ph / 2}" text-anchor="middle" fill="#7b8794">no records yet</text>')
    slot = pw / max(len(bars), 1)
    bw = min(48.0, slot * 0.7)
    for i, b in enumerate(bars):
        h = ph * (b.kg / 1000) / top_t
        x = left + slot * i + (slot - bw) / 2
        y = top + ph - h
        colour = STATUS_COLOURS.get(b.status, "#9aa5b1")
        label = escape(b.label)
        parts.append(f'<rect class="bar" data-period="{label}" data-kg="{b.kg}" data-status="{escape(b.status)}" '
                     f'x="{x:.1f}" y="{y:.1f}" width="{bw:.1f}" height="{h:.1f}" fill="{colour}">'
                     f'<title>{label}: {b.kg / 1000:.3f} tCO2 ({escape(b.status)})</title></rect>')
        parts.append(f'<text x="{x + bw / 2:.1f}" y="{top + ph + 16}" font-size="11" text-anchor="middle" fill="#323f4b">{label}</text>')
    parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}" stroke="#52606d"/>')
    lx = left
    for st, colour in STATUS_COLOURS.items():
        parts.append(f'<rect x="{lx}" y="{height - 14}" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{lx + 14}" y="{height - 5}" font-size="11" fill="#323f4b">{st}</text>')
        lx += 96
    parts.append("</svg>")
    return Markup("".join(parts))
