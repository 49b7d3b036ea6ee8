"""`touchpoints events` and `touchpoints customer journey`: the rows behind a number.

Times are shown in the scope's time zone (`--timezone`), said in the caption; individual
answers (an NPS of 9, a CSAT of 4) are whole numbers, not the 0-100 scores of `kpis`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.console import RenderableType
from rich.text import Text

from touchpoints.cli.tables import Col, View, grid, renders
from touchpoints.core import format as fmt
from touchpoints.core.messages import catalog, t
from touchpoints.core.time import zone_info

# Shown when any listed event has a value, in SPEC §2 order after the leading columns.
OPTIONAL = (
    "value",
    "agent",
    "wait_seconds",
    "handle_seconds",
    "abandoned",
    "resolved",
    "nps",
    "csat",
    "ces",
    "promise",
    "emotion",
    "data_reused",
    "segment",
    "phase",
    "comment",
    "ref_event_id",
)
ANSWERS = frozenset({"nps", "csat", "ces", "emotion"})
TEXT = frozenset({"agent", "segment", "comment", "ref_event_id", "event_id", "customer_id"})


def _zone(view: View) -> str:
    return view.scope.timezone if view.scope is not None else "UTC"


def local_time(ts: str, view: View) -> str:
    """An ISO-8601 UTC time as the reader's wall time in the scope's zone."""
    moment = datetime.fromisoformat(ts).astimezone(zone_info(_zone(view)))
    return fmt.datetime(moment.replace(tzinfo=None), view.lang, seconds=True)


def _cell(key: str, value: Any, view: View) -> str:
    if value is None:
        return fmt.DASH
    if key in ANSWERS:
        return fmt.integer(value, view.lang)
    if key == "phase":
        return t(view.lang, "common." + value)
    return view.value(key, value)


def _action(action: str, view: View) -> str:
    """Known actions in the reader's words; any other action as recorded."""
    key = "cli.drilldown.action_" + action
    return t(view.lang, key) if key in catalog() else action


def _caption(data: dict[str, Any], view: View) -> str:
    total, shown = data["total"], len(data["rows"])
    offset = view.options.offset if view.options is not None else 0
    words = {"total": fmt.integer(total, view.lang), "zone": _zone(view), "offset": offset}
    if shown == total:
        return t(view.lang, "cli.drilldown.all_shown", **words)
    if not shown:
        return t(view.lang, "cli.drilldown.past_the_end", **words)
    first, last = offset + 1, offset + shown
    text = t(view.lang, "cli.drilldown.page", first=fmt.integer(first, view.lang),
             last=fmt.integer(last, view.lang), **{**words, "offset": offset})  # fmt: skip
    if last < total:
        text += "; " + t(view.lang, "cli.drilldown.next_page", offset=last)
    return text


def event_grid(
    rows: list[dict[str, Any]], view: View, title: str, caption: str | None, customer: bool = True
) -> list[RenderableType]:
    """Events as a table: local time, (customer,) touchpoint, action, every optional column
    some row has a value in, and the event id."""
    keys = [k for k in OPTIONAL if any(r.get(k) is not None for r in rows)]
    cols = [
        Col(view.label("ts")),
        *([Col(view.label("customer_id"), numeric=False)] if customer else []),
        Col(view.label("touchpoint"), numeric=False),
        Col(view.label("action"), numeric=False),
        *(Col(view.label(k), numeric=k not in TEXT and k != "phase") for k in keys),
        Col(view.label("event_id"), numeric=False),
    ]
    cells = [
        [
            local_time(r["ts"], view),
            *([r["customer_id"]] if customer else []),
            view.name(r["touchpoint"]),
            _action(r["action"], view),
            *(_cell(k, r.get(k), view) for k in keys),
            r["event_id"],
        ]
        for r in rows
    ]
    return list(grid(cols, cells, view.width, title=title, caption=caption))


@renders("events")
def events_table(data: dict[str, Any], view: View) -> list[RenderableType]:
    rows = data["rows"]
    metric = view.options.metric if view.options is not None else None
    title = t(view.lang, "cli.drilldown.events_title")
    if metric:
        title += " — " + t(view.lang, f"cli.drilldown.metric_{metric}")
    if not rows:
        message = t(view.lang, "cli.common.nothing") if not data["total"] else _caption(data, view)
        return [Text(title, style="bold"), Text(message)]
    return event_grid(rows, view, title, _caption(data, view))


@renders("customer.events")
def customer_events_table(data: dict[str, Any], view: View) -> list[RenderableType]:
    """One customer's events, oldest first, every column that holds a value."""
    rows = data["rows"]
    title = t(
        view.lang,
        "cli.customer.events_title",
        customer=data["customer_id"],
        events=fmt.integer(len(rows), view.lang),
        zone=_zone(view),
    )
    return event_grid(rows, view, title, None, customer=False)


@renders("customer.journey")
def journey_tables(data: dict[str, Any], view: View) -> list[RenderableType]:
    """One table per cycle: each step's local time, touchpoint and phase, and the invisible
    time since the step before it."""
    cycles = data["cycles"]
    customer = data["customer_id"]
    if not cycles:
        return [Text(t(view.lang, "cli.drilldown.no_steps", customer=customer))]
    out: list[RenderableType] = [
        Text(
            t(
                view.lang,
                "cli.drilldown.journey_title",
                customer=customer,
                cycles=fmt.integer(len(cycles), view.lang),
                zone=_zone(view),
            ),  # fmt: skip
            style="bold",
        )
    ]
    cols = [
        Col(view.label("step")),
        Col(view.label("ts")),
        Col(view.label("touchpoint"), numeric=False),
        Col(view.label("phase"), numeric=False),
        Col(view.label("seconds")),
    ]
    for cycle in cycles:
        gaps = [None, *(g["seconds"] for g in cycle["gaps"])]
        cells = [
            [
                fmt.integer(i, view.lang),
                local_time(step["ts"], view),
                view.name(step["touchpoint"]),
                t(view.lang, "common." + step["phase"]),
                fmt.duration(gap, view.lang),
            ]
            for i, (step, gap) in enumerate(zip(cycle["steps"], gaps, strict=True), 1)
        ]
        key = "cli.drilldown.cycle_converts" if cycle["converts"] else "cli.drilldown.cycle_open"
        title = t(view.lang, key, cycle=fmt.integer(cycle["cycle"], view.lang))
        out.extend(grid(cols, cells, view.width, title=title, caption=None))
    out.append(Text(t(view.lang, "cli.drilldown.gap_caption"), style="dim"))
    return out
