"""Server-side SVG charts (no JavaScript): an enterprise's emissions by month; a market's daily settled volume and price."""

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


class DayPoint(NamedTuple):
    """One trading day of one asset: the day (``YYYY-MM-DD``), settled volume (tCO2e) and the
    volume-weighted price (fen/t)."""

    day: str
    volume_t: int
    vwap_fen: int


def market_chart_svg(asset: str, days: Sequence[DayPoint], width: int = 720, height: int = 280) -> Markup:
    """An inline ``<svg>``: daily settled volume as bars (tCO2e, left axis) and the daily
    volume-weighted price as a line with points (yuan/t, right axis).

    Returns:
        safe markup (labels escaped), ``role="img"`` with a ``<title>``; one ``<rect class="vol">``
        per day with ``data-day`` / ``data-volume``, one ``<circle class="price">`` per day with
        ``data-day`` / ``data-price-fen``.
    """
    left, right, top, bottom = 64, 64, 28, 44
    pw, ph = width - left - right, height - top - bottom
    vol_top = nice_ceiling(max((d.volume_t for d in days), default=0))
    price_top = nice_ceiling(max((d.vwap_fen for d in days), default=0) / 100)
    name = escape(asset)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart market" role="img" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" data-asset="{name}">',
             f'<title>{name}: daily settled volume (tCO2e) and volume-weighted price (yuan/t)</title>',
             f'<text x="{left}" y="14" font-size="12" fill="#333">{name} — 成交量 volume (tCO2e, bars) · 成交均价 price (yuan/t, line)</text>']
    for i in range(5):
        y = top + ph - ph * i / 4
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e4e7eb"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" fill="#52606d">{vol_top * i / 4:g}</text>')
        parts.append(f'<text x="{left + pw + 6}" y="{y + 4:.1f}" font-size="11" fill="#8d2b0b">{price_top * i / 4:g}</text>')
    if not days:
        parts.append(f'<text x="{left + pw / 2}" y="{top + ph / 2}" text-anchor="middle" fill="#7b8794">no settled trades</text>')
    slot = pw / max(len(days), 1)
    bw = min(40.0, slot * 0.6)
    points = []
    for i, d in enumerate(days):
        h = ph * d.volume_t / vol_top
        x = left + slot * i + (slot - bw) / 2
        day = escape(d.day)
        parts.append(f'<rect class="vol" data-day="{day}" data-volume="{d.volume_t}" x="{x:.1f}" y="{top + ph - h:.1f}" '
                     f'width="{bw:.1f}" height="{h:.1f}" fill="#2680c2"><title>{day}: {d.volume_t} t</title></rect>')
        parts.append(f'<text x="{x + bw / 2:.1f}" y="{top + ph + 16}" font-size="11" text-anchor="middle" fill="#323f4b">{day}</text>')
        cy = top + ph - ph * (d.vwap_fen / 100) / price_top
        points.append((x + bw / 2, cy, d))
    if len(points) > 1:
        parts.append('<polyline fill="none" stroke="#c65d21" stroke-width="2" points="'
                     + " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in points) + '"/>')
    for x, y, d in points:
        parts.append(f'<circle class="price" data-day="{escape(d.day)}" data-price-fen="{d.vwap_fen}" cx="{x:.1f}" cy="{y:.1f}" r="4" '
                     f'fill="#c65d21"><title>{escape(d.day)}: {d.vwap_fen / 100:.2f} yuan/t</title></circle>')
    parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}" stroke="#52606d"/>')
    parts.append("</svg>")
    return Markup("".join(parts))
