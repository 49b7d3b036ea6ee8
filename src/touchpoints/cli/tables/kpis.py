"""`touchpoints kpis`: one row per group, the SPEC §4 keys a supervisor reads first."""

from __future__ import annotations

from typing import Any

from rich.console import RenderableType
from rich.text import Text

from touchpoints.cli.tables import Col, View, grid, renders
from touchpoints.core import format as fmt
from touchpoints.core.messages import t

# In the order a supervisor reads them: volume, the queue, resolution, feedback, sales,
# then the quality of the relationship. `nps` carries its margin in the same cell.
SHOWN = (
    "events",
    "customers",
    "offered",
    "abandonment_rate",
    "tme_seconds",
    "tma_seconds",
    "service_level",
    "fcr",
    "csat",
    "nps",
    "ces",
    "conversions",
    "revenue",
    "promise_kept_rate",
    "data_reuse_rate",
    "emotion",
)
PERIODS = ("day", "week", "month")
# A group without a value: events with no agent or segment, or at a touchpoint the
# catalog does not describe (so no channel or kind).
NO_VALUE = {
    "agent": "cli.kpis.no_agent",
    "segment": "cli.kpis.no_segment",
    "channel": "cli.kpis.not_in_catalog",
    "kind": "cli.kpis.not_in_catalog",
}


def group_label(group: str | None, by: str | None, view: View) -> str:
    """The row label: a touchpoint's name and id, a phase or kind in the reader's words, a
    period's first day as the reader writes dates."""
    if group is None:
        return t(view.lang, NO_VALUE[by]) if by in NO_VALUE else fmt.DASH
    if by == "touchpoint":
        return f"{view.name(group)} ({group})" if view.name(group) != group else group
    if by in ("phase", "kind") or by is None:
        return t(view.lang, "common." + group)
    if by in PERIODS:
        return fmt.date(group, view.lang) if by != "month" else group
    return group


def cell(row: dict[str, Any], key: str, view: View) -> str:
    """One metric as the table shows it: NPS with its 95 % margin, the rest by their key."""
    if key == "nps" and row["nps"] is not None and row["nps_margin"] is not None:
        nps, margin = fmt.number(row["nps"], view.lang), fmt.number(row["nps_margin"], view.lang)
        return f"{nps} ±{margin}"
    return view.value(key, row[key])


@renders("kpis")
def kpis_tables(data: dict[str, Any], view: View) -> list[RenderableType]:
    rows = data["rows"]
    by = view.options.by if view.options is not None else None
    if not rows or not any(r["events"] for r in rows):
        return [Text(t(view.lang, "cli.common.nothing"))]
    keys = [*SHOWN, *(("retention",) if by in PERIODS else ())]
    # A metric nobody recorded (no promises in the data) is a column of dashes: leave it out.
    keys = [k for k in keys if any(r.get(k) is not None for r in rows)]
    header = view.label(by) if by else view.label("group")
    cols = [Col(header, numeric=False), *(Col(view.label(k)) for k in keys)]
    cells = [[group_label(r["group"], by, view), *(cell(r, k, view) for k in keys)] for r in rows]
    title = t(view.lang, "cli.kpis.title") + (f" — {view.label(by)}" if by else "")
    out: list[RenderableType] = [*grid(cols, cells, view.width, title=title)]
    if "service_level" in keys:
        within = view.options.answer_within if view.options is not None else None
        note = (
            t(view.lang, "cli.kpis.service_level_targets")
            if within is None
            else t(view.lang, "cli.kpis.service_level_note", within=fmt.duration(within, view.lang))
        )
        out.append(Text(note, style="dim"))
    return out
