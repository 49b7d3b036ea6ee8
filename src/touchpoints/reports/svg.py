"""Tiny inline-SVG charts for reports: bars, lines and a heatmap.

A report must open anywhere — an e-mail attachment, a PDF, a browser with scripts off —
so charts are plain SVG written here (no JavaScript, no fonts to fetch). Each chart carries
a <title> and an aria-label, and series differ by dash pattern and marker as well as by
colour (Okabe-Ito palette, readable with colour-blind vision).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9")
DASHES = ("", "6 3", "2 3", "8 3 2 3")
# Viridis stops (dark blue -> yellow): ordered in lightness, so greys still read as a scale.
VIRIDIS = ((68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37))

Fmt = Callable[[float], str]


def _fmt(value: float) -> str:
    return f"{value:g}"


def _open(width: int, height: int, title: str) -> str:
    t = escape(title)
    return (
        f'<svg viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{t}" '
        f'font-family="sans-serif" font-size="11"><title>{t}</title>'
    )


def bar_chart(
    items: Sequence[tuple[str, float | None]],
    title: str,
    fmt: Fmt = _fmt,
    width: int = 560,
    bar: int = 18,
) -> str:
    """Horizontal bars, one per (label, value); a missing value is drawn as "–". The label
    column is as wide as the longest label (about 6.5 px a character at 11 px), so a long
    name ("Veículo de entrega e montagem") is never cut at the left edge."""
    longest = max((len(label) for label, _ in items), default=0)
    label_w, pad = max(170, int(longest * 6.5) + 12), 60
    width = max(width, label_w + 260)
    height = 10 + len(items) * (bar + 6)
    top = max((v for _, v in items if v is not None), default=0.0) or 1.0
    scale = (width - label_w - pad) / top
    parts = [_open(width, height, title)]
    for i, (label, value) in enumerate(items):
        y = 5 + i * (bar + 6)
        text = "–" if value is None else fmt(value)
        parts.append(
            f'<text x="{label_w - 6}" y="{y + bar - 5}" text-anchor="end">{escape(label)}</text>'
        )
        w = 0.0 if value is None else max(value, 0.0) * scale
        parts.append(
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar}" fill="{PALETTE[0]}">'
            f"<title>{escape(label)}: {escape(text)}</title></rect>"
        )
        parts.append(f'<text x="{label_w + w + 4:.1f}" y="{y + bar - 5}">{escape(text)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def line_chart(
    x_labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    title: str,
    fmt: Fmt = _fmt,
    width: int = 560,
    height: int = 220,
    markers: Sequence[tuple[int, str]] = (),
) -> str:
    """Lines over shared x labels; gaps (None) break a line. A legend names each series.
    `markers` (x index, label): the logged changes, a dashed vertical line each."""
    # Room on the right for half of the last x label, which is centred on its point.
    left, right, top, bottom = 50, 40, 24, 30
    values = [v for _, vs in series for v in vs if v is not None]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    lo = min(lo, 0.0)
    hi = hi if hi > lo else lo + 1.0
    n = max(len(x_labels), 1)
    plot_w, plot_h = width - left - right, height - top - bottom

    def px(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def py(v: float) -> float:
        return top + plot_h * (1 - (v - lo) / (hi - lo))

    parts = [_open(width, height, title)]
    parts.append(
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" stroke="#555"/>'
    )
    for v in (lo, (lo + hi) / 2, hi):
        parts.append(
            f'<text x="{left - 4}" y="{py(v) + 4:.1f}" text-anchor="end">{escape(fmt(v))}</text>'
        )
    step = max(1, n // 8)
    for i in range(0, len(x_labels), step):
        parts.append(
            f'<text x="{px(i):.1f}" y="{height - 10}" text-anchor="middle">{escape(x_labels[i])}</text>'
        )
    for index, label in markers:
        parts.append(
            f'<line x1="{px(index):.1f}" y1="{top}" x2="{px(index):.1f}" y2="{top + plot_h}" '
            f'stroke="#555" stroke-width="1" stroke-dasharray="3 3"><title>{escape(label)}</title></line>'
            f'<text x="{px(index) + 3:.1f}" y="{top + 10}" font-size="9">{escape(label)}</text>'
        )
    for k, (name, vs) in enumerate(series):
        colour, dash = PALETTE[k % len(PALETTE)], DASHES[k % len(DASHES)]
        runs: list[list[str]] = [[]]
        for i, v in enumerate(vs):
            if v is None:
                runs.append([])
            else:
                runs[-1].append(f"{px(i):.1f},{py(v):.1f}")
                parts.append(
                    f'<circle cx="{px(i):.1f}" cy="{py(v):.1f}" r="2.5" fill="{colour}">'
                    f"<title>{escape(name)} {escape(x_labels[i])}: {escape(fmt(v))}</title></circle>"
                )
        for run in runs:
            if len(run) > 1:
                parts.append(
                    f'<polyline points="{" ".join(run)}" fill="none" stroke="{colour}" '
                    f'stroke-width="2" stroke-dasharray="{dash}"/>'
                )
        lx = left + k * 140
        parts.append(
            f'<line x1="{lx}" y1="10" x2="{lx + 22}" y2="10" stroke="{colour}" stroke-width="2" '
            f'stroke-dasharray="{dash}"/><text x="{lx + 26}" y="14">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _viridis(t: float) -> str:
    t = min(max(t, 0.0), 1.0) * (len(VIRIDIS) - 1)
    i = min(int(t), len(VIRIDIS) - 2)
    f = t - i
    a, b = VIRIDIS[i], VIRIDIS[i + 1]
    return "#" + "".join(f"{round(a[c] + (b[c] - a[c]) * f):02x}" for c in range(3))


def heatmap(
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    cells: Sequence[Sequence[float | None]],
    title: str,
    fmt: Fmt = _fmt,
    cell: int = 20,
) -> str:
    """A grid of cells coloured on the viridis scale; every cell's <title> states its value,
    and a legend under the grid says which colour is the lowest and which the highest, so
    the chart still reads on paper, where no tooltip opens."""
    left, top, legend = 80, 18, 30
    width = max(left + len(col_labels) * cell + 4, left + 280)
    height = top + len(row_labels) * cell + 4 + legend
    values = [v for row in cells for v in row if v is not None]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    span = (hi - lo) or 1.0
    parts = [_open(width, height, title)]
    for j, label in enumerate(col_labels):
        if j % 3 == 0:
            parts.append(
                f'<text x="{left + j * cell + cell / 2}" y="{top - 5}" text-anchor="middle">'
                f"{escape(label)}</text>"
            )
    for i, label in enumerate(row_labels):
        y = top + i * cell
        parts.append(
            f'<text x="{left - 5}" y="{y + cell - 6}" text-anchor="end">{escape(label)}</text>'
        )
        for j, value in enumerate(cells[i]):
            fill = "#eeeeee" if value is None else _viridis((value - lo) / span)
            text = "–" if value is None else fmt(value)
            parts.append(
                f'<rect x="{left + j * cell}" y="{y}" width="{cell - 1}" height="{cell - 1}" '
                f'fill="{fill}"><title>{escape(label)} {escape(col_labels[j])}: '
                f"{escape(text)}</title></rect>"
            )
    if values:
        parts.append(_scale(left, top + len(row_labels) * cell + 12, fmt(lo), fmt(hi)))
    parts.append("</svg>")
    return "".join(parts)


def _scale(x: int, y: int, low: str, high: str, steps: int = 10, size: int = 14) -> str:
    """The heatmap's colour scale: the lowest value, swatches from dark to light, the highest.
    Swatches are thick line strokes, so the grid's cells stay the chart's only rectangles."""
    parts = [f'<text x="{x - 5}" y="{y + 4}" text-anchor="end">{escape(low)}</text>']
    for k in range(steps):
        x0 = x + k * size
        parts.append(
            f'<line x1="{x0}" y1="{y}" x2="{x0 + size}" y2="{y}" '
            f'stroke="{_viridis(k / (steps - 1))}" stroke-width="10"/>'
        )
    parts.append(f'<text x="{x + steps * size + 5}" y="{y + 4}">{escape(high)}</text>')
    return "".join(parts)
