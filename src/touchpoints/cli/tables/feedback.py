"""`touchpoints heatmap` and `touchpoints feedback comments|first-heard`: when the queue
hurts (hours down, weekdays across), and what customers wrote and where they heard of us.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import RenderableType
from rich.text import Text

from touchpoints.cli.tables import Col, View, grid, renders
from touchpoints.core import format as fmt
from touchpoints.core.messages import t

# The heatmap's grids: what each cell holds, in the order they are printed.
HEAT_GRIDS = ("offered", "service_level", "tme_seconds")


def _cell(row: dict[str, Any] | None, key: str) -> Any:
    """An hour without any event offered no contact; its rates stay unmeasured."""
    if row is None:
        return 0 if key == "offered" else None
    return row.get(key)


@renders("heatmap")
def heatmap_tables(data: dict[str, Any], view: View) -> list[RenderableType]:
    """One week grid per metric: hours down, weekdays across (ISO, Monday first)."""
    rows = data["rows"]
    if not any(r["offered"] for r in rows):
        return [Text(t(view.lang, "cli.feedback.no_contacts"))]
    cells = {(r["weekday"], r["hour"]): r for r in rows}
    days = fmt.weekdays(view.lang)
    out: list[RenderableType] = []
    for key in HEAT_GRIDS:
        cols = [Col(view.label("hour"), numeric=False), *(Col(day) for day in days)]
        lines = [
            [f"{hour:02d}:00"]
            + [view.value(key, _cell(cells.get((day, hour)), key)) for day in range(1, 8)]
            for hour in range(24)
        ]
        metric = view.label(key)
        title = t(view.lang, "cli.feedback.heat_title", metric=metric[:1].upper() + metric[1:],
                  timezone=data["timezone"])  # fmt: skip
        out += grid(cols, lines, view.width, title=title)
    return out


def _local(ts: str, view: View) -> str:
    """An event time (naive UTC, ISO) as local date and time in the scope's zone."""
    when = datetime.fromisoformat(ts.removesuffix("Z")).replace(tzinfo=UTC)
    zone = getattr(view.scope, "timezone", "UTC") or "UTC"
    return fmt.datetime(when.astimezone(ZoneInfo(zone)).replace(tzinfo=None), view.lang)


def _rating(c: dict[str, Any], view: View) -> str:
    """The scores given with the comment, as the customer gave them (NPS 9, CSAT 4)."""
    parts = [f"{label} {fmt.integer(c[key], view.lang)}"
             for key, label in (("nps", "NPS"), ("csat", "CSAT"), ("ces", "CES"))
             if c.get(key) is not None]  # fmt: skip
    return " · ".join(parts) or fmt.DASH


@renders("feedback.comments")
def comments_tables(data: dict[str, Any], view: View) -> list[RenderableType]:
    """The comments newest first, then how they lean overall and per touchpoint."""
    comments = data["comments"]
    if not comments:
        return [Text(t(view.lang, "cli.feedback.no_comments"))]
    cols = [
        Col(view.label("ts"), numeric=False),
        Col(view.label("touchpoint"), numeric=False),
        Col(view.label("sentiment"), numeric=False),
        Col(t(view.lang, "cli.feedback.scores"), numeric=False),
        Col(view.label("comment"), numeric=False),
    ]
    lines = [
        [_local(c["ts"], view), view.name(c["touchpoint"]),
         t(view.lang, f"cli.feedback.{c['label']}"), _rating(c, view), c["comment"]]
        for c in comments
    ]  # fmt: skip
    out: list[RenderableType] = list(
        grid(cols, lines, view.width, title=t(view.lang, "cli.feedback.comments_title"))
    )
    summary = [data["summary"], *data["by_touchpoint"]]
    keys = ("comments", "positive", "neutral", "negative")
    cols = [Col(view.label("touchpoint"), numeric=False), Col(view.label("mean"))]
    cols += [Col(t(view.lang, f"cli.feedback.{k}")) for k in keys]
    lines = [
        [view.name(s["touchpoint"]) if "touchpoint" in s else t(view.lang, "common.all"),
         fmt.number(s["mean"], view.lang, 2), *(fmt.integer(s[k], view.lang) for k in keys)]
        for s in summary
    ]  # fmt: skip
    out += grid(cols, lines, view.width, title=t(view.lang, "cli.feedback.summary_title"))
    return out


@renders("feedback.first-heard")
def first_heard_table(data: dict[str, Any], view: View) -> list[RenderableType]:
    if not data["answers"]:
        return [Text(t(view.lang, "cli.feedback.no_answers"))]
    cols = [Col(view.label("touchpoint"), numeric=False), Col(view.label("customers")),
            Col(view.label("share"))]  # fmt: skip
    lines = [[view.name(r["touchpoint"]), view.value("customers", r["customers"]),
              view.value("share", r["share"])] for r in data["rows"]]  # fmt: skip
    title = t(view.lang, "cli.feedback.heard_title", n=fmt.integer(data["answers"], view.lang))
    return list(grid(cols, lines, view.width, title=title))
