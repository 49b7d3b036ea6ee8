"""`touchpoints attribution`: the credit of each touchpoint (and phase), then what the
Markov model shows with `--order auto` and `--details`.

Credited conversions are fractions of journey cycles (a linear cycle of four touches
gives each 0.25), so they keep two decimals; revenue is money (`R$ 776.206,45`).
"""

from __future__ import annotations

from typing import Any

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from touchpoints.cli.tables import Col, View, grid, renders
from touchpoints.core import format as fmt
from touchpoints.core.messages import t

# How attribution.py spells states: k-tuples joined by ">", touchpoint and phase by "|".
STATE_SEP, PHASE_SEP = ">", "|"
SPECIAL = {"(start)": "start", "(conversion)": "conversion", "(null)": "null"}


def state_name(label: str, view: View) -> str:
    """A Markov state ("ads>whatsapp", "ads|before", "(null)") in the reader's words."""
    if label in SPECIAL:
        return t(view.lang, "cli.attribution." + SPECIAL[label])
    parts = []
    for item in label.split(STATE_SEP):
        touchpoint, sep, phase = item.partition(PHASE_SEP)
        name = view.name(touchpoint)
        parts.append(f"{name} ({t(view.lang, 'common.' + phase)})" if sep else name)
    return " › ".join(parts)


def _credit(x: float, lang: str) -> str:
    return fmt.number(x, lang, 2)


def _title(data: dict[str, Any], lang: str) -> str:
    model = t(lang, f"cli.attribution.model_{data['model']}")
    if "order" in data:
        return t(lang, "cli.attribution.title_order", model=model, order=data["order"])
    return t(lang, "cli.attribution.title", model=model)


def _caption(data: dict[str, Any], lang: str) -> str:
    lines = [t(lang, "cli.attribution.note")]
    if "half_life_seconds" in data:
        half_life = fmt.duration(data["half_life_seconds"], lang)
        lines.append(t(lang, "cli.attribution.half_life", half_life=half_life))
    if "channel_sets" in data:
        lines.append(
            t(lang, "cli.attribution.channel_sets", sets=fmt.integer(data["channel_sets"], lang))
        )
    return "\n".join(lines)


def credit_tables(data: dict[str, Any], view: View) -> list[Table]:
    """One row per touchpoint (and phase), most credit first, then the totals."""
    lang = view.lang
    by_phase = any("phase" in r for r in data["rows"])
    keys = ["touchpoint", *(["phase"] if by_phase else [])]
    cols = [Col(view.label(k), numeric=False) for k in keys]
    cols += [Col(view.label(k)) for k in ("conversions", "value", "share")]
    cells = []
    for r in data["rows"]:
        label = [view.name(r["touchpoint"])]
        if by_phase:
            label.append(t(lang, "common." + r["phase"]))
        cells.append(
            [
                *label,
                _credit(r["conversions"], lang),
                view.value("value", r["value"]),
                view.value("share", r["share"]),
            ]
        )
    total = [t(lang, "cli.attribution.total"), *([""] if by_phase else [])]
    total += [
        fmt.integer(data["total_conversions"], lang),
        view.value("value", data["total_value"]),
        view.value("share", 1.0),
    ]
    tables = grid(
        cols,
        [*cells, total],
        view.width,
        title=_title(data, lang),
        caption=_caption(data, lang),
        keys=len(keys),
    )
    for table in tables:
        table.rows[-2].end_section = True  # the totals stand apart
    return tables


def order_scores(data: dict[str, Any], view: View) -> list[Table]:
    """`--order auto`: each order's held-out score, the chosen one marked."""
    lang = view.lang
    cols = [Col(view.label(k)) for k in ("order", "log_likelihood", "held_out_cycles")]
    chosen = f" ✓ {t(lang, 'cli.attribution.chosen')}"
    cells = [
        [
            f"{s['order']}{chosen if s['order'] == data['order'] else ''}",
            fmt.number(s["log_likelihood"], lang, 5),
            fmt.integer(s["held_out_cycles"], lang),
        ]
        for s in data["order_scores"]
    ]
    return grid(cols, cells, view.width, title=t(lang, "cli.attribution.scores_title"))


def markov_details(data: dict[str, Any], view: View) -> list[Table]:
    """`--details`: the transition matrix and each touchpoint's removal effect."""
    lang = view.lang
    cols = [Col(view.label("from"), numeric=False), Col(view.label("to"), numeric=False)]
    cols += [Col(view.label("count")), Col(view.label("probability"))]
    cells = [
        [
            state_name(m["from"], view),
            state_name(m["to"], view),
            fmt.integer(m["count"], lang),
            fmt.percent(m["probability"], lang, 2),
        ]
        for m in data["transition_matrix"]
    ]
    tables = grid(cols, cells, view.width, title=t(lang, "cli.attribution.matrix_title"), keys=2)
    ranked = sorted(data["removal_effects"].items(), key=lambda kv: (-kv[1], kv[0]))
    effects = [[state_name(label, view), fmt.percent(e, lang)] for label, e in ranked]
    probability = fmt.percent(data["conversion_probability"], lang, 2)
    tables += grid(
        [Col(view.label("touchpoint"), numeric=False), Col(view.label("removal_effect"))],
        effects,
        view.width,
        title=t(lang, "cli.attribution.effects_title", probability=probability),
    )
    return tables


@renders("attribution")
def attribution_tables(data: dict[str, Any], view: View) -> list[RenderableType]:
    if not data["rows"]:
        return [Text(t(view.lang, "cli.attribution.nothing"))]
    tables: list[RenderableType] = [*credit_tables(data, view)]
    if "order_scores" in data:
        tables += order_scores(data, view)
    if "transition_matrix" in data:
        tables += markov_details(data, view)
    return tables
