"""Small server-rendered SVG charts: no script, no external request, text escaped.

Styling is by presentation attributes (fill, stroke), which the admin CSP allows."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

PALETTE = ("#2f6fed", "#1f9d55", "#c77c02", "#c62828", "#7b4fd6", "#0e8fa3", "#8a6d3b", "#5d6678")
MOOD_COLOURS = {
    "happy": "#f2b705",
    "neutral": "#8a94a6",
    "sad": "#3b6fd8",
    "angry": "#d64545",
    "surprise": "#9b59d0",
    "fear": "#2c8c7a",
    "disgust": "#6b8e23",
    "unknown": "#c5cbd6",
}


def _nice_max(v: float) -> float:
    if v <= 0:
        return 1.0
    mag = 10 ** (len(str(int(v))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if v <= step * mag:
            return float(step * mag)
    return float(10 * mag)


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 10 or float(v).is_integer() else f"{v:,.2f}"


def bar_chart(
    title: str,
    labels: Sequence[str],
    values: Sequence[float],
    *,
    chart_id: str,
    width: int = 640,
    height: int = 220,
    colour: str = PALETTE[0],
    every: int = 1,
    unit: str = "",
) -> Markup:
    """Vertical bars with a y axis and a value on hover (<title>)."""
    left, right, top, bottom = 44, 10, 26, 34
    pw, ph = width - left - right, height - top - bottom
    vmax = _nice_max(max(values, default=0))
    n = max(len(values), 1)
    slot = pw / n
    bw = max(1.0, slot * 0.72)
    parts = [
        f'<svg class="chart" id="{escape(chart_id)}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f'<text class="title" x="{left}" y="16">{escape(title)}</text>',
    ]
    for i in range(5):
        v = vmax * i / 4
        y = top + ph - ph * i / 4
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#e5e9f0"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(_fmt(v))}</text>')
    for i, (label, v) in enumerate(zip(labels, values, strict=True)):
        h = ph * (v / vmax) if vmax else 0
        x = left + i * slot + (slot - bw) / 2
        y = top + ph - h
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bw:.1f}" height="{max(h, 0):.1f}" fill="{colour}" '
            f'data-label="{escape(str(label))}" data-value="{escape(str(v))}">'
            f"<title>{escape(str(label))}: {escape(_fmt(v))}{escape(unit)}</title></rect>"
        )
        if i % every == 0:
            parts.append(
                f'<text x="{x + bw / 2:.1f}" y="{height - bottom + 14}" text-anchor="middle">'
                f"{escape(str(label))}</text>"
            )
    parts.append(f'<line x1="{left}" y1="{top + ph}" x2="{width - right}" y2="{top + ph}" stroke="#8a94a6"/>')
    parts.append("</svg>")
    return Markup("".join(parts))


def share_bars(
    title: str,
    shares: dict[str, float],
    *,
    chart_id: str,
    width: int = 420,
    colours: dict[str, str] | None = None,
    note: str = "",
) -> Markup:
    """Horizontal bars of shares (values are counts or fractions; drawn as % of the total)."""
    total = sum(v for v in shares.values() if v > 0)
    total = sum(v for v in shares.values() if v > 0)
    rows = [(k, v) for k, v in shares.items()] if total else []
    row_h, top = 24, 28
    height = top + row_h * max(len(rows), 1) + (18 if note else 8)
    label_w, pct_w = 90, 56
    bar_w = width - label_w - pct_w - 10
    parts = [
        f'<svg class="chart" id="{escape(chart_id)}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f'<text class="title" x="0" y="16">{escape(title)}</text>',
    ]
    if not total:
        parts.append(f'<text x="0" y="{top + 14}">no data in this period</text>')
    for i, (k, v) in enumerate(rows):
        y = top + i * row_h
        frac = (v / total) if total else 0.0
        colour = (colours or {}).get(k, PALETTE[i % len(PALETTE)])
        parts.append(f'<text x="0" y="{y + 15}">{escape(str(k))}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 4}" width="{bar_w}" height="14" fill="#eef1f6"/>')
        parts.append(
            f'<rect x="{label_w}" y="{y + 4}" width="{bar_w * frac:.1f}" height="14" fill="{colour}" '
            f'data-label="{escape(str(k))}" data-value="{escape(str(v))}">'
            f"<title>{escape(str(k))}: {escape(_fmt(v))} ({frac * 100:.1f} %)</title></rect>"
        )
        parts.append(f'<text x="{width - 4}" y="{y + 15}" text-anchor="end">{frac * 100:.1f} %</text>')
    if note:
        parts.append(f'<text x="0" y="{height - 4}">{escape(note)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
