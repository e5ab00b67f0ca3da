"""Server-rendered SVG charts for the admin dashboard: no script, no chart library, no CDN.

Every function returns safe markup (labels escaped), sized by a ``viewBox`` so the chart
scales with its container, with a ``<title>`` on each mark as its tooltip and an
``aria-label`` describing the chart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

COLORS = {
    "escalation": "#c0392b",
    "stall": "#d68910",
    "reroute": "#2874a6",
    "success": "#1e8449",
    "late": "#d4ac0d",
    "unresolved": "#a04000",
    "unclaimed": "#922b21",
    "bar": "#417690",
}
FONT = "font-family='system-ui, sans-serif' font-size='11'"


def duration(seconds: float | None) -> str:
    """``3h 05m``, ``4m 20s``, ``12.5s``; an em dash for no value."""
    if seconds is None:
        return "—"
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{seconds:.0f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _svg(width: int, height: int, label: str, body: list[str], name: str) -> SafeString:
    return mark_safe(  # noqa: S308 - every piece of text in body went through escape()
        f"<svg xmlns='http://www.w3.org/2000/svg' class='chart' data-chart='{escape(name)}' "
        f"viewBox='0 0 {width} {height}' role='img' aria-label='{escape(label)}' "
        f"preserveAspectRatio='xMinYMin meet'>"
        f"<title>{escape(label)}</title>{''.join(body)}</svg>"
    )


@dataclass(frozen=True)
class Series:
    name: str
    color: str
    values: Sequence[float | None]  # one per x label; None draws a gap


def rate_lines(
    series: Sequence[Series],
    labels: Sequence[str],
    *,
    title: str,
    name: str,
    width: int = 760,
    height: int = 260,
) -> SafeString:
    """Rates (0..1) per day as lines with points; the y axis runs to the highest value
    rounded up to the next 10% (at least 10%)."""
    left, right, top, bottom = 44, 12, 12, 46
    plot_w, plot_h = width - left - right, height - top - bottom
    highest = max((v for s in series for v in s.values if v is not None), default=0.0)
    y_max = max(0.1, min(1.0, -(-highest * 10 // 1) / 10))
    count = max(len(labels), 1)
    step = plot_w / max(count - 1, 1)

    def x(i: int) -> float:
        return left + (i * step if count > 1 else plot_w / 2)

    def y(v: float) -> float:
        return top + plot_h - (v / y_max) * plot_h

    body = []
    for tick in range(5):
        value = y_max * tick / 4
        body.append(
            f"<line x1='{left}' x2='{left + plot_w}' y1='{y(value):.1f}' y2='{y(value):.1f}' "
            f"stroke='#e5e5e5'/>"
            f"<text x='{left - 6}' y='{y(value) + 4:.1f}' text-anchor='end' {FONT} "
            f"fill='#666'>{value * 100:.3g}%</text>"
        )
    every = max(1, -(-count // 12))  # at most about 12 day labels
    for i, label in enumerate(labels):
        if i % every == 0 or i == count - 1:
            body.append(
                f"<text x='{x(i):.1f}' y='{top + plot_h + 16}' text-anchor='middle' {FONT} "
                f"fill='#666'>{escape(label)}</text>"
            )
    for s in series:
        runs: list[list[str]] = [[]]
        for i, value in enumerate(s.values):
            if value is None:
                runs.append([])
                continue
            runs[-1].append(f"{x(i):.1f},{y(value):.1f}")
            body.append(
                f"<circle cx='{x(i):.1f}' cy='{y(value):.1f}' r='3' fill='{s.color}'>"
                f"<title>{escape(s.name)} {escape(labels[i])}: {percent(value)}</title></circle>"
            )
        for run in runs:
            if len(run) > 1:
                body.append(
                    f"<polyline points='{' '.join(run)}' fill='none' stroke='{s.color}' "
                    f"stroke-width='2'/>"
                )
    legend_y = height - 10
    offset = left
    for s in series:
        body.append(
            f"<rect x='{offset}' y='{legend_y - 9}' width='10' height='10' fill='{s.color}'/>"
            f"<text x='{offset + 14}' y='{legend_y}' {FONT} fill='#333'>{escape(s.name)}</text>"
        )
        offset += 24 + 7 * len(s.name)
    if not labels:
        body.append(f"<text x='{left + 8}' y='{top + 20}' {FONT}>No data</text>")
    return _svg(width, height, title, body, name)


def bars(
    rows: Sequence[tuple[str, float | None, str]],
    *,
    title: str,
    name: str,
    fmt=duration,
    color: str = COLORS["bar"],
    width: int = 560,
) -> SafeString:
    """Horizontal bars: ``(label, value, note)`` rows, values formatted with ``fmt``."""
    label_w, value_w, bar_h, gap, top = 150, 170, 18, 8, 6
    height = top * 2 + max(len(rows), 1) * (bar_h + gap)
    plot_w = width - label_w - value_w
    highest = max((v for _, v, _ in rows if v), default=0.0) or 1.0
    body = []
    if not rows:
        body.append(f"<text x='8' y='{top + 14}' {FONT} fill='#666'>No data in this window</text>")
    for i, (label, value, note) in enumerate(rows):
        y = top + i * (bar_h + gap)
        length = 0 if not value else max(1.0, plot_w * value / highest)
        tip = f"{label}: {fmt(value)}" + (f" ({note})" if note else "")
        body.append(
            f"<text x='{label_w - 8}' y='{y + 13}' text-anchor='end' {FONT} fill='#333'>"
            f"{escape(label[:28])}</text>"
            f"<rect x='{label_w}' y='{y}' width='{length:.1f}' height='{bar_h}' fill='{color}'>"
            f"<title>{escape(tip)}</title></rect>"
            f"<text x='{label_w + length + 6:.1f}' y='{y + 13}' {FONT} fill='#333'>"
            f"{escape(fmt(value))}{escape(f' · {note}' if note else '')}</text>"
        )
    return _svg(width, height, title, body, name)


def stacked(
    parts: Sequence[tuple[str, int, str]],
    *,
    title: str,
    name: str,
    width: int = 560,
) -> SafeString:
    """One bar split in parts ``(label, count, color)`` with a legend of counts and shares."""
    total = sum(count for _, count, _ in parts)
    left, top, bar_h = 8, 8, 26
    plot_w = width - 2 * left
    body = []
    x = float(left)
    if not total:
        body.append(
            f"<rect x='{left}' y='{top}' width='{plot_w}' height='{bar_h}' fill='#eee'/>"
            f"<text x='{left + 8}' y='{top + 17}' {FONT} fill='#666'>No handoffs in this "
            f"window</text>"
        )
    for label, count, color in parts:
        if not total or not count:
            continue
        length = plot_w * count / total
        body.append(
            f"<rect x='{x:.1f}' y='{top}' width='{length:.1f}' height='{bar_h}' fill='{color}'>"
            f"<title>{escape(label)}: {count} ({count / total:.0%})</title></rect>"
        )
        x += length
    legend_y = top + bar_h + 20
    for label, count, color in parts:
        share = f" ({count / total:.0%})" if total else ""
        body.append(
            f"<rect x='{left}' y='{legend_y - 9}' width='10' height='10' fill='{color}'/>"
            f"<text x='{left + 14}' y='{legend_y}' {FONT} fill='#333'>"
            f"{escape(f'{label}: {count}{share}')}</text>"
        )
        legend_y += 16
    return _svg(width, legend_y, title, body, name)
