"""`touchpoints summary`: an analyst's first look at a store, in three small tables."""

from __future__ import annotations

from typing import Any

from rich.console import RenderableType
from rich.text import Text

from touchpoints.cli.tables import Col, View, grid, renders
from touchpoints.core.messages import capitalized, t

TOTALS = ("events", "customers", "first_event", "last_event", "segment_count")
PER_TOUCHPOINT = ("events", "customers", "first_event", "last_event")


@renders("summary")
def summary_tables(data: dict[str, Any], view: View) -> list[RenderableType]:
    """The totals as label/value lines, then each touchpoint seen, then the segments."""
    if not data["events"]:
        return [Text(t(view.lang, "cli.common.nothing"))]
    out: list[RenderableType] = []
    totals = [[capitalized(view.label(k)), view.value(k, data[k])] for k in TOTALS]
    for table in grid(
        [Col("", numeric=False), Col("")],
        totals,
        view.width,
        title=t(view.lang, "cli.summary.title"),
        caption=t(view.lang, "cli.summary.utc"),
    ):
        table.show_header = False  # label/value lines: no column names to show
        out.append(table)
    cols = [
        Col(view.label("touchpoint"), numeric=False),
        *(Col(view.label(k)) for k in PER_TOUCHPOINT),
    ]
    rows = [
        [_touchpoint(r["touchpoint"], view), *(view.value(k, r[k]) for k in PER_TOUCHPOINT)]
        for r in data["touchpoints"]
    ]
    out += grid(cols, rows, view.width, title=t(view.lang, "cli.summary.touchpoints_title"))
    segments = data["segments"]
    if not segments:
        out.append(Text(t(view.lang, "cli.summary.no_segments")))
        return out
    keys = ("events", "customers")
    out += grid(
        [Col(view.label("segment"), numeric=False), *(Col(view.label(k)) for k in keys)],
        [[s["segment"], *(view.value(k, s[k]) for k in keys)] for s in segments],
        view.width,
        title=t(view.lang, "cli.summary.segments_title"),
    )
    if len(segments) < data["segment_count"]:
        shown, total = (view.value("count", n) for n in (len(segments), data["segment_count"]))
        out.append(Text(t(view.lang, "cli.summary.segments_shown", shown=shown, total=total)))
    return out


def _touchpoint(tp: str, view: View) -> str:
    """'Phone call centre (phone)': the name a manager knows and the id filters take."""
    name = view.name(tp)
    return f"{name} ({tp})" if name != tp else tp
