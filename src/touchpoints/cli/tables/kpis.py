"""`touchpoints kpis`: one row per group, the SPEC §4 keys a supervisor reads first."""

from __future__ import annotations

from typing import Any

from rich.console import RenderableType
from rich.text import Text

from touchpoints.cli.tables import Col, View, grid, renders
from touchpoints.core import format as fmt
from touchpoints.core.messages import t

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


def group_label(group: str | None, by: str | None, view: View) -> str:
    if group is None:
        return fmt.DASH
    if by == "touchpoint":
        return f"{view.name(group)} ({group})" if view.name(group) != group else group
    if by in ("phase", "kind") or by is None:
        return t(view.lang, "common." + group)
    if by in PERIODS:
        return fmt.date(group, view.lang) if by != "month" else group
    return group


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
    cells = []
    for r in rows:
        line = [group_label(r["group"], by, view)]
        for k in keys:
            if k == "nps" and r["nps"] is not None and r["nps_margin"] is not None:
                line.append(
                    f"{fmt.number(r['nps'], view.lang, 0)} ±{fmt.number(r['nps_margin'], view.lang, 0)}"
                )
            else:
                line.append(view.value(k, r[k]))
        cells.append(line)
    title = t(view.lang, "cli.common.kpis_title") + (f" — {view.label(by)}" if by else "")
    return list(grid(cols, cells, view.width, title=title))
