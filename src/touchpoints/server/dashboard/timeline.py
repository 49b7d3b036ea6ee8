"""One customer's journey cycle drawn as server-side SVG: the visible moments at their
touchpoints and the invisible time between them.

A cycle can hold a minute between WhatsApp and the store and three weeks of thinking it
over before that, so the axis is compressed: each gap is drawn `GAP_BASE + GAP_SCALE ×
ln(1 + minutes)` pixels long (a minute ≈ 125 px, an hour ≈ 185, a day ≈ 243, a month ≈
304) and labelled with its real length. Order and relative size stay readable; nothing
is drawn to a linear scale that would squeeze the moments of one afternoon into a dot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape
from typing import Any

GAP_BASE = 112.0  # room for a moment's time under it, however short the gap
GAP_SCALE = 18.0
MARGIN = 110.0  # room for a moment's labels at either end
AXIS_Y = 92
PHASE_FILL = {"before": "#e3eef8", "during": "#fbeccc", "after": "#dcefe6"}
KIND_FILL = {"static": "#56B4E9", "interactive": "#0072B2", "human": "#D55E00"}


@dataclass
class Moment:
    """One journey step with what happened there, as the page shows it."""

    event_id: str
    when: str
    touchpoint: str
    name: str
    phase: str
    kind: str
    channel: str
    agent: str | None = None
    value: str | None = None  # a purchase's value, written for the reader
    promise: str | None = None  # made | kept | broken
    emotion: int | None = None
    repeated_data: bool = False
    answers: list[str] = field(default_factory=list)  # survey answers that rate it
    gap_before: float | None = None  # seconds since the step before (invisible time)
    gap_label: str | None = None
    promise_from: str | None = None  # event_id of the promise this one kept or broke


def gap_width(seconds: float) -> float:
    return GAP_BASE + GAP_SCALE * math.log1p(max(seconds, 0.0) / 60.0)


def _text(x: float, y: float, words: str, cls: str, anchor: str = "middle") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" class="{cls}" text-anchor="{anchor}">{escape(words)}</text>'
    )


def svg(moments: list[Moment], labels: dict[str, str], title: str) -> str:
    """The cycle as an SVG element (`labels`: the reader's words for the marks)."""
    xs: list[float] = []
    x = MARGIN
    for i, m in enumerate(moments):
        if i:
            x += gap_width(m.gap_before or 0.0)
        xs.append(x)
    width = int(xs[-1] + MARGIN) if xs else int(2 * MARGIN)
    marks = max((_marks_count(m) for m in moments), default=0)
    height = AXIS_Y + 50 + 13 * marks
    parts = [
        f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    # Phases shaded: each moment owns the span from the midpoints to its neighbours.
    for i, m in enumerate(moments):
        left = 0.0 if i == 0 else (xs[i - 1] + xs[i]) / 2
        right = float(width) if i == len(moments) - 1 else (xs[i] + xs[i + 1]) / 2
        parts.append(
            f'<rect class="phase phase-{escape(m.phase)}" x="{left:.1f}" y="0" '
            f'width="{right - left:.1f}" height="{height}" '
            f'fill="{PHASE_FILL.get(m.phase, "#eee")}"><title>{escape(labels[m.phase])}</title></rect>'
        )
    # Phase names where the phase changes.
    for i, m in enumerate(moments):
        if i == 0 or moments[i - 1].phase != m.phase:
            left = 0.0 if i == 0 else (xs[i - 1] + xs[i]) / 2
            parts.append(_text(left + 4, 14, labels[m.phase], "phase-name", "start"))
    # Invisible gaps: dashed, labelled with their length.
    for i in range(1, len(moments)):
        m = moments[i]
        a, b = xs[i - 1] + 9, xs[i] - 9
        parts.append(
            f'<line class="gap" x1="{a:.1f}" y1="{AXIS_Y}" x2="{b:.1f}" y2="{AXIS_Y}" '
            f'stroke="#555" stroke-dasharray="4 4" data-seconds="{m.gap_before or 0:.0f}">'
            f"<title>{escape(labels['invisible'].format(duration=m.gap_label or ''))}</title></line>"
        )
        parts.append(_text((a + b) / 2, AXIS_Y - 6, m.gap_label or "", "gap-label"))
    # Promises kept or broken, linked to the moment they were made (an arc below).
    index = {m.event_id: i for i, m in enumerate(moments)}
    for i, m in enumerate(moments):
        if m.promise_from in index:
            a, b = xs[index[m.promise_from]], xs[i]
            colour = "#006b4f" if m.promise == "kept" else "#a33d00"
            parts.append(
                f'<path class="promise-link promise-{m.promise}" d="M {a:.1f} {AXIS_Y + 12} '
                f'Q {(a + b) / 2:.1f} {AXIS_Y + 70} {b:.1f} {AXIS_Y + 12}" fill="none" '
                f'stroke="{colour}" stroke-width="1.5"/>'
            )
    # Visible moments.
    for i, m in enumerate(moments):
        cx = xs[i]
        fill = KIND_FILL.get(m.kind, "#777")
        tip = f"{m.name} · {m.when}" + (f" · {m.agent}" if m.agent else "")
        parts.append(
            f'<g class="moment" data-event-id="{escape(m.event_id)}">'
            f'<circle cx="{cx:.1f}" cy="{AXIS_Y}" r="8" fill="{fill}" stroke="#fff" '
            f'stroke-width="2"><title>{escape(tip)}</title></circle>'
        )
        above = AXIS_Y - 26 if i % 2 == 0 else AXIS_Y - 42
        parts.append(_text(cx, above, m.name, "tp-name"))
        parts.append(_text(cx, AXIS_Y + 24, m.when, "when"))
        detail = " · ".join(v for v in (m.channel, m.agent) if v)
        parts.append(_text(cx, AXIS_Y + 37, detail, "detail"))
        marks = []
        if m.value:
            marks.append(("purchase", "◆ " + m.value))
        if m.promise:
            symbol = {"made": "P", "kept": "✓", "broken": "✗"}[m.promise]
            marks.append((f"promise-{m.promise}", f"{symbol} {labels['promise_' + m.promise]}"))
        if m.emotion is not None:
            face = "☺" if m.emotion > 0 else "☹" if m.emotion < 0 else "·"
            marks.append(("emotion", f"{face} {m.emotion:+d}"))
        if m.repeated_data:
            marks.append(("repeated", "↻ " + labels["repeated_data"]))
        marks += [("answer", "★ " + a) for a in m.answers]
        for j, (cls, words) in enumerate(marks):
            parts.append(_text(cx, AXIS_Y + 52 + 13 * j, words, f"mark {cls}"))
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def _marks_count(m: Moment) -> int:
    return (
        bool(m.value) + bool(m.promise) + (m.emotion is not None) + m.repeated_data
        + len(m.answers)
    )  # fmt: skip


def promise_links(rows: list[dict[str, Any]]) -> dict[str, str]:
    """event_id of each kept or broken promise -> event_id of the promise it settles: the
    customer's latest promise made before it and not yet settled."""
    open_promises: list[str] = []
    links: dict[str, str] = {}
    for r in rows:
        if r.get("promise") == "made":
            open_promises.append(r["event_id"])
        elif r.get("promise") in ("kept", "broken") and open_promises:
            links[r["event_id"]] = open_promises.pop()
    return links
