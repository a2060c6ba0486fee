"""Small self-contained SVG charts for the exercise report (no plotting library needed).

Each function returns an ``<svg>`` element as text, ``width x height`` px, with its numbers
written as labels so that the chart reads without hovering.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

W, H = 420, 240
PAD_L, PAD_R, PAD_T, PAD_B = 44, 14, 28, 46
BLUE, ORANGE, GREY = "#2b6cb0", "#dd6b20", "#a0aec0"


def _frame(title: str, body: str, width: int = W, height: int = H) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">'
        f'<rect width="{width}" height="{height}" fill="white"/>'
        f'<text x="{width / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">'
        f"{escape(title)}</text>{body}</svg>"
    )


def _axes(ymax: float, ticks: int = 4, fmt: str = "{:.2g}") -> str:
    x0, x1, y0, y1 = PAD_L, W - PAD_R, H - PAD_B, PAD_T
    out = [f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="black"/>']
    out.append(f'<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" stroke="black"/>')
    for k in range(ticks + 1):
        v = ymax * k / ticks
        y = y0 - (y0 - y1) * k / ticks
        out.append(f'<line x1="{x0 - 3}" y1="{y:.1f}" x2="{x1}" y2="{y:.1f}" stroke="#eee"/>')
        out.append(f'<text x="{x0 - 5}" y="{y + 4:.1f}" text-anchor="end">{fmt.format(v)}</text>')
    return "".join(out)


def bar_chart(
    title: str, labels: Sequence[str], values: Sequence[float | None], *, ymax: float = 1.0
) -> str:
    """Vertical bars, one per label; None draws no bar (written as n/a)."""
    n = max(len(labels), 1)
    slot = (W - PAD_L - PAD_R) / n
    y0, span = H - PAD_B, H - PAD_B - PAD_T
    out = [_axes(ymax)]
    for i, (lab, v) in enumerate(zip(labels, values, strict=True)):
        x = PAD_L + i * slot + slot * 0.15
        if v is not None:
            h = span * min(max(v / ymax, 0.0), 1.0)
            out.append(
                f'<rect x="{x:.1f}" y="{y0 - h:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}" '
                f'fill="{BLUE}"/>'
            )
            out.append(
                f'<text x="{x + slot * 0.35:.1f}" y="{y0 - h - 3:.1f}" text-anchor="middle">'
                f"{v:.2f}</text>"
            )
        else:
            out.append(
                f'<text x="{x + slot * 0.35:.1f}" y="{y0 - 4}" text-anchor="middle">n/a</text>'
            )
        out.append(
            f'<text x="{x + slot * 0.35:.1f}" y="{y0 + 14}" text-anchor="middle">'
            f"{escape(lab.replace('_', ' ')[:16])}</text>"
        )
    return _frame(title, "".join(out))


def histogram(title: str, values: Sequence[float], *, bins: int = 10, unit: str = "s") -> str:
    """Counts of ``values`` in ``bins`` equal bins from 0 to the largest value."""
    if not values:
        return _frame(title, f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle">no data</text>')
    hi = max(max(values), 1e-9)
    counts = [0] * bins
    for v in values:
        counts[min(int(v / hi * bins), bins - 1)] += 1
    labels = [f"{hi * k / bins:.0f}" for k in range(bins)]
    step = max(1, math.ceil(max(counts) / 4))
    ticks = math.ceil(max(counts) / step)
    top = step * ticks
    slot = (W - PAD_L - PAD_R) / bins
    y0, span = H - PAD_B, H - PAD_B - PAD_T
    out = [_axes(float(top), ticks=ticks, fmt="{:.0f}")]
    for i, c in enumerate(counts):
        h = span * c / top
        x = PAD_L + i * slot
        out.append(
            f'<rect x="{x + 1:.1f}" y="{y0 - h:.1f}" width="{slot - 2:.1f}" height="{h:.1f}" '
            f'fill="{ORANGE}"/>'
        )
        out.append(f'<text x="{x:.1f}" y="{y0 + 14}" text-anchor="middle">{labels[i]}</text>')
    out.append(f'<text x="{W / 2}" y="{H - 8}" text-anchor="middle">decision time ({unit})</text>')
    return _frame(title, "".join(out))


def roc_point(title: str, hit_rate: float, false_alarm_rate: float) -> str:
    """The trainee's (F, H) point in ROC space with the chance diagonal."""
    size = H
    x0, y0, side = PAD_L, size - PAD_B + 10, size - PAD_B - PAD_T + 10 - 10
    out = [
        f'<rect x="{x0}" y="{y0 - side}" width="{side}" height="{side}" fill="none" '
        'stroke="black"/>',
        f'<line x1="{x0}" y1="{y0}" x2="{x0 + side}" y2="{y0 - side}" stroke="{GREY}" '
        'stroke-dasharray="4 3"/>',
    ]
    px, py = x0 + false_alarm_rate * side, y0 - hit_rate * side
    out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="6" fill="{BLUE}"/>')
    out.append(
        f'<text x="{px + 9:.1f}" y="{py + 4:.1f}">H {hit_rate:.2f}, F {false_alarm_rate:.2f}</text>'
    )
    out.append(
        f'<text x="{x0 + side / 2}" y="{y0 + 16}" text-anchor="middle">false alarm rate</text>'
    )
    out.append(
        f'<text x="{x0 - 28}" y="{y0 - side / 2}" text-anchor="middle" '
        f'transform="rotate(-90 {x0 - 28} {y0 - side / 2})">hit rate</text>'
    )
    for v in (0, 1):
        out.append(f'<text x="{x0 + v * side}" y="{y0 + 12}" text-anchor="middle">{v}</text>')
        out.append(f'<text x="{x0 - 4}" y="{y0 - v * side + 4}" text-anchor="end">{v}</text>')
    return _frame(title, "".join(out), width=side + PAD_L + 130, height=size)


def line_chart(
    title: str, labels: Sequence[str], series: dict[str, Sequence[float | None]], *, ymax: float
) -> str:
    """One polyline per series over the labelled x positions (e.g. exercises in order)."""
    n = len(labels)
    y0, span = H - PAD_B, H - PAD_B - PAD_T
    step = (W - PAD_L - PAD_R - 20) / max(n - 1, 1)
    out = [_axes(ymax)]
    colours = [BLUE, ORANGE, "#38a169", "#805ad5"]
    for k, (name, values) in enumerate(series.items()):
        col = colours[k % len(colours)]
        pts = [
            (PAD_L + 10 + i * step, y0 - span * min(max(v / ymax, 0.0), 1.0))
            for i, v in enumerate(values)
            if v is not None
        ]
        if len(pts) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
            out.append(f'<polyline points="{path}" fill="none" stroke="{col}" stroke-width="2"/>')
        for x, y in pts:
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{col}"/>')
        out.append(
            f'<text x="{PAD_L + 8 + 90 * k}" y="{H - 8}" fill="{col}">&#9632; {escape(name)}</text>'
        )
    for i, lab in enumerate(labels):
        out.append(
            f'<text x="{PAD_L + 10 + i * step:.1f}" y="{y0 + 14}" text-anchor="middle">'
            f"{escape(lab[:10])}</text>"
        )
    return _frame(title, "".join(out))
