"""`touchpoints journeys dfg` and `journeys variants`: transitions and whole paths.

Durations (the time between two touchpoints spans seconds to months) go through
`core.format.duration`, counts and shares through `View.value`, so the same number reads
the same here as in every other table, and as a Brazilian writes it with `--lang pt-BR`.
"""

from __future__ import annotations

from typing import Any

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from touchpoints.cli.tables import Col, View, grid, renders
from touchpoints.core import format as fmt
from touchpoints.core.messages import t

# A terminal table of every variant of a large store would run for hundreds of thousands
# of rows; without --top the table shows this many and says how many it left out.
VARIANT_ROWS = 50
ARROW = " → "


def nothing(view: View) -> list[RenderableType]:
    return [Text(t(view.lang, "cli.journeys.nothing"))]


def case_words(view: View) -> str:
    """'per customer' or 'per cycle', from the --case the analysis ran with."""
    case = getattr(view.options, "case", "customer")
    return t(view.lang, f"cli.journeys.per_{case}")


def mark_sections(tables: list[Table], ends: set[int]) -> None:
    """Draw a rule under the rows whose index is in `ends` (a phase's last row, the row
    above a total), in every table `grid()` split the rows into."""
    for table in tables:
        for i in ends:
            if i < len(table.rows):
                table.rows[i].end_section = True


@renders("journeys.dfg")
def dfg_tables(data: dict[str, Any], view: View) -> list[RenderableType]:
    """The edges (from, to, count, mean and median time), then where cases start and end."""
    if not data["starts"]:
        return nothing(view)
    keys = ("count", "mean_seconds", "median_seconds")
    cols = [
        Col(view.label("from"), numeric=False),
        Col(view.label("to"), numeric=False),
        *(Col(view.label(k)) for k in keys),
    ]
    cells = [
        [view.name(e["from"]), view.name(e["to"]), *(view.value(k, e[k]) for k in keys)]
        for e in data["edges"]
    ]
    title = t(view.lang, "cli.journeys.edges_title", case=case_words(view))
    edges = grid(cols, cells, view.width, title=title, keys=2)
    starts, ends = data["starts"], data["ends"]
    touchpoints = sorted(set(starts) | set(ends), key=lambda tp: (-starts.get(tp, 0), tp))
    bounds = grid(
        [Col(view.label("touchpoint"), numeric=False), Col(view.label("starts")),
         Col(view.label("ends"))],
        [[view.name(tp), view.value("count", starts.get(tp, 0)),
          view.value("count", ends.get(tp, 0))] for tp in touchpoints],
        view.width,
        title=t(view.lang, "cli.journeys.bounds_title"),
    )  # fmt: skip
    return [*edges, *bounds]


@renders("journeys.variants")
def variants_tables(data: dict[str, Any], view: View) -> list[RenderableType]:
    """One row per path: rank, touchpoints joined by arrows, count, conversions and their
    rate. Without --top only the first VARIANT_ROWS, and a caption says how many more."""
    variants = data["variants"]
    if not variants:
        return nothing(view)
    top = getattr(view.options, "top", None)
    shown = variants if top is not None else variants[:VARIANT_ROWS]
    cols = [
        Col("#"),
        Col(view.label("path"), numeric=False),
        Col(view.label("count")),
        Col(view.label("conversions")),
        Col(view.label("conversion_rate")),
    ]
    cells = [
        [
            view.value("count", i),
            ARROW.join(view.name(tp) for tp in v["path"]),
            view.value("count", v["count"]),
            view.value("conversions", v["conversions"]),
            view.value("conversion_rate", v["conversions"] / v["count"] if v["count"] else None),
        ]
        for i, v in enumerate(shown, 1)
    ]
    notes = [t(view.lang, "cli.journeys.variants_note")]
    left_out = len(variants) - len(shown)
    if left_out:
        more = fmt.integer(left_out, view.lang)
        notes.append(t(view.lang, "cli.journeys.more_variants", n=more))
    title = t(view.lang, "cli.journeys.variants_title", case=case_words(view))
    return list(grid(cols, cells, view.width, title=title, caption="\n".join(notes), keys=2))
