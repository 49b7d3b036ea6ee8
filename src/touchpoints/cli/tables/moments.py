"""`touchpoints journeys moments`: promises, customer data asked again, emotion curve.

Two promise rates sit side by side and mean different things: `kept_rate` is kept / made
(an open promise counts as neither), `promise_kept_rate` is kept / (kept + broken), the
SPEC §4 metric `kpis` shows. Each column is headed by its own key's label, and the caption
spells both out, so "promises kept" never means two things.
"""

from __future__ import annotations

from typing import Any

from rich.console import RenderableType

from touchpoints.cli.tables import Col, View, grid, renders
from touchpoints.cli.tables.journeys import mark_sections, nothing
from touchpoints.core.messages import t

PROMISE_KEYS = (
    "made",
    "kept",
    "broken",
    "open",
    "kept_rate",
    "broken_rate",
    "promise_kept_rate",
    "recorded_kept",
    "recorded_broken",
    "recorded_unmatched",
    "recorded_kept_rate",
)
DATA_KEYS = ("data_answers", "data_reused", "data_reuse_rate", "customers_repeating")
EMOTION_KEYS = ("emotion", "answers", "steps")
GAUGE = 10


def gauge(emotion: float | None) -> str:
    """A ten-cell gauge from −2 to +2, readable without colour."""
    if emotion is None:
        return ""
    filled = round((emotion + 2) / 4 * GAUGE)
    return "█" * filled + "░" * (GAUGE - filled)


def _with_promises(r: dict[str, Any]) -> bool:
    return bool(r["made"] or r["recorded_kept"] or r["recorded_broken"] or r["recorded_unmatched"])


def _by_touchpoint(
    data: dict[str, Any], view: View, keys: tuple[str, ...], keep: Any, title: str, caption: str
) -> list[RenderableType]:
    """One row per touchpoint that `keep`s, then the total row below a rule."""
    rows = [r for r in data["touchpoints"] if keep(r)]
    if not rows:
        return []
    cells = [[view.name(r["touchpoint"]), *(view.value(k, r[k]) for k in keys)] for r in rows]
    cells.append([t(view.lang, "common.all"), *(view.value(k, data["totals"][k]) for k in keys)])
    cols = [Col(view.label("touchpoint"), numeric=False), *(Col(view.label(k)) for k in keys)]
    tables = grid(cols, cells, view.width, title=title, caption=caption or None)
    mark_sections(tables, {len(rows) - 1})
    return list(tables)


def _emotion(points: list[dict[str, Any]], first: str, view: View, title: str) -> list[Any]:
    cols = [
        Col(view.label(first), numeric=first == "step"),
        *(Col(view.label(k)) for k in EMOTION_KEYS),
        Col(t(view.lang, "cli.journeys.emotion_scale")),
    ]
    cells = [
        [
            t(view.lang, "common." + p[first])
            if first == "phase"
            else view.value("step", p[first]),
            *(view.value(k, p[k]) for k in EMOTION_KEYS),
            gauge(p["emotion"]),
        ]
        for p in points
    ]
    return list(grid(cols, cells, view.width, title=title))


@renders("journeys.moments")
def moments_tables(data: dict[str, Any], view: View) -> list[RenderableType]:
    """Promises by where they were made, data re-use, then emotion by phase and by step."""
    by_phase, by_step = data["emotion"]["by_phase"], data["emotion"]["by_step"]
    if not data["touchpoints"] and not any(p["steps"] for p in by_phase):
        return nothing(view)
    lang = view.lang
    promises = _by_touchpoint(
        data, view, PROMISE_KEYS, _with_promises,
        t(lang, "cli.journeys.promises_title"), t(lang, "cli.journeys.promises_note"),
    )  # fmt: skip
    reuse = _by_touchpoint(
        data, view, DATA_KEYS, lambda r: r["data_answers"], t(lang, "cli.journeys.data_title"), ""
    )
    return [
        *promises,
        *reuse,
        *_emotion(by_phase, "phase", view, t(lang, "cli.journeys.emotion_phase_title")),
        *_emotion(by_step, "step", view, t(lang, "cli.journeys.emotion_step_title")),
    ]
