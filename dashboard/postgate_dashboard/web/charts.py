"""Server-drawn SVG charts: sparklines, a line chart and horizontal bars.

Only numbers and escaped labels go into the markup, and only SVG presentation attributes and
classes are used (the CSP forbids inline style)."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape


def _points(values: Sequence[float | None], width: float, height: float, top: float) -> list[tuple[float, float]]:
    known = [v for v in values if v is not None]
    high = max(known) if known and max(known) > 0 else 1.0
    step = width / max(1, len(values) - 1)
    return [(round(i * step, 1), round(height - (v / high) * (height - top), 1))
            for i, v in enumerate(values) if v is not None]


def sparkline(values: Sequence[float | None], label: str, width: int = 120, height: int = 32) -> Markup:
    """A small line of ``values`` (gaps where ``None``), scaled to its own highest value."""
    points = _points(values, width, height - 2, 2)
    path = " ".join(f"{x},{y}" for x, y in points)
    line = f'<polyline class="spark-line" fill="none" points="{path}"/>' if len(points) > 1 else ""
    dot = f'<circle class="spark-dot" r="2.5" cx="{points[-1][0]}" cy="{points[-1][1]}"/>' if points else ""
    base = f'<line class="spark-base" x1="0" x2="{width}" y1="{height - 1}" y2="{height - 1}"/>'
    return Markup(
        f'<svg class="spark" viewBox="0 0 {width} {height}" preserveAspectRatio="none" role="img" '
        f'aria-label="{escape(label)}">{base}{line}{dot}</svg>')


def line_chart(labels: Sequence[str], series: Sequence[tuple[str, str, Sequence[int]]],
               width: int = 800, height: int = 220) -> Markup:
    """One line per ``(name, css_class, values)`` on a shared scale, with a legend and axis labels."""
    pad_left, pad_bottom = 44, 22
    high = max([max(values) if values else 0 for _, _, values in series] + [1])
    inner_w, inner_h = width - pad_left - 8, height - pad_bottom - 8
    step = inner_w / max(1, len(labels) - 1)
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-labelledby="chart-title">',
             '<title id="chart-title">Counts per period bucket</title>']
    for fraction in (0, 0.5, 1):
        y = round(8 + inner_h * (1 - fraction), 1)
        parts.append(f'<line class="grid" x1="{pad_left}" x2="{width - 8}" y1="{y}" y2="{y}"/>')
        parts.append(f'<text class="axis" x="{pad_left - 6}" y="{y + 4}" text-anchor="end">{round(high * fraction):,}</text>')
    if labels:
        for index in sorted({0, len(labels) // 2, len(labels) - 1}):
            x = round(pad_left + index * step, 1)
            anchor = "start" if index == 0 else "end" if index == len(labels) - 1 else "middle"
            parts.append(f'<text class="axis" x="{x}" y="{height - 4}" text-anchor="{anchor}">{escape(labels[index])}</text>')
    for name, css, values in series:
        points = " ".join(f"{round(pad_left + i * step, 1)},{round(8 + inner_h * (1 - v / high), 1)}"
                          for i, v in enumerate(values))
        parts.append(f'<polyline class="series {escape(css)}" fill="none" points="{points}">'
                     f'<title>{escape(name)}</title></polyline>')
    parts.append("</svg>")
    return Markup("".join(parts))


def bar(fraction: float | None, css: str = "", width: int = 200, height: int = 12) -> Markup:
    """A horizontal bar filled to ``fraction`` (0 to 1) of its track."""
    filled = round(width * max(0.0, min(1.0, fraction or 0.0)), 1)
    return Markup(
        f'<svg class="hbar {escape(css)}" viewBox="0 0 {width} {height}" preserveAspectRatio="none" aria-hidden="true">'
        f'<rect class="track" width="{width}" height="{height}" rx="3"/>'
        f'<rect class="fill" width="{filled}" height="{height}" rx="3"/></svg>')


def time_curve(start: int, end: int, total: int, series: Sequence[tuple[str, str, Sequence[tuple[int, int]]]],
               tick_labels: Sequence[tuple[int, str]], width: int = 800, height: int = 220) -> Markup:
    """Cumulative lines of ``(name, css_class, [(epoch seconds, count), …])`` placed by time over
    ``[start, end]``, scaled to ``total`` (drawn as a dashed line), with ``tick_labels`` under the axis."""
    pad_left, pad_bottom = 52, 22
    high = max([total, 1] + [n for _, _, points in series for _, n in points])
    inner_w, inner_h = width - pad_left - 8, height - pad_bottom - 8
    span = max(1, end - start)

    def x(at: int) -> float:
        return round(pad_left + inner_w * (min(max(at, start), end) - start) / span, 1)

    def y(n: int) -> float:
        return round(8 + inner_h * (1 - n / high), 1)

    parts = [f'<svg class="chart curve" viewBox="0 0 {width} {height}" role="img" aria-labelledby="curve-title">',
             '<title id="curve-title">Recipients sent and delivered over time</title>']
    for fraction in (0, 0.5):
        parts.append(f'<line class="grid" x1="{pad_left}" x2="{width - 8}" y1="{y(round(high * fraction))}" '
                     f'y2="{y(round(high * fraction))}"/>')
        parts.append(f'<text class="axis" x="{pad_left - 6}" y="{y(round(high * fraction)) + 4}" '
                     f'text-anchor="end">{round(high * fraction):,}</text>')
    parts.append(f'<line class="grid total-line" x1="{pad_left}" x2="{width - 8}" y1="{y(total)}" y2="{y(total)}"/>')
    parts.append(f'<text class="axis" x="{pad_left - 6}" y="{y(total) + 4}" text-anchor="end">{total:,}</text>')
    for at, label in tick_labels:
        anchor = "start" if at <= start else "end" if at >= end else "middle"
        parts.append(f'<text class="axis" x="{x(at)}" y="{height - 4}" text-anchor="{anchor}">{escape(label)}</text>')
    for name, css, points in series:
        path = " ".join(f"{x(at)},{y(n)}" for at, n in points)
        parts.append(f'<polyline class="series {escape(css)}" fill="none" points="{path}">'
                     f'<title>{escape(name)}</title></polyline>')
        if points:
            parts.append(f'<circle class="curve-end {escape(css)}" r="3" cx="{x(points[-1][0])}" cy="{y(points[-1][1])}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))
