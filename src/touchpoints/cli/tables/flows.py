"""`touchpoints journeys funnel`, `journeys gaps` and `journeys sankey`.

Funnels and gaps are about time out of sight, which spans seconds to weeks: every duration
is `core.format.duration` ("1 day 11 hr", "1 dia 11 h"), the one style of every table.
"""

from __future__ import annotations

from typing import Any

from rich.console import RenderableType

from touchpoints.cli.tables import Col, View, grid, renders
from touchpoints.cli.tables.journeys import mark_sections, nothing
from touchpoints.core import format as fmt
from touchpoints.core.messages import t

# Touchpoint pairs and Sankey links of a large store run to hundreds of rows; the table
# shows this many and says how many it left out (--format csv and --json have them all).
TABLE_ROWS = 30
STATS = ("count", "median_seconds", "p90_seconds", "mean_seconds")
PURCHASE_STEP = "purchase"


def _more(view: View, total: int) -> str | None:
    left_out = total - TABLE_ROWS
    if left_out <= 0:
        return None
    return t(view.lang, "cli.journeys.more_rows", n=fmt.integer(left_out, view.lang))


def _stage(label: str, kind: str, view: View) -> str:
    if kind == "phases":
        return t(view.lang, "common." + label)
    if label == PURCHASE_STEP and label not in view.names:
        return t(view.lang, "cli.journeys.purchase")
    return view.name(label)


@renders("journeys.funnel")
def funnel_tables(data: dict[str, Any], view: View) -> list[RenderableType]:
    """One row per stage: reached, share of the first stage, drop-off, median time."""
    if not data["total"]:
        return nothing(view)
    keys = ("count", "share", "dropped", "drop_rate", "median_seconds")
    cols = [Col("#"), Col(view.label("stage"), numeric=False), *(Col(view.label(k)) for k in keys)]
    cells = [
        [view.value("count", i), _stage(s["stage"], data["funnel"], view),
         *(view.value(k, s[k]) for k in keys)]
        for i, s in enumerate(data["stages"], 1)
    ]  # fmt: skip
    cases = view.label("customers" if data["case"] == "customer" else "cycles")
    title = t(
        view.lang,
        f"cli.journeys.funnel_{data['funnel']}",
        total=fmt.integer(data["total"], view.lang),
        cases=cases,
    )
    caption = t(view.lang, "cli.journeys.funnel_note")
    return list(grid(cols, cells, view.width, title=title, caption=caption, keys=2))


@renders("journeys.gaps")
def gaps_tables(data: dict[str, Any], view: View) -> list[RenderableType]:
    """Per phase of the later step (and all gaps), then per touchpoint pair."""
    if not data["overall"]["count"]:
        return nothing(view)
    stat_cols = [Col(view.label(k)) for k in STATS]
    phase_cells = [
        [t(view.lang, "common." + p["phase"]), *(view.value(k, p[k]) for k in STATS)]
        for p in data["phases"]
    ]
    phase_cells.append(
        [t(view.lang, "common.all"), *(view.value(k, data["overall"][k]) for k in STATS)]
    )
    phases = grid(
        [Col(view.label("phase"), numeric=False), *stat_cols],
        phase_cells,
        view.width,
        title=t(view.lang, "cli.journeys.gaps_phase_title"),
        caption=t(view.lang, "cli.journeys.gaps_note"),
    )
    mark_sections(phases, {len(phase_cells) - 2})
    pairs = data["pairs"]
    pairs_cells = [
        [view.name(p["from"]), view.name(p["to"]), *(view.value(k, p[k]) for k in STATS)]
        for p in pairs[:TABLE_ROWS]
    ]
    pair_tables = grid(
        [Col(view.label("from"), numeric=False), Col(view.label("to"), numeric=False), *stat_cols],
        pairs_cells,
        view.width,
        title=t(view.lang, "cli.journeys.gaps_pairs_title"),
        caption=_more(view, len(pairs)),
        keys=2,
    )
    return [*phases, *pair_tables]


@renders("journeys.sankey")
def sankey_tables(data: dict[str, Any], view: View) -> list[RenderableType]:
    """The links step by step: source and next step, cycles, and their share of the
    source node's cycles. A link's `value` counts cycles, so it is labelled and formatted
    as cycles (the same JSON key means revenue in attribution)."""
    if not data["cycles"]:
        return nothing(view)
    values = {n["id"]: n["value"] for n in data["nodes"]}

    def node(node_id: str) -> str:
        if ":" not in node_id:  # a terminal: purchase or end
            return t(view.lang, f"cli.journeys.{node_id}")
        step, touchpoint = node_id.split(":", 1)
        return f"{step}. {view.name(touchpoint)}"

    links = data["links"]
    cols = [
        Col(view.label("source"), numeric=False),
        Col(t(view.lang, "cli.journeys.next_step"), numeric=False),
        Col(view.label("cycles")),
        Col(t(view.lang, "cli.journeys.of_source")),
    ]
    cells = [
        [node(li["source"]), node(li["target"]), view.value("cycles", li["value"]),
         fmt.percent(li["value"] / values[li["source"]], view.lang)]
        for li in links[:TABLE_ROWS]
    ]  # fmt: skip
    title = t(
        view.lang,
        "cli.journeys.sankey_title",
        depth=fmt.integer(data["depth"], view.lang),
        cycles=fmt.integer(data["cycles"], view.lang),
    )
    return list(grid(cols, cells, view.width, title=title, caption=_more(view, len(links)), keys=2))
